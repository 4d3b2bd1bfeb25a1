"""What the read models know about one claim, folded event by event, and the effects each event has.

One fold serves the three views: claim_status stores the facts, ar logs the balance changes they imply,
denials counts the adjudication outcomes. Every claim event is handled here or ignored in IGNORED, in
plain sight; an event type nobody handles or ignores stops the runner (UnknownEvent).
"""
from __future__ import annotations

import json
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

from domain.carc import denial_category, is_contractual
from domain.lifecycle import (ACTIVITY, DENIAL_ON_CODING, ENDED, Status, recorded_appeal_deadline, settled,
                              written_off)
from domain.money import denial_adjustments, main_denial, patient_balance, payer_balance
from domain.values import Adjustment, as_date
from domain.values import cents as exact_cents

# Never a claim fact: the claim-number index, X12 intakes and submission batches (bookkeeping of files), bank
# deposits, patients' payment plans (read by `rcm plan`), and the default creation events eventsourcing declares
# (claims are created by Coded, the index by Registered).
IGNORED = frozenset({"PatientControlNumberIndex.Registered", "PatientControlNumberIndex.Linked",
                     "PatientControlNumberIndex.Created", "Claim.Created",
                     "Intake.Logged", "Intake.Posted", "Intake.Quarantined", "Intake.Created",
                     "SubmissionBatch.Listed", "SubmissionBatch.Extended", "SubmissionBatch.Created",
                     "InterchangeCounter.Started", "InterchangeCounter.Issued", "InterchangeCounter.Created",
                     "PaymentPlan.Agreed", "PaymentPlan.Cancelled", "PaymentPlan.Created",
                     "Deposit.Recorded", "Deposit.Created"})

COLUMNS = (
    "claim_id", "claim_number", "billing_npi", "rendering_npi", "payer_id", "payer_class", "status", "dos",
    "coded_on", "first_submitted_on", "last_submitted_on", "first_adjudicated_on", "last_adjudicated_on",
    "closed_on", "last_activity_on", "patient_since", "billed", "payer_paid", "adjustments",
    "patient_responsibility", "patient_paid", "written_off_payer", "written_off_patient", "payer_balance",
    "patient_balance", "denied_amount", "last_carcs", "denial_category", "appeal_level", "appeal_deadline",
    "submissions", "rejections", "scrub_failures", "clean", "initially_denied", "first_pass_resolved",
    "adjudications", "version", "contractual", "allowances", "line_charges", "payment_lag_days", "coded_by",
)
MONEY = ("billed", "payer_paid", "adjustments", "patient_responsibility", "patient_paid", "written_off_payer",
         "written_off_patient", "payer_balance", "patient_balance", "denied_amount", "contractual")
DATES = ("dos", "coded_on", "first_submitted_on", "last_submitted_on", "first_adjudicated_on",
         "last_adjudicated_on", "closed_on", "last_activity_on", "patient_since", "appeal_deadline")

CASH = ("billed", "payer_paid", "patient_paid", "adjustments", "written_off_payer", "written_off_patient")
# amounts recur (fees, copays, the same remittance's figures read by several handlers): each converted once
cents = lru_cache(maxsize=1 << 16)(exact_cents)


class UnknownEvent(Exception):
    """An event type no projection knows (written by a newer release?): never skipped silently."""


