"""Patient statements: one per patient with a balance, claim by claim, in words a patient reads, as a PDF.

A statement cycle bills every claim it shows (`bill_patient`, so `PatientBilled` is a fact in the ledger like any
other; re-running a cycle appends nothing), and writes the PDFs only once the ledger has recorded them. Every
patient's address is checked before anything is written: one missing address refuses the whole cycle, naming the
patient. What moved money to the patient is explained per CARC/RARC, in plain words for the common ones and in
the code list's words otherwise (docs/domain.md §11).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from fpdf import FPDF

from domain import commands as c
from domain.claim import Claim
from domain.errors import LedgerError
from domain.lifecycle import ALLOWED
from domain.payment_plan import PaymentPlan
from infra.present import money
from projections.code_lists import code_list

STATEMENT_NAMESPACE = UUID("6e0b3f52-8a4d-5c71-9e2b-1d7f0a3c5e84")
ZERO = Decimal("0.00")

# The patient responsibility reasons a statement meets most, in the words a patient understands (the code list's
# own wording is written for billers). Other codes are quoted from infra/code_lists.
PLAIN_CARC = {
    "1": "Deductible: the amount you pay each year before your plan starts to pay.",
    "2": "Coinsurance: your share, a percentage, of the amount your plan allows.",
    "3": "Copay: the fixed amount your plan asks you to pay for this kind of visit.",
    "22": "Your plan says another insurance may pay first. Tell us about any other coverage you have.",
    "26": "Your coverage had not started yet on the date of service.",
    "27": "Your coverage had ended before the date of service.",
    "31": "Your plan could not find you as its member. Check the insurance details we have on file.",
    "96": "Your plan does not cover this service.",
    "119": "You have reached your plan's benefit limit for this period.",
    "149": "You have reached your plan's lifetime benefit limit for this service.",
    "166": "This service was received after your plan's deadline to file it.",
    "204": "This service is not covered under your current benefit plan.",
}
# Days since the first statement for a claim -> level and the line printed on the statement.
DUNNING = ((90, 4, "FINAL NOTICE: more than 90 days past due. Please pay or call us before we refer the account "
                   "to collections."),
           (60, 3, "SECOND NOTICE: more than 60 days past due. Please pay now or call us to set up a payment plan."),
           (30, 2, "PAST DUE: more than 30 days. Please pay the balance below."),
           (0, 1, "Statement of your balance. Please pay by the due date."))
PAY_WITHIN_DAYS = 30


class StatementRefused(LedgerError):
    """A statement cycle that cannot run: names the patient (or file) and why; nothing was written."""

    def __init__(self, what: str, rule: str, reason: str, allowed: str = "") -> None:
        super().__init__(what, rule, reason, allowed)
        self.args = (f"statement cycle: {what}: {rule}: {reason}"
                     + (f"; allowed instead: {allowed}" if allowed else ""),)


def explain_carc(group: str, carc: str) -> str:
    known = PLAIN_CARC.get(carc) or code_list("carc").get(carc)
    return known or f"Adjustment reason {group}-{carc} (not in our code list: ask us about it)."


def explain_remark(code: str) -> str:
    return code_list("rarc").get(code) or f"Remark {code} (not in our code list: ask us about it)."


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    city: str
    state: str
    postal_code: str
    line2: str = ""

    REQUIRED = ("name", "line1", "city", "state", "postal_code")

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Address | None:
        """An address a statement can be mailed to, or None when any part of it is missing."""
        if not record or any(not str(record.get(part) or "").strip() for part in cls.REQUIRED):
            return None
        return cls(**{k: str(record.get(k) or "").strip() for k in (*cls.REQUIRED, "line2")})

    def lines(self) -> list[str]:
        return [self.name, self.line1, *([self.line2] if self.line2 else []),
                f"{self.city}, {self.state} {self.postal_code}"]


@dataclass(frozen=True)
class Explanation:
    code: str
    amount: Decimal | None
    text: str


@dataclass
class StatementClaim:
    claim_number: str
    billing_npi: str
    service_date: date | None
    procedures: str
    charges: Decimal
    insurance_paid: Decimal
    plan_discount: Decimal  # contractual adjustments: what the provider may not bill anyone
    your_share: Decimal
    you_paid: Decimal
    forgiven: Decimal  # written off on the patient's side
    balance: Decimal
    first_billed: date | None
    explanations: list[Explanation] = field(default_factory=list)


@dataclass
class Statement:
    patient_key: str
    cycle: date
    address: Address
    claims: list[StatementClaim]
    dunning_level: int
    dunning_text: str
    plan_lines: list[str] = field(default_factory=list)

    @property
    def balance(self) -> Decimal:
        return sum((claim.balance for claim in self.claims), ZERO)

    @property
    def due_by(self) -> date:
        return date.fromordinal(self.cycle.toordinal() + PAY_WITHIN_DAYS)

    @property
    def file_name(self) -> str:
        return f"statement-{self.cycle.isoformat()}-{self.patient_key}.pdf"


ROLES_BILLED = ("guarantor", "subscriber", "patient")  # who a statement is mailed to, first found first


def phi_addresses(store: Any) -> Callable[[str], dict[str, Any] | None]:
    """Mailing addresses from the encrypted PHI store: the latest record naming the patient with an address, its
    guarantor (a CSV import), else its subscriber (the 837's insured, who pays for a dependant), else the patient.
    A forgotten patient's records cannot be read: no address, so no statement."""
    def address_of(patient_key: str) -> dict[str, Any] | None:
        for record in reversed(store.records_of(patient_key)):
            data = record.get("data")
            if record["kind"] != "demographics" or not isinstance(data, dict):
                continue
            for role in ROLES_BILLED:
                who = data.get(role) or {}
                if who.get("address") or who.get("line1"):
                    name = who.get("name") or " ".join(filter(None, (who.get(k) for k in ("first", "middle", "last",
                                                                                           "suffix"))))
                    return {"name": name, "line1": who.get("line1") or who.get("address"), "line2": who.get("line2"),
                            "city": who.get("city"), "state": who.get("state"), "postal_code": who.get("postal_code")}
        return None
    return address_of


def dunning(first_billed: date | None, cycle: date) -> tuple[int, str]:
    days = (cycle - first_billed).days if first_billed else 0
    return next((level, text) for after, level, text in DUNNING if days >= after)


def adjudications(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The remittances standing on a claim: the latest per payer claim control number, reversed ones dropped."""
    standing: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = type(event).__name__
        if kind in ("Paid", "Denied"):
            standing[event.remittance["payer_claim_control_number"]] = event.remittance
        elif kind == "PaymentReversed":
            standing.pop(event.payer_claim_control_number, None)
    return list(standing.values())


def explanations(remittances: list[dict[str, Any]], claim: Claim) -> list[Explanation]:
    found: dict[str, Explanation] = {}
    for remit in remittances:
        for adjustment in remit["adjustments"]:
            if adjustment["group"] != "PR":
                continue
            code = f"PR-{adjustment['carc']}"
            before = found[code].amount if code in found else ZERO
            found[code] = Explanation(code, (before or ZERO) + adjustment["amount"],
                                      explain_carc("PR", adjustment["carc"]))
        for remark in remit.get("remark_codes") or ():
            found.setdefault(remark, Explanation(remark, None, explain_remark(remark)))
    if claim.payer_class == "self_pay":
        found["SELF-PAY"] = Explanation("self-pay", None, "You are paying for this visit yourself (no insurance).")
    return list(found.values())


def statement_claim(claim: Claim, events: list[Any]) -> StatementClaim:
    dates = [line.service_date for line in claim.lines if line.service_date]
    return StatementClaim(
        claim_number=claim.claim_number, billing_npi=claim.billing_npi, service_date=min(dates) if dates else None,
        procedures=", ".join(line.procedure for line in claim.lines), charges=claim.total_charge,
        insurance_paid=claim.payer_paid, plan_discount=claim.contractual,
        your_share=claim.patient_responsibility + (claim.payer_balance if claim.payer_class == "self_pay" else ZERO),
        you_paid=claim.patient_paid, forgiven=claim.written_off_patient,
        balance=claim.patient_balance + (claim.payer_balance if claim.payer_class == "self_pay" else ZERO),
        first_billed=claim.patient_billed_at.date() if getattr(claim, "patient_billed_at", None) else None,
        explanations=explanations(adjudications(events), claim))


@dataclass
class CycleResult:
    statements: list[Statement]
    files: list[Path]
    billed: int  # PatientBilled events appended by this run (0 when the cycle ran before)
    skipped: list[dict[str, str]]  # claims with a patient balance the cycle could not bill, and why


def plan_lines(plans: list[PaymentPlan], standing: Callable[[PaymentPlan], Any]) -> list[str]:
    lines = []
    for plan in (p for p in plans if p.status == "active"):
        _, rows = standing(plan)
        missed = [r for r in rows if r.status == "missed"]
        upcoming = next((r for r in rows if r.status in ("due", "upcoming")), None)
        if missed:
            lines.append(f"Payment plan {plan.plan_number}: {len(missed)} missed installment(s), "
                         f"${missed[-1].short:,.2f} behind. Please pay it now to keep your plan.")
        if upcoming:
            lines.append(f"Payment plan {plan.plan_number}: next installment ${upcoming.installment.amount:,.2f} "
                         f"due {upcoming.installment.due.isoformat()}.")
    return lines


def candidates(views: Any) -> list[UUID]:
    """Claims a statement may show: a patient balance, or a self-pay claim ready to bill the patient in full."""
    rows = views.query(f"SELECT claim_id FROM {views.t['claim_status']} WHERE patient_balance > 0 "
                       "OR (payer_class = 'self_pay' AND status = 'ready' AND payer_balance > 0) ORDER BY claim_id")
    return [row["claim_id"] if isinstance(row["claim_id"], UUID) else UUID(str(row["claim_id"])) for row in rows]


def prepare(ledger: Any, claim_ids: Iterable[UUID], cycle: date,
            address_of: Callable[[str], dict[str, Any] | None]) -> tuple[list[Statement], list[dict[str, str]]]:
    """Every patient's statement for the cycle; refused whole if any patient has no address to mail it to."""
    by_patient: dict[str, list[StatementClaim]] = {}
    skipped = []
    for claim_id in claim_ids:
        claim = ledger.repository.get(claim_id)
        if claim.status not in ALLOWED["bill_patient"]:
            skipped.append({"claim": claim.claim_number, "status": str(claim.status),
                            "reason": "not billable to the patient in this status (the payer has not answered)"})
            continue
        events = list(ledger.events.get(claim.id))
        by_patient.setdefault(claim.patient_key, []).append(statement_claim(claim, events))
    missing = [key for key in sorted(by_patient) if Address.from_record(address_of(key)) is None]
    if missing:
        raise StatementRefused(
            f"patient {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""),
            "a statement needs a mailing address (name, street, city, state, ZIP)",
            f"none on file for {', '.join(missing[:10])}",
            "rcm phi import FILE.csv (or import the patient's 837), then run again")
    statements = []
    for key in sorted(by_patient):
        claims = sorted(by_patient[key], key=lambda s: (s.service_date or date.min, s.claim_number))
        first = min((s.first_billed for s in claims if s.first_billed), default=None)
        level, text = dunning(first, cycle)
        plans = ledger.plans(key)
        lines = plan_lines(plans, lambda plan: ledger.plan_standing(plan, cycle))
        statements.append(Statement(key, cycle, Address.from_record(address_of(key)), claims,  # type: ignore[arg-type]
                                    level, text, lines))
    return statements, skipped


def run_cycle(ledger: Any, claim_ids: Iterable[UUID], cycle: date, out_dir: Path,
              address_of: Callable[[str], dict[str, Any] | None], practice: str = "Your provider") -> CycleResult:
    """Prepares every statement, renders them aside, records PatientBilled on each claim in one transaction, then
    moves the PDFs into `out_dir`. Nothing is recorded when a PDF cannot be rendered, and no PDF appears when the
    ledger refuses a bill."""
    statements, skipped = prepare(ledger, claim_ids, cycle, address_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    aside = out_dir / f".cycle-{cycle.isoformat()}-{os.getpid()}"
    aside.mkdir()
    try:
        for statement in statements:
            render(statement, aside / statement.file_name, practice)
        billed = record_bills(ledger, statements)
        files = []
        for statement in statements:
            target = out_dir / statement.file_name
            os.replace(aside / statement.file_name, target)
            files.append(target)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return CycleResult(statements, files, billed, skipped)


def record_bills(ledger: Any, statements: list[Statement]) -> int:
    at = datetime.combine(statements[0].cycle, time(12), timezone.utc) if statements else None
    commands = [c.BillPatient(type="bill_patient", claim_number=claim.claim_number, billing_npi=claim.billing_npi,
                              effective_at=at, source="statement-cycle",
                              command_id=uuid5(STATEMENT_NAMESPACE, f"{s.patient_key}|{s.cycle}|{claim.billing_npi}|"
                                                                    f"{claim.claim_number}"))
                for s in statements for claim in s.claims]
    outcomes = ledger.execute(commands, all_or_nothing=True)
    refused = [o for o in outcomes if o.result == "rejected"]
    if refused:
        raise refused[0].error  # type: ignore[misc]
    return sum(o.events for o in outcomes if o.result == "applied")


# Latin-1 only in fpdf2's core fonts: other characters are shown as "?" rather than stopping a cycle.
def latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def render(statement: Statement, path: Path, practice: str) -> None:
    pdf = FPDF(format="letter")
    pdf.set_creation_date(datetime.combine(statement.cycle, time(12), timezone.utc))  # the same cycle, the same file
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, latin(practice), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, latin(f"Patient statement - {statement.cycle.isoformat()}    Account {statement.patient_key}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for line in statement.address.lines():
        pdf.cell(0, 5, latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, latin(f"Amount due: {money(statement.balance)}    Please pay by {statement.due_by.isoformat()}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B" if statement.dunning_level > 1 else "", 10)
    pdf.multi_cell(0, 5, latin(statement.dunning_text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in statement.plan_lines:
        pdf.multi_cell(0, 5, latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    head = ("Visit", "Services", "Charges", "Insurance paid", "Plan discount", "Your share", "You paid", "You owe")
    widths = (22, 38, 20, 24, 22, 22, 20, 20)
    pdf.set_font("Helvetica", "B", 8)
    for title, width in zip(head, widths):
        pdf.cell(width, 6, title, border="B")
    pdf.ln()
    for claim in statement.claims:
        pdf.set_font("Helvetica", "", 8)
        cells = (claim.service_date.isoformat() if claim.service_date else "", claim.procedures[:26],
                 money(claim.charges), money(claim.insurance_paid), money(claim.plan_discount),
                 money(claim.your_share), money(claim.you_paid + claim.forgiven), money(claim.balance))
        for index, (text, width) in enumerate(zip(cells, widths)):
            pdf.cell(width, 5, latin(text), align="R" if index > 1 else "L")
        pdf.ln()
        pdf.set_font("Helvetica", "I", 7)
        pdf.cell(0, 4, latin(f"Claim {claim.claim_number}"), new_x="LMARGIN", new_y="NEXT")
        for item in claim.explanations:
            amount = f" {money(item.amount)}" if item.amount is not None else ""
            pdf.multi_cell(0, 4, latin(f"    {item.code}{amount}: {item.text}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, latin(f"Total you owe: {money(statement.balance)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, latin("Questions about this bill, or need a payment plan? Call our billing office. "
                               "Your plan's explanation of benefits shows the same amounts."),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))

