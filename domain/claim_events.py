"""The Claim aggregate's events: what each recorded fact says and the state it assigns (docs/domain.md §1, §2).

Event classes are forever. The aggregate (`domain.claim.Claim`) names each of these classes as its attribute, and
eventsourcing redefines it there as `Claim.<name>`: stored under the topic `domain.claim:Claim.<name>` as before
they moved here. Rules live in the aggregate's commands; these classes only assign state."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.lifecycle import S, recorded_appeal_deadline, settled, written_off
from domain.values import ZERO, ServiceLine

if TYPE_CHECKING:
    from domain.claim import Claim


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
        start(claim, self)
        super().apply(claim)

    def assign(self, claim: Claim) -> None:
        recode_from(claim, self)
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
        start(claim, self)
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
        recode_from(claim, self)
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
        post_remittance(claim, self, S.PAID)
        claim.payments.append({
            "payer_claim_control_number": self.remittance["payer_claim_control_number"],
            "paid": self.remittance["paid"],
            "contractual": self.contractual,
            "patient_responsibility": self.remittance["patient_responsibility"],
        })
        claim.payer_paid += self.remittance["paid"]
        claim.contractual += self.contractual
        settle(claim)


class Denied(Event, DecisionWithAppealDeadline):
    remittance: dict[str, Any]
    denied_amount: Decimal
    category: str
    appeal_deadline: date | None

    def assign(self, claim: Claim) -> None:
        post_remittance(claim, self, S.DENIED)
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
        settle(claim)


class PatientBilled(Event):
    statement: int
    amount: Decimal
    transferred: Decimal

    def assign(self, claim: Claim) -> None:
        claim.status = S.PATIENT_BILLED
        claim.patient_responsibility += self.transferred
        claim.statements = self.statement
        claim.patient_billed_at = claim.patient_billed_at or self.effective_at
        settle(claim)


class PatientPaid(Event):
    amount: Decimal
    method: str
    reference: str

    def assign(self, claim: Claim) -> None:
        claim.patient_paid += self.amount
        settle(claim)


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


class PatientRekeyed(Event):
    """The claim's patient is known by a new pseudonymous key from now on (the keyed hash that replaces the unkeyed
    one): no billing fact. The key it replaces stays where it was recorded (and is not repeated here); effective
    at the claim's last recorded fact, so that no date the read models keep moves."""
    patient_key: str
    reason: str

    def assign(self, claim: Claim) -> None:
        claim.patient_key = self.patient_key


# ---- state assignment helpers, called only from event classes ----

def start(claim: Claim, coded: Coded | Opened) -> None:
    claim.claim_number, claim.billing_npi = coded.claim_number, coded.billing_npi
    claim.rendering_npi, claim.payer_id, claim.payer_class = coded.rendering_npi, coded.payer_id, coded.payer_class
    claim.patient_key = coded.patient_key
    claim.place_of_service = getattr(coded, "place_of_service", "")
    claim.facility_type_code = getattr(coded, "facility_type_code", "")
    claim.origin = "coded"
    claim.coded_at = coded.effective_at
    claim.applied: set[UUID] = set()
    claim.recodes = claim.scrub_failures = claim.submissions = claim.rejections = claim.denials = 0
    claim.statements = claim.appeal_level = claim.appeals_overturned = claim.appeals_upheld = 0
    claim.scrub_edits: list[dict[str, Any]] = []
    claim.frequency, claim.payer_sequence = "1", "primary"
    claim.first_submitted_at = claim.last_submitted_at = claim.first_adjudicated_at = None
    claim.last_adjudicated_at = claim.patient_billed_at = claim.closed_at = None
    claim.payer_claim_control_number = ""
    claim.last_rejection = claim.denial_category = ""
    claim.carcs: list[str] = []
    claim.appeal_deadline: date | None = None
    claim.payments: list[dict[str, Any]] = []
    claim.payer_paid = claim.contractual = claim.patient_responsibility = ZERO
    claim.adjusted = ZERO  # the ledger's own adjust_claim amounts (the payers' sit in their remittances)
    claim.patient_paid = claim.written_off_payer = claim.written_off_patient = claim.denied_amount = ZERO


def recode_from(claim: Claim, event: Coded | Recoded) -> None:
    claim.status = S.CODED
    claim.diagnoses = list(event.diagnoses)
    claim.lines = [ServiceLine.from_record(r) for r in event.lines]
    claim.total_charge = event.total_charge


def post_remittance(claim: Claim, event: Paid | Denied, status: str) -> None:
    remit = event.remittance
    claim.status = status
    claim.payer_claim_control_number = remit["payer_claim_control_number"]
    claim.carcs = [f"{a['group']}-{a['carc']}" for a in remit["adjustments"]]
    claim.patient_responsibility += remit["patient_responsibility"]
    claim.denied_amount = event.denied_amount
    claim.first_adjudicated_at = claim.first_adjudicated_at or event.effective_at
    claim.last_adjudicated_at = event.effective_at


def settle(claim: Claim) -> None:
    if status := settled(claim.status, claim.balance):
        claim.status, claim.closed_at = status, claim.last_activity_at if status == S.CLOSED else None