@dataclass
class Effects:
    """Side results of folding a batch: A/R balance changes and denial statistics, in cents."""

    ar: list[tuple[str, int, date, str, int]] = field(default_factory=list)  # claim, seq, day, resp, delta
    # Every summary is kept per payer and rendering provider, the dashboards' two filters.
    # A/R moves by (effective day, date of service, payer, provider, responsibility): aging as of any date
    ar_daily: dict[tuple[date, date, str, str, str], int] = field(default_factory=dict)
    denials: dict[tuple[date, str, str, str, str], dict[str, int]] = field(default_factory=dict)
    carcs: dict[tuple[date, str, str, str, str], dict[str, int]] = field(default_factory=dict)
    # money moved per (effective day, payer, provider): charges, payments, adjustments, write-offs - in cents
    cash: dict[tuple[date, str, str], dict[str, int]] = field(default_factory=dict)
    # the day's work per (effective day, payer, activity): events and cents
    activity: dict[tuple[date, str, str], dict[str, int]] = field(default_factory=dict)
    # payments recorded by command under a trace number, per (payer, trace, day): remittances no 835 import explains
    remits: dict[tuple[str, str, date], dict[str, int]] = field(default_factory=dict)
    # who did what: per (day, person, activity, root cause, payer, provider) tasks, dollars, posting lag
    work: dict[tuple[date, str, str, str, str, str], dict[str, int]] = field(default_factory=dict)

    def move(self, day: date, dos: date, payer: str, provider: str, responsibility: str, delta: int) -> None:
        key = (day, dos, payer, provider, responsibility)
        self.ar_daily[key] = self.ar_daily.get(key, 0) + delta

    def work_done(self, *key: Any, **metrics: int) -> None:
        row = self.work.setdefault(key, {})  # type: ignore[arg-type]
        for name, value in metrics.items():
            row[name] = row.get(name, 0) + value

    def did(self, day: date, payer: str, activity: str, amount_cents: int) -> None:
        row = self.activity.setdefault((day, payer, activity), {"events": 0, "cents": 0})
        row["events"] += 1
        row["cents"] += amount_cents

    def count(self, day: date, payer: str, provider: str, group: str, category: str, **metrics: int) -> None:
        row = self.denials.setdefault((day, payer, provider, group, category), {})
        for name, value in metrics.items():
            row[name] = row.get(name, 0) + value


def new_facts(claim_id: str) -> dict[str, Any]:
    facts: dict[str, Any] = dict.fromkeys(COLUMNS)
    facts.update({name: 0 for name in MONEY})
    facts.update(claim_id=claim_id, appeal_level=0, submissions=0, rejections=0, scrub_failures=0, clean=False,
                 initially_denied=False, first_pass_resolved=False, adjudications=0, last_carcs="", allowances="",
                 line_charges="", coded_by="",
                 denial_category="", version=0)
    return facts


def fold(facts: dict[str, Any], event: Any, seq: int, effects: Effects, day: date | None = None) -> None:
    """Applies one claim event to the facts (in place), recording its effects; `day`: the day it is effective on, if
    the caller has it already."""
    name = type(event).__name__
    handler = HANDLERS.get(name)
    if handler is None:
        raise UnknownEvent(f"no projection handles or ignores {type(event).__qualname__} "
                           f"(notification {seq}); upgrade rcm or add it to projections/facts.py")
    if day is None:
        day = event.effective_at.date()
    payer_before, patient_before = facts["payer_balance"], facts["patient_balance"]
    where_before = WHERE(facts)
    money_before = MONEY_MOVED(facts)
    handler(facts, event, day, effects)
    money_after = MONEY_MOVED(facts)
    if money_after != money_before:
        row = effects.cash.setdefault((day, facts["payer_id"], facts["rendering_npi"]), dict.fromkeys(CASH, 0))
        for m, after, before in zip(CASH, money_after, money_before):
            if after != before:
                row[m] += after - before
    rebalance(facts)
    if facts["status"] not in ENDED:
        facts["closed_on"] = None
    facts["version"] = event.originator_version
    if facts["last_activity_on"] is None or day > facts["last_activity_on"]:
        facts["last_activity_on"] = day  # the latest day the claim's events are effective (a late fact is earlier)
    where_after = WHERE(facts)
    moved = where_after != where_before
    payer_after, patient_after = facts["payer_balance"], facts["patient_balance"]
    if moved or payer_after != payer_before or patient_after != patient_before:  # (most events move no money)
        for responsibility, before, after in (("payer", payer_before, payer_after),
                                              ("patient", patient_before, patient_after)):
            if after != before:
                effects.ar.append((facts["claim_id"], seq, day, responsibility, after - before))
            if moved and before:
                effects.move(day, *where_before, responsibility, -before)  # type: ignore[arg-type]
                effects.move(day, *where_after, responsibility, before)
            if after != before:
                effects.move(day, *where_after, responsibility, after - before)
    if patient_after > 0 and patient_before <= 0:
        facts["patient_since"] = day
    count_work(facts, event, day, effects, name)


WHERE = itemgetter("dos", "payer_id", "rendering_npi")  # where a claim's A/R is counted
MONEY_MOVED = itemgetter(*CASH)
CODING = frozenset({"Coded", "Recoded", "Opened", "CodingAttached"})


