"""The oracle: every read model recomputed straight from each claim's raw event history.

Deliberately simple and separate from the projections (it imports none of their code): money is summed
over whole histories in Decimal, statuses are replayed from a table, denial statistics are counted from
the adjudication events. `rcm projections verify` and the property tests compare the views with it.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.carc import denial_category, is_contractual, is_denial
from domain.lifecycle import ACTIVITY, DENIAL_ON_CODING, recorded_appeal_deadline

Z = Decimal("0")
STATUS_AFTER = {"Coded": "coded", "Opened": "submitted", "Recoded": "coded", "Submitted": "submitted", "Accepted": "accepted",
                "Rejected": "rejected", "Denied": "denied", "Appealed": "appealed", "PaymentReversed": "reversed",
                "PatientBilled": "patient_billed", "Voided": "voided", "Paid": "paid"}


def histories(events: Iterable[tuple[int, Any]]) -> dict[str, list[tuple[int, Any]]]:
    claims: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for seq, event in events:
        if type(event).__qualname__.startswith("Claim."):
            claims[str(event.originator_id)].append((seq, event))
    return claims


def money(history: list[tuple[int, Any]]) -> dict[str, Decimal]:
    """Sums over the whole history: what was billed, paid, adjusted, owed and written off."""
    m = defaultdict(lambda: Z)
    payments: list[Any] = []  # the payments on the books, for what a reversal takes back
    for _, e in history:
        kind = type(e).__name__
        if kind in ("Coded", "Recoded", "Opened"):
            m["billed"] = e.total_charge
        elif kind in ("Paid", "Denied"):
            m["patient_responsibility"] += e.remittance["patient_responsibility"]
            if kind == "Paid":
                m["payer_paid"] += e.remittance["paid"]
                m["adjustments"] += sum((a["amount"] for a in e.remittance["adjustments"] if a["group"] != "PR"), Z)
                m["contractual"] += allowance(e.remittance)
                payments.append(e.remittance)
        elif kind == "PaymentReversed":
            m["payer_paid"] -= e.paid
            m["adjustments"] -= e.contractual
            m["patient_responsibility"] -= e.patient_responsibility
            reversed_ = [p for p in payments if p["payer_claim_control_number"] == e.payer_claim_control_number]
            m["contractual"] -= allowance(reversed_[-1]) if reversed_ else Z
            payments = [p for p in payments if p not in reversed_]
        elif kind == "Adjusted":
            m["adjustments"] += e.amount
            m["contractual"] += e.amount if is_contractual(e.group, e.carc) else Z
        elif kind == "PatientBilled":
            m["patient_responsibility"] += e.transferred
        elif kind == "PatientPaid":
            m["patient_paid"] += e.amount
        elif kind == "WrittenOff":
            m["written_off_" + e.responsibility] += e.amount
    return m


def allowance(remittance: dict[str, Any]) -> Decimal:
    """The contractual allowances of a payment: CO adjustments for contractual (fee-schedule) reasons only."""
    return sum((a["amount"] for a in remittance["adjustments"] if is_contractual(a["group"], a["carc"])), Z)


def balances(history: list[tuple[int, Any]]) -> tuple[Decimal, Decimal]:
    if any(type(e).__name__ == "Voided" for _, e in history):
        return Z, Z
    m = money(history)
    payer = m["billed"] - m["payer_paid"] - m["adjustments"] - m["patient_responsibility"] - m["written_off_payer"]
    return payer, m["patient_responsibility"] - m["patient_paid"] - m["written_off_patient"]


def status_trail(history: list[tuple[int, Any]]) -> list[str]:
    """The claim's status after each of its events."""
    trail, current = [], ""
    for i, (_, e) in enumerate(history):
        kind = type(e).__name__
        upto = history[:i + 1]
        payer, patient = balances(upto)
        if kind == "Scrubbed":
            current = "ready" if e.passed else "scrub_failed"
        elif kind == "AppealDecided":
            current = "accepted" if e.overturned else "denied"
        elif kind == "WrittenOff":
            if payer + patient == 0:
                m = money(upto)
                current = "closed" if m["payer_paid"] + m["patient_paid"] > 0 else "written_off"
        elif kind in STATUS_AFTER:
            current = STATUS_AFTER[kind]
        if kind in ("Paid", "Adjusted", "PatientBilled", "PatientPaid"):
            if current in ("paid", "patient_billed") and payer + patient == 0:
                current = "closed"
            elif current == "closed" and payer + patient != 0:
                current = "paid"
        trail.append(current)
    return trail


