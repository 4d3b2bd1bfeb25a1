"""835 remittances in the ledger's terms (docs/domain.md §7): each CLP becomes a payment, a denial, a forward or a
reversal of the claim it answers (opened from the remittance when the ledger never saw it), with CAS, RARCs, PLB
and the three balancing identities; an 835 that does not balance is quarantined whole."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from domain import commands as c
from domain.money import denial_adjustments
from domain.values import Adjustment
from infra.x12.plan import (ACTOR, PAYER_CLASS, ClaimPlan, PatientKey, PatientKeys, Plan, day_of, el, explain, key,
                            money, noon)
from infra.x12.segments import Transaction

PAYER_SEQUENCE = {"2": "secondary", "3": "tertiary", "20": "secondary", "21": "tertiary"}  # CLP02 "processed as"


@dataclass
class Clp:
    segment: list[str]
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    patient: str = ""
    rendering: str = ""
    dates: list[date] = field(default_factory=list)


def cas(seg: list[str], where: str) -> list[tuple[str, str, Decimal]]:
    group, out = el(seg, 1), []
    for i in range(2, len(seg), 3):
        if el(seg, i):
            out.append((group, el(seg, i), money(el(seg, i + 1), f"{where} CAS{i + 1:02d}")))
    return out


@dataclass
class RemittanceReading:
    """The 835 as read so far: payment (BPR), trace (TRN), payer and payee (N1), the claims (CLP) with their
    service lines (SVC), and the provider adjustments (PLB)."""
    component: str
    payee: dict[str, str] = field(default_factory=lambda: {"npi": "", "tin": "", "name": ""})
    payer: dict[str, str] = field(default_factory=lambda: {"name": "", "id": ""})
    bpr: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    clps: list[Clp] = field(default_factory=list)
    plb: list[dict[str, Any]] = field(default_factory=list)
    production: date | None = None
    entity: str = ""
    current: Clp | None = None
    line: dict[str, Any] | None = None

    def read(self, seg: list[str], where: str) -> None:
        sid = seg[0]
        if sid == "BPR":
            self.bpr = seg
        elif sid == "TRN" and not self.trace:
            self.trace = seg
        elif sid == "DTM" and el(seg, 1) == "405" and self.current is None:
            self.production = day_of(seg)
        elif sid == "N1":
            self.read_party(seg)
        elif sid == "REF" and el(seg, 1) == "2U" and self.entity == "PR" and self.current is None:
            self.payer["id"] = el(seg, 2)
        elif sid == "CLP":
            self.current, self.line = Clp(seg), None
            self.clps.append(self.current)
        elif sid == "PLB":
            self.current, self.line = None, None
            self.read_provider_adjustments(seg, where)
        elif sid == "LX":
            self.current, self.line = None, None
        elif self.current is not None:
            self.read_claim(seg, where, self.current)

    def read_party(self, n1: list[str]) -> None:
        self.entity = el(n1, 1)
        if self.entity == "PR":
            self.payer["name"] = el(n1, 2)
        elif self.entity == "PE":
            self.payee["name"] = el(n1, 2)
            self.payee["npi" if el(n1, 3) == "XX" else "tin" if el(n1, 3) == "FI" else "other"] = el(n1, 4)

    def read_provider_adjustments(self, seg: list[str], where: str) -> None:
        for i in range(3, len(seg), 2):
            if el(seg, i):
                reason = el(seg, i).split(self.component)
                self.plb.append({"provider": el(seg, 1), "fiscal_period": el(seg, 2), "reason": reason[0],
                                 "reference": reason[1] if len(reason) > 1 else "",
                                 "amount": money(el(seg, i + 1), f"{where} PLB{i + 1:02d}")})

    def read_claim(self, seg: list[str], where: str, current: Clp) -> None:
        sid, line = seg[0], self.line
        if sid == "SVC":
            self.line = {"segment": seg, "adjustments": [], "remarks": [], "ref": "", "date": None}
            current.lines.append(self.line)
        elif sid == "CAS":
            (line["adjustments"] if line is not None else current.adjustments).extend(cas(seg, where))
        elif sid == "NM1" and el(seg, 1) == "QC":
            current.patient = el(seg, 9) or " ".join((el(seg, 3), el(seg, 4)))
        elif sid == "NM1" and el(seg, 1) == "82" and el(seg, 8) == "XX":
            current.rendering = el(seg, 9)
        elif sid in ("MOA", "MIA"):
            current.remarks += [v.strip() for v in seg[1:] if v.strip() and v.strip()[:1].isalpha()
                                and not v.strip().replace(".", "").isdigit()]
        elif sid == "LQ" and line is not None:
            line["remarks"].append(el(seg, 2))
        elif sid == "REF" and el(seg, 1) == "6R" and line is not None:
            line["ref"] = el(seg, 2)
        elif sid == "DTM" and el(seg, 1) in ("472", "150") and line is not None:
            line["date"] = day_of(seg)
        elif sid == "DTM" and el(seg, 1) in ("232", "233") and line is None:
            if (d := day_of(seg)) is not None:
                current.dates.append(d)


def read_835(tx: Transaction, patient_keys: PatientKeys, lookup: Callable[[str, str], Any], strict: bool = False
             ) -> Plan:
    """`lookup(claim_number, payee_npi)` returns the ledger's claim or None; `patient_keys` gives each patient's
    (NM1*QC) pseudonymous key."""
    plan = Plan(kind="835", key="", tx=tx, at=tx.created)
    read = RemittanceReading(tx.delimiters.component)
    try:
        for n, seg in enumerate(tx.segments, start=tx.first_segment):
            read.read(seg, f"segment {n} ({seg[0]})")
    except ValueError as error:  # an amount X12 does not allow: held whole, under its trace when it has one
        plan.quarantine = str(error)
    bpr, trace = read.bpr, read.trace
    if not bpr or not trace:
        plan.quarantine = plan.quarantine or ("no BPR or TRN segment: an 835 without its payment and trace cannot "
                                              "be posted")
        plan.key = f"835|{tx.sender}|{tx.interchange_control}|{tx.control}"
        return plan
    payer_id = read.payer["id"] or el(trace, 3) or read.payer["name"] or "unknown"
    paid_on = day_of(["DTM", "", el(bpr, 16)]) if el(bpr, 16) else None
    plan.at = noon(paid_on or read.production or tx.created.date())
    plan.key = f"835|{payer_id}|{el(trace, 2)}|{el(bpr, 16)}"  # a fixed re-send keeps its trace, not its amounts
    plan.patients = [patient_of(clp, read.payee, payer_id, lookup, patient_keys) for clp in read.clps]
    if plan.quarantine:
        return plan
    try:
        total = money(el(bpr, 2), "BPR02")
        # TRN03 (the payer's id, "1" + its tax id) is what its EFT's company id shows at the bank
        plan.payment = {"trace": el(trace, 2), "originator": el(trace, 3), "payer_id": payer_id,
                        "payer": read.payer["name"],
                        "handling": el(bpr, 1), "amount": str(total), "credit_debit": el(bpr, 3),
                        "method": el(bpr, 4), "paid_on": paid_on.isoformat() if paid_on else "",
                        "payee": read.payee["name"], "payee_npi": read.payee["npi"], "payee_tin": read.payee["tin"]}
        plan.provider_adjustments = [{**a, "amount": str(a["amount"])} for a in read.plb]
        balance(read.clps, read.plb, total)
    except ValueError as error:
        plan.quarantine = str(error)
        return plan
    opened: dict[str, str] = {}  # claim number in the file -> last CLP02 seen in this remittance
    for ordinal, clp in enumerate(read.clps, start=1):
        plan.claims.append(plan_clp(tx, plan, clp, ordinal, read.payee, payer_id, lookup, strict, opened,
                                    read.component, patient_keys(payer_id, clp.patient)))
    return plan


def patient_of(clp: Clp, payee: dict[str, str], payer_id: str, lookup: Callable[[str, str], Any],
               patient_keys: PatientKeys) -> str:
    """The patient key a CLP's claim is kept under: the ledger's claim's, else the one opening the claim gives."""
    claim = lookup(el(clp.segment, 1), payee["npi"])
    return getattr(claim, "patient_key", "") or patient_keys(payer_id, clp.patient).key


