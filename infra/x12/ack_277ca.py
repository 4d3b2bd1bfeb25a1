"""277CA claim acknowledgments in the ledger's terms: STC categories A1/A2 accept a claim, A3/A4/A6/A7/A8 reject it
at the payer's front end; any other status is kept without an event."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import commands as c
from infra.x12.plan import ACTOR, ClaimPlan, Plan, created, el, key, transaction_key
from infra.x12.segments import Transaction

ACCEPTED_277 = {"A1", "A2"}
REJECTED_277 = {"A3", "A4", "A6", "A7", "A8"}


def read_277(tx: Transaction, lookup: Callable[[str, str], Any]) -> Plan:
    comp = tx.delimiters.component
    plan = Plan(kind="277CA", key=transaction_key("277CA", tx), tx=tx, at=tx.created)
    npi = ""
    level = ""
    claim: dict[str, Any] | None = None
    found: list[dict[str, Any]] = []
    for seg in tx.segments:
        sid = seg[0]
        if sid == "BHT":
            created(plan, seg)
        elif sid == "HL":
            level = el(seg, 3)
            claim = None
        elif sid == "NM1" and el(seg, 1) == "85":
            npi = el(seg, 9) if el(seg, 8) == "XX" else ""
        elif sid == "TRN" and el(seg, 1) == "2" and level == "PT":
            claim = {"number": el(seg, 2), "npi": npi, "status": [], "icn": ""}
            found.append(claim)
        elif sid == "STC" and claim is not None:
            claim["status"].append(el(seg, 1).split(comp))
        elif sid == "REF" and el(seg, 1) == "1K" and claim is not None:
            claim["icn"] = el(seg, 2)
    for i, cl in enumerate(found, start=1):
        out = ClaimPlan(label=cl["number"])
        plan.claims.append(out)
        categories = [s[0] for s in cl["status"] if s and s[0]]
        existing = lookup(cl["number"], cl["npi"])
        if existing is None:
            out.unmatched = True
            out.error = f"277CA status {'/'.join(categories)} for claim {cl['number']} the ledger never saw"
            continue
        common = {"claim_number": cl["number"], "billing_npi": existing.billing_npi,
                  "effective_at": plan.at.isoformat(), "actor": ACTOR, "source": f"x12:277CA {tx.control}",
                  "command_id": str(key("277CA", tx.interchange_control, tx.control, i, cl["number"]))}
        rejected = [s for s in cl["status"] if s[0] in REJECTED_277]
        if rejected:
            code = comp.join(rejected[0])
            out.commands.append(c.COMMAND.validate_python({
                **common, "type": "reject_claim", "stage": "277CA", "code": code,
                "reason": f"payer front end rejected it (STC {code})"}))
        elif any(s[0] in ACCEPTED_277 for s in cl["status"]):
            code = comp.join(next(s for s in cl["status"] if s[0] in ACCEPTED_277))
            out.commands.append(c.COMMAND.validate_python({
                **common, "type": "accept_claim",
                "acknowledgment": f"277CA {code}" + (f" payer claim {cl['icn']}" if cl["icn"] else "")}))
        else:
            out.unmatched = True
            out.notes.append(f"status {'/'.join(categories) or 'none'}: neither accepted nor rejected; no event")
    return plan