def count_work(f: dict[str, Any], e: Any, day: date, fx: Effects, kind: str = "") -> None:
    kind = kind or type(e).__name__
    if kind in CODING:
        f["coded_by"] = e.actor
    amount = work_cents(f, e, kind)
    posted = kind == "Paid" or kind == "Denied"
    key = (day, e.actor, ACTIVITY[kind], f["denial_category"] if kind == "Denied" else "-", f["payer_id"],
           f["rendering_npi"])
    row = fx.work.get(key)  # (Effects.work_done, inline: once per event)
    if row is None:
        fx.work[key] = {"tasks": 1, "cents": amount, "lag_days": posting_lag_days(e), "lag_n": 1} if posted else \
            {"tasks": 1, "cents": amount}
    else:
        row["tasks"] += 1
        row["cents"] += amount
        if posted:
            row["lag_days"] = row.get("lag_days", 0) + posting_lag_days(e)
            row["lag_n"] = row.get("lag_n", 0) + 1
    if kind == "Denied":
        fx.work_done(day, f["coded_by"], DENIAL_ON_CODING, f["denial_category"], f["payer_id"], f["rendering_npi"],
                     tasks=1, cents=amount)


def work_cents(f: dict[str, Any], e: Any, kind: str = "") -> int:
    """The dollars a task moved: claims submitted (charges), payments posted, denied dollars, patient payments."""
    kind = kind or type(e).__name__
    if kind == "Submitted":
        return int(f["billed"])
    if kind == "Paid":
        return cents(e.remittance["paid"])
    if kind == "Denied":
        return cents(e.denied_amount)
    return cents(e.amount) if kind == "PatientPaid" else 0