def balance(clps: list[Clp], plb: list[dict[str, Any]], total_paid: Decimal) -> None:
    """The 835 balancing identities: line, claim and transaction (TR3 1.10.2.1)."""
    for clp in clps:
        number = el(clp.segment, 1)
        line_adjusted = Decimal("0.00")
        for i, ln in enumerate(clp.lines, start=1):
            charge, paid = money(el(ln["segment"], 2), "SVC02"), money(el(ln["segment"], 3), "SVC03")
            adjusted = sum((a[2] for a in ln["adjustments"]), Decimal("0.00"))
            line_adjusted += adjusted
            if charge - adjusted != paid:
                raise ValueError(f"claim {number} line {i}: charge {charge} - adjustments {adjusted} != paid {paid} "
                                 f"(line balancing: SVC02 - CAS = SVC03)")
        charge, paid = money(el(clp.segment, 3), "CLP03"), money(el(clp.segment, 4), "CLP04")
        adjusted = sum((a[2] for a in clp.adjustments), Decimal("0.00")) + line_adjusted
        if charge - adjusted != paid:
            raise ValueError(f"claim {number}: charge {charge} - adjustments {adjusted} != paid {paid} "
                             f"(claim balancing: CLP03 - CAS = CLP04)")
    paid = sum((money(el(clp.segment, 4), "CLP04") for clp in clps), Decimal("0.00"))
    provider = sum((a["amount"] for a in plb), Decimal("0.00"))
    if paid - provider != total_paid:
        raise ValueError(f"claims paid {paid} - provider adjustments {provider} != BPR02 {total_paid} "
                         f"(transaction balancing)")


