"""How claims, histories and summaries look to people: plain dicts for --json, rich tables for the terminal."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from domain.claim import Claim
from domain.commands import CONTROL_CHARACTER

MONEY_FIELDS = ("total_charge", "payer_paid", "contractual", "patient_responsibility", "patient_paid",
                "written_off_payer", "written_off_patient", "payer_balance", "patient_balance", "balance",
                "denied_amount")


def shown(value: Any) -> Text:
    """Text for the terminal: control characters (ESC and CSI begin escape sequences) written as \\xNN, and
    square brackets kept as they are (a Text is never read as rich markup)."""
    return Text(CONTROL_CHARACTER.sub(lambda found: f"\\x{ord(found.group()):02x}", str(value)))


def money(amount: Decimal) -> str:
    """Money as people read it, the same in every table and PDF: $1,234.56 and -$12.00."""
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def cell(value: Any) -> Any:
    """A table cell: amounts of money (the ledger's Decimals, in cents) as $1,234.56, nothing for None, everything
    else as it is."""
    if value is None:
        return ""
    if isinstance(value, Decimal) and value.as_tuple().exponent == -2:
        return money(value)
    return value


def add_row(table: Table, *cells: Any) -> None:
    table.add_row(*(shown(cell(value)) for value in cells))


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def claim_state(claim: Claim) -> dict[str, Any]:
    state = {
        "claim_number": claim.claim_number, "claim_id": str(claim.id), "billing_npi": claim.billing_npi,
        "rendering_npi": claim.rendering_npi, "status": claim.status, "version": claim.version,
        "payer_id": claim.payer_id, "payer_class": claim.payer_class, "payer_sequence": claim.payer_sequence,
        "patient_key": claim.patient_key, "place_of_service": claim.place_of_service,
        "facility_type_code": claim.facility_type_code, "diagnoses": claim.diagnoses,
        "lines": [ln.as_record() for ln in claim.lines],
        "frequency": claim.frequency, "submissions": claim.submissions, "rejections": claim.rejections,
        "payer_claim_control_number": claim.payer_claim_control_number, "carcs": claim.carcs,
        "denial_category": claim.denial_category, "appeal_level": claim.appeal_level,
        "appeal_deadline": claim.appeal_deadline, "statements": claim.statements,
        "coded_at": claim.coded_at, "first_submitted_at": claim.first_submitted_at,
        "first_adjudicated_at": claim.first_adjudicated_at, "closed_at": claim.closed_at,
        "last_activity_at": claim.last_activity_at, "credit_balance": claim.credit_balance,
        "scrub_edits": claim.scrub_edits,
    }
    state.update({name: getattr(claim, name) for name in MONEY_FIELDS})
    return jsonable(state)


def event_payload(event: Any) -> dict[str, Any]:
    skip = {"originator_id", "originator_version", "timestamp", "originator_topic", "effective_at", "actor",
            "source", "correlation_id", "causation_id"}
    return jsonable({k: v for k, v in vars(event).items() if k not in skip})


def event_summary(event: Any) -> str:
    name, p = type(event).__name__, vars(event)
    if name in ("Paid", "Denied"):
        remit = p["remittance"]
        carcs = sorted({f"{a['group']}-{a['carc']}" for a in remit["adjustments"]})
        return (f"ICN {remit['payer_claim_control_number']} paid {remit['paid']} "
                f"PR {remit['patient_responsibility']} {' '.join(carcs)}")
    if name == "Scrubbed":
        return "passed" if p["passed"] else "; ".join(f"{e['rule']}: {e['message']}" for e in p["edits"])[:120]
    if name in ("Coded", "Recoded"):
        return f"{len(p['lines'])} line(s) {p['total_charge']} dx {','.join(p['diagnoses'])}"
    if name == "CodingAttached":
        return f"837 found after the 835: {len(p['lines'])} line(s) dx {','.join(p['diagnoses'])}"
    if name == "SubmissionAttached":
        return (f"837 found after the 835: sent {p['submitted_on']} to {p['payer_id']} "
                f"ICN {p['interchange_control_number']}")
    if name == "Submitted":
        return (f"freq {p['frequency']} {p['payer_sequence']} to {p['payer_id']} "
                f"ICN/GS/ST {p['interchange_control_number']}")
    keys = [k for k in ("level", "overturned", "amount", "responsibility", "reason", "stage", "code", "statement",
                        "group", "carc", "paid") if k in p]
    return " ".join(f"{k}={p[k]}" for k in keys)[:120]


def history_rows(replayed: Iterable[tuple[Any, Claim]]) -> list[dict[str, Any]]:
    return [
        {
            "version": event.originator_version, "type": type(event).__name__,
            "recorded_at": jsonable(event.timestamp), "effective_at": jsonable(event.effective_at),
            "actor": event.actor, "source": event.source, "correlation_id": str(event.correlation_id),
            "causation_id": str(event.causation_id), "summary": event_summary(event),
            "payload": event_payload(event), "status_after": state.status,
            "payer_balance_after": str(state.payer_balance), "patient_balance_after": str(state.patient_balance),
        }
        for event, state in replayed
    ]


def history_table(claim_number: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=shown(f"History of claim {claim_number}"), show_lines=False)
    for col in ("v", "event", "recorded", "effective", "actor", "source", "status after", "payer bal",
                "patient bal", "hash", "detail"):
        table.add_column(col, justify="right" if col in ("v", "payer bal", "patient bal") else "left")
    for r in rows:
        add_row(table, r["version"], r["type"], r["recorded_at"][:19], r["effective_at"][:22], r["actor"],
                r["source"], r["status_after"], r["payer_balance_after"], r["patient_balance_after"],
                (r.get("hash") or "-")[:12], r["summary"])
    return table


def claim_table(state: dict[str, Any]) -> Table:
    table = Table(title=shown(f"Claim {state['claim_number']}"), show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in state.items():
        if key not in ("lines", "scrub_edits"):
            add_row(table, key, ", ".join(map(str, value)) if isinstance(value, list) else value)
    for ln in state["lines"]:
        revenue = f"rev {ln['revenue_code']} " if "revenue_code" in ln else ""
        add_row(table, f"line {ln['number']}", f"{revenue}{ln['procedure']} {' '.join(ln['modifiers'])} x{ln['units']} "
                f"{ln['charge']} dx {ln['pointers']} DOS {ln['service_date']}")
    for edit in state["scrub_edits"]:
        add_row(table, f"edit {edit['rule']}", f"{edit['severity']} line {edit['line']}: {edit['message']}")
    return table


def summary_tables(summary: dict[str, Any], history: str) -> list[Table]:
    status = Table(title=f"Claims by status ({summary['claims']} claims)")
    for col in ("status", "claims", "charges", "open balance", f"try: {history}"):
        status.add_column(col, justify="left" if col in ("status", f"try: {history}") else "right")
    for name, row in summary["by_status"].items():
        add_row(status, name, row["claims"], row["charges"], row["balance"],
                " ".join(summary["examples"].get(name, [])[:1]))
    money = Table(title="Money")
    money.add_column("figure")
    money.add_column("amount", justify="right")
    labels = {"total_charge": "charges", "payer_paid": "payer payments", "contractual": "contractual/other adjustments",
              "patient_responsibility": "patient responsibility", "patient_paid": "patient payments",
              "written_off_payer": "written off (payer)", "written_off_patient": "written off (patient)",
              "payer_balance": "payer balance (A/R)", "patient_balance": "patient balance (A/R)",
              "denied_amount": "denied dollars (adjudications)"}
    for key, label in labels.items():
        add_row(money, label, summary["totals"][key])
    return [status, money]


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    table = Table(title=shown(title))
    columns = columns or (list(rows[0]) if rows else [])
    for col in columns:
        sample = rows[0].get(col) if rows else None
        numeric = isinstance(sample, (int, float, Decimal))
        table.add_column(col.replace("_", " "), justify="right" if numeric else "left")
    for row in rows:
        add_row(table, *(cell(row.get(c)) for c in columns))
    return table


def aging_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """Pivot: one line per group and responsibility, one column per age bucket."""
    buckets = ["0-30", "31-60", "61-90", "91-120", "120+"]
    pivot: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        pivot[(r["group"], r["responsibility"])][r["bucket"]] += r["balance"]
    table = Table(title=title)
    for col in ("group", "responsibility", *buckets, "total"):
        table.add_column(col, justify="left" if col in ("group", "responsibility") else "right")
    for (group, responsibility), by_bucket in sorted(pivot.items()):
        values = [by_bucket.get(b, Decimal("0.00")) for b in buckets]
        add_row(table, group, responsibility, *(money(v) for v in values), money(sum(values, Decimal("0.00"))))
    return table


Section = tuple[str, list[str], list[list[str]]]  # title, column headers, rows of cells as text
BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def day_sections(report: dict[str, Any]) -> list[Section]:
    """`rcm report day` as sections of text, for the terminal's tables and the PDF alike."""
    work = [[name.replace("_", " "), str(done["count"]), money(done["dollars"])]
            for name, done in report["work"].items()]
    cash = report["cash_posted"]
    figures = [["cash posted (payer)", money(cash["payer"])], ["cash posted (patient)", money(cash["patient"])],
               ["cash posted (total)", money(cash["total"])],
               ["denial rate (the day)", f"{percent(report['denial_rate'])} of {report['adjudicated']} adjudicated"],
               ["denial rate (30 days to the day)", percent(report["denial_rate_30_days"])],
               ["outstanding claims (balance owed)", str(report["outstanding"]["claims"])],
               ["outstanding balance", money(report["outstanding"]["balance"])]]
    pivot: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in report["aging"]:
        pivot[r["responsibility"]][r["bucket"]] += r["balance"]
    aging = [[who, *(money(by_bucket.get(b, Decimal("0.00"))) for b in BUCKETS),
              money(sum(by_bucket.values(), Decimal("0.00")))] for who, by_bucket in sorted(pivot.items())]
    return [(f"The day's work, {report['date']}", ["activity", "count", "dollars"], work),
            ("Cash, denials and what is outstanding at the end of the day", ["figure", "value"], figures),
            (f"A/R aging as of {report['date']} (from the date of service)", ["owed by", *BUCKETS, "total"], aging)]


def section_table(section: Section) -> Table:
    title, header, rows = section
    table = Table(title=shown(title))
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        add_row(table, *row)
    return table


KPI_LABELS = {
    "clean_claim_rate": ("Clean claim rate", "pct", ">= 95%"),
    "rejection_rate": ("Rejection rate", "pct", "1-5%"),
    "initial_denial_rate": ("Initial denial rate (count)", "pct", "< 5-10%"),
    "initial_denial_rate_dollars": ("Initial denial rate ($)", "pct", "< 5-10%"),
    "first_pass_resolution_rate": ("First-pass resolution", "pct", ">= 90%"),
    "days_in_ar": ("Days in A/R", "days", "< 40"),
    "ar_over_90_share": ("A/R > 90 days", "pct", "10-15%"),
    "net_collection_rate": ("Net collection rate", "pct", ">= 95%"),
    "appeal_overturn_rate": ("Appeal overturn rate", "pct", "50-75%"),
    "days_to_bill": ("Days to bill", "days", "~3"),
    "payment_lag_days": ("Payment lag (submission to 835)", "days", "6-14"),
}


def kpi_table(kpis: dict[str, Any]) -> Table:
    table = Table(title=f"KPIs ({kpis.get('claims_submitted')} claims submitted, "
                        f"{kpis.get('claims_adjudicated')} adjudicated, A/R {kpis.get('ar_total')})")
    for col in ("KPI", "value", "typical / target"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for key, (label, unit, target) in KPI_LABELS.items():
        value = kpis.get(key)
        value_text = "n/a" if value is None else f"{value * 100:.1f}%" if unit == "pct" else f"{value:.1f}"
        add_row(table, label, value_text, target)
    return table


def import_summary(result: Any) -> dict[str, Any]:
    return {**import_head(result), "events": result.events,
            "transactions": [transaction_summary(t) for t in result.transactions]}


def import_head(result: Any) -> dict[str, Any]:
    return {"file": result.path, "error": result.error, "warnings": result.warnings, "pyx12": result.pyx12}


def transaction_summary(t: Any) -> dict[str, Any]:
    return {"kind": t.kind, "control": t.control, "status": t.status, "reason": t.reason, "events": t.events,
            "payment": t.payment, "provider_adjustments": t.provider_adjustments, "notes": t.notes,
            "claims": t.claims}


class ImportReport:
    """`rcm import`'s output, written as each transaction is imported: nothing waits in memory for the end."""

    def __init__(self, console: Console, as_json: bool) -> None:
        self.console, self.as_json, self.files, self.listed = console, as_json, 0, 0

    def transaction(self, result: Any, t: Any) -> None:
        if not self.as_json:
            self.console.print(*import_tables(replace(result, transactions=[t], events=t.events, warnings=[])))
            return
        self.write(",\n" if self.listed else self.head(result))
        self.write(json.dumps(jsonable(transaction_summary(t))))
        self.listed += 1

    def file(self, result: Any) -> None:
        if not self.as_json:
            self.console.print(*import_tables(replace(result, transactions=[])))
            return
        if not self.listed:
            self.write(self.head(result))
        self.write(f'\n], "events": {result.events}}}')
        self.files, self.listed = self.files + 1, 0

    def close(self) -> None:
        if self.as_json:
            self.write("\n]\n" if self.files else "[]\n")

    def head(self, result: Any) -> str:
        return ("[\n" if not self.files else ",\n") + json.dumps(jsonable(import_head(result)))[:-1] + \
            ', "transactions": [\n'

    def write(self, text: str) -> None:
        self.console.file.write(text)


def import_tables(result: Any) -> list[Table]:
    """One table per file: each transaction's claims and what became of them."""
    name = result.path.rsplit("/", 1)[-1]
    title = f"{name}: " + ("rejected" if result.error else f"dry run, would append {result.events} events"
                            if result.dry_run else f"{result.events} events")
    if result.pyx12:
        title += f" | pyx12: {result.pyx12}"
    table = Table(title=shown(title), title_justify="left")
    for col in ("transaction", "claim", "outcome", "events", "detail"):
        table.add_column(col, justify="right" if col == "events" else "left", overflow="fold")
    for t in result.transactions:
        head = f"{t.kind} {t.control}"
        if t.status != "posted" or not t.claims:
            add_row(table, head, "", t.status, "", t.reason)
        for item in t.claims:
            detail = item["reason"] or "; ".join(item["notes"])
            add_row(table, head, item["claim"], item["outcome"], item["events"], detail)
        for adj in t.provider_adjustments:
            add_row(table, head, "(provider)", "PLB", "", f"{adj['reason']} {adj['reference']} {adj['amount']}")
    for warning in result.warnings:
        add_row(table, "", "", "warning", "", warning)
    return [table]
