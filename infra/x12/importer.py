"""`rcm import`: X12 files into the ledger, a transaction at a time, each in one database transaction.

A file is read twice, both times streamed: first for structure only (any fault rejects the whole file, nothing
written), then for import. Per transaction: an intake already posted appends nothing; an 835 that does not
balance is quarantined whole; otherwise each claim's commands apply together or not at all, and the intake
(with every claim it could not post) is saved in the same database transaction as the claims' events.

What names a person never goes into an event: a held transaction's text and each claim's subscriber and patient
(name, birth date, address, member id) are sealed in the PHI store (infra/phi.py) first, and the intake keeps
the sealed record's id. A sealed record whose events then fail to be written is left behind, unreferenced.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain import commands as c
from domain.intake import Intake, SubmissionBatch, intake_id
from domain.ledger import Ledger, PatientControlNumberIndex, topic_of
from domain.values import claim_id
from infra.phi import PhiStore, PhiUnreadable, Sealing, open_phi_store
from infra.store.rehearsal import Rehearsal
from infra.x12.ack_277ca import read_277
from infra.x12.ack_999 import read_999
from infra.x12.claims_837 import read_837
from infra.x12.demographics import people
from infra.x12.plan import ClaimPlan, PatientKeys, Plan
from infra.x12.remittance_835 import read_835
from infra.x12.segments import X12Error, amount_fault, open_text, transactions

PYX12_MAPS = {"005010X222A1", "005010X223A2", "005010X221A1", "005010X214", "005010X231A1", "005010X231"}


@dataclass
class TransactionResult:
    kind: str
    control: str
    # posted | partly posted | refused | already imported | quarantined | already quarantined | not written | dry run
    status: str
    claims: list[dict[str, Any]] = field(default_factory=list)
    payment: dict[str, Any] = field(default_factory=dict)
    provider_adjustments: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    events: int = 0

    @property
    def refused(self) -> list[dict[str, Any]]:
        """The claims the ledger refused, each with its reason (rejected input: `rcm import` exits 2)."""
        return [item for item in self.claims if item["outcome"] == "rejected"]


@dataclass
class FileResult:
    path: str
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    pyx12: str = ""
    transactions: list[TransactionResult] = field(default_factory=list)  # unless handed on one by one
    events: int = 0
    dry_run: bool = False
    held: bool = False  # a transaction quarantined, and so the rest of the file not written

    def count(self, done: TransactionResult) -> None:
        self.events += done.events
        self.held = self.held or done.status in ("quarantined", "already quarantined", "not written")


def pyx12_verdict(path: str) -> str:
    """pyx12's judgement where it has a map for the file's version; plainly says when it has none."""
    with open_text(path) as stream:
        text = stream.read()
    text = text[text.find("ISA"):]
    version = ""
    for tx in transactions(io.StringIO(text)):
        version = tx.gs[8] if len(tx.gs) > 8 else tx.version
        break
    if version not in PYX12_MAPS:
        return f"not validated: pyx12 4.0.0 has no map for {version}"
    import pyx12.error_handler  # noqa: F401  (pyx12 is imported only when a file is validated)
    import pyx12.params
    import pyx12.x12n_document

    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record.getMessage())

    logger = logging.getLogger("pyx12")
    handler = Collect(level=logging.ERROR)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        ok = pyx12.x12n_document.x12n_document(param=pyx12.params.params(), src_file=io.StringIO(text),
                                               fd_997=None, fd_html=None, fd_xmldoc=None)
    except Exception as error:  # pyx12's own crash is its verdict, not ours
        return f"pyx12 could not validate it: {type(error).__name__}: {error}"
    finally:
        logger.removeHandler(handler)
    if ok and not errors:
        return f"valid ({version}, pyx12 4.0.0)"
    return f"{len(errors)} pyx12 errors; first: {errors[0] if errors else 'see pyx12'}"


class Importer:
    def __init__(self, ledger: Ledger, patient_keys: PatientKeys, *, strict: bool = False, dry_run: bool = False,
                 validate: bool = True, per_transaction: bool = False, phi: PhiStore | None = None) -> None:
        # A dry run imports into a rehearsal of the ledger: the same code, so the same counts, and nothing stored.
        self.ledger = Rehearsal(ledger) if dry_run else ledger
        self.patient_keys = patient_keys
        # Opened (and the master key checked against the store's) before anything is written.
        self.phi = phi if phi is not None else open_phi_store(ledger, dry_run=dry_run)
        self.strict, self.dry_run, self.validate, self.per_transaction = strict, dry_run, validate, per_transaction

    def import_file(self, path: str,
                    each: Callable[[FileResult, TransactionResult], None] | None = None) -> FileResult:
        """With `each`, every transaction's result is handed to it as soon as it is known and not kept: memory
        then stays bounded by the largest transaction, whatever the file's size."""
        result = FileResult(path, dry_run=self.dry_run)
        try:
            held = self.refusals(path, result.warnings)
        except X12Error as error:
            result.error = str(error)
            return result
        except OSError as error:
            result.error = f"{path}: {error.strerror}"
            return result
        if self.validate:
            result.pyx12 = pyx12_verdict(path)
        with open_text(path) as stream:
            for n, tx in enumerate(transactions(stream, path)):
                if held and n not in held:
                    done = TransactionResult(tx.kind, tx.control, "not written", reason=(
                        f"the file is written whole or not at all, and {', '.join(held.values())} of it cannot be "
                        f"posted: import the corrected file (or use --per-transaction)"))
                else:
                    done = self.import_transaction(tx, path)
                result.count(done)
                if each is None:
                    result.transactions.append(done)
                else:
                    each(result, done)
        return result

    def refusals(self, path: str, warnings: list[str]) -> dict[int, str]:
        """Reads the whole file once, for its structure (any fault refuses the file) and, unless each transaction is
        imported on its own, for the transactions that cannot be posted at all: they are quarantined and nothing
        else of the file is written. Returns their place in the file and name."""
        with open_text(path) as stream:
            return {n: f"{tx.kind} {tx.control}" for n, tx in enumerate(transactions(stream, path, warnings))
                    if not self.per_transaction and self.refusal(tx)}

    def refusal(self, tx: Any) -> str:
        """Why a transaction cannot be posted at all, judged on its text alone: an amount X12 does not allow, or
        a remittance that does not balance."""
        if tx.set_id == "835":
            return amount_fault(tx) or read_835(tx, self.patient_keys, lambda number, npi: None, strict=True).quarantine
        return amount_fault(tx)

    def import_text(self, text: str, source: str) -> list[TransactionResult]:
        return [self.import_transaction(tx, source) for tx in transactions(io.StringIO(text), source)]

    # ---- one transaction ----

    def plan(self, tx: Any) -> Plan:
        """What the transaction maps to, read against the ledger as it is."""
        if tx.set_id == "837":
            return read_837(tx, self.patient_keys, self.opened_under_tax_id)
        if tx.set_id == "835":
            return read_835(tx, self.patient_keys, self.lookup, self.strict)
        if tx.set_id == "999":
            return read_999(tx, self.batch)
        return read_277(tx, self.lookup)

    def import_transaction(self, tx: Any, source: str) -> TransactionResult:
        plan = self.plan(tx)
        if fault := amount_fault(tx):
            plan.quarantine, plan.claims = fault, []
        result = TransactionResult(plan.kind, tx.control, "posted", payment=plan.payment,
                                   provider_adjustments=plan.provider_adjustments, notes=plan.notes)
        intake = self.ledger.load(intake_id(plan.key), {})
        if intake is not None and intake.status == "posted" and not intake.open_items:
            result.status = "already imported"
            result.claims = list(intake.posted["items"])
            return result
        now = datetime.now(timezone.utc)
        if plan.quarantine:
            result.status, result.reason = "quarantined", plan.quarantine
            if not self.hold(plan, tx, intake, source, now):
                result.status = "already quarantined"
            return result
        for claim_plan in plan.claims:  # a claim an earlier release keyed by the unkeyed hash: the keyed key first
            if (rekey := self.rekey(claim_plan)) is not None:
                claim_plan.commands.insert(0, rekey)

        self.seal_people(plan, tx)  # before the claims' events, which name the patient keys it is sealed under
        result.claims, result.events, unchanged = self.post(plan, intake, source, now)
        if result.refused:
            posted = any(i["outcome"] in ("posted", "duplicate") for i in result.claims)
            result.status = "partly posted" if posted else "refused"
        elif unchanged:
            result.status = "already imported"
        elif self.dry_run:
            result.status = "dry run"
        return result

    def hold(self, plan: Plan, tx: Any, intake: Any, source: str, now: datetime) -> bool:
        """Quarantines the transaction; False if it is held already (by this import or one running beside it)."""
        for attempt in range(self.ledger.ATTEMPTS):
            intake = intake or Intake.log(plan.kind, plan.key, now)
            if intake.holds(tx.digest()):
                return False
            intake.quarantine(at=now, source=source, reason=plan.quarantine, digest=tx.digest(),
                              phi_record=self.seal_text(plan, tx, source))
            try:
                self.ledger.record([intake])
                return True
            except IntegrityError:
                if attempt == self.ledger.ATTEMPTS - 1:
                    raise
                intake = self.ledger.load(intake_id(plan.key), {})  # another import recorded it meanwhile
        raise AssertionError("unreachable")

    def post(self, plan: Plan, intake: Any, source: str,
             now: datetime) -> tuple[list[dict[str, Any]], int, bool]:
        """Applies the claims' commands with the intake record in one transaction; a claim any of whose commands
        the ledger refuses is left out whole (and named in the record), then the rest is tried again."""
        items: list[dict[str, Any]] = []
        unchanged: list[bool] = []

        def records(outcomes: list[Any]) -> Iterator[Any]:
            items[:] = self.items(plan, outcomes)
            unchanged.clear()
            # Read again on every attempt: an import running beside this one may have recorded it meanwhile.
            latest = self.ledger.load(intake_id(plan.key), {})
            if latest is not None and latest.posted is not None and settled(latest.posted["items"]) == settled(items):
                unchanged.append(True)  # tried again, same outcome: nothing new to record
                return
            record = latest or Intake.log(plan.kind, plan.key, now)
            record.post(at=now, source=source, envelope=plan.envelope, payment=plan.payment,
                        provider_adjustments=plan.provider_adjustments, items=items, strict=self.strict,
                        phi_record=self.seal_text(plan, plan.tx, source) if Intake.still_open(items) else "")
            yield record
            sent = [[p.commands[0].billing_npi, p.commands[0].claim_number] for p in plan.claims if p.commands]
            if plan.batch is not None and sent:
                batch = self.ledger.load(SubmissionBatch.batch_id(*plan.batch), {})
                if batch is None:
                    batch = SubmissionBatch.list(*plan.batch, sent)
                else:
                    batch.extend(sent)
                yield batch

        while True:
            commands = [cmd for p in plan.claims for cmd in p.commands]
            outcomes = self.ledger.execute(commands, all_or_nothing=True, also=records)
            rejected = {id(o.command): o for o in outcomes if o.result == "rejected"}
            if not rejected:
                break
            for p in plan.claims:
                errors = [rejected[id(cmd)] for cmd in p.commands if id(cmd) in rejected]
                if errors:
                    p.error, p.commands = str(errors[0].error), []
        return items, sum(i["events"] for i in items), bool(unchanged)

    def items(self, plan: Plan, outcomes: list[Any]) -> list[dict[str, Any]]:
        by_command = {id(o.command): o for o in outcomes}
        items = []
        for p in plan.claims:
            done = [by_command[id(cmd)] for cmd in p.commands if id(cmd) in by_command]
            if p.error and not p.commands:
                outcome = "unmatched" if p.unmatched else "rejected"
            elif p.unmatched:
                outcome = "kept"
            elif done and all(o.result == "duplicate" for o in done):
                outcome = "duplicate"
            else:
                outcome = "posted"
            items.append({"claim": p.label, "outcome": outcome, "reason": p.error, "notes": p.notes,
                          "events": sum(o.events for o in done if o.result == "applied"),
                          "commands": [cmd.type for cmd in p.commands], **p.facts})
        return items

    def rekey(self, claim: ClaimPlan) -> c.RekeyPatient | None:
        """The rekey_patient command for a claim of the transaction that the ledger still knows by the unkeyed hash
        of the same member that earlier releases recorded (None if it holds another key, or is not recorded)."""
        patient = claim.patient
        if not claim.commands or patient is None or patient.legacy == patient.key:
            return None
        first = claim.commands[0]
        recorded = self.ledger.load(claim_id(first.billing_npi, first.claim_number), {})
        if recorded is None or recorded.patient_key != patient.legacy:
            return None
        return c.COMMAND.validate_python({  # type: ignore[no-any-return]
            "type": "rekey_patient", "claim_number": first.claim_number, "billing_npi": first.billing_npi,
            "patient_key_was": patient.legacy, "patient_key": patient.key, "actor": first.actor,
            "source": first.source})

    # ---- what names a person, to the PHI store ----

    def seal_text(self, plan: Plan, tx: Any, source: str) -> str:
        """The transaction's text, held for a retry: linked to every patient it names."""
        return self.phi.seal(f"x12:{tx.digest()}", "x12", {"text": tx.interchange_text(), "source": source},
                             plan.patients)

    def seal_people(self, plan: Plan, tx: Any) -> None:
        """Each claim's subscriber and patient, under the claim's patient key (a held transaction has no claims
        in the ledger: its people stay in its sealed text)."""
        self.phi.seal_many([  # a claim the ledger will not hold (refused, a predetermination) keeps no record
            Sealing(f"demographics:{plan.key}:{ordinal}", "demographics", {"kind": plan.kind, **who}, [patient])
            for ordinal, (who, patient, claim) in enumerate(zip(people(tx), plan.patients, plan.claims), start=1)
            if claim.commands])

    # ---- lookups the mapping needs ----

    def lookup(self, claim_number: str, npi: str) -> Any:
        if npi:
            claim = self.ledger.load(claim_id(npi, claim_number), {})
            if claim is not None:
                return claim
        index = self.ledger.load(PatientControlNumberIndex.index_id(claim_number), {})
        if index is None:
            return None
        if len(index.claims) == 1:
            return self.ledger.load(next(iter(index.claims.values())), {})
        return None  # several billing providers use this number and the file names none of them

    def opened_under_tax_id(self, claim_number: str, npi: str, tin: str) -> str | None:
        """The key of a claim an 835 opened under this tax id (its payee gave no NPI), unless the claim is known
        under the NPI: the 837 attaches to it rather than coding the same claim a second time."""
        if not tin or self.ledger.load(claim_id(npi, claim_number), {}) is not None:
            return None
        key = f"TIN-{tin}"
        claim = self.ledger.load(claim_id(key, claim_number), {})
        return key if claim is not None and claim.opened else None

    def batch(self, group_control: str, transaction_control: str) -> list[tuple[str, str]]:
        batch = self.ledger.load(SubmissionBatch.batch_id(group_control, transaction_control), {})
        return [tuple(c) for c in batch.claims] if batch is not None else []  # type: ignore[misc]


