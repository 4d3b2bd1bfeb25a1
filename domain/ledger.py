"""The ledger application: runs lifecycle commands against claims and saves many claims per transaction."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic, register_topic

from domain import commands as c
from domain import errors
from domain.claim import Claim
from domain.claim_events import PatientPaid
from domain.money import check_claim_total
from domain.payment_plan import PaymentPlan, InstallmentStanding, plan_id, schedule, standing
from domain.scrub import ClaimForScrub, scrub
from domain.values import CLAIM_NAMESPACE, Adjustment, Meta, Remittance, ServiceLine, claim_id


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class PatientControlNumberIndex(Aggregate):
    """Finds claims by patient control number (CLM01, our claim number) alone; billing NPIs may share one.
    It is the ledger's lookup, not a claim fact: projections and the relay skip its events."""

    class Registered(Aggregate.Created):
        claim_number: str
        billing_npi: str
        claim_id: UUID

        def apply(self, index: PatientControlNumberIndex) -> None:
            index.claim_number, index.claims = self.claim_number, {self.billing_npi: self.claim_id}

    class Linked(Aggregate.Event):
        billing_npi: str
        claim_id: UUID

        def apply(self, index: PatientControlNumberIndex) -> None:
            index.claims[self.billing_npi] = self.claim_id

    @staticmethod
    @lru_cache(maxsize=1 << 16)
    def index_id(claim_number: str) -> UUID:
        return uuid5(CLAIM_NAMESPACE, f"claim-number|{claim_number}")

    @classmethod
    def register(cls, claim_number: str, billing_npi: str, claim: UUID) -> PatientControlNumberIndex:
        return cls._create(cls.Registered, id=cls.index_id(claim_number), claim_number=claim_number,
                           billing_npi=billing_npi, claim_id=claim)

    def link(self, billing_npi: str, claim: UUID) -> None:
        self.trigger_event(self.Linked, billing_npi=billing_npi, claim_id=claim)


@dataclass(frozen=True)
class Outcome:
    """What became of one command: applied (with its events), already applied, or rejected with the reason."""

    command: c.CodeClaim | Any
    result: str  # "applied" | "duplicate" | "rejected"
    events: int = 0
    error: errors.LedgerError | None = None


def lines_of(coding: c.Coding) -> list[ServiceLine]:
    return [
        ServiceLine(number=i, procedure=ln.procedure, charge=ln.charge, units=ln.units,
                    modifiers=tuple(ln.modifiers), pointers=tuple(ln.pointers), service_date=ln.service_date,
                    revenue_code=ln.revenue_code or "")
        for i, ln in enumerate(coding.lines, start=1)
    ]


def remittance_of(cmd: c.RemittanceIn) -> Remittance:
    return Remittance(
        payer_claim_control_number=cmd.payer_claim_control_number, status_code=cmd.status_code,  # type: ignore[attr-defined]
        charge=cmd.charge, paid=cmd.paid, patient_responsibility=cmd.patient_responsibility,
        adjustments=tuple(Adjustment(a.group, a.carc, a.amount, a.line) for a in cmd.adjustments),
        line_paid=tuple((lp.line, lp.paid) for lp in cmd.line_paid),
        remark_codes=tuple(cmd.remark_codes), trace_number=cmd.trace_number,
        remitted_on=cmd.remitted_on,
    )


def run_scrub(claim: Claim, cmd: Any, meta: Meta) -> None:
    claim.require("scrub")
    facts = ClaimForScrub(
        claim_number=claim.claim_number, billing_npi=claim.billing_npi, rendering_npi=claim.rendering_npi,
        payer_class=claim.payer_class, place_of_service=claim.place_of_service,
        facility_type_code=claim.facility_type_code, diagnoses=tuple(claim.diagnoses),
        lines=tuple(claim.lines), total_charge=claim.total_charge, scrub_date=meta.effective_at.date(),
        timely_filing_days=getattr(cmd, "timely_filing_days", None),
    )
    claim.record_scrub(edits=[e.as_record() for e in scrub(facts)], meta=meta)