def plan_clp(tx: Transaction, plan: Plan, clp: Clp, ordinal: int, payee: dict[str, str], payer_id: str,
             lookup: Callable[[str, str], Any], strict: bool, opened: dict[str, str], comp: str,
             patient_key: PatientKey) -> ClaimPlan:
    seg = clp.segment
    status = el(seg, 2)
    charge, paid, patient = (money(el(seg, i), f"CLP0{i}") for i in (3, 4, 5))
    icn = el(seg, 7) or f"{plan.payment['trace']}/{ordinal}"
    out = ClaimPlan(label=el(seg, 1), facts={"status_code": status, "charge": str(charge), "paid": str(paid),
                                             "patient_responsibility": str(patient),
                                             "payer_claim_control_number": icn}, patient=patient_key)
    if status == "25":
        out.notes.append("predetermination (CLP02 25): pricing only, no claim event; kept with the remittance")
        out.unmatched = True
        return out
    number = out.label = numbered_in_remittance(seg, ordinal, opened, out.notes)
    claim = lookup(number, payee["npi"])
    billing = billing_key(claim, payee, clp.rendering)
    opened[el(seg, 1)] = status
    if claim is None and (reason := cannot_open(status, icn, strict, billing)):
        out.error, out.unmatched = reason, True
        return out
    common = {"claim_number": number, "billing_npi": billing, "effective_at": plan.at.isoformat(), "actor": ACTOR,
              "source": f"x12:835 trace {plan.payment['trace']}"}
    lines = claim.lines if claim is not None else None
    try:
        if lines is None:
            out.commands.append(opening(common, clp, plan, payer_id, charge, comp, patient_key.key))
            numbers = list(range(1, len(clp.lines) + 1))
        else:
            numbers = match_lines(clp.lines, lines, comp)
        if status == "22":
            out.commands.append(c.COMMAND.validate_python({
                **common, "type": "reverse_payment", "payer_claim_control_number": icn,
                "command_id": str(key("835", payer_id, plan.payment["trace"], ordinal, "22"))}))
            return out
        out.commands.append(settlement(common, clp, numbers, out.facts, charge, paid, plan.payment["trace"],
                                       str(key("835", payer_id, plan.payment["trace"], ordinal, status))))
    except (ValidationError, ValueError) as error:
        out.commands = []
        out.error = explain(error) if isinstance(error, ValidationError) else str(error)
    return out


def numbered_in_remittance(clp: list[str], ordinal: int, opened: dict[str, str], notes: list[str]) -> str:
    """The claim number a CLP stands for: CLP01, unless another claim in this remittance has it already."""
    number, status = el(clp, 1), el(clp, 2)
    previous = opened.get(number)
    if previous is None or previous == "22" or status == "22":
        return number
    # The same patient control number on another claim in this remittance (an account number used as
    # PCN): a claim of its own, numbered after its place in the remittance.
    suffix = f"-{ordinal}"
    # up to 20 characters the number is cut as it always was (claims opened so keep their ids)
    number = (number[:16] if len(number) <= c.BILLED_CLAIM_NUMBER_MAX
              else number[:c.CLAIM_NUMBER_MAX - len(suffix)]) + suffix
    notes.append(f"patient control number {el(clp, 1)} repeats in this remittance: claim {number}")
    return number


def billing_key(claim: Any, payee: dict[str, str], rendering: str) -> str:
    """The billing provider a CLP's claim is kept under: the ledger's, else the payee's or rendering NPI, else
    the payee's tax id; empty if the remittance names none."""
    billing = claim.billing_npi if claim is not None else next(
        (v for v in (payee["npi"], rendering) if len(v) == 10 and v.isdigit()), "")
    if not billing and len(payee["tin"]) == 9 and payee["tin"].isdigit():
        billing = f"TIN-{payee['tin']}"
    return billing


