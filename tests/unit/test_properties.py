"""Property tests: any sequence of commands keeps every claim balanced, and replay reproduces the state."""
from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from domain.claim import Claim
from projections.oracle import money
from tests.conftest import at, cmd, code
from tests.unit.helpers import memory_ledger, run

CENT = Decimal("0.01")
ACTIONS = ("scrub", "submit", "accept", "reject", "pay", "deny", "appeal", "decide", "reverse", "adjust",
           "bill", "patient_pay", "write_off_payer", "write_off_patient", "recode", "void", "submit7", "attach",
           "sent837", "deny45", "pay_early", "recode_late")


def part(amount: Decimal, percent: int) -> Decimal:
    return (amount * percent / 100).quantize(CENT)


NEXT = {"coded": "scrub", "scrub_failed": "recode", "ready": "submit", "submitted": "accept", "rejected": "submit",
        "denied": "appeal", "appealed": "decide", "paid": "bill", "patient_billed": "patient_pay",
        "reversed": "pay", "closed": "adjust", "written_off": "adjust", "voided": "scrub"}


def command_for(action: str, claim: Claim, percent: int, flag: bool, step: int) -> dict:
    """The command an action means for the claim as it stands; 'advance' takes the usual next step."""
    if action == "advance":
        action = NEXT[claim.status] if claim.status != "accepted" else ("pay" if percent > 15 else "deny")
    when = at(step)
    charge = claim.total_charge
    if action == "deny45":  # the fee schedule allows nothing: CO-45 for the whole charge, of the claim or its line
        return cmd("record_denial", payer_claim_control_number=f"ICN{step}", charge=str(charge), paid="0.00",
                   adjustments=[{"group": "CO", "carc": "45", "amount": str(charge), "line": None if flag else 1}],
                   effective_at=when)
    if action in ("pay", "pay_early"):
        when = at(-3) if action == "pay_early" else when  # a check dated before the claim was sent: refused
        allowed = part(charge, percent)
        patient = part(allowed, 20) if flag else Decimal("0.00")
        return cmd("record_payment", payer_claim_control_number=f"ICN{step}", charge=str(charge),
                   paid=str(allowed - patient), patient_responsibility=str(patient), effective_at=when,
                   adjustments=[{"group": "CO", "carc": "45", "amount": str(charge - allowed)},
                                {"group": "PR", "carc": "2", "amount": str(patient)}])
    if action == "deny":
        return cmd("record_denial", payer_claim_control_number=f"ICN{step}", charge=str(charge), paid="0.00",
                   adjustments=[{"group": "CO", "carc": "29" if flag else "197", "amount": str(charge)}],
                   effective_at=when)
    simple = {
        "scrub": ("scrub_claim", {}), "submit": ("submit_claim", {}), "accept": ("accept_claim", {}),
        "submit7": ("submit_claim", {"frequency": "7"}),
        "reject": ("reject_claim", {"stage": "277CA", "code": "A7", "reason": "member id"}),
        "appeal": ("appeal_denial", {"level": claim.appeal_level + (1 if flag else 2), "reason": "r"}),
        "decide": ("decide_appeal", {"overturned": flag}),
        "reverse": ("reverse_payment", {"payer_claim_control_number": claim.payer_claim_control_number or "X"}),
        "adjust": ("adjust_claim", {"group": "CO", "carc": "45",
                                    "amount": str(part(claim.payer_balance, percent) * (1 if flag else -1))}),
        "bill": ("bill_patient", {}),
        "patient_pay": ("record_patient_payment", {"amount": str(max(part(claim.patient_balance, percent), CENT))}),
        "write_off_payer": ("write_off", {"responsibility": "payer", "reason": "denial",
                                          "amount": str(max(part(claim.payer_balance, percent), CENT))}),
        "write_off_patient": ("write_off", {"responsibility": "patient", "reason": "bad_debt",
                                            "amount": str(max(part(claim.patient_balance, percent), CENT))}),
        "recode": ("recode_claim", {"diagnoses": ["I10"], "lines": [
            {"procedure": "99214", "charge": str(charge + (5 if flag else 0)), "service_date": "2026-03-01"}]}),
        # a service dated later: refused once the claim was submitted before that date
        "recode_late": ("recode_claim", {"diagnoses": ["I10"], "lines": [
            {"procedure": "99214", "charge": str(charge), "service_date": "2026-03-06" if flag else "2026-03-20"}]}),
        "void": ("void_claim", {"reason": "error"}),
        # the claim's 837 found late: attaches to a claim opened from a remittance, a conflict for a coded one
        "attach": ("code_claim", {"payer_id": claim.payer_id, "payer_class": claim.payer_class, "patient_key": "pk-837",
                                  "place_of_service": "22", "diagnoses": ["J20.9"], "lines": [
                                      {"procedure": "99213", "charge": str(charge),
                                       "service_date": "2026-02-27" if flag else "2026-03-01"}]}),
    }
    if action == "sent837" and claim.opened:
        # the 837 another system sent, found after the 835 that opened the claim: dated before it
        return cmd("submit_claim", already_sent=True, interchange_control_number=f"{step:09d}", effective_at=at(0))
    kind, fields = simple["submit" if action == "sent837" else action]
    return cmd(kind, effective_at=when, **fields)


def recomputed_money(ledger, claim: Claim) -> dict[str, Decimal]:
    """An independent oracle: the money figures summed straight from the stored events."""
    m = money([(0, e) for e in ledger.events.get(claim.id)])
    names = ("payer_paid", "patient_responsibility", "patient_paid", "written_off_payer", "written_off_patient")
    return {"contractual": m["adjustments"], **{name: m[name] for name in names}}


@settings(max_examples=int(__import__("os").environ.get("RCM_HYPOTHESIS_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTIONS + ("advance",) * 12), st.integers(0, 100), st.booleans()),
                min_size=1, max_size=30),
       st.sampled_from(("commercial", "medicare", "medicaid", "self_pay")))
def test_random_command_sequences_keep_claims_balanced(actions, payer_class):
    ledger = memory_ledger()
    run(ledger, code(payer_class=payer_class))
    reversed_after_patient_paid = False
    for step, (action, percent, flag) in enumerate(actions, start=1):
        claim = ledger.find("C1")
        before = copy.deepcopy(vars(claim))
        outcome = run(ledger, command_for(action, claim, percent, flag, step))[0]
        after = ledger.find("C1")
        if outcome.result == "rejected":
            assert vars(after) == before, f"refused {action} changed the claim"
            continue
        if action == "reverse" and after.patient_paid + after.written_off_patient > 0:
            reversed_after_patient_paid = True
        assert after.payer_balance >= 0, f"payer balance negative after {action}"
        assert after.payer_balance <= after.total_charge, f"payer owes more than was billed after {action}"
        assert after.patient_balance >= 0 or (reversed_after_patient_paid and after.credit_balance)
        assert after.total_charge == (after.payer_paid + after.contractual + after.patient_paid
                                      + after.written_off_payer + after.written_off_patient
                                      + after.payer_balance + after.patient_balance) or after.status == "voided"
    claim = ledger.find("C1")
    note_event(f"final status {claim.status}")
    assert {k: getattr(claim, k) for k in recomputed_money(ledger, claim)} == recomputed_money(ledger, claim)
    replayed = None
    for event in ledger.events.get(claim.id):
        replayed = event.mutate(replayed)
    assert replayed == claim
