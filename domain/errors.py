"""Named refusals of the claim lifecycle: each says which claim, which rule, and what is allowed instead."""
from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal the ledger explains to its user (exit code 2 at the CLI)."""

    def __init__(self, claim: str, rule: str, reason: str, allowed: str = "", field: str = "") -> None:
        self.claim, self.rule, self.reason, self.allowed, self.field = claim, rule, reason, allowed, field
        text = f"claim {claim}: {rule}: {reason}"
        if allowed:
            text += f"; allowed instead: {allowed}"
        super().__init__(text)


class IllegalTransition(LedgerError):
    pass


class AppealOfRejection(LedgerError):
    pass


class UnappealableDenial(LedgerError):
    pass


class AppealLevelSkipped(LedgerError):
    pass


class AppealDeadlinePassed(LedgerError):
    pass


class AmountInControversyTooLow(LedgerError):
    pass


class NotAdjudicated(LedgerError):
    pass


class PrimaryNotAdjudicated(LedgerError):
    pass


class ContractualToPatient(LedgerError):
    pass


class PaymentNotReversed(LedgerError):
    pass


class DuplicateSubmission(LedgerError):
    pass


class InvalidAmount(LedgerError):
    pass


class UnbalancedRemittance(LedgerError):
    pass


class BalanceExceeded(LedgerError):
    pass


class InvalidCode(LedgerError):
    pass


class ClaimNumberConflict(LedgerError):
    pass


class SubmissionBeforeService(LedgerError):
    pass


class AnswerBeforeSubmission(LedgerError):
    """An acknowledgment or remittance dated before the submission it answers (payment lag would be negative)."""


class ClaimTotalMismatch(LedgerError):
    pass


class UnknownClaim(LedgerError):
    pass


class AmbiguousClaimNumber(LedgerError):
    pass


class PaymentPlanRefused(LedgerError):
    """A payment plan that cannot be agreed or changed: names the plan (patient key/plan number) and the item."""

    def __init__(self, plan: str, rule: str, reason: str, allowed: str = "") -> None:
        super().__init__(plan, rule, reason, allowed)
        self.args = (f"payment plan {plan}: {rule}: {reason}" + (f"; allowed instead: {allowed}" if allowed else ""),)
