"""The oracle: every read model recomputed straight from each claim's raw event history.

Deliberately simple and separate from the projections (it imports none of their code): money is summed
over whole histories in Decimal, statuses are replayed from a table, denial statistics are counted from
the adjudication events. `rcm projections verify` and the property tests compare the views with it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from domain.carc import denial_category, is_denial
from domain.claim import recorded_appeal_deadline

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
    for _, e in history:
        kind = type(e).__name__
        if kind in ("Coded", "Recoded", "Opened"):
            m["billed"] = e.total_charge
        elif kind in ("Paid", "Denied"):
            m["patient_responsibility"] += e.remittance["patient_responsibility"]
            if kind == "Paid":
                m["payer_paid"] += e.remittance["paid"]
                m["adjustments"] += sum((a["amount"] for a in e.remittance["adjustments"] if a["group"] != "PR"), Z)
        elif kind == "PaymentReversed":
            m["payer_paid"] -= e.paid
            m["adjustments"] -= e.contractual
            m["patient_responsibility"] -= e.patient_responsibility
        elif kind == "Adjusted":
            m["adjustments"] += e.amount
        elif kind == "PatientBilled":
            m["patient_responsibility"] += e.transferred
        elif kind == "PatientPaid":
            m["patient_paid"] += e.amount
        elif kind == "WrittenOff":
            m["written_off_" + e.responsibility] += e.amount
    return m


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
    patient_balances = [Z] + [balances(history[:i + 1])[1] for i in range(len(history))]
    patient_since = None
    for i in range(len(history)):
        if patient_balances[i + 1] > 0 and patient_balances[i] <= 0:
            patient_since = on[i]
    trail = status_trail(history)
    current, closed_on = trail[-1], None
    ended = ("closed", "written_off", "voided")
    for i, now in enumerate(trail):
        if now in ended and (i == 0 or trail[i - 1] not in ended):
            closed_on = on[i]
        elif now not in ended:
            closed_on = None
    last_remit = adjudications[-1][1] if adjudications else None
    denied_last = [e for _, e in adjudications if type(e).__name__ == "Denied"]
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
        "closed_on": closed_on, "last_activity_on": on[-1], "patient_since": patient_since,
        "billed": cents(m["billed"]), "payer_paid": cents(m["payer_paid"]), "adjustments": cents(m["adjustments"]),
        "patient_responsibility": cents(m["patient_responsibility"]), "patient_paid": cents(m["patient_paid"]),
        "written_off_payer": cents(m["written_off_payer"]), "written_off_patient": cents(m["written_off_patient"]),
        "payer_balance": cents(payer), "patient_balance": cents(patient),
        "denied_amount": cents(last_remit.denied_amount) if last_remit else 0,
        "last_carcs": " ".join(sorted({f"{a['group']}-{a['carc']}" for a in last_remit.remittance["adjustments"]}))
        if last_remit else "",
        "denial_category": main_category(denied_last[-1]) if denied_last else "",
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
    }


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


def main_category(denial: Any) -> str:
    denials = [a for a in denial.remittance["adjustments"] if is_denial(a["group"], a["carc"])]
    return denial_category(max(denials, key=lambda a: a["amount"])["carc"]) if denials else "-"


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
    for history in histories(events).values():
        payer = history[0][1].payer_id
        for _, e in history:
            kind = type(e).__name__
            payer = e.payer_id if kind == "Submitted" else payer
            if kind not in ("Paid", "Denied"):
                continue
            reasons = {(a["group"], a["carc"]) for a in e.remittance["adjustments"] if is_denial(a["group"], a["carc"])}
            for group, carc in reasons:
                t = totals[(payer, group, carc)]
                t["remittances"] += 1
                t["cents"] += int(sum(a["amount"] for a in e.remittance["adjustments"]
                                      if (a["group"], a["carc"]) == (group, carc)) * 100)
                t["denied_claims"] += kind == "Denied"
    return {k: dict(v) for k, v in totals.items()}


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
