"""The denial work queue, folded from claim event messages: an item per denied claim with the dollars at stake,
CARC category, payer, appeal deadline (docs/domain.md §1, by payer class and appeal level) and a priority; closed
when the claim is paid, corrected (recoded) or written off. Pure: rows in, rows out; infra stores them."""
from __future__ import annotations

from datetime import date
from typing import Any

from domain.contract import ClaimEventMessage
from domain.lifecycle import recorded_appeal_deadline
from domain.values import cents

COLUMNS = ("claim_id", "claim_number", "payer_id", "payer_class", "state", "category", "carcs", "at_stake_cents",
           "denied_on", "appeal_level", "deadline", "priority", "closed_on", "closed_reason", "sequence")
OPEN = ("open", "appealed", "overturned")
CLOSING = {"Paid": "paid", "Recoded": "corrected", "Submitted": "resubmitted", "WrittenOff": "written off",
           "PatientBilled": "billed to the patient", "Voided": "voided"}


def new_row(claim_id: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(claim_id=claim_id, state="none", at_stake_cents=0, appeal_level=0, carcs="", category="",
               sequence=0, priority="")
    return row


def priority(at_stake_cents: int, deadline: date | None, today: date) -> str:
    if deadline is None:
        return "low"
    days_left = (deadline - today).days
    if days_left <= 30 or at_stake_cents >= 100_000:
        return "high"
    if days_left <= 60 or at_stake_cents >= 25_000:
        return "medium"
    return "low"


def apply(row: dict[str, Any], m: ClaimEventMessage) -> None:
    """Folds one message into its claim's row (messages of a claim arrive in sequence order)."""
    if m.sequence <= row["sequence"]:
        return  # already applied (a redelivered message)
    p, day = m.payload, m.occurred_at.date()
    row["sequence"], row["claim_number"] = m.sequence, m.claim_number
    if m.type in ("Coded", "Opened"):
        row.update(payer_id=p["payer_id"], payer_class=p["payer_class"])
    if m.type == "CodingAttached":
        row["payer_class"] = p["payer_class"]
    if m.type in ("Submitted", "SubmissionAttached"):
        row["payer_id"] = p["payer_id"]
    if m.type == "Denied":
        carcs = sorted({f"{a['group']}-{a['carc']}" for a in p["remittance"]["adjustments"]})
        row.update(state="open", category=p["category"], carcs=" ".join(carcs), denied_on=day,
                   at_stake_cents=cents(p["denied_amount"]), closed_on=None, closed_reason=None,
                   deadline=recorded_appeal_deadline(p, row["payer_class"] or "commercial", row["appeal_level"], day))
    elif m.type == "Appealed" and row["state"] in OPEN:
        row.update(state="appealed", appeal_level=p["level"], deadline=None)
    elif m.type == "AppealDecided" and row["state"] in OPEN:
        if p["overturned"]:
            row.update(state="overturned", deadline=None)  # awaiting the payer's reprocessed payment
        else:
            row.update(state="open", deadline=recorded_appeal_deadline(p, row["payer_class"] or "commercial",
                                                                       p["level"], day))
    elif m.type in CLOSING and row["state"] in OPEN:
        row.update(state="closed", closed_on=day, closed_reason=CLOSING[m.type])
    row["priority"] = priority(row["at_stake_cents"], row["deadline"], day) if row["state"] in OPEN else ""