def run_submit(claim: Claim, cmd: c.SubmitClaim, meta: Meta) -> None:
    if cmd.already_sent:  # no scrub held it back: its total is judged before anything is recorded
        check_claim_total(claim.claim_number, claim.total_charge, claim.lines)
    if cmd.already_sent and claim.answered(meta.effective_at):  # the submission its opening remittance answered
        claim.attach_submission(frequency=cmd.frequency, payer_sequence=cmd.payer_sequence,
                                payer_id=cmd.payer_id or claim.payer_id,
                                interchange_control_number=cmd.interchange_control_number,
                                group_control_number=cmd.group_control_number,
                                transaction_control_number=cmd.transaction_control_number, meta=meta)
        return
    if cmd.already_sent and cmd.frequency == "1" and claim.opened and not claim.submissions:
        claim.check_sent_before_answer(meta.effective_at.date())  # that original, dated after its remittance
    if cmd.already_sent and claim.status == "coded":
        run_scrub(claim, cmd, meta)  # what the ledger's edits say of a claim another system sent unscrubbed here
    stamp = f"{claim.submissions + 1:09d}"
    claim.submit(frequency=cmd.frequency, payer_sequence=cmd.payer_sequence, payer_id=cmd.payer_id or claim.payer_id,
                 interchange_control_number=cmd.interchange_control_number or stamp,
                 group_control_number=cmd.group_control_number or stamp,
                 transaction_control_number=cmd.transaction_control_number or stamp[-4:], meta=meta,
                 already_sent=cmd.already_sent)


HANDLERS: dict[str, Callable[[Claim, Any, Meta], None]] = {
    "recode_claim": lambda cl, cmd, m: cl.recode(diagnoses=cmd.diagnoses, lines=lines_of(cmd),
                                                 total_charge=cmd.total_charge, meta=m),
    "scrub_claim": run_scrub,
    "submit_claim": run_submit,
    "accept_claim": lambda cl, cmd, m: cl.accept(acknowledgment=cmd.acknowledgment, meta=m),
    "reject_claim": lambda cl, cmd, m: cl.reject(stage=cmd.stage, code=cmd.code, reason=cmd.reason, meta=m),
    "record_payment": lambda cl, cmd, m: cl.record_payment(remittance_of(cmd), m),
    "record_denial": lambda cl, cmd, m: cl.record_denial(remittance_of(cmd), m),
    "appeal_denial": lambda cl, cmd, m: cl.appeal(level=cmd.level, reason=cmd.reason, meta=m),
    "decide_appeal": lambda cl, cmd, m: cl.decide_appeal(overturned=cmd.overturned, reason=cmd.reason, meta=m),
    "reverse_payment": lambda cl, cmd, m: cl.reverse_payment(
        payer_claim_control_number=cmd.payer_claim_control_number, reason=cmd.reason, meta=m),
    "adjust_claim": lambda cl, cmd, m: cl.adjust(group=cmd.group, carc=cmd.carc, amount=cmd.amount,
                                                 reason=cmd.reason, meta=m),
    "bill_patient": lambda cl, cmd, m: cl.bill_patient(meta=m),
    "record_patient_payment": lambda cl, cmd, m: cl.record_patient_payment(
        amount=cmd.amount, method=cmd.method, reference=cmd.reference, meta=m),
    "write_off": lambda cl, cmd, m: cl.write_off(responsibility=cmd.responsibility, amount=cmd.amount,
                                                 reason=cmd.reason, meta=m),
    "void_claim": lambda cl, cmd, m: cl.void(reason=cmd.reason, meta=m),
    "rekey_patient": lambda cl, cmd, m: cl.rekey_patient(patient_key_was=cmd.patient_key_was,
                                                         patient_key=cmd.patient_key, reason=cmd.reason, meta=m),
}


