"""The Claim aggregate: a claim's lifecycle, its refused transitions and its money rules (DOMAIN.md §1, §3)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import errors
from domain.carc import denial_category
from domain.lifecycle import (PAYMENT_ON_BOOKS, AppealFiling, S, Submission, check_appeal, check_submission,
                              require, settled, written_off)
from domain.money import (check_claim_total, check_coding, check_money, check_remittance, declared_total,
                          denial_adjustments, denied_dollars, main_denial, patient_balance, payer_balance,
                          remittance_record)
from domain.values import ZERO, Adjustment, Meta, Remittance, ServiceLine, claim_id, total


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
# Today's appeal levels per payer class. A denial or an upheld appeal records the deadline they give that day
# (the event's appeal_deadline): a change here applies to later decisions, never to recorded ones.
APPEAL_LEVELS: dict[str, tuple[AppealLevel, ...]] = dict(LEVELS_BEFORE_RECORDED_DEADLINES)
WRITE_OFF_REASONS = ("contractual", "denial", "small_balance", "bad_debt", "charity", "timely_filing")


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


class DecisionWithAppealDeadline:
    """A claim event after which the next appeal level is filed by `appeal_deadline` (None: no level remains),
    computed when it was recorded and only copied on replay. Version 1 events did not record it, and cannot be
    upcast to it (their state holds neither the payer class nor the levels taken): they are marked, and their
    deadline is computed on replay as it was then, from the levels of the time."""

    class_version = 2
    effective_at: datetime

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["appeal_deadline"] = None
        if not state.get("overturned"):  # an overturned appeal left no deadline
            state["deadline_unrecorded"] = True

    def recorded_deadline(self, claim: Claim) -> date | None:
        return recorded_appeal_deadline(vars(self), claim.payer_class, claim.appeal_level, self.effective_at.date())


class Claim(Aggregate):
    """One claim from coding to close. Public methods check rules; event classes only assign state."""

    class Event(Aggregate.Event):
        effective_at: datetime
        actor: str
        source: str
        correlation_id: UUID
        causation_id: UUID

        def apply(self, claim: Claim) -> None:
            claim.applied.add(self.causation_id)
            claim.last_activity_at = self.effective_at
            self.assign(claim)  # each event class says what it changes

    class Coded(Event, Aggregate.Created):
        claim_number: str
        billing_npi: str
        rendering_npi: str
        payer_id: str
        payer_class: str
        patient_key: str
        place_of_service: str
        diagnoses: list[str]
        lines: list[dict[str, Any]]
        total_charge: Decimal
        facility_type_code: str = ""  # an institutional claim's (837I CLM05-1); then place_of_service is ""

        def apply(self, claim: Claim) -> None:
            claim.start(self)
            super().apply(claim)

        def assign(self, claim: Claim) -> None:
            claim.recode_from(self)
            claim.first_coding = {
                "payer_class": self.payer_class, "patient_key": self.patient_key,
                "place_of_service": self.place_of_service, "facility_type_code": self.facility_type_code,
                "diagnoses": self.diagnoses, "lines": self.lines, "total_charge": self.total_charge,
            }

    class Opened(Event, Aggregate.Created):
        """A claim first seen on a payer's remittance: no coding or submission is known to the ledger."""
        claim_number: str
        billing_npi: str
        rendering_npi: str
        payer_id: str
        payer_class: str
        patient_key: str
        lines: list[dict[str, Any]]
        total_charge: Decimal
        service_date: date
        origin: str
        payer_sequence: str = "primary"  # the remittance's CLP02: processed as primary, secondary or tertiary

        def apply(self, claim: Claim) -> None:
            claim.start(self)
            super().apply(claim)

        def assign(self, claim: Claim) -> None:
            claim.status = S.SUBMITTED  # awaiting the remittance that opened it, recorded next
            claim.payer_sequence = self.payer_sequence
            claim.diagnoses, claim.total_charge = [], self.total_charge
            claim.lines = [ServiceLine.from_record(r) for r in self.lines]
            claim.first_coding = None
            claim.origin = self.origin

    class CodingAttached(Event):
        """The coding of a claim first seen on a remittance, found later (its 837 imported after the 835): who
        rendered it, for whom, where, the diagnoses and the lines as billed. The lifecycle does not move: the
        remittance that opened the claim already answered that submission. Effective when the ledger learns it,
        never before the claim's last recorded fact (the dates of service it brings move the claim's A/R from
        then on); `billed_on` keeps the 837's own date."""
        billed_on: date
        rendering_npi: str
        payer_class: str
        patient_key: str
        place_of_service: str
        diagnoses: list[str]
        lines: list[dict[str, Any]]
        facility_type_code: str = ""

        def assign(self, claim: Claim) -> None:
            claim.rendering_npi, claim.payer_class = self.rendering_npi, self.payer_class
            claim.patient_key, claim.place_of_service = self.patient_key, self.place_of_service
            claim.facility_type_code = self.facility_type_code
            claim.diagnoses = list(self.diagnoses)
            claim.lines = [ServiceLine.from_record(r) for r in self.lines]
            claim.first_coding = {
                "payer_class": self.payer_class, "patient_key": self.patient_key,
                "place_of_service": self.place_of_service, "facility_type_code": self.facility_type_code,
                "diagnoses": self.diagnoses, "lines": self.lines, "total_charge": claim.total_charge,
            }

    class Recoded(Event):
        diagnoses: list[str]
        lines: list[dict[str, Any]]
        total_charge: Decimal

        def assign(self, claim: Claim) -> None:
            claim.recode_from(self)
            claim.recodes += 1

    class Scrubbed(Event):
        passed: bool
        edits: list[dict[str, Any]]

        def assign(self, claim: Claim) -> None:
            claim.status = S.READY if self.passed else S.SCRUB_FAILED
            claim.scrub_edits = self.edits
            claim.scrub_failures += 0 if self.passed else 1

    class Submitted(Event):
        frequency: str
        payer_sequence: str
        payer_id: str
        interchange_control_number: str
        group_control_number: str
        transaction_control_number: str

        def assign(self, claim: Claim) -> None:
            claim.status = S.SUBMITTED
            claim.frequency = self.frequency
            claim.payer_sequence = self.payer_sequence
            claim.payer_id = self.payer_id
            claim.submissions += 1
            claim.first_submitted_at = claim.first_submitted_at or self.effective_at
            claim.last_submitted_at = self.effective_at

    class SubmissionAttached(Event):
        """The submission the remittance that opened this claim answered, learned from its 837 found later: the
        837's date and control numbers. The lifecycle does not move. Effective when the ledger learns it, never
        before the claim's last recorded fact (as `CodingAttached`); `submitted_on` is the 837's date."""
        submitted_on: date
        frequency: str
        payer_sequence: str
        payer_id: str
        interchange_control_number: str
        group_control_number: str
        transaction_control_number: str

        def assign(self, claim: Claim) -> None:
            claim.frequency, claim.payer_sequence, claim.payer_id = self.frequency, self.payer_sequence, self.payer_id
            claim.submissions += 1
            sent = datetime.combine(self.submitted_on, time.min, tzinfo=self.effective_at.tzinfo)
            claim.first_submitted_at = claim.last_submitted_at = sent

    class Accepted(Event):
        acknowledgment: str

        def assign(self, claim: Claim) -> None:
            claim.status = S.ACCEPTED

    class Rejected(Event):
        stage: str
        code: str
        reason: str

        def assign(self, claim: Claim) -> None:
            claim.status = S.REJECTED
            claim.rejections += 1
            claim.last_rejection = f"{self.stage} {self.code}: {self.reason}"

    class Paid(Event):
        remittance: dict[str, Any]
        contractual: Decimal
        denied_amount: Decimal

        def assign(self, claim: Claim) -> None:
            claim.post_remittance(self, S.PAID)
            claim.payments.append({
                "payer_claim_control_number": self.remittance["payer_claim_control_number"],
                "paid": self.remittance["paid"],
                "contractual": self.contractual,
                "patient_responsibility": self.remittance["patient_responsibility"],
            })
            claim.payer_paid += self.remittance["paid"]
            claim.contractual += self.contractual
            claim.settle()

    class Denied(Event, DecisionWithAppealDeadline):
        remittance: dict[str, Any]
        denied_amount: Decimal
        category: str
        appeal_deadline: date | None

        def assign(self, claim: Claim) -> None:
            claim.post_remittance(self, S.DENIED)
            claim.denials += 1
            claim.denial_category = self.category
            claim.appeal_deadline = self.recorded_deadline(claim)

    class Appealed(Event):
        level: int
        level_name: str
        reason: str

        def assign(self, claim: Claim) -> None:
            claim.status = S.APPEALED
            claim.appeal_level = self.level

    class AppealDecided(Event, DecisionWithAppealDeadline):
        level: int
        overturned: bool
        reason: str
        appeal_deadline: date | None

        def assign(self, claim: Claim) -> None:
            claim.status = S.ACCEPTED if self.overturned else S.DENIED
            claim.appeals_overturned += int(self.overturned)
            claim.appeals_upheld += int(not self.overturned)
            claim.appeal_deadline = self.recorded_deadline(claim)

    class PaymentReversed(Event):
        payer_claim_control_number: str
        paid: Decimal
        contractual: Decimal
        patient_responsibility: Decimal
        reason: str

        def assign(self, claim: Claim) -> None:
            claim.status, claim.closed_at = S.REVERSED, None
            claim.payments = [p for p in claim.payments
                              if p["payer_claim_control_number"] != self.payer_claim_control_number]
            claim.payer_paid -= self.paid
            claim.contractual -= self.contractual
            claim.patient_responsibility -= self.patient_responsibility

    class Adjusted(Event):
        group: str
        carc: str
        amount: Decimal
        reason: str

        def assign(self, claim: Claim) -> None:
            claim.contractual += self.amount
            claim.adjusted += self.amount
            claim.settle()

    class PatientBilled(Event):
        statement: int
        amount: Decimal
        transferred: Decimal

        def assign(self, claim: Claim) -> None:
            claim.status = S.PATIENT_BILLED
            claim.patient_responsibility += self.transferred
            claim.statements = self.statement
            claim.patient_billed_at = claim.patient_billed_at or self.effective_at
            claim.settle()

    class PatientPaid(Event):
        amount: Decimal
        method: str
        reference: str

        def assign(self, claim: Claim) -> None:
            claim.patient_paid += self.amount
            claim.settle()

    class WrittenOff(Event):
        responsibility: str
        amount: Decimal
        reason: str

        def assign(self, claim: Claim) -> None:
            if self.responsibility == "payer":
                claim.written_off_payer += self.amount
            else:
                claim.written_off_patient += self.amount
            if status := written_off(claim.balance, claim.payer_paid + claim.patient_paid):
                claim.status, claim.closed_at = status, self.effective_at

    class Voided(Event):
        reason: str

        def assign(self, claim: Claim) -> None:
            claim.status = S.VOIDED
            claim.closed_at = self.effective_at

    # ---- state assignment helpers, called only from event classes ----

    def start(self, coded: Claim.Coded | Claim.Opened) -> None:
        self.claim_number, self.billing_npi = coded.claim_number, coded.billing_npi
        self.rendering_npi, self.payer_id, self.payer_class = coded.rendering_npi, coded.payer_id, coded.payer_class
        self.patient_key = coded.patient_key
        self.place_of_service = getattr(coded, "place_of_service", "")
        self.facility_type_code = getattr(coded, "facility_type_code", "")
        self.origin = "coded"
        self.coded_at = coded.effective_at
        self.applied: set[UUID] = set()
        self.recodes = self.scrub_failures = self.submissions = self.rejections = self.denials = 0
        self.statements = self.appeal_level = self.appeals_overturned = self.appeals_upheld = 0
        self.scrub_edits: list[dict[str, Any]] = []
        self.frequency, self.payer_sequence = "1", "primary"
        self.first_submitted_at = self.last_submitted_at = self.first_adjudicated_at = None
        self.last_adjudicated_at = self.patient_billed_at = self.closed_at = None
        self.payer_claim_control_number = ""
        self.last_rejection = self.denial_category = ""
        self.carcs: list[str] = []
        self.appeal_deadline: date | None = None
        self.payments: list[dict[str, Any]] = []
        self.payer_paid = self.contractual = self.patient_responsibility = ZERO
        self.adjusted = ZERO  # the ledger's own adjust_claim amounts (the payers' sit in their remittances)
        self.patient_paid = self.written_off_payer = self.written_off_patient = self.denied_amount = ZERO

    def recode_from(self, event: Claim.Coded | Claim.Recoded) -> None:
        self.status = S.CODED
        self.diagnoses = list(event.diagnoses)
        self.lines = [ServiceLine.from_record(r) for r in event.lines]
        self.total_charge = event.total_charge

    def post_remittance(self, event: Claim.Paid | Claim.Denied, status: str) -> None:
        remit = event.remittance
        self.status = status
        self.payer_claim_control_number = remit["payer_claim_control_number"]
        self.carcs = [f"{a['group']}-{a['carc']}" for a in remit["adjustments"]]
        self.patient_responsibility += remit["patient_responsibility"]
        self.denied_amount = event.denied_amount
        self.first_adjudicated_at = self.first_adjudicated_at or event.effective_at
        self.last_adjudicated_at = event.effective_at

    def settle(self) -> None:
        if status := settled(self.status, self.balance):
            self.status, self.closed_at = status, self.last_activity_at if status == S.CLOSED else None

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
        """Whether a repeated code command describes this claim as first coded (then it is not a conflict)."""
        first = self.first_coding
        if first is None:  # opened from a remittance: there is no coding to compare with
            return False
        return (first["payer_class"], first["patient_key"], first["place_of_service"],
                first.get("facility_type_code", ""), first["diagnoses"], first["lines"], first["total_charge"]) == (
            payer_class, patient_key, place_of_service, facility_type_code, list(diagnoses),
            [ln.as_record() for ln in lines], declared_total(total_charge, lines))

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