def cannot_open(status: str, icn: str, strict: bool, billing: str) -> str:
    """Why a CLP for a claim the ledger never saw is kept unmatched rather than opening the claim ("" if it opens)."""
    if status == "22":
        return f"reversal (CLP02 22) of payment {icn} for a claim the ledger never recorded"
    if strict:
        return "no such claim in the ledger (--strict keeps it as an unmatched item)"
    if not billing:
        return "the payee has neither an NPI nor a tax id (N1*PE): cannot open the claim"
    return ""


def opening(common: dict[str, Any], clp: Clp, plan: Plan, payer_id: str, charge: Decimal, comp: str,
            patient_key: str) -> Any:
    """open_from_remittance: the claim as the remittance shows it, for a claim the ledger never saw."""
    seg = clp.segment
    days = [d for d in (ln["date"] for ln in clp.lines) if d] or clp.dates or [plan.at.date()]
    return c.COMMAND.validate_python({
        **common, "type": "open_from_remittance",
        "payer_id": payer_id, "payer_class": PAYER_CLASS.get(el(seg, 6), "commercial"),
        "payer_sequence": PAYER_SEQUENCE.get(el(seg, 2), "primary"),
        "patient_key": patient_key, "total_charge": str(charge),
        "rendering_npi": clp.rendering if len(clp.rendering) == 10 else None,
        "service_date": min(days).isoformat(),
        "origin": f"835 trace {plan.payment['trace']} of payer {payer_id}: no coding or submission known",
        "lines": [{"procedure": (el(ln["segment"], 1).split(comp) + [""])[1] or el(ln["segment"], 1),
                   "modifiers": el(ln["segment"], 1).split(comp)[2:6],
                   "charge": str(money(el(ln["segment"], 2), "SVC02")),
                   "units": billed_units(ln["segment"]),
                   "service_date": ln["date"].isoformat() if ln["date"] else None} for ln in clp.lines]})


def settlement(common: dict[str, Any], clp: Clp, numbers: list[int], facts: dict[str, Any], charge: Decimal,
               paid: Decimal, trace: str, command_id: str) -> Any:
    """record_payment, or record_denial when nothing is paid and the adjustments deny it (or CLP02 is 4);
    `numbers` are the billed lines the SVCs answer, `facts` the CLP's status, amounts and payer claim number."""
    adjustments = [{"group": g, "carc": r, "amount": str(a), "line": None} for g, r, a in clp.adjustments]
    line_paid = []
    for number_, ln in zip(numbers, clp.lines):
        adjustments += [{"group": g, "carc": r, "amount": str(a), "line": number_} for g, r, a in ln["adjustments"]]
        line_paid.append({"line": number_, "paid": str(money(el(ln["segment"], 3), "SVC03"))})
    billed = {number_: money(el(ln["segment"], 2), "SVC02") for number_, ln in zip(numbers, clp.lines)}
    denied = any(a.amount > 0 for a in denial_adjustments(
        [Adjustment(a["group"], a["carc"], Decimal(a["amount"]), a["line"]) for a in adjustments], charge, billed))
    kind = "record_payment" if paid > 0 or (not denied and facts["status_code"] != "4") else "record_denial"
    return c.COMMAND.validate_python({
        **common, "type": kind, **facts, "command_id": command_id, "adjustments": adjustments,
        "line_paid": line_paid, "remark_codes": clp.remarks + [r for ln in clp.lines for r in ln["remarks"]],
        "trace_number": trace})


def billed_units(svc: list[str]) -> str:
    """The units billed: SVC07 (original units) where the payer paid other units, else SVC05 (units paid); a
    denied line often pays 0 units, and then without SVC07 it was one unit."""
    for position in (7, 5):
        value = el(svc, position)
        try:
            if value and Decimal(value) > 0:
                return value
        except InvalidOperation:
            raise ValueError(f"SVC{position:02d}: {value!r} is not a number of units") from None
    return "1"


def match_lines(svcs: list[dict[str, Any]], lines: list[Any], comp: str) -> list[int]:
    """Which billed line each SVC answers: REF*6R line number, else procedure and charge, else position."""
    used: set[int] = set()
    out = []
    for i, svc in enumerate(svcs, start=1):
        ref = svc["ref"]
        procedure = (el(svc["segment"], 1).split(comp) + [""])[1]
        charge = money(el(svc["segment"], 2), "SVC02")
        found = None
        if ref.isdigit() and 1 <= int(ref) <= len(lines) and int(ref) not in used:
            found = int(ref)
        if found is None:
            found = next((ln.number for ln in lines if ln.number not in used and ln.procedure == procedure
                          and ln.charge == charge), None)
        if found is None:
            found = i
        used.add(found)
        out.append(found)
    return out