class LedgerRepository(Repository):
    """The ledger's reads of claims, and the seam for keeping claims between batches (infra keeps the recently
    written in memory and reads a batch's claims in one query): this one reads each claim from the store."""

    def prefetch(self, aggregate_ids: set[UUID]) -> None:
        """Reads ahead the aggregates a batch of commands touches: here, nothing."""

    def find(self, aggregate_id: UUID) -> Any:
        try:
            return self.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def keep(self, written: dict[UUID, Aggregate]) -> None:
        """A batch was stored: its aggregates are as stored."""

    def drop(self, aggregate_ids: Iterable[UUID]) -> None:
        """A batch was not stored: its aggregates may hold changes that never were."""

    def drop_kept(self, aggregate_id: UUID) -> bool:
        """True if a copy kept from an earlier batch was dropped (another writer may have moved the aggregate on)."""
        return False


class Ledger(Application):
    """Service layer: load the claims a batch touches, run each command, save the batch in one transaction."""

    name = "rcm"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names a subclass's tables (rcm_events on PostgreSQL) and env prefixes after the class: every
        # ledger over a store (infra's StoreLedger, a dry run's Rehearsal) must read and write the same tables
        cls.name = Ledger.name
        super().__init_subclass__(**kwargs)

    def __init__(self, env: dict[str, str] | None = None, *, actor: str = "rcm", source: str = "api") -> None:
        super().__init__(env)
        self.actor, self.source = actor, source

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_repository(self) -> LedgerRepository:
        return LedgerRepository(self.events, snapshot_store=self.snapshots)

    @property
    def repository(self) -> LedgerRepository:
        return self._repository  # type: ignore[return-value]  # what construct_repository built

    # ---- writing ----

    def execute(self, commands: Sequence[Any], *, all_or_nothing: bool = False, dry_run: bool = False,
                also: Callable[[list[Outcome]], Iterable[Aggregate]] | None = None) -> list[Outcome]:
        """Runs commands in order; saves every touched claim in one transaction (nothing if all_or_nothing fails,
        nothing on a dry run). `also` returns more aggregates to save in that transaction (e.g. a file's record)."""
        return self.retrying(lambda: self.execute_once(commands, all_or_nothing, dry_run, also))

    def retrying(self, batch: Callable[[], list[Outcome]]) -> list[Outcome]:
        """The seam for running a batch again when another writer got in its way: here, it runs once."""
        return batch()

    def execute_once(self, commands: Sequence[Any], all_or_nothing: bool, dry_run: bool,
                     also: Callable[[list[Outcome]], Iterable[Aggregate]] | None) -> list[Outcome]:
        touched: dict[UUID, Aggregate] = {}
        try:
            self.repository.prefetch(touched_by(commands))
            outcomes = [self.run(cmd, touched) for cmd in commands]
            if dry_run or all_or_nothing and any(o.result == "rejected" for o in outcomes):
                self.repository.drop(touched)
                return outcomes
            extra = list(also(outcomes)) if also is not None else []
            self.record([*touched.values(), *extra])
        except BaseException:
            self.repository.drop(touched)
            raise
        self.repository.keep(touched)
        return outcomes

    def run(self, cmd: Any, touched: dict[UUID, Aggregate]) -> Outcome:
        key = cmd.key()
        meta = Meta(cmd.effective_at or datetime.now(timezone.utc), cmd.actor or self.actor,
                    cmd.source or self.source, cmd.correlation_id or key, key)
        cid = claim_id(cmd.billing_npi, cmd.claim_number)
        try:
            return self.apply(cmd, key, meta, cid, touched)
        except errors.LedgerError as error:
            if cid in touched or not self.repository.drop_kept(cid):
                return Outcome(cmd, "rejected", error=error)
        # The refusal was judged on a kept copy another writer may have moved on: judge it again, fresh.
        try:
            return self.apply(cmd, key, meta, cid, touched)
        except errors.LedgerError as error:
            return Outcome(cmd, "rejected", error=error)

    def apply(self, cmd: Any, key: UUID, meta: Meta, cid: UUID, touched: dict[UUID, Aggregate]) -> Outcome:
        claim = self.load(cid, touched)
        if cmd.type == "code_claim":
            return self.code(cmd, claim, meta, touched)
        if cmd.type == "open_from_remittance":
            return self.open(cmd, claim, meta, touched)
        if claim is None:
            raise errors.UnknownClaim(cmd.claim_number, "the claim must be coded first",
                                      f"no claim {cmd.claim_number} for billing NPI {cmd.billing_npi}", "code_claim")
        if key in claim.applied:
            return Outcome(cmd, "duplicate")
        before = len(claim.pending_events)
        HANDLERS[cmd.type](claim, cmd, meta)
        touched[cid] = claim
        return Outcome(cmd, "applied", len(claim.pending_events) - before)

    def code(self, cmd: c.CodeClaim, claim: Any, meta: Meta, touched: dict[UUID, Aggregate]) -> Outcome:
        lines = lines_of(cmd)
        fields = dict(payer_id=cmd.payer_id, payer_class=cmd.payer_class, patient_key=cmd.patient_key,
                      place_of_service=cmd.place_of_service, facility_type_code=cmd.facility_type_code,
                      diagnoses=cmd.diagnoses, lines=lines, total_charge=cmd.total_charge)
        if claim is not None:
            if claim.same_coding(**fields):
                return Outcome(cmd, "duplicate")
            if claim.awaits_coding:  # opened from a remittance: its 837 came later
                claim.attach_coding(rendering_npi=cmd.rendering_npi or claim.rendering_npi, meta=meta, **fields)
                touched[claim.id] = claim
                return Outcome(cmd, "applied", 1)
            raise errors.ClaimNumberConflict(
                cmd.claim_number, "a claim number names one claim",
                f"claim {cmd.claim_number} of billing NPI {cmd.billing_npi} exists with different coding",
                "recode_claim to change its coding, or use a new claim number")
        if cmd.billing_npi.startswith("TIN-"):
            raise errors.UnknownClaim(
                cmd.claim_number, "a claim is coded under its billing provider's NPI",
                f"{cmd.billing_npi} names only claims opened from a remittance whose payee gave no NPI, and no such "
                f"claim {cmd.claim_number} exists", "code_claim with the billing NPI", field="billing_npi")
        new = Claim.code(claim_number=cmd.claim_number, billing_npi=cmd.billing_npi,
                         rendering_npi=cmd.rendering_npi or cmd.billing_npi, meta=meta, **fields)
        self.index(new, touched)
        return Outcome(cmd, "applied", 1)

    def open(self, cmd: c.OpenFromRemittance, claim: Any, meta: Meta, touched: dict[UUID, Aggregate]) -> Outcome:
        if claim is not None:
            return Outcome(cmd, "duplicate")  # known already (coded, or opened by an earlier remittance)
        lines = [ServiceLine(number=i, procedure=ln.procedure, charge=ln.charge, units=ln.units,
                             modifiers=tuple(ln.modifiers), service_date=ln.service_date or cmd.service_date)
                 for i, ln in enumerate(cmd.lines, start=1)]
        new = Claim.open_from_remittance(
            claim_number=cmd.claim_number, billing_npi=cmd.billing_npi,
            rendering_npi=cmd.rendering_npi or cmd.billing_npi, payer_id=cmd.payer_id, payer_class=cmd.payer_class,
            patient_key=cmd.patient_key, lines=lines, total_charge=cmd.total_charge, service_date=cmd.service_date,
            origin=cmd.origin, payer_sequence=cmd.payer_sequence, meta=meta)
        self.index(new, touched)
        return Outcome(cmd, "applied", 1)

    def index(self, new: Claim, touched: dict[UUID, Aggregate]) -> None:
        """Stores a new claim with its entry in the patient control number index."""
        touched[new.id] = new
        index_id = PatientControlNumberIndex.index_id(new.claim_number)
        index = self.load(index_id, touched)
        if index is None:
            index = PatientControlNumberIndex.register(new.claim_number, new.billing_npi, new.id)
        else:
            index.link(new.billing_npi, new.id)
        touched[index_id] = index

    def record(self, aggregates: Iterable[Aggregate]) -> None:
        """Application.save without its per-event notification objects: one insert of every pending event."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        self.recorder.insert_events([self.mapper.to_stored_event(event) for event in events])

    def load(self, aggregate_id: UUID, touched: dict[UUID, Aggregate]) -> Any:
        if aggregate_id in touched:
            return touched[aggregate_id]
        return self.repository.find(aggregate_id)

    # ---- reading ----

    def find(self, claim_number: str, billing_npi: str | None = None) -> Claim:
        if billing_npi:
            claim = self.load(claim_id(billing_npi, claim_number), {})
        else:
            index = self.load(PatientControlNumberIndex.index_id(claim_number), {})
            if index is not None and len(index.claims) > 1:
                raise errors.AmbiguousClaimNumber(
                    claim_number, "a claim number is unique per billing NPI",
                    f"{len(index.claims)} billing NPIs use it", f"--npi one of {', '.join(sorted(index.claims))}")
            claim = self.load(next(iter(index.claims.values())), {}) if index is not None else None
        if claim is None:
            raise errors.UnknownClaim(claim_number, "no such claim", f"the ledger has no claim {claim_number}",
                                      "check the number, or code_claim")
        return claim

    def replay(self, claim: Claim, *, as_of: datetime | None = None,
               version: int | None = None) -> Iterator[tuple[Any, Claim]]:
        """Each event of the claim with the claim's state right after it (copies: safe to keep)."""
        state: Any = None
        for event in self.events.get(claim.id, lte=version):
            if as_of is not None and event.timestamp > as_of:
                break
            state = event.mutate(state)
            yield event, copy.deepcopy(state)

    def claims(self) -> Iterable[Claim]:
        """Every claim, in order of first record (for reports and checks over the whole ledger)."""
        seen: set[UUID] = set()
        for notification in self.recorder.select_notifications(start=None, limit=10**12,
                                                               topics=[topic_of(Claim.Coded), topic_of(Claim.Opened)]):
            if notification.originator_id not in seen:
                seen.add(notification.originator_id)
                yield self.repository.get(notification.originator_id)


    # ---- payment plans ----

    def agree_plan(self, cmd: c.AgreePaymentPlan) -> tuple[PaymentPlan, bool]:
        """Agrees a plan over the claims' patient balance; (plan, False) when the same plan was agreed already.
        A claim is in one active plan at a time; every claim is the same patient's and has a patient balance."""
        existing = self.plans(cmd.patient_key)
        name = f"{cmd.patient_key}/{len(existing) + 1}"
        claims, balance = [], Decimal("0.00")
        for ref in cmd.claims:
            claim = self.find(ref.claim_number, ref.billing_npi)
            if claim.patient_key != cmd.patient_key:
                raise errors.PaymentPlanRefused(name, "one patient's claims", f"claim {claim.claim_number} is "
                                                f"another patient's", "plan each patient's claims apart")
            if claim.patient_balance <= 0:
                raise errors.PaymentPlanRefused(name, "claims with a patient balance", f"claim {claim.claim_number} "
                                                f"has a patient balance of {claim.patient_balance}", "leave it out")
            if any(str(claim.id) == known["claim_id"] for known in claims):
                raise errors.PaymentPlanRefused(name, "each claim once", f"claim {claim.claim_number} is named twice")
            claims.append({"claim_number": claim.claim_number, "billing_npi": claim.billing_npi,
                           "claim_id": str(claim.id)})  # text: nested values are stored as JSON gives them
            balance += claim.patient_balance
        ids = {known["claim_id"] for known in claims}
        for plan in existing:
            shared = ids & {known["claim_id"] for known in plan.claims}
            if plan.status != "active" or not shared:
                continue
            if plan.same_terms(claims, cmd.first_due):
                return plan, False
            number = next(k["claim_number"] for k in plan.claims if k["claim_id"] in shared)
            raise errors.PaymentPlanRefused(name, "a claim is in one active plan", f"claim {number} is in plan "
                                            f"{plan.name}", f"rcm plan cancel {plan.patient_key} {plan.plan_number}")
        installments = schedule(name, balance, cmd.first_due, count=cmd.installments, amount=cmd.amount,
                                every_months=cmd.every_months)
        plan = PaymentPlan.agree(patient_key=cmd.patient_key, plan_number=str(len(existing) + 1), claims=claims,
                                 balance=balance, installments=installments,
                                 at=cmd.effective_at or datetime.now(timezone.utc), actor=cmd.actor or self.actor)
        self.record([plan])
        return plan, True

    def plans(self, patient_key: str) -> list[PaymentPlan]:
        """The patient's plans, numbered 1, 2, ... in the order they were agreed."""
        found: list[PaymentPlan] = []
        while (plan := self.load(plan_id(patient_key, str(len(found) + 1)), {})) is not None:
            found.append(plan)
        return found

    def all_plans(self) -> Iterator[PaymentPlan]:
        for notification in self.recorder.select_notifications(start=None, limit=10**12,
                                                               topics=[topic_of(PaymentPlan.Agreed)]):
            yield self.repository.get(notification.originator_id)

    def cancel_plan(self, patient_key: str, plan_number: str, reason: str, at: datetime | None = None) -> PaymentPlan:
        plan = self.load(plan_id(patient_key, plan_number), {})
        if plan is None:
            raise errors.PaymentPlanRefused(f"{patient_key}/{plan_number}", "no such plan", "nothing was agreed",
                                            f"rcm plan show {patient_key}")
        plan.cancel(reason=reason, at=at or datetime.now(timezone.utc), actor=self.actor)
        self.record([plan])
        return plan

    def plan_payments(self, plan: PaymentPlan, as_of: datetime | None = None) -> Decimal:
        """What the patient paid on the plan's claims since the agreement (up to `as_of`, in business time)."""
        paid = Decimal("0.00")
        for known in plan.claims:
            for event in self.events.get(UUID(known["claim_id"])):
                if isinstance(event, PatientPaid) and event.effective_at >= plan.agreed_at and (
                        as_of is None or event.effective_at <= as_of):
                    paid += event.amount
        return paid

    def plan_standing(self, plan: PaymentPlan, today: date) -> tuple[Decimal, list[InstallmentStanding]]:
        end_of_day = datetime.combine(today, datetime.max.time(), tzinfo=timezone.utc)
        paid = self.plan_payments(plan, end_of_day)
        return paid, standing(plan.installments, paid, today)

# Its first name, kept readable for events stored under it (eventsourcing topics are forever).
register_topic("domain.ledger:ClaimNumberIndex", PatientControlNumberIndex)
for _event in ("Registered", "Linked", "Created"):
    register_topic(f"domain.ledger:ClaimNumberIndex.{_event}", getattr(PatientControlNumberIndex, _event))


def touched_by(commands: Sequence[Any]) -> set[UUID]:
    """The claims (and claim-number index entries) a batch of commands loads."""
    return {claim_id(cmd.billing_npi, cmd.claim_number) for cmd in commands} | {
        PatientControlNumberIndex.index_id(cmd.claim_number) for cmd in commands
        if cmd.type in ("code_claim", "open_from_remittance")}


def topic_of(cls: type) -> str:
    return get_topic(cls)
