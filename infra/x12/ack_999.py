"""999 implementation acknowledgments in the ledger's terms: a rejected 837 transaction set rejects every claim
the ledger sent in it (the batch it recorded); an accepted one is kept as a note."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import commands as c
from infra.x12.plan import ACTOR, ClaimPlan, Plan, el, key, transaction_key
from infra.x12.segments import Transaction


def read_999(tx: Transaction, batch: Callable[[str, str], list[tuple[str, str]]]) -> Plan:
    """`batch(group_control, transaction_control)` lists the (billing NPI, claim number) an 837 sent."""
    plan = Plan(kind="999", key=transaction_key("999", tx), tx=tx, at=tx.created)
    group = ""
    current: dict[str, Any] | None = None
    sets: list[dict[str, Any]] = []
    for seg in tx.segments:
        sid = seg[0]
        if sid == "AK1":
            group = el(seg, 2)
        elif sid == "AK2":
            current = {"set": el(seg, 2), "errors": [], "ack": ""}
            sets.append(current)
        elif sid == "IK3" and current is not None:
            current["errors"].append(f"segment {el(seg, 1)} at {el(seg, 2)}: syntax error {el(seg, 4)}")
        elif sid == "IK4" and current is not None:
            current["errors"].append(f"element {el(seg, 1)} (data element {el(seg, 2)}): error {el(seg, 3)}")
        elif sid == "IK5" and current is not None:
            current["ack"] = el(seg, 1)
            current["codes"] = [v for v in seg[2:] if v]
    for s in sets:
        label = f"837 {group}/{s['set']}"
        claims = batch(group, s["set"])
        if s["ack"] in ("A", "E"):
            plan.claims.append(ClaimPlan(label=label, unmatched=True,
                                         notes=[f"transaction accepted (IK5 {s['ack']}); {len(claims)} claims"]))
            continue
        if not claims:
            plan.claims.append(ClaimPlan(label=label, unmatched=True,
                                         error=f"rejected (IK5 {s['ack']}) but the ledger never sent 837 {s['set']} "
                                               f"in group {group}"))
            continue
        reason = "; ".join(s["errors"]) or "transaction rejected"
        for billing, number in claims:
            out = ClaimPlan(label=number)
            out.commands.append(c.COMMAND.validate_python({
                "type": "reject_claim", "claim_number": number, "billing_npi": billing, "stage": "999",
                "code": "IK5 " + s["ack"] + "".join(f" {v}" for v in s.get("codes", [])), "reason": reason,
                "effective_at": plan.at.isoformat(), "actor": ACTOR, "source": f"x12:999 {tx.control}",
                "command_id": str(key("999", tx.interchange_control, tx.control, group, s["set"], number))}))
            plan.claims.append(out)
    return plan

