"""The Claim aggregate: a claim's lifecycle, its refused transitions and its money rules (docs/domain.md §1, §2)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from domain import claim_events as events
from domain import errors
from domain.carc import denial_category
from domain.lifecycle import (LEVELS_BEFORE_RECORDED_DEADLINES, PAYMENT_ON_BOOKS, AppealFiling, AppealLevel, S,
                              Submission, appeal_deadline, check_appeal, check_submission, require)
from domain.money import (check_claim_total, check_coding, check_money, check_remittance, declared_total,
                          denial_adjustments, denied_dollars, main_denial, patient_balance, payer_balance,
                          remittance_record)
from domain.values import ZERO, Adjustment, Meta, Remittance, ServiceLine, claim_id, total


# Today's appeal levels per payer class. A denial or an upheld appeal records the deadline they give that day
# (the event's appeal_deadline): a change here applies to later decisions, never to recorded ones.
APPEAL_LEVELS: dict[str, tuple[AppealLevel, ...]] = dict(LEVELS_BEFORE_RECORDED_DEADLINES)
WRITE_OFF_REASONS = ("contractual", "denial", "small_balance", "bad_debt", "charity", "timely_filing")


class Claim(Aggregate):
    """One claim from coding to close. Public methods check rules; event classes only assign state."""

    # The events live in domain/claim_events.py. eventsourcing redefines each one named here as a subclass of it
    # and of Claim.Event, named Claim.<name> in this module: its topic stays domain.claim:Claim.<name>, as stored.
    class Event(events.Event):
        """Any event of a claim."""

    Coded = events.Coded
    Opened = events.Opened
    CodingAttached = events.CodingAttached
    Recoded = events.Recoded
    Scrubbed = events.Scrubbed
    Submitted = events.Submitted
    SubmissionAttached = events.SubmissionAttached
    Accepted = events.Accepted
    Rejected = events.Rejected
    Paid = events.Paid
    Denied = events.Denied
    Appealed = events.Appealed
    AppealDecided = events.AppealDecided
    PaymentReversed = events.PaymentReversed
    Adjusted = events.Adjusted
    PatientBilled = events.PatientBilled
    PatientPaid = events.PatientPaid
    WrittenOff = events.WrittenOff
    Voided = events.Voided
    PatientRekeyed = events.PatientRekeyed

    # ---- derived figures ----

    @property
    def payer_balance(self) -> Decimal:
        if self.status == S.VOIDED:
            return ZERO
        return payer_balance(self.total_charge, self.payer_paid, self.contractual, self.patient_responsibility,
                             self.written_off_payer)

    @property
    def patient_balance(self) -> Decimal:
        if self.status == S.VOIDED:
            return ZERO
        return patient_balance(self.patient_responsibility, self.patient_paid, self.written_off_patient)

    @property
    def balance(self) -> Decimal:
        return self.payer_balance + self.patient_balance

    @property
    def credit_balance(self) -> bool:
        """Flagged, never hidden: a takeback after the patient paid leaves money owed back."""
        return self.payer_balance < ZERO or self.patient_balance < ZERO

    @property
    def adjudicated(self) -> bool:
        return bool(self.payer_claim_control_number)

    @property
    def appeal_levels(self) -> tuple[AppealLevel, ...]:
        return APPEAL_LEVELS[self.payer_class]

    def next_appeal_deadline(self, decided_on: date) -> date | None:
        return appeal_deadline(APPEAL_LEVELS, self.payer_class, self.appeal_level, decided_on)

    # ---- commands ----

    @classmethod
    def code(cls, *, claim_number: str, billing_npi: str, rendering_npi: str, payer_id: str, payer_class: str,
             patient_key: str, place_of_service: str, diagnoses: list[str], lines: list[ServiceLine],
             total_charge: Decimal | None, meta: Meta, facility_type_code: str = "") -> Claim:
        check_coding(claim_number, lines)
        return cls._create(
            cls.Coded, id=claim_id(billing_npi, claim_number), claim_number=claim_number, billing_npi=billing_npi,
            rendering_npi=rendering_npi, payer_id=payer_id, payer_class=payer_class, patient_key=patient_key,
            place_of_service=place_of_service, facility_type_code=facility_type_code, diagnoses=list(diagnoses),
            lines=[ln.as_record() for ln in lines], total_charge=declared_total(total_charge, lines), **meta,
        )

    @classmethod
    def open_from_remittance(cls, *, claim_number: str, billing_npi: str, rendering_npi: str, payer_id: str,
                             payer_class: str, patient_key: str, lines: list[ServiceLine], total_charge: Decimal,
                             service_date: date, origin: str, meta: Meta, payer_sequence: str = "primary") -> Claim:
        check_money(claim_number, "total_charge", total_charge, positive=True)
        for ln in lines:
            check_money(claim_number, f"lines[{ln.number}].charge", ln.charge)
        return cls._create(
            cls.Opened, id=claim_id(billing_npi, claim_number), claim_number=claim_number, billing_npi=billing_npi,
            rendering_npi=rendering_npi, payer_id=payer_id, payer_class=payer_class, patient_key=patient_key,
            lines=[ln.as_record() for ln in lines], total_charge=total_charge, service_date=service_date,
            origin=origin, payer_sequence=payer_sequence, **meta,
        )

    def same_coding(self, *, payer_class: str, patient_key: str, place_of_service: str, diagnoses: list[str],
                    lines: list[ServiceLine], total_charge: Decimal | None, facility_type_code: str = "",
                    **_: Any) -> bool:
        """Whether a repeated code command describes this claim as first coded (then it is not a conflict); the
        patient is compared by the key the claim holds now (a rekeyed claim's first coding has the old one)."""
        first = self.first_coding
        if first is None:  # opened from a remittance: there is no coding to compare with
            return False
        return (first["payer_class"], self.patient_key, first["place_of_service"],
                first.get("facility_type_code", ""), first["diagnoses"], first["lines"], first["total_charge"]) == (
            payer_class, patient_key, place_of_service, facility_type_code, list(diagnoses),
            [ln.as_record() for ln in lines], declared_total(total_charge, lines))

    def rekey_patient(self, *, patient_key_was: str, patient_key: str, reason: str, meta: Meta) -> None:
        """Replaces the claim's patient key, in any status (it is no billing fact); nothing when it holds the new
        key already. Effective at the claim's last recorded fact: the replacement moves no date of its A/R."""
        if self.patient_key == patient_key:
            return
        if self.patient_key != patient_key_was:
            raise errors.IllegalTransition(
                self.claim_number, "a patient key is replaced only where the claim holds it",
                "the claim's patient key is neither the one to replace nor its replacement",
                "rekey_patient with the key the claim holds (see `rcm show`)", field="patient_key_was")
        self.trigger_event(self.PatientRekeyed, patient_key=patient_key, reason=reason,
                           **{**meta, "effective_at": self.last_activity_at})

    @property
    def opened(self) -> bool:
        """First seen on a remittance (not coded here)."""
        return self.origin != "coded"

    @property
    def awaits_coding(self) -> bool:
        """Opened from a remittance and no coding attached yet."""
        return self.opened and self.first_coding is None

    def learned_now(self, meta: Meta) -> Meta:
        """The provenance of a fact about the claim's past learned late: effective when the ledger learns it,
        never before the claim's last recorded fact."""
        return Meta(**{**meta, "effective_at": max(meta.effective_at, self.last_activity_at)})

    def attach_coding(self, *, rendering_npi: str, payer_class: str, patient_key: str, place_of_service: str,
                      diagnoses: list[str], lines: list[ServiceLine], total_charge: Decimal | None, meta: Meta,
                      facility_type_code: str = "", **_: Any) -> None:
        check_coding(self.claim_number, lines)
        check_claim_total(self.claim_number, total_charge, lines)
        self.check_service_not_after_submission(lines)
        billed = declared_total(total_charge, lines)
        if billed != self.total_charge:
            raise errors.ClaimNumberConflict(
                self.claim_number, "a claim number names one claim",
                f"the remittance that opened claim {self.claim_number} billed {self.total_charge}, this coding "
                f"{billed}", "check the claim number (a coding attaches to a claim opened from a remittance only "
                             "when the charges agree)", field="total_charge")
        self.trigger_event(self.CodingAttached, billed_on=meta.effective_at.date(), rendering_npi=rendering_npi,
                           payer_class=payer_class, patient_key=patient_key, place_of_service=place_of_service,
                           facility_type_code=facility_type_code, diagnoses=list(diagnoses),
                           lines=[ln.as_record() for ln in lines],
                           **self.learned_now(meta))

    def attach_submission(self, *, frequency: str, payer_sequence: str, payer_id: str,
                          interchange_control_number: str, group_control_number: str,
                          transaction_control_number: str, meta: Meta) -> None:
        self.check_sent_after_service(meta.effective_at.date())
        self.check_sent_before_answer(meta.effective_at.date())
        self.trigger_event(self.SubmissionAttached, submitted_on=meta.effective_at.date(), frequency=frequency,
                           payer_sequence=payer_sequence, payer_id=payer_id,
                           interchange_control_number=interchange_control_number,
                           group_control_number=group_control_number,
                           transaction_control_number=transaction_control_number, **self.learned_now(meta))

    def answered(self, submission_at: datetime) -> bool:
        """Whether a submission another system sent at that time is the one the remittance that opened this
        claim answered (no submission recorded, none adjudicated before it): then it is no new submission."""
        return (self.opened and self.submissions == 0
                and (self.first_adjudicated_at is None or submission_at.date() <= self.first_adjudicated_at.date()))

    def recode(self, *, diagnoses: list[str], lines: list[ServiceLine], total_charge: Decimal | None,
               meta: Meta) -> None:
        require(self, "recode")
        check_coding(self.claim_number, lines)
        self.check_service_not_after_submission(lines)
        self.trigger_event(self.Recoded, diagnoses=list(diagnoses), lines=[ln.as_record() for ln in lines],
                           total_charge=declared_total(total_charge, lines), **meta)

    def record_scrub(self, *, edits: list[dict[str, Any]], meta: Meta) -> None:
        require(self, "scrub")
        passed = not any(e["severity"] == "error" for e in edits)
        self.trigger_event(self.Scrubbed, passed=passed, edits=edits, **meta)

    def submit(self, *, frequency: str, payer_sequence: str, payer_id: str, interchange_control_number: str,
               group_control_number: str, transaction_control_number: str, meta: Meta,
               already_sent: bool = False) -> None:
        check_submission(self, Submission(frequency, payer_sequence, meta.effective_at.date(), already_sent))
        self.trigger_event(self.Submitted, frequency=frequency, payer_sequence=payer_sequence, payer_id=payer_id,
                           interchange_control_number=interchange_control_number,
                           group_control_number=group_control_number,
                           transaction_control_number=transaction_control_number, **meta)

    def accept(self, *, acknowledgment: str, meta: Meta) -> None:
        require(self, "accept")
        self.check_answers_submission(meta, "acknowledgment")
        self.trigger_event(self.Accepted, acknowledgment=acknowledgment, **meta)

    def reject(self, *, stage: str, code: str, reason: str, meta: Meta) -> None:
        require(self, "reject")
        self.check_answers_submission(meta, "rejection")
        self.trigger_event(self.Rejected, stage=stage, code=code, reason=reason, **meta)

    def record_payment(self, remittance: Remittance, meta: Meta) -> None:
        if self.status in PAYMENT_ON_BOOKS and self.payer_sequence == "primary":
            raise errors.PaymentNotReversed(
                self.claim_number, "a correction needs the original payment reversed first",
                f"payment under {self.payer_claim_control_number} is still on the books",
                "reverse_payment, then record the corrected payment")
        require(self, "record_payment")
        self.check_answers_submission(meta, "remittance")
        check_remittance(self.claim_number, remittance, self.lines, self.total_charge)
        denied = denied_dollars(self.denials_in(remittance))
        if remittance.paid == ZERO and denied > ZERO:
            raise errors.IllegalTransition(self.claim_number, "a $0 remittance for non-cost-share reasons is a denial",
                                           "paid is 0.00 with denial adjustments", "record_denial")
        contractual = total(a.amount for a in remittance.adjustments if a.group != "PR")
        self.check_payer_balance_covers(remittance.paid + contractual + remittance.patient_responsibility)
        self.trigger_event(self.Paid, remittance=remittance_record(remittance), contractual=contractual,
                           denied_amount=denied, **meta)

    def record_denial(self, remittance: Remittance, meta: Meta) -> None:
        require(self, "record_denial")
        self.check_answers_submission(meta, "remittance")
        check_remittance(self.claim_number, remittance, self.lines, self.total_charge)
        if remittance.paid != ZERO:
            raise errors.IllegalTransition(self.claim_number, "a denial pays nothing",
                                           f"paid is {remittance.paid}", "record_payment (partial payment)")
        self.check_payer_balance_covers(remittance.patient_responsibility)
        denials = self.denials_in(remittance)
        main = main_denial(denials)
        category = denial_category(main.carc) if main else "patient responsibility"
        self.trigger_event(self.Denied, remittance=remittance_record(remittance),
                           denied_amount=denied_dollars(denials), category=category,
                           appeal_deadline=self.next_appeal_deadline(meta.effective_at.date()), **meta)

    def appeal(self, *, level: int, reason: str, meta: Meta) -> None:
        check_appeal(self, AppealFiling(level, meta.effective_at.date()))
        self.trigger_event(self.Appealed, level=level, level_name=self.appeal_levels[level - 1].name, reason=reason,
                           **meta)

    def decide_appeal(self, *, overturned: bool, reason: str, meta: Meta) -> None:
        require(self, "decide_appeal")
        deadline = None if overturned else self.next_appeal_deadline(meta.effective_at.date())
        self.trigger_event(self.AppealDecided, level=self.appeal_level, overturned=overturned, reason=reason,
                           appeal_deadline=deadline, **meta)

    def reverse_payment(self, *, payer_claim_control_number: str, reason: str, meta: Meta) -> None:
        require(self, "reverse_payment")
        posted = [p for p in self.payments if p["payer_claim_control_number"] == payer_claim_control_number]
        if not posted:
            raise errors.IllegalTransition(
                self.claim_number, "only a posted payment can be reversed",
                f"no payment under payer claim control number {payer_claim_control_number!r}",
                f"reverse one of {[p['payer_claim_control_number'] for p in self.payments]}")
        p = posted[-1]
        self.trigger_event(self.PaymentReversed, payer_claim_control_number=payer_claim_control_number,
                           paid=p["paid"], contractual=p["contractual"],
                           patient_responsibility=p["patient_responsibility"], reason=reason, **meta)

    def adjust(self, *, group: str, carc: str, amount: Decimal, reason: str, meta: Meta) -> None:
        require(self, "adjust")
        if group == "PR":
            raise errors.ContractualToPatient(
                self.claim_number, "contractual dollars never move to the patient",
                "patient responsibility comes only from the payer's remittance (PR adjustments)",
                "adjust with group CO, OA or PI, or write_off")
        check_money(self.claim_number, "amount", amount, signed=True)
        if self.adjusted + amount < ZERO:
            raise errors.BalanceExceeded(
                self.claim_number, "a negative adjustment only undoes the claim's own earlier adjustments",
                f"{amount} requested, earlier adjust_claim adjustments total {self.adjusted}",
                f"adjust by at least {-self.adjusted}; a payer's adjustment is undone by reversing its remittance",
                field="amount")
        if amount > self.payer_balance:
            raise errors.BalanceExceeded(
                self.claim_number, "an adjustment cannot exceed the payer balance",
                f"{amount} requested, payer balance {self.payer_balance}", f"adjust at most {self.payer_balance}")
        self.trigger_event(self.Adjusted, group=group, carc=carc, amount=amount, reason=reason, **meta)

    def bill_patient(self, *, meta: Meta) -> None:
        require(self, "bill_patient")
        transferred = ZERO
        if self.status == S.READY:
            if self.payer_class != "self_pay":
                raise errors.IllegalTransition(
                    self.claim_number, "the patient is billed after the payer adjudicates",
                    f"{self.payer_class} claim not adjudicated yet", "submit")
            transferred = self.payer_balance
        amount = self.patient_balance + transferred
        if amount <= ZERO:
            raise errors.BalanceExceeded(self.claim_number, "a statement needs a patient balance",
                                         f"patient balance is {self.patient_balance}", "nothing to bill")
        self.trigger_event(self.PatientBilled, statement=self.statements + 1, amount=amount, transferred=transferred,
                           **meta)

    def record_patient_payment(self, *, amount: Decimal, method: str, reference: str, meta: Meta) -> None:
        require(self, "record_patient_payment")
        check_money(self.claim_number, "amount", amount, positive=True)
        if amount > self.patient_balance:
            raise errors.BalanceExceeded(
                self.claim_number, "a patient payment cannot exceed the patient balance",
                f"{amount} paid, patient balance {self.patient_balance}", "record the excess as a patient credit")
        self.trigger_event(self.PatientPaid, amount=amount, method=method, reference=reference, **meta)

    def write_off(self, *, responsibility: str, amount: Decimal, reason: str, meta: Meta) -> None:
        require(self, "write_off")
        check_money(self.claim_number, "amount", amount, positive=True)
        if reason not in WRITE_OFF_REASONS:
            raise errors.IllegalTransition(self.claim_number, "write-off reason", f"unknown reason {reason!r}",
                                           ", ".join(WRITE_OFF_REASONS))
        balance = self.payer_balance if responsibility == "payer" else self.patient_balance
        if amount > balance:
            raise errors.BalanceExceeded(
                self.claim_number, "a write-off cannot exceed the balance",
                f"{amount} requested, {responsibility} balance {balance}", f"write off at most {balance}")
        self.trigger_event(self.WrittenOff, responsibility=responsibility, amount=amount, reason=reason,
                           **meta)

    def void(self, *, reason: str, meta: Meta) -> None:
        if self.payer_paid != ZERO or self.patient_paid != ZERO:
            raise errors.PaymentNotReversed(
                self.claim_number, "a claim with money on the books cannot be voided",
                f"payer paid {self.payer_paid}, patient paid {self.patient_paid}",
                "reverse_payment or refund first, or submit a void (frequency 8)")
        require(self, "void")
        self.trigger_event(self.Voided, reason=reason, **meta)

    # ---- rule checks ----

    def denials_in(self, remittance: Remittance) -> list[Adjustment]:
        return denial_adjustments(remittance.adjustments, remittance.charge,
                                  {ln.number: ln.charge for ln in self.lines})

    def require(self, command: str) -> None:
        require(self, command)

    def check_sent_after_service(self, sent_on: date) -> None:
        """A bill for a service not yet rendered is no bill (and would make days to bill negative)."""
        dates = [ln.service_date for ln in self.lines if ln.service_date]
        if dates and sent_on < min(dates):
            raise errors.SubmissionBeforeService(
                self.claim_number, "a claim is submitted on or after its date of service",
                f"submitted on {sent_on}, earliest date of service {min(dates)}",
                "correct the dates of service (recode_claim) or the submission's effective_at", field="effective_at")

    def check_service_not_after_submission(self, lines: list[ServiceLine]) -> None:
        """A coding whose dates of service come after the claim's first submission would say the payer was billed
        for a service not yet rendered (and make days to bill negative): refused, not re-dated."""
        first = self.first_submitted_at
        dates = [ln.service_date for ln in lines if ln.service_date]
        if first is not None and dates and min(dates) > first.date():
            raise errors.SubmissionBeforeService(
                self.claim_number, "a claim is submitted on or after its date of service",
                f"earliest date of service {min(dates)} is after the claim's first submission on {first.date()}",
                "void the claim and code the service under a new claim number", field="lines")

    def check_answers_submission(self, meta: Meta, answer: str) -> None:
        """An acknowledgment or remittance answers the claim's submission: it is never dated before it (nor before
        the first one, from which payment lag is counted)."""
        sent = [at.date() for at in (self.first_submitted_at, self.last_submitted_at) if at is not None]
        if sent and meta.effective_at.date() < max(sent):
            raise errors.AnswerBeforeSubmission(
                self.claim_number, f"a {answer} is dated on or after the submission it answers",
                f"{answer} effective {meta.effective_at.date()}, submitted on {max(sent)}",
                "check the effective date (an 835's check date, a 999/277CA's date)", field="effective_at")

    def check_sent_before_answer(self, sent_on: date) -> None:
        """The submission a claim's opening remittance answered is dated no later than that remittance."""
        answered = self.first_adjudicated_at
        if answered is not None and sent_on > answered.date():
            raise errors.AnswerBeforeSubmission(
                self.claim_number, "a remittance is dated on or after the submission it answers",
                f"the remittance that opened the claim is effective {answered.date()}, this submission {sent_on}",
                "check the 837's date (BHT04) or the 835's check date", field="effective_at")

    def check_payer_balance_covers(self, posted: Decimal) -> None:
        if posted > self.payer_balance:
            raise errors.BalanceExceeded(
                self.claim_number, "a remittance cannot take the payer balance below zero",
                f"it posts {posted} against a payer balance of {self.payer_balance} "
                f"(earlier adjustments {self.contractual}, write-offs {self.written_off_payer})",
                "undo the earlier adjustment with a negative adjust_claim, then post the remittance")