def settled(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What a transaction's claims came to, whether applied now or earlier (posted and duplicate are alike)."""
    return [(i["claim"], "done" if i["outcome"] in ("posted", "duplicate") else i["outcome"], i["reason"])
            for i in items]


def intakes(ledger: Ledger) -> Iterator[Intake]:
    """Every intake with something to look at again: quarantined, or posted with unmatched items."""
    seen: set[Any] = set()
    for topic in (topic_of(Intake.Quarantined), topic_of(Intake.Posted)):
        for n in ledger.recorder.select_notifications(start=None, limit=10**9, topics=[topic]):
            if n.originator_id not in seen:
                seen.add(n.originator_id)
                yield ledger.repository.get(n.originator_id)


def quarantine_rows(ledger: Ledger) -> list[dict[str, Any]]:
    rows = []
    for intake in intakes(ledger):
        if intake.status == "quarantined":
            for held in intake.quarantines:
                rows.append({"key": intake.key, "kind": intake.kind, "state": "quarantined", "claim": "",
                             "reason": held["reason"], "source": held["source"], "at": held["at"].isoformat()})
        elif intake.posted:
            for item in intake.posted["items"]:
                if item["outcome"] in ("unmatched", "kept", "rejected"):
                    rows.append({"key": intake.key, "kind": intake.kind, "state": item["outcome"],
                                 "claim": item["claim"], "reason": item["reason"] or "; ".join(item["notes"]),
                                 "source": intake.posted["source"], "at": ""})
    return rows


def held_text(phi: PhiStore, held: dict[str, Any]) -> str:
    """A held transaction's text: from the PHI store, or (events stored before it) the event's own text."""
    if held.get("phi_record"):
        return phi.open(held["phi_record"])["text"]
    if not held["text"]:
        raise PhiUnreadable("its text was not kept (a patient it names was forgotten): import the file again")
    return held["text"]


def retry_quarantined(ledger: Ledger, patient_keys: PatientKeys, key: str | None = None,
                      phi: PhiStore | None = None) -> list[TransactionResult]:
    """Imports the held text of each quarantined intake, and of each posted one with claims left unmatched or
    rejected, again (after the ledger or the mapping changed); the latter as strictly as they were first read.
    Text whose patient was forgotten cannot be read, and is reported so."""
    phi = phi if phi is not None else open_phi_store(ledger)
    out: list[TransactionResult] = []
    for intake in list(intakes(ledger)):
        if key is not None and intake.key != key:
            continue
        try:
            out += retry_intake(ledger, patient_keys, phi, intake)
        except PhiUnreadable as error:
            out.append(TransactionResult(intake.kind, intake.key, "not retried", reason=str(error)))
    return out


def retry_intake(ledger: Ledger, patient_keys: PatientKeys, phi: PhiStore, intake: Intake) -> list[TransactionResult]:
    out: list[TransactionResult] = []
    if intake.status == "quarantined":
        for held in intake.quarantines:
            importer = Importer(ledger, patient_keys, validate=False, phi=phi)
            out += importer.import_text(held_text(phi, held), f"retry of {held['source']}")
    elif intake.open_items and (intake.posted.get("phi_record") or intake.posted["text"]):
        importer = Importer(ledger, patient_keys, strict=intake.posted["strict"], validate=False, phi=phi)
        out += importer.import_text(held_text(phi, intake.posted), f"retry of {intake.posted['source']}")
    elif intake.open_items:
        out.append(TransactionResult(intake.kind, intake.key, "not retried", reason=(
            "imported before open items kept their text: import the file again")))
    return out