def patient_since(history: list[tuple[int, Any]], on: list[date]) -> date | None:
    """The day the patient last began to owe something (a patient balance rising above zero)."""
    patient_balances = [Z] + [balances(history[:i + 1])[1] for i in range(len(history))]
    since = None
    for i in range(len(history)):
        if patient_balances[i + 1] > 0 and patient_balances[i] <= 0:
            since = on[i]
    return since


def closed_since(trail: list[str], on: list[date]) -> date | None:
    """The day the claim last entered an ended status, if it is still in one."""
    closed_on, ended = None, ("closed", "written_off", "voided")
    for i, now in enumerate(trail):
        if now in ended and (i == 0 or trail[i - 1] not in ended):
            closed_on = on[i]
        elif now not in ended:
            closed_on = None
    return closed_on


def claim_row(claim_id: str, history: list[tuple[int, Any]]) -> dict[str, Any]:
    events = [e for _, e in history]
    kinds = [type(e).__name__ for e in events]
    on = [e.effective_at.date() for e in events]
    first = events[0]
    last_coding = [e for e in events if type(e).__name__ in ("Coded", "Recoded", "Opened", "CodingAttached")][-1]
    described = [e for e in events if type(e).__name__ in ("Coded", "Opened", "CodingAttached")][-1]
    dos = last_coding.service_date if type(last_coding).__name__ == "Opened" \
        else min(ln["service_date"] for ln in last_coding.lines)
    submitted = [e.submitted_on if k == "SubmissionAttached" else d for d, k, e in zip(on, kinds, events)
                 if k in ("Submitted", "SubmissionAttached")]
    adjudications = [(d, e) for d, e in zip(on, events) if type(e).__name__ in ("Paid", "Denied")]
    first_sent = next((i for i, k in enumerate(kinds) if k in ("Submitted", "SubmissionAttached")), 0)
    scrub_failed_before_first_submission = any(
        k == "Scrubbed" and not e.passed for k, e in zip(kinds[:first_sent], events))
    m = money(history)
    payer, patient = balances(history)
    cents = lambda d: int(d * 100)  # noqa: E731
    trail = status_trail(history)
    current = trail[-1]
    last_remit = adjudications[-1][1] if adjudications else None
    denied_last = [(i, e) for i, (_, e) in enumerate(history) if type(e).__name__ == "Denied"]
    return {
        "claim_id": claim_id, "claim_number": first.claim_number, "billing_npi": first.billing_npi,
        "rendering_npi": described.rendering_npi,
        "payer_id": ([e.payer_id for e in events if type(e).__name__ in ("Submitted", "SubmissionAttached")]
                     or [first.payer_id])[-1],
        "payer_class": described.payer_class, "status": current,
        "dos": dos, "coded_on": on[0] if kinds[0] == "Coded" else None,
        "first_submitted_on": submitted[0] if submitted else None,
        "last_submitted_on": submitted[-1] if submitted else None,
        "first_adjudicated_on": adjudications[0][0] if adjudications else None,
        "last_adjudicated_on": adjudications[-1][0] if adjudications else None,
        "closed_on": closed_since(trail, on), "last_activity_on": max(on), "patient_since": patient_since(history, on),
        "billed": cents(m["billed"]), "payer_paid": cents(m["payer_paid"]), "adjustments": cents(m["adjustments"]),
        "patient_responsibility": cents(m["patient_responsibility"]), "patient_paid": cents(m["patient_paid"]),
        "written_off_payer": cents(m["written_off_payer"]), "written_off_patient": cents(m["written_off_patient"]),
        "payer_balance": cents(payer), "patient_balance": cents(patient),
        "denied_amount": cents(last_remit.denied_amount) if last_remit else 0,
        "last_carcs": " ".join(sorted({f"{a['group']}-{a['carc']}" for a in last_remit.remittance["adjustments"]}))
        if last_remit else "",
        "denial_category": main_category(denied_last[-1][1], history[:denied_last[-1][0]]) if denied_last else "",
        "appeal_level": max([e.level for e in events if type(e).__name__ == "Appealed"], default=0),
        "appeal_deadline": last_appeal_deadline(events),
        "submissions": len(submitted), "rejections": kinds.count("Rejected"),
        "scrub_failures": sum(1 for k, e in zip(kinds, events) if k == "Scrubbed" and not e.passed),
        "clean": bool(submitted) and not scrub_failed_before_first_submission and "Rejected" not in kinds,
        "initially_denied": bool(adjudications) and type(adjudications[0][1]).__name__ == "Denied",
        "first_pass_resolved": bool(adjudications) and type(adjudications[0][1]).__name__ == "Paid"
        and kinds[:kinds.index(type(adjudications[0][1]).__name__)].count("Submitted")
        + kinds.count("SubmissionAttached") == 1,  # (what an 837 found later attaches, the remittance answered)
        "adjudications": len(adjudications), "version": events[-1].originator_version,
        "contractual": cents(m["contractual"]),
        "allowances": allowances_on_books(history),
        "line_charges": json.dumps([[ln["number"], cents(ln["charge"])] for ln in last_coding.lines]),
        "payment_lag_days": payment_lag(kinds, events, on),
        "coded_by": [e.actor for e in events
                     if type(e).__name__ in ("Coded", "Recoded", "Opened", "CodingAttached")][-1],
    }


