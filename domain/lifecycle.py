"""A claim's statuses and the named rules of its lifecycle: which command runs in which status, what a submission
and an appeal need, and when the money settles the claim (docs/domain.md §1)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

from domain import errors
from domain.values import ZERO, Amount

if TYPE_CHECKING:
    from domain.claim import Claim


class Status(StrEnum):
    """A claim's place in its lifecycle; the values are the text the views store."""

    CODED = "coded"
    SCRUB_FAILED = "scrub_failed"
    READY = "ready"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DENIED = "denied"
    APPEALED = "appealed"
    PAID = "paid"
    PATIENT_BILLED = "patient_billed"
    REVERSED = "reversed"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"
    VOIDED = "voided"
    ALL: ClassVar[tuple[str, ...]]


Status.ALL = tuple(status.value for status in Status)  # plain text, as a command line lists its choices
# Readable names in lifecycle order, as dashboards show them (the overview's status panel lists the same; a test
# holds them equal).
STATUS_LABELS = {
    "coded": "Coded", "scrub_failed": "Scrub failed", "ready": "Ready to submit", "submitted": "Submitted",
    "accepted": "Accepted by payer", "rejected": "Rejected", "denied": "Denied", "appealed": "Appealed",
    "paid": "Paid", "patient_billed": "Billed to patient", "reversed": "Payment reversed", "closed": "Closed",
    "written_off": "Written off", "voided": "Voided",
}
S = Status
PENDING = (S.SUBMITTED, S.ACCEPTED)
PAYMENT_ON_BOOKS = (S.PAID, S.PATIENT_BILLED, S.CLOSED)
ENDED = (S.CLOSED, S.WRITTEN_OFF, S.VOIDED)

# Which command may run in which status; the refusal message lists the commands a status allows.
ALLOWED: dict[str, tuple[Status, ...]] = {
    "recode": (S.CODED, S.SCRUB_FAILED, S.READY, S.REJECTED, S.DENIED),
    "scrub": (S.CODED, S.SCRUB_FAILED, S.READY),
    "submit": (S.READY, S.REJECTED, S.DENIED, *PAYMENT_ON_BOOKS),
    "accept": PENDING[:1],
    "reject": PENDING,
    "record_payment": (*PENDING, S.DENIED, S.REVERSED),
    "record_denial": (*PENDING, S.REVERSED),
    "appeal": (S.DENIED,),
    "decide_appeal": (S.APPEALED,),
    "reverse_payment": PAYMENT_ON_BOOKS,
    "adjust": tuple(s for s in S if s != S.VOIDED),
    "bill_patient": (S.READY, S.DENIED, S.PAID, S.PATIENT_BILLED),
    "record_patient_payment": tuple(s for s in S if s != S.VOIDED),
    "write_off": tuple(s for s in S if s not in (S.VOIDED, S.CLOSED, S.WRITTEN_OFF)),
    "void": (S.CODED, S.SCRUB_FAILED, S.READY, S.REJECTED, S.DENIED, S.REVERSED),
}


def allowed_commands(status: str) -> str:
    return ", ".join(name for name, statuses in ALLOWED.items() if status in statuses) or "none"


def require(claim: Claim, command: str) -> None:
    if claim.status not in ALLOWED[command]:
        raise errors.IllegalTransition(
            claim.claim_number, f"{command} is not allowed in status {claim.status}",
            f"{command} needs one of: {', '.join(ALLOWED[command])}", allowed_commands(claim.status))


# ---- settling: the status the money leaves a claim in (the aggregate and the views alike) ----

def settled(status: str, balance: Amount) -> Status | None:
    """The status a payment, adjustment or statement moves the claim to, or None when it stays: paid in full
    closes it, a balance reopened by a reversal or adjustment takes a closed claim back to paid."""
    if status in (S.PAID, S.PATIENT_BILLED) and balance == 0:
        return S.CLOSED
    if status == S.CLOSED and balance != 0:
        return S.PAID
    return None


def written_off(balance: Amount, collected: Amount) -> Status | None:
    """A write-off that leaves nothing owed ends the claim: closed if anything was collected, else written off."""
    if balance != 0:
        return None
    return S.CLOSED if collected > 0 else S.WRITTEN_OFF


# ---- the named rules of a submission and an appeal, checked in this order ----

@dataclass(frozen=True)
class Submission:
    frequency: str
    payer_sequence: str
    sent_on: date
    already_sent: bool


@dataclass(frozen=True)
class AppealFiling:
    level: int
    filed_on: date


Request = TypeVar("Request", Submission, AppealFiling)
Rule = Callable[["Claim", Request], None]
SUBMIT_RULES: list[tuple[str, Rule[Submission]]] = []
APPEAL_RULES: list[tuple[str, Rule[AppealFiling]]] = []