def posting_lag_days(e: Any) -> int:
    """Whole days from the remittance to its posting: from the date it carries when posted apart from it, else
    from its effective time (the 835's date) to when the ledger recorded it."""
    remitted = e.remittance.get("remitted_on")
    if remitted:
        return max(0, (e.effective_at.date() - as_date(remitted)).days)
    recorded = e.timestamp if isinstance(e.timestamp, datetime) else datetime.fromisoformat(e.timestamp)
    return max(0, (recorded - e.effective_at) // timedelta(days=1))


def rebalance(f: dict[str, Any]) -> None:
    if f["status"] == Status.VOIDED:
        f["payer_balance"] = f["patient_balance"] = 0
        return
    f["payer_balance"] = payer_balance(f["billed"], f["payer_paid"], f["adjustments"], f["patient_responsibility"],
                                       f["written_off_payer"])
    f["patient_balance"] = patient_balance(f["patient_responsibility"], f["patient_paid"], f["written_off_patient"])


def settle(f: dict[str, Any], day: date) -> None:
    rebalance(f)
    if status := settled(f["status"], f["payer_balance"] + f["patient_balance"]):
        f["status"], f["closed_on"] = status, day if status == Status.CLOSED else None


def line_charges(lines: list[dict[str, Any]]) -> str:
    """The billed lines' charges in cents, [[number, cents], ...]: what a line-level CO-45 is compared with."""
    # as json.dumps writes it, its numbers written directly (one call, not json.dumps' walk of the lists)
    return "[" + ", ".join(f"[{line['number']}, {cents(line['charge'])}]" if type(line["number"]) is int
                           else json.dumps([line["number"], cents(line["charge"])]) for line in lines) + "]"


def on_coded(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f.update(claim_number=e.claim_number, billing_npi=e.billing_npi, rendering_npi=e.rendering_npi,
             payer_id=e.payer_id, payer_class=e.payer_class, status=Status.CODED, coded_on=day,
             billed=cents(e.total_charge), dos=min(as_date(line["service_date"]) for line in e.lines),
             line_charges=line_charges(e.lines))
    fx.did(day, f["payer_id"], "coded", f["billed"])


def on_opened(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    """From a remittance: no coding date, no submission; the claim awaits the adjudication recorded next."""
    f.update(claim_number=e.claim_number, billing_npi=e.billing_npi, rendering_npi=e.rendering_npi,
             payer_id=e.payer_id, payer_class=e.payer_class, status=Status.SUBMITTED, billed=cents(e.total_charge),
             dos=as_date(e.service_date), line_charges=line_charges(e.lines))


def on_recoded(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f.update(status=Status.CODED, billed=cents(e.total_charge),
             dos=min(as_date(line["service_date"]) for line in e.lines), line_charges=line_charges(e.lines))


def on_coding_attached(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    """The 837 of a claim opened from a remittance, found later: its lines date the service; no status change."""
    f.update(rendering_npi=e.rendering_npi, payer_class=e.payer_class,
             dos=min(as_date(line["service_date"]) for line in e.lines), line_charges=line_charges(e.lines))


def on_scrubbed(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.READY if e.passed else Status.SCRUB_FAILED
    f["scrub_failures"] += 0 if e.passed else 1


def on_submitted(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f.update(status=Status.SUBMITTED, payer_id=e.payer_id, last_submitted_on=day)
    f["first_submitted_on"] = f["first_submitted_on"] or day
    f["submissions"] += 1
    fx.did(day, f["payer_id"], "submitted", f["billed"])
    if f["submissions"] == 1:  # (a claim opened from a remittance may have been rejected before it)
        f["clean"] = f["scrub_failures"] == 0 and f["rejections"] == 0


def on_submission_attached(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    """The submission a remittance answered, learned from the claim's 837 found later (the claim had none)."""
    sent = as_date(e.submitted_on)
    f.update(payer_id=e.payer_id, first_submitted_on=f["first_submitted_on"] or sent,
             last_submitted_on=f["last_submitted_on"] or sent)
    f["submissions"] += 1
    if f["submissions"] == 1:
        f["clean"] = f["scrub_failures"] == 0 and f["rejections"] == 0
        if f["adjudications"]:  # the remittance adjudicated this very submission
            f["first_pass_resolved"] = not f["initially_denied"]
            f["payment_lag_days"] = (f["first_adjudicated_on"] - sent).days


def on_accepted(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.ACCEPTED


def on_rejected(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.REJECTED
    f["rejections"] += 1
    f["clean"] = False
    fx.count(day, f["payer_id"], f["rendering_npi"], "-", "rejection", rejected=1)


def adjudicate(f: dict[str, Any], e: Any, day: date, fx: Effects, denied: bool) -> None:
    remit = e.remittance
    first = f["adjudications"] == 0
    f["adjudications"] += 1
    f["first_adjudicated_on"] = f["first_adjudicated_on"] or day
    f["last_adjudicated_on"] = day
    f["patient_responsibility"] += cents(remit["patient_responsibility"])
    f["denied_amount"] = cents(e.denied_amount)
    f["last_carcs"] = " ".join(sorted({f"{a['group']}-{a['carc']}" for a in remit["adjustments"]}))
    denials = denials_of(remit, f["line_charges"])
    main = main_denial(denials)
    group, category = (main.group, denial_category(main.carc)) if main else ("-", "-")
    fx.count(day, f["payer_id"], f["rendering_npi"], "-", "-", adjudicated=1, adjudicated_cents=f["billed"])
    by_reason: dict[tuple[str, str], int] = {}
    for a in denials:
        by_reason[(a.group, a.carc)] = by_reason.get((a.group, a.carc), 0) + cents(a.amount)
    for (group_, carc), amount in by_reason.items():
        row = fx.carcs.setdefault((day, f["payer_id"], f["rendering_npi"], group_, carc),
                                  {"remittances": 0, "cents": 0, "denied_claims": 0})
        row["remittances"] += 1
        row["cents"] += amount
        row["denied_claims"] += int(denied)
    if denied:
        f["denial_category"] = category
        fx.count(day, f["payer_id"], f["rendering_npi"], group, category, denied=1, denied_cents=cents(e.denied_amount))
    elif cents(e.denied_amount):
        fx.count(day, f["payer_id"], f["rendering_npi"], group, category, denied_lines_cents=cents(e.denied_amount))
    trace = remit.get("trace_number") or ""
    if trace and not str(getattr(e, "source", "")).startswith("x12:835"):  # an imported 835 is its own remittance
        row = fx.remits.setdefault((f["payer_id"], trace, day), {"claims": 0, "paid_cents": 0})
        row["claims"] += 1
        row["paid_cents"] += cents(remit["paid"])
    if first:
        f["initially_denied"] = denied
        f["first_pass_resolved"] = not denied and f["submissions"] == 1
        # from the submission this adjudication answered; a claim opened from a remittance has none known (yet)
        f["payment_lag_days"] = (day - f["first_submitted_on"]).days if f["first_submitted_on"] else None


def denials_of(remit: dict[str, Any], charges: str) -> list[Adjustment]:
    """The remittance's denial adjustments by the ledger's rule (domain/money.py), from its recorded text."""
    return denial_adjustments([Adjustment(a["group"], a["carc"], decimal(a["amount"]), a["line"])
                               for a in remit["adjustments"]], decimal(remit["charge"]), charged_lines(charges))


@lru_cache(maxsize=1 << 12)
def charged_lines(charges: str) -> dict[int, Decimal]:
    """The billed lines' charges (line_charges' text) by line number, in dollars; shared, never to be changed."""
    return {number: Decimal(amount) / 100 for number, amount in json.loads(charges)}


def decimal(amount: Any) -> Decimal:
    return Decimal(amount) if type(amount) is str else amount


def on_paid(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    adjudicate(f, e, day, fx, denied=False)
    f["status"] = Status.PAID
    f["payer_paid"] += cents(e.remittance["paid"])
    fx.did(day, f["payer_id"], "paid", cents(e.remittance["paid"]))
    f["adjustments"] += cents(e.contractual)
    allowed_off = sum(cents(a["amount"]) for a in e.remittance["adjustments"] if is_contractual(a["group"], a["carc"]))
    f["contractual"] += allowed_off
    # per payment (payer claim control number, cents): what a reversal of that payment takes back
    f["allowances"] = appended(f["allowances"], [e.remittance["payer_claim_control_number"], allowed_off])
    settle(f, day)


def appended(text: str, item: list[Any]) -> str:
    """json.dumps(json.loads(text) + [item]) for a list's text as json.dumps writes it ("" for none), without
    reading the list back: its text up to the closing bracket, then the item's."""
    entry = json.dumps(item)
    return f"[{entry}]" if text in ("", "[]") else f"{text[:-1]}, {entry}]"


def on_denied(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    adjudicate(f, e, day, fx, denied=True)
    f["status"] = Status.DENIED
    fx.did(day, f["payer_id"], "denied", cents(e.denied_amount))
    f["appeal_deadline"] = recorded_appeal_deadline(vars(e), f["payer_class"], f["appeal_level"], day)


def on_appealed(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f.update(status=Status.APPEALED, appeal_level=e.level)
    fx.count(day, f["payer_id"], f["rendering_npi"], "-", f["denial_category"] or "-", appealed=1)


def on_appeal_decided(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.ACCEPTED if e.overturned else Status.DENIED
    f["appeal_deadline"] = None if e.overturned else recorded_appeal_deadline(vars(e), f["payer_class"], e.level, day)
    fx.count(day, f["payer_id"], f["rendering_npi"], "-", f["denial_category"] or "-", decided=1, overturned=int(e.overturned))


def on_reversed(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.REVERSED
    f["payer_paid"] -= cents(e.paid)
    f["adjustments"] -= cents(e.contractual)
    # the contractual part of the payment reversed (its last posting under that number), as the aggregate does
    posted = json.loads(f["allowances"] or "[]")
    f["contractual"] -= next((amount for icn, amount in reversed(posted) if icn == e.payer_claim_control_number), 0)
    f["allowances"] = json.dumps([[icn, amount] for icn, amount in posted if icn != e.payer_claim_control_number])
    f["patient_responsibility"] -= cents(e.patient_responsibility)


def on_adjusted(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["adjustments"] += cents(e.amount)
    f["contractual"] += cents(e.amount) if is_contractual(e.group, e.carc) else 0
    settle(f, day)


def on_patient_billed(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["status"] = Status.PATIENT_BILLED
    f["patient_responsibility"] += cents(e.transferred)
    settle(f, day)


def on_patient_paid(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f["patient_paid"] += cents(e.amount)
    settle(f, day)


def on_written_off(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f[f"written_off_{e.responsibility}"] += cents(e.amount)
    fx.did(day, f["payer_id"], "written_off", cents(e.amount))
    rebalance(f)
    if status := written_off(f["payer_balance"] + f["patient_balance"], f["payer_paid"] + f["patient_paid"]):
        f["status"], f["closed_on"] = status, day


def on_voided(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    f.update(status=Status.VOIDED, closed_on=day)


def on_patient_rekeyed(f: dict[str, Any], e: Any, day: date, fx: Effects) -> None:
    """No read model keeps the patient key (the views stay free of anything that points at a person): the claim's
    version moves, and nothing else (the event is effective at the claim's last recorded fact)."""


HANDLERS = {
    "Coded": on_coded, "Opened": on_opened, "Recoded": on_recoded, "CodingAttached": on_coding_attached, "Scrubbed": on_scrubbed, "Submitted": on_submitted,
    "SubmissionAttached": on_submission_attached,
    "Accepted": on_accepted, "Rejected": on_rejected, "Paid": on_paid, "Denied": on_denied,
    "Appealed": on_appealed, "AppealDecided": on_appeal_decided, "PaymentReversed": on_reversed,
    "Adjusted": on_adjusted, "PatientBilled": on_patient_billed, "PatientPaid": on_patient_paid,
    "WrittenOff": on_written_off, "Voided": on_voided, "PatientRekeyed": on_patient_rekeyed,
}


def is_ignored(event: Any) -> bool:
    return type(event).__qualname__ in IGNORED



# What one claim adds to each summary table folded in Python, as (key, values in the table's metric order) or None,
# per table in CONTRIBUTES order: a page adds each claim's (after - before); kpi_daily each day's change of the
# first (projections/intervals.py). payment_lags: the claim's payment lag per payer (the follow-up worklist's
# percentile), of every claim that has one, voided or not, as claim_status holds it. (status_summary and
# dos_summary depend only on a claim's interval: the page writer derives them in SQL.)
CONTRIBUTES = ("kpi_counters", "payment_lags")
PRE_SCRUB = (Status.CODED, Status.SCRUB_FAILED)
KPI_ORDER = ("submitted", "clean", "rejected", "days_to_bill_n", "days_to_bill_sum", "adjudicated",
             "initially_denied", "adjudicated_billed", "denied_billed", "first_pass", "lag_n", "lag_sum",
             "collected", "net", "coded", "scrubbed", "paid")  # the kpi_counters table's metrics (tables.py)
Part = tuple[tuple[Any, ...], tuple[int, ...]] | None
Contribution = tuple[Part, Part]
NO_CONTRIBUTION: Contribution = (None, None)  # a claim not there yet


# every fact `contribution` reads: a claim whose values of these are unchanged contributes as it did
CONTRIBUTION_FACTS = itemgetter("status", "payer_id", "rendering_npi", "dos", "billed", "submissions", "adjudications",
                                "coded_on", "payer_paid", "payment_lag_days", "clean", "rejections",
                                "first_submitted_on", "initially_denied", "first_pass_resolved", "patient_paid",
                                "contractual")


def contribution(f: dict[str, Any]) -> Contribution:
    lag = f["payment_lag_days"]
    return kpi_row(f), None if lag is None else ((f["payer_id"], lag), (1,))


def kpi_row(f: dict[str, Any]) -> Part:
    """The claim's row of kpi_counters (status_summary and dos_summary come from its intervals:
    projections/intervals.py)."""
    status = f["status"]
    if status == Status.VOIDED:
        return None
    payer, provider, dos, billed = f["payer_id"], f["rendering_npi"], f["dos"], f["billed"]
    month = dos.replace(day=1)
    submitted, adjudicated = f["submissions"], f["adjudications"]
    # the pipeline: coded, scrubbed (passed, or went on to be sent), claims the payer paid something on
    stages = (int(f["coded_on"] is not None), int(f["coded_on"] is not None and status not in PRE_SCRUB),
              int(f["payer_paid"] > 0))
    if not submitted and not adjudicated:
        return (month, payer, provider), (0,) * 14 + stages
    lag = f["payment_lag_days"] if adjudicated else None
    sent = (1, int(f["clean"]), int(f["rejections"] > 0), 1, (f["first_submitted_on"] - dos).days) if submitted \
        else (0, 0, 0, 0, 0)
    denied = int(f["initially_denied"])
    answered = (1, denied, billed, billed * denied, int(f["first_pass_resolved"]),
                0 if lag is None else 1, lag or 0) if adjudicated else (0, 0, 0, 0, 0, 0, 0)
    money = (f["payer_paid"] + f["patient_paid"], billed - f["contractual"]) if adjudicated else (0, 0)
    return (month, payer, provider), sent + answered + money + stages