def payment_lag(kinds: list[str], events: list[Any], on: list[date]) -> int | None:
    """Days from the claim's first submission to its first adjudication: the first submission recorded before the
    adjudication (sent, or attached from an 837 found later: the day it was sent), else, when the first submission
    recorded at all is an 837 found after the remittance, that one; None when the submission is unknown."""
    first = next((i for i, k in enumerate(kinds) if k in ("Paid", "Denied")), None)
    if first is None:
        return None
    sent = [(i, on[i] if k == "Submitted" else e.submitted_on) for i, (k, e) in enumerate(zip(kinds, events))
            if k in ("Submitted", "SubmissionAttached")]
    if sent and (sent[0][0] < first or kinds[sent[0][0]] == "SubmissionAttached"):
        return (on[first] - sent[0][1]).days
    return None


def allowances_on_books(history: list[tuple[int, Any]]) -> str:
    """The payments on the books and their contractual allowances in cents, as claim_status keeps them."""
    books: list[list[Any]] = []
    for _, e in history:
        if type(e).__name__ == "Paid":
            books.append([e.remittance["payer_claim_control_number"], int(allowance(e.remittance) * 100)])
        elif type(e).__name__ == "PaymentReversed":
            books = [b for b in books if b[0] != e.payer_claim_control_number]
    return json.dumps(books) if books or any(type(e).__name__ == "Paid" for _, e in history) else ""


def net_collection_rate(claims: Iterable[dict[str, Any]]) -> float | None:
    """Payments on the adjudicated claims (not voided) / their charges less contractual allowances (README, KPIs)."""
    entering = [c for c in claims if c["adjudications"] and c["status"] != "voided"]
    net = sum(c["billed"] - c["contractual"] for c in entering)
    return sum(c["payer_paid"] + c["patient_paid"] for c in entering) / net if net else None


def last_appeal_deadline(events: list[Any]) -> date | None:
    """The deadline the last denial or upheld appeal recorded (or, recorded before events carried it, its
    deadline from the payer class and the appeal levels taken by then)."""
    decisions = [i for i, e in enumerate(events) if type(e).__name__ in ("Denied", "AppealDecided")]
    if not decisions:
        return None
    last, before = events[decisions[-1]], events[:decisions[-1]]
    if getattr(last, "overturned", False):
        return None
    payer_class = [e for e in before if type(e).__name__ in ("Coded", "Opened", "CodingAttached")][-1].payer_class
    taken = max([e.level for e in before if type(e).__name__ == "Appealed"], default=0)
    return recorded_appeal_deadline(vars(last), payer_class, taken, last.effective_at.date())


def main_category(denial: Any, before: list[tuple[int, Any]]) -> str:
    denials = denying(denial.remittance, before)
    return denial_category(max(denials, key=lambda a: a["amount"])["carc"]) if denials else "-"