def rule(rules: list[tuple[str, Rule[Request]]], name: str) -> Callable[[Rule[Request]], Rule[Request]]:
    def register(check: Rule[Request]) -> Rule[Request]:
        rules.append((name, check))
        return check
    return register


def check_submission(claim: Claim, submission: Submission) -> None:
    for _, check in SUBMIT_RULES:
        check(claim, submission)


def check_appeal(claim: Claim, filing: AppealFiling) -> None:
    for _, check in APPEAL_RULES:
        check(claim, filing)


@rule(SUBMIT_RULES, "ONE-PENDING-SUBMISSION")
def one_pending_submission(claim: Claim, submission: Submission) -> None:
    if claim.status in PENDING:
        raise errors.DuplicateSubmission(
            claim.claim_number, "no second submission while one is pending",
            f"submission {claim.submissions} is still {claim.status} at the payer (a duplicate is denied CARC 18)",
            "wait for the acknowledgment or remittance, then accept, reject, record_payment or record_denial")


@rule(SUBMIT_RULES, "SUBMIT-ALLOWED")
def submit_allowed(claim: Claim, submission: Submission) -> None:
    if not (submission.already_sent and claim.status in (S.CODED, S.SCRUB_FAILED)):
        require(claim, "submit")  # an 837 another system already sent is a fact, scrubbed here or not


@rule(SUBMIT_RULES, "SELF-PAY-NOT-SUBMITTED")
def self_pay_not_submitted(claim: Claim, submission: Submission) -> None:
    if claim.payer_class == "self_pay":
        raise errors.IllegalTransition(claim.claim_number, "self-pay claims are not submitted to a payer",
                                       "the patient is the payer", "bill_patient")


@rule(SUBMIT_RULES, "REPLACEMENT-NEEDS-ADJUDICATION")
def replacement_needs_adjudication(claim: Claim, submission: Submission) -> None:
    if submission.frequency in ("7", "8") and not claim.adjudicated:
        raise errors.NotAdjudicated(
            claim.claim_number, "replacement/void needs the payer's claim control number",
            f"frequency {submission.frequency} was sent but the payer never adjudicated this claim",
            "submit as an original (frequency 1)")


@rule(SUBMIT_RULES, "PRIMARY-FIRST")
def primary_first(claim: Claim, submission: Submission) -> None:
    if submission.payer_sequence != "primary" and not claim.adjudicated:
        raise errors.PrimaryNotAdjudicated(
            claim.claim_number, f"{submission.payer_sequence} payer after primary adjudication",
            "the primary payer has not adjudicated this claim yet", "wait for the primary's remittance")


def is_primary_original(submission: Submission) -> bool:
    return submission.frequency == "1" and submission.payer_sequence == "primary"


@rule(SUBMIT_RULES, "ONE-ORIGINAL")
def one_original(claim: Claim, submission: Submission) -> None:
    if is_primary_original(submission) and claim.adjudicated:
        raise errors.DuplicateSubmission(
            claim.claim_number, "no second original after adjudication",
            f"the payer adjudicated it as {claim.payer_claim_control_number}; an original would be denied CARC 18",
            "submit a replacement (frequency 7) or a void (frequency 8)")
    if claim.status in (S.DENIED, *PAYMENT_ON_BOOKS) and is_primary_original(submission):
        raise errors.IllegalTransition(claim.claim_number, "resubmission of an adjudicated claim",
                                       "use frequency 7 or 8", allowed_commands(claim.status))


@rule(SUBMIT_RULES, "SENT-AFTER-SERVICE")
def sent_after_service(claim: Claim, submission: Submission) -> None:
    claim.check_sent_after_service(submission.sent_on)


@rule(APPEAL_RULES, "NO-APPEAL-OF-REJECTION")
def no_appeal_of_rejection(claim: Claim, filing: AppealFiling) -> None:
    if claim.status == S.REJECTED:
        raise errors.AppealOfRejection(
            claim.claim_number, "a rejection cannot be appealed",
            "the payer rejected it at the front end: it was never adjudicated, so there are no appeal rights",
            "recode or fix the data, then submit as an original")


@rule(APPEAL_RULES, "APPEAL-ALLOWED")
def appeal_allowed(claim: Claim, filing: AppealFiling) -> None:
    require(claim, "appeal")


@rule(APPEAL_RULES, "MEDICARE-TIMELY-FILING-FINAL")
def medicare_timely_filing_final(claim: Claim, filing: AppealFiling) -> None:
    if claim.payer_class == "medicare" and "CO-29" in claim.carcs:
        raise errors.UnappealableDenial(
            claim.claim_number, "Medicare timely-filing denials (CO-29) cannot be appealed",
            "the claim was filed after the limit", "write_off with reason timely_filing")


