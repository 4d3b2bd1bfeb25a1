"""Money rules (docs/domain.md §2): amounts are cents, remittances balance, denied dollars count once per line."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain import errors
from domain.carc import is_denial
from domain.values import ZERO, Adjustment, Amount, Remittance, ServiceLine, is_money, total

# Every amount, signed or not, is below a billion dollars: far above any claim, and integer cents of a million
# claims at the bound still fit the views' BIGINT sums.
MONEY_LIMIT = Decimal("1000000000")


def payer_balance(billed: Amount, paid: Amount, adjusted: Amount, patient_responsibility: Amount,
                  written_off: Amount) -> Amount:
    """What the payer still owes: the charge less its payments, the adjustments, the patient's share and the
    payer write-offs (the aggregate in Decimal and the views in cents alike)."""
    return billed - paid - adjusted - patient_responsibility - written_off


def patient_balance(responsibility: Amount, paid: Amount, written_off: Amount) -> Amount:
    return responsibility - paid - written_off


def within_limit(value: Decimal) -> bool:
    return abs(value) < MONEY_LIMIT


def check_remittance(number: str, remit: Remittance, lines: list[ServiceLine], billed: Decimal) -> None:
    """The 835 balancing rules for one claim: line, claim, and CLP05 against the PR adjustments."""
    for name in ("charge", "paid", "patient_responsibility"):
        check_money(number, name, getattr(remit, name), positive=name == "charge")
    if remit.charge != billed:
        raise errors.UnbalancedRemittance(
            number, "the remittance charge (CLP03) equals the billed charge",
            f"remit says {remit.charge}, billed {billed}", "check the patient control number")
    line_charges = {ln.number: ln.charge for ln in lines}
    for adj in remit.adjustments:
        check_money(number, f"adjustment {adj.group}-{adj.carc}", adj.amount, signed=True)
        if adj.line is not None and adj.line not in line_charges:
            raise errors.UnbalancedRemittance(number, "line adjustments name a billed line",
                                              f"line {adj.line} is not on the claim", f"lines {list(line_charges)}")
    for line, paid in remit.line_paid:
        if line not in line_charges:
            raise errors.UnbalancedRemittance(number, "line payments name a billed line",
                                              f"line {line} is not on the claim", f"lines {list(line_charges)}")
        adjusted = total(a.amount for a in remit.adjustments if a.line == line)
        if line_charges[line] - adjusted != paid:
            raise errors.UnbalancedRemittance(
                number, "line charge - line adjustments = line paid",
                f"line {line}: {line_charges[line]} - {adjusted} != {paid}", "correct the SVC/CAS amounts")
    adjusted = total(a.amount for a in remit.adjustments)
    if remit.charge - adjusted != remit.paid:
        raise errors.UnbalancedRemittance(
            number, "charge - adjustments = paid",
            f"{remit.charge} - {adjusted} != {remit.paid}", "correct the CLP/CAS amounts")
    pr = total(a.amount for a in remit.adjustments if a.group == "PR")
    if pr != remit.patient_responsibility:
        raise errors.UnbalancedRemittance(
            number, "patient responsibility (CLP05) = sum of PR adjustments",
            f"{remit.patient_responsibility} != {pr}", "correct CLP05 or the PR adjustments")



# CO-45 ("charge exceeds fee schedule") is the contract's price, no denial: unless it takes the whole charge it
# adjusts (the line's, or the claim's at claim level) - a fee schedule of nothing is effectively a denial
# (docs/domain.md §3)
WHOLE_CHARGE_DENIAL = ("CO", "45")


def denial_adjustments(adjustments: Iterable[Adjustment], charge: Decimal,
                       line_charges: Mapping[int, Decimal]) -> list[Adjustment]:
    """The adjustments of a remittance that deny: a denial CARC, or CO-45 summing to the whole charge it adjusts
    (`charge` at claim level, the billed line's charge at line level)."""
    adjustments = list(adjustments)
    fee_schedule: dict[int | None, Decimal] = {}
    for a in adjustments:
        if (a.group, a.carc) == WHOLE_CHARGE_DENIAL:
            fee_schedule[a.line] = fee_schedule.get(a.line, ZERO) + a.amount
    whole = {line for line, amount in fee_schedule.items()
             if amount > ZERO and amount == (charge if line is None else line_charges.get(line))}
    return [a for a in adjustments
            if is_denial(a.group, a.carc) or ((a.group, a.carc) == WHOLE_CHARGE_DENIAL and a.line in whole)]


def denied_dollars(denials: Iterable[Adjustment]) -> Decimal:
    """Denied dollars counted once per line (a line may carry several denial CARCs)."""
    by_line: dict[int | None, Decimal] = {}
    for a in denials:
        by_line[a.line] = by_line.get(a.line, ZERO) + a.amount
    return total(by_line.values())


def main_denial(denials: Iterable[Adjustment]) -> Adjustment | None:
    """The denial that weighs most: its CARC names the claim's denial category."""
    return max(denials, key=lambda a: a.amount, default=None)


def remittance_record(remit: Remittance) -> dict[str, Any]:
    return {
        "payer_claim_control_number": remit.payer_claim_control_number,
        "status_code": remit.status_code,
        "charge": remit.charge,
        "paid": remit.paid,
        "patient_responsibility": remit.patient_responsibility,
        "adjustments": [a.as_record() for a in remit.adjustments],
        "line_paid": [[line, paid] for line, paid in remit.line_paid],
        "remark_codes": list(remit.remark_codes),
        "trace_number": remit.trace_number,
        # only when posted apart from its date (older events have no such key)
        **({"remitted_on": remit.remitted_on.isoformat()} if remit.remitted_on else {}),
    }


def declared_total(declared: Decimal | None, lines: list[ServiceLine]) -> Decimal:
    return total(ln.charge for ln in lines) if declared is None else declared


def claim_total_mismatch(declared: Decimal, lines: Iterable[ServiceLine]) -> str:
    """Why a claim's total (CLM02) is not the sum of its lines, or "" when it is (scrub edit CLAIM-TOTAL)."""
    line_sum = total(ln.charge for ln in lines)
    return "" if declared == line_sum else f"claim total {declared} differs from the sum of its lines {line_sum}"


def check_claim_total(claim: str, declared: Decimal | None, lines: list[ServiceLine]) -> None:
    """Scrub edit CLAIM-TOTAL as a refusal, where no scrub can hold the claim back: an 837 already sent, or the
    coding of a claim first seen on a remittance."""
    if mismatch := claim_total_mismatch(declared_total(declared, lines), lines):
        raise errors.ClaimTotalMismatch(
            claim, "scrub edit CLAIM-TOTAL: a claim's total (CLM02) is the sum of its line charges", mismatch,
            "correct CLM02 or the line charges (SV102/SV203) and send the claim again", field="total_charge")


def check_money(claim: str, name: str, value: Decimal, *, positive: bool = False, signed: bool = False) -> None:
    if not is_money(value):
        raise errors.InvalidAmount(claim, f"{name} is money", f"{value!r} is not a decimal with at most 2 places",
                                   "write amounts like 125.00", field=name)
    if not within_limit(value):
        raise errors.InvalidAmount(claim, f"{name} is less than {MONEY_LIMIT} in size", f"{name} is {value}",
                                   f"an amount between -{MONEY_LIMIT} and {MONEY_LIMIT}", field=name)
    if not signed and value < ZERO:
        raise errors.InvalidAmount(claim, f"{name} is never negative", f"{name} is {value}",
                                   "a positive amount", field=name)
    if positive and value <= ZERO:
        raise errors.InvalidAmount(claim, f"{name} is positive", f"{name} is {value}", "an amount above 0.00",
                                   field=name)


def check_coding(claim: str, lines: list[ServiceLine]) -> None:
    if not lines:
        raise errors.InvalidCode(claim, "a claim has at least one service line", "no lines", "add a line",
                                 field="lines")
    for ln in lines:
        check_money(claim, f"lines[{ln.number}].charge", ln.charge)
        if not isinstance(ln.units, Decimal) or ln.units <= 0:
            raise errors.InvalidAmount(claim, "units are positive", f"line {ln.number} has {ln.units} units",
                                       "units above 0", field=f"lines[{ln.number}].units")
    check_money(claim, "total_charge", total(ln.charge for ln in lines))