def denying(remittance: dict[str, Any], before: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    """The adjustments that deny: a denial reason, or CO-45 (the fee schedule) taking the whole charge of its line,
    or of the claim at claim level (docs/domain.md §3), the lines as coded when the remittance came."""
    coding = [e for _, e in before if type(e).__name__ in ("Coded", "Recoded", "Opened", "CodingAttached")][-1]
    charge_of: dict[Any, Decimal] = {ln["number"]: ln["charge"] for ln in coding.lines}
    charge_of[None] = remittance["charge"]
    fee_schedule: dict[Any, Decimal] = defaultdict(lambda: Z)
    for a in remittance["adjustments"]:
        if a["group"] == "CO" and a["carc"] == "45":
            fee_schedule[a["line"]] += a["amount"]
    return [a for a in remittance["adjustments"] if is_denial(a["group"], a["carc"])
            or a["group"] == "CO" and a["carc"] == "45" and 0 < fee_schedule[a["line"]] == charge_of.get(a["line"])]


def claim_rows(events: Iterable[tuple[int, Any]]) -> dict[str, dict[str, Any]]:
    return {claim_id: claim_row(claim_id, history) for claim_id, history in histories(events).items()}


def balances_as_of(events: Iterable[tuple[int, Any]], as_of: date) -> dict[tuple[str, str], int]:
    """Open balance in cents per (claim, responsibility), from the history cut at `as_of` (business time)."""
    open_: dict[tuple[str, str], int] = {}
    for claim_id, history in histories(events).items():
        cut = [(s, e) for s, e in history if e.effective_at.date() <= as_of]
        if not cut:
            continue
        payer, patient = balances(cut)
        for responsibility, amount in (("payer", payer), ("patient", patient)):
            if amount:
                open_[(claim_id, responsibility)] = int(amount * 100)
    return open_


def denial_totals(events: Iterable[tuple[int, Any]]) -> dict[str, dict[str, int]]:
    """Per payer: claims adjudicated, denied (count and cents), rejected, appealed, decided, overturned."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history in histories(events).values():
        payer = history[0][1].payer_id
        for _, e in history:
            kind = type(e).__name__
            payer = e.payer_id if kind == "Submitted" else payer
            t = totals[payer]
            if kind in ("Paid", "Denied"):
                t["adjudicated"] += 1
                if kind == "Denied":
                    t["denied"] += 1
                    t["denied_cents"] += int(e.denied_amount * 100)
            t["rejected"] += kind == "Rejected"
            t["appealed"] += kind == "Appealed"
            t["decided"] += kind == "AppealDecided"
            t["overturned"] += kind == "AppealDecided" and e.overturned
    return {payer: dict(t) for payer, t in totals.items()}


def carc_totals(events: Iterable[tuple[int, Any]]) -> dict[tuple[str, str, str], dict[str, int]]:
    """Per (payer, group, CARC): remittances carrying that denial reason, its cents, and claim denials."""
    totals: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history, i, e, payer in with_payer(events, ("Paid", "Denied")):
        denials = denying(e.remittance, history[:i])
        reasons = {(a["group"], a["carc"]) for a in denials}
        for group, carc in reasons:
            t = totals[(payer, group, carc)]
            t["remittances"] += 1
            t["cents"] += int(sum(a["amount"] for a in denials if (a["group"], a["carc"]) == (group, carc)) * 100)
            t["denied_claims"] += type(e).__name__ == "Denied"
    return {k: dict(v) for k, v in totals.items()}


def with_payer(events: Iterable[tuple[int, Any]], kinds: Iterable[str]
               ) -> Iterator[tuple[list[tuple[int, Any]], int, Any, str]]:
    """Each event of these kinds with its claim's history, its place there and the payer the claim had then."""
    for history in histories(events).values():
        payer = history[0][1].payer_id
        for i, (_, e) in enumerate(history):
            payer = e.payer_id if type(e).__name__ == "Submitted" else payer
            if type(e).__name__ in kinds:
                yield history, i, e, payer


CASH = ("billed", "payer_paid", "patient_paid", "adjustments", "written_off_payer", "written_off_patient")


def cash_by_day(events: Iterable[tuple[int, Any]]) -> dict[tuple[date, str], dict[str, int]]:
    """Money moved per (effective day, payer) in cents: the difference of the whole-history sums event by event."""
    totals: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history in histories(events).values():
        payer = history[0][1].payer_id
        before = money([])
        for i, (_, e) in enumerate(history):
            payer = e.payer_id if type(e).__name__ == "Submitted" else payer
            after = money(history[:i + 1])
            for name in CASH:
                delta = int((after[name] - before[name]) * 100)
                if delta:
                    totals[(e.effective_at.date(), payer)][name] += delta
            before = after
    return {k: dict(v) for k, v in totals.items() if any(v.values())}


DAY_ACTIVITY = {"Coded": "coded", "Submitted": "submitted", "Paid": "paid", "Denied": "denied",
                "WrittenOff": "written_off"}


def activity_by_day(events: Iterable[tuple[int, Any]]) -> dict[tuple[date, str, str], dict[str, int]]:
    """The day's work per (effective day, payer, activity): how many such events and their cents (charges coded or
    sent, payer payment, denied amount, amount written off)."""
    totals: dict[tuple[date, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history, i, e, payer in with_payer(events, DAY_ACTIVITY):
        kind = type(e).__name__
        amount = {"Coded": e.total_charge if kind == "Coded" else Z,
                  "Submitted": money(history[:i + 1])["billed"],
                  "Paid": e.remittance["paid"] if kind == "Paid" else Z,
                  "Denied": e.denied_amount if kind == "Denied" else Z,
                  "WrittenOff": e.amount if kind == "WrittenOff" else Z}[kind]
        row = totals[(e.effective_at.date(), payer, DAY_ACTIVITY[kind])]
        row["events"] += 1
        row["cents"] += int(Decimal(str(amount)) * 100)
    return {k: dict(v) for k, v in totals.items()}


def remittances_by_trace(events: Iterable[tuple[int, Any]]) -> dict[tuple[str, str, date], dict[str, int]]:
    """Adjudications recorded by command under a trace number (an imported 835 is its own remittance), per
    (payer, trace, effective day): how many, and the cents paid."""
    totals: dict[tuple[str, str, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history in histories(events).values():
        payer = history[0][1].payer_id
        for _, e in history:
            kind = type(e).__name__
            if kind in ("Submitted", "SubmissionAttached"):
                payer = e.payer_id
            elif kind in ("Paid", "Denied") and e.remittance.get("trace_number") and \
                    not e.source.startswith("x12:835"):
                row = totals[(payer, e.remittance["trace_number"], e.effective_at.date())]
                row["claims"] += 1
                row["paid_cents"] += int(Decimal(str(e.remittance["paid"])) * 100)
    return {k: dict(v) for k, v in totals.items()}


def productivity(events: Iterable[tuple[int, Any]]) -> dict[tuple[Any, ...], dict[str, int]]:
    """Per (day, person, activity, root cause, payer, provider): every event is a task of its actor; a denial also
    counts against whoever last coded the claim, by its main CARC's category; remittances carry their posting lag."""
    totals: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for history in histories(events).values():
        payer = provider = coder = ""
        for i, (_, e) in enumerate(history):
            kind = type(e).__name__
            payer = e.payer_id if kind in ("Coded", "Opened", "Submitted", "SubmissionAttached") else payer
            provider = e.rendering_npi if kind in ("Coded", "Opened", "CodingAttached") else provider
            coder = e.actor if kind in ("Coded", "Recoded", "Opened", "CodingAttached") else coder
            category = main_category(e, history[:i]) if kind == "Denied" else "-"
            moved = {"Submitted": money(history[:i + 1])["billed"], "PatientPaid": getattr(e, "amount", Z),
                     "Paid": e.remittance["paid"] if kind == "Paid" else Z,
                     "Denied": getattr(e, "denied_amount", Z)}.get(kind, Z)
            task = totals[(e.effective_at.date(), e.actor, ACTIVITY[kind], category, payer, provider)]
            task["tasks"] += 1
            task["cents"] += int(moved * 100)
            if kind in ("Paid", "Denied"):
                task["lag_n"] += 1
                task["lag_days"] += posting_lag(e)
            if kind == "Denied":
                against = totals[(e.effective_at.date(), coder, DENIAL_ON_CODING, category, payer, provider)]
                against["tasks"] += 1
                against["cents"] += int(e.denied_amount * 100)
    return {k: {m: v for m, v in t.items() if v} for k, t in totals.items()}


def posting_lag(remittance_event: Any) -> int:
    """Days from the remittance's own date (when it carries one) or effective time to its posting or recording."""
    remitted = remittance_event.remittance.get("remitted_on")
    if remitted:
        return max(0, (remittance_event.effective_at.date() - date.fromisoformat(remitted)).days)
    recorded = remittance_event.timestamp
    recorded = recorded if isinstance(recorded, datetime) else datetime.fromisoformat(recorded)
    return max(0, (recorded - remittance_event.effective_at) // timedelta(days=1))