@rule(APPEAL_RULES, "LEVELS-IN-ORDER")
def levels_in_order(claim: Claim, filing: AppealFiling) -> None:
    if filing.level != claim.appeal_level + 1:
        raise errors.AppealLevelSkipped(
            claim.claim_number, "appeal levels are taken in order",
            f"level {filing.level} requested after level {claim.appeal_level}",
            f"appeal at level {claim.appeal_level + 1}")
    if filing.level > len(claim.appeal_levels):
        raise errors.IllegalTransition(
            claim.claim_number, "no further appeal level",
            f"{claim.payer_class} has {len(claim.appeal_levels)} appeal level(s)", "write_off with reason denial")


@rule(APPEAL_RULES, "FILED-BY-DEADLINE")
def filed_by_deadline(claim: Claim, filing: AppealFiling) -> None:
    if claim.appeal_deadline and filing.filed_on > claim.appeal_deadline:
        raise errors.AppealDeadlinePassed(
            claim.claim_number, f"{claim.appeal_levels[filing.level - 1].name} must be filed by "
                                f"{claim.appeal_deadline}",
            f"filed on {filing.filed_on}", "write_off with reason denial")


@rule(APPEAL_RULES, "AMOUNT-IN-CONTROVERSY")
def amount_in_controversy(claim: Claim, filing: AppealFiling) -> None:
    level = claim.appeal_levels[filing.level - 1]
    if claim.payer_balance < level.minimum_in_controversy:
        raise errors.AmountInControversyTooLow(
            claim.claim_number, f"{level.name} needs at least {level.minimum_in_controversy} in controversy",
            f"{claim.payer_balance} is in controversy", "write_off with reason denial")


class AppealLevel(NamedTuple):
    number: int
    name: str
    days_to_file: int  # counted from the previous decision: the denial, or the upheld appeal
    minimum_in_controversy: Decimal


# The appeal levels as they stood while Denied and AppealDecided did not record the deadline (class version 1):
# the deadlines of those events are computed from these on replay, so they never change. Never edit them.
LEVELS_BEFORE_RECORDED_DEADLINES: Mapping[str, tuple[AppealLevel, ...]] = MappingProxyType({
    "medicare": (
        AppealLevel(1, "redetermination", 120, ZERO),
        AppealLevel(2, "QIC reconsideration", 180, ZERO),
        AppealLevel(3, "ALJ hearing", 60, Decimal("190")),
        AppealLevel(4, "Appeals Council review", 60, ZERO),
        AppealLevel(5, "federal court review", 60, Decimal("1900")),
    ),
    "commercial": (AppealLevel(1, "internal appeal", 180, ZERO), AppealLevel(2, "external review", 120, ZERO)),
    "medicaid": (AppealLevel(1, "reconsideration", 120, ZERO), AppealLevel(2, "state fair hearing", 120, ZERO)),
    "self_pay": (),
})


def appeal_deadline(levels: Mapping[str, tuple[AppealLevel, ...]], payer_class: str, levels_taken: int,
                    decided_on: date) -> date | None:
    """The last day to file the appeal level after `levels_taken`, counted from the decision (the denial or the
    upheld appeal); None when no level remains."""
    remaining = levels.get(payer_class, ())[levels_taken:]
    return decided_on + timedelta(days=remaining[0].days_to_file) if remaining else None


def recorded_appeal_deadline(fields: Mapping[str, Any], payer_class: str, levels_taken: int,
                             decided_on: date) -> date | None:
    """The deadline a Denied or AppealDecided recorded, read from its fields (the event's, or its message's
    payload, where dates are text). One recorded before events carried it (upcast `deadline_unrecorded`, or
    published before without `appeal_deadline`) gets it as it was then: from the levels of the time."""
    if fields.get("deadline_unrecorded") or "appeal_deadline" not in fields:
        return appeal_deadline(LEVELS_BEFORE_RECORDED_DEADLINES, payer_class, levels_taken, decided_on)
    recorded = fields["appeal_deadline"]
    return date.fromisoformat(recorded) if isinstance(recorded, str) else recorded


# What each claim event is as a person's work (productivity, README "Productivity: who did what"); a denial also
# counts against whoever last coded the claim, as a denial on their coding.
ACTIVITY = {"Coded": "coded", "Recoded": "recoded", "Opened": "opened", "CodingAttached": "coding attached",
            "Scrubbed": "scrubbed", "Submitted": "submitted", "SubmissionAttached": "submission attached",
            "Accepted": "acknowledged", "Rejected": "rejection posted", "Paid": "payment posted",
            "Denied": "denial posted", "Appealed": "appealed", "AppealDecided": "appeal decided",
            "PaymentReversed": "reversal posted", "Adjusted": "adjusted", "PatientBilled": "patient billed",
            "PatientPaid": "patient payment posted", "WrittenOff": "written off", "Voided": "voided",
            "PatientRekeyed": "patient key replaced"}
DENIAL_ON_CODING = "denial on coding"
