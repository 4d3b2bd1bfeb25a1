"""X12 transactions in the ledger's terms (DOMAIN.md §6): 837 -> coded + submitted, 999/277CA -> accepted or
rejected, 835 -> paid, denied, forwarded, reversed, with CAS, RARCs, PLB and the three balancing identities.

Each function returns a Plan: the commands per claim (a claim's commands apply together or not at all), the
items the ledger cannot post (kept with the intake, never dropped), the payment facts and, for an 835 that
does not balance, the reason to quarantine it whole.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid5

from pydantic import ValidationError

from domain import commands as c
from domain.money import denial_adjustments
from domain.values import Adjustment
from infra.x12.segments import Transaction, decimal, x12_date

NAMESPACE = UUID("3c9a1f0e-7d2b-5c4e-9f1a-2b3c4d5e6f70")
ACTOR = "x12-import"
PAYER_CLASS = {"MA": "medicare", "MB": "medicare", "16": "medicare", "MC": "medicaid", "09": "self_pay",
               "ZZ": "commercial"}
ICD10 = {"ABK", "ABF"}
ICD9 = {"BK", "BF"}
PAYER_SEQUENCE = {"2": "secondary", "3": "tertiary", "20": "secondary", "21": "tertiary"}  # CLP02 "processed as"
ACCEPTED_277 = {"A1", "A2"}
REJECTED_277 = {"A3", "A4", "A6", "A7", "A8"}


@dataclass
class ClaimPlan:
    label: str  # the claim number as the file has it
    commands: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why it cannot be posted at all (kept as an item)
    unmatched: bool = False
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    kind: str
    key: str
    tx: Transaction
    at: datetime
    claims: list[ClaimPlan] = field(default_factory=list)
    payment: dict[str, Any] = field(default_factory=dict)
    provider_adjustments: list[dict[str, Any]] = field(default_factory=list)
    quarantine: str = ""
    notes: list[str] = field(default_factory=list)
    batch: tuple[str, str] | None = None  # an 837's (GS06, ST02): what a 999 names

    @property
    def envelope(self) -> dict[str, Any]:
        t = self.tx
        return {"set": t.set_id, "version": t.version, "interchange": t.interchange_control,
                "group": t.group_control, "transaction": t.control, "sender": t.sender, "receiver": t.receiver,
                "usage": t.usage, "created": t.created.isoformat()}


def money(value: str, where: str) -> Decimal:
    return decimal(value.strip() or "0", where).quantize(Decimal("0.01"))


def el(segment: list[str], i: int) -> str:
    return segment[i].strip() if len(segment) > i else ""


def key(*parts: Any) -> UUID:
    return uuid5(NAMESPACE, "|".join(str(p) for p in parts))


PSEUDONYMIZED = "PSEUDONYMIZED"  # the subscriber name the ledger's own 837P carries: its member id is our key


def pseudonym(payer: str, member: str, patient: str = "") -> str:
    """A patient key that identifies without naming: a hash of the payer's member id (minimum necessary).
    The ledger's own 837P exports carry the key itself as member id, under the name PSEUDONYMIZED."""
    if patient == PSEUDONYMIZED:
        return member
    return "p-" + hashlib.sha256(f"{payer}|{member}|{patient}".encode()).hexdigest()[:16]


def day_of(segment: list[str]) -> date | None:
    """DTP/DTM dates: D8 CCYYMMDD, RD8 CCYYMMDD-CCYYMMDD (the first), DTM CCYYMMDD in element 2."""
    value = el(segment, 3) if segment[0] == "DTP" else el(segment, 2)
    try:
        return x12_date(value.split("-")[0][:8]).date() if value else None
    except ValueError:
        return None


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=timezone.utc)


def explain(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" + (f" ({len(error.errors()) - 1} more)" if len(error.errors()) > 1 else "")


# ---------------------------------------------------------------- 837 -> coded, submitted


def created(plan: Plan, bht: list[str]) -> None:
    """BHT04/05: when the sender created the transaction, the business time of what it reports."""
    try:
        plan.at = x12_date(el(bht, 4), el(bht, 5))
    except ValueError:
        plan.notes.append(f"BHT04 {el(bht, 4)!r} is not a date: the group date is used")


def diagnoses_of(hi: list[str], component: str, notes: list[str]) -> list[str]:
    out: list[str] = []
    values = hi[1:]
    i = 0
    while i < len(values):
        parts = values[i].split(component)
        if len(parts) == 1 and parts[0] in ICD10 | ICD9 and i + 1 < len(values) and component not in values[i + 1]:
            notes.append(f"HI{i + 1:02d}: qualifier {parts[0]} and code {values[i + 1]} in separate elements; "
                         f"read as {parts[0]}{component}{values[i + 1]}")
            parts = [parts[0], values[i + 1]]
            i += 1
        i += 1
        if len(parts) >= 2 and parts[0] in ICD10 | ICD9 and parts[1]:
            if parts[0] in ICD9 and not any("ICD-9" in n for n in notes):
                notes.append("ICD-9-CM diagnoses (qualifier BK/BF): accepted but flagged; 5010 claims with dates "
                             "of service after 2015-09-30 use ICD-10-CM (ABK/ABF)")
            out.append(parts[1])
    return out


def read_837(tx: Transaction, opened_under_tax_id: Callable[[str, str, str], str | None] = lambda n, npi, tin: None
             ) -> Plan:
    """`opened_under_tax_id(claim number, billing NPI, billing tax id)` names the key of a claim an 835 opened
    under the billing provider's tax id (its payee gave no NPI), to attach this 837's claim to instead."""
    comp = tx.delimiters.component
    plan = Plan(kind=tx.kind, key=f"{tx.kind}|{tx.sender}|{tx.interchange_control}|{tx.group_control}|{tx.control}"
                f"|{tx.digest()[:16]}", tx=tx, at=tx.created, batch=(tx.group_control, tx.control))
    billing_npi = billing_tin = payer_id = member = sequence = filing = patient = level = ""
    claim: dict[str, Any] | None = None
    line: dict[str, Any] | None = None
    in_other_payer = False
    ordinal = 0

    def finish() -> None:
        nonlocal claim
        if claim is not None:
            plan.claims.append(plan_837_claim(tx, claim, plan.at, ordinal, opened_under_tax_id))
        claim = None

    for seg in tx.segments:
        sid = seg[0]
        if sid == "BHT":
            created(plan, seg)
        elif sid == "HL":
            finish()
            level = el(seg, 3)
            if level == "20":
                billing_npi = billing_tin = ""
            elif level == "22":
                member = patient = payer_id = ""
            elif level == "23":
                patient = ""
            in_other_payer = False
        elif sid == "NM1" and claim is None:
            if el(seg, 1) == "85" and el(seg, 8) == "XX":
                billing_npi = el(seg, 9)
            elif el(seg, 1) == "IL":
                member = el(seg, 9)
                patient = PSEUDONYMIZED if el(seg, 3) == PSEUDONYMIZED else ""
            elif el(seg, 1) == "PR":
                payer_id = el(seg, 9) or el(seg, 3)
            elif el(seg, 1) == "QC":
                patient = " ".join(filter(None, (el(seg, 3), el(seg, 4), el(seg, 9))))
        elif sid == "SBR" and claim is None:
            sequence, filing = el(seg, 1), el(seg, 9)
        elif sid == "REF" and claim is None and el(seg, 1) == "EI" and level == "20":
            billing_tin = el(seg, 2)  # 2010AA: the billing provider's tax id
        elif sid == "CLM":
            finish()
            ordinal += 1
            line, in_other_payer = None, False
            claim = {"number": el(seg, 1), "total": el(seg, 2), "clm05": el(seg, 5).split(comp),
                     "billing_npi": billing_npi, "billing_tin": billing_tin, "payer_id": payer_id,
                     "sequence": sequence, "filing": filing,
                     "patient": pseudonym(payer_id, member, patient), "diagnoses": [], "lines": [],
                     "rendering": "", "dates": [], "notes": [], "other_payers": 0}
        elif claim is not None:
            if sid == "SBR":
                in_other_payer = True
                claim["other_payers"] += 1
            elif sid == "HI" and line is None:
                claim["diagnoses"] += diagnoses_of(seg, comp, claim["notes"])
            elif sid == "NM1" and el(seg, 1) == "82" and el(seg, 8) == "XX" and line is None and not in_other_payer:
                claim["rendering"] = el(seg, 9)
            elif sid == "DTP" and line is None and el(seg, 1) in ("472", "434", "431"):
                if (d := day_of(seg)) is not None:
                    claim["dates"].append((el(seg, 1), d))
            elif sid == "LX":
                line = {"number": el(seg, 1)}
                claim["lines"].append(line)
            elif sid in ("SV1", "SV2") and line is not None:
                line["segment"] = seg
            elif sid == "DTP" and line is not None and el(seg, 1) == "472":
                line["date"] = day_of(seg)
    finish()
    return plan


def plan_837_claim(tx: Transaction, claim: dict[str, Any], at: datetime, ordinal: int,
                   opened_under_tax_id: Callable[[str, str, str], str | None]) -> ClaimPlan:
    comp = tx.delimiters.component
    plan = ClaimPlan(label=claim["number"], notes=claim["notes"])
    if len(claim["number"]) > c.BILLED_CLAIM_NUMBER_MAX:
        plan.error = (f"CLM01 {claim['number']!r} has {len(claim['number'])} characters; an 837 allows at most "
                      f"{c.BILLED_CLAIM_NUMBER_MAX} (5010 TR3 patient control number)")
        return plan
    claim_day = next((d for q, d in claim["dates"] if q in ("472", "434")), None)
    lines = []
    for ln in claim["lines"]:
        seg = ln.get("segment")
        if seg is None:
            plan.error = f"service line {ln['number']} has no SV1/SV2"
            return plan
        revenue: dict[str, str] = {}
        if seg[0] == "SV1":
            procedure = el(seg, 1).split(comp)
            charge, units, pointers = el(seg, 2), el(seg, 4) or "1", el(seg, 7)
        else:  # SV2: revenue code, then the HCPCS composite
            procedure = el(seg, 2).split(comp) if el(seg, 2) else ["", ""]
            charge, units, pointers = el(seg, 3), el(seg, 5) or "1", ""
            revenue = {"revenue_code": el(seg, 1)}
            if len(procedure) < 2 or not procedure[1]:
                plan.error = (f"service line {ln['number']}: revenue code {el(seg, 1)} without a HCPCS code; the "
                              f"ledger codes lines by CPT/HCPCS")
                return plan
        service_date = ln.get("date") or claim_day or at.date()
        lines.append({"procedure": procedure[1] if len(procedure) > 1 else "", "modifiers": procedure[2:6],
                      "units": units, "charge": charge, "service_date": service_date.isoformat(),
                      "pointers": [int(p) for p in pointers.split(comp) if p.isdigit()] or [1], **revenue})
    clm05 = claim["clm05"] + ["", "", ""]
    where = where_performed(tx.kind, clm05, plan.notes)
    billing = claim["billing_npi"]
    if not billing:
        plan.error = "no billing provider NPI (2010AA NM1*85 with qualifier XX)"
        return plan
    sequence = {"P": "primary", "S": "secondary", "T": "tertiary"}.get(claim["sequence"])
    if sequence is None:
        plan.error = (f"payer responsibility {claim['sequence']!r} (SBR01): the ledger follows primary, secondary "
                      f"and tertiary")
        return plan
    opened_as = opened_under_tax_id(claim["number"], billing, claim["billing_tin"])
    if opened_as:
        plan.notes.append(f"attached to claim {claim['number']} an 835 opened under tax id {claim['billing_tin']}")
        billing = opened_as
    common = {"claim_number": claim["number"], "billing_npi": billing, "effective_at": at.isoformat(),
              "actor": ACTOR, "source": f"x12:{tx.kind} {tx.control}"}
    try:
        code = c.COMMAND.validate_python({
            **common, "type": "code_claim", "command_id": str(key(tx.kind, "code", billing, claim["number"])),
            "rendering_npi": claim["rendering"] if len(claim["rendering"]) == 10 else None,
            "payer_id": claim["payer_id"] or "unknown", "payer_class": PAYER_CLASS.get(claim["filing"], "commercial"),
            "patient_key": claim["patient"], **where, "diagnoses": claim["diagnoses"],
            "lines": lines, "total_charge": claim["total"]})
        submit = c.COMMAND.validate_python({
            **common, "type": "submit_claim",
            "command_id": str(key("837", tx.interchange_control, tx.group_control, tx.control, ordinal,
                                  claim["number"])),
            "frequency": clm05[2] or "1", "payer_sequence": sequence, "payer_id": claim["payer_id"] or None,
            "already_sent": True,
            "interchange_control_number": tx.interchange_control,
            "group_control_number": tx.group_control if tx.group_control.isdigit() else "",
            "transaction_control_number": tx.control if len(tx.control) <= 9 else ""})
    except ValidationError as error:
        plan.error = explain(error)
        return plan
    plan.commands = [code, submit]
    plan.facts = {"billing_npi": billing, "charge": str(code.total_charge), "lines": len(lines)}
    return plan


def where_performed(kind: str, clm05: list[str], notes: list[str]) -> dict[str, str]:
    """CLM05-1: an 837P's place of service; an 837I's facility type code (with CLM05-3, the type of bill), which
    is no place of service even where the digits look alike (11 is inpatient hospital, not an office)."""
    if kind != "837I":
        return {"place_of_service": clm05[0]}
    if clm05[1] != "A":
        notes.append(f"CLM05-2 {clm05[1]!r} on an 837I (the TR3 has A, uniform billing bill type): CLM05-1 "
                     f"{clm05[0]} read as the facility type code")
    return {"facility_type_code": clm05[0]}


# ---------------------------------------------------------------- 835 -> paid, denied, reversed


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


def read_835(tx: Transaction, lookup: Callable[[str, str], Any], strict: bool = False) -> Plan:
    """`lookup(claim_number, payee_npi)` returns the ledger's claim or None."""
    comp = tx.delimiters.component
    plan = Plan(kind="835", key="", tx=tx, at=tx.created)
    payee = {"npi": "", "tin": "", "name": ""}
    payer = {"name": "", "id": ""}
    bpr: list[str] = []
    trace: list[str] = []
    clps: list[Clp] = []
    current: Clp | None = None
    line: dict[str, Any] | None = None
    plb: list[dict[str, Any]] = []
    production: date | None = None
    entity = ""
    try:
        for n, seg in enumerate(tx.segments, start=tx.first_segment):
            sid = seg[0]
            where = f"segment {n} ({sid})"
            if sid == "BPR":
                bpr = seg
            elif sid == "TRN" and not trace:
                trace = seg
            elif sid == "DTM" and el(seg, 1) == "405" and current is None:
                production = day_of(seg)
            elif sid == "N1":
                entity = el(seg, 1)
                if entity == "PR":
                    payer["name"] = el(seg, 2)
                elif entity == "PE":
                    payee["name"] = el(seg, 2)
                    payee["npi" if el(seg, 3) == "XX" else "tin" if el(seg, 3) == "FI" else "other"] = el(seg, 4)
            elif sid == "REF" and el(seg, 1) == "2U" and entity == "PR" and current is None:
                payer["id"] = el(seg, 2)
            elif sid == "CLP":
                current, line = Clp(seg), None
                clps.append(current)
            elif sid == "PLB":
                current, line = None, None
                for i in range(3, len(seg), 2):
                    if el(seg, i):
                        reason = el(seg, i).split(comp)
                        plb.append({"provider": el(seg, 1), "fiscal_period": el(seg, 2), "reason": reason[0],
                                    "reference": reason[1] if len(reason) > 1 else "",
                                    "amount": money(el(seg, i + 1), f"{where} PLB{i + 1:02d}")})
            elif sid == "LX":
                current, line = None, None
            elif current is not None:
                if sid == "SVC":
                    line = {"segment": seg, "adjustments": [], "remarks": [], "ref": "", "date": None}
                    current.lines.append(line)
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
    except ValueError as error:  # an amount X12 does not allow: held whole, under its trace when it has one
        plan.quarantine = str(error)
    if not bpr or not trace:
        plan.quarantine = plan.quarantine or ("no BPR or TRN segment: an 835 without its payment and trace cannot "
                                              "be posted")
        plan.key = f"835|{tx.sender}|{tx.interchange_control}|{tx.control}"
        return plan
    payer_id = payer["id"] or el(trace, 3) or payer["name"] or "unknown"
    paid_on = day_of(["DTM", "", el(bpr, 16)]) if el(bpr, 16) else None
    plan.at = noon(paid_on or production or tx.created.date())
    plan.key = f"835|{payer_id}|{el(trace, 2)}|{el(bpr, 16)}"  # a fixed re-send keeps its trace, not its amounts
    if plan.quarantine:
        return plan
    try:
        total = money(el(bpr, 2), "BPR02")
        plan.payment = {"trace": el(trace, 2), "payer_id": payer_id, "payer": payer["name"],
                        "handling": el(bpr, 1), "amount": str(total), "credit_debit": el(bpr, 3),
                        "method": el(bpr, 4), "paid_on": paid_on.isoformat() if paid_on else "",
                        "payee": payee["name"], "payee_npi": payee["npi"], "payee_tin": payee["tin"]}
        plan.provider_adjustments = [{**a, "amount": str(a["amount"])} for a in plb]
        balance(clps, plb, total, comp)
    except ValueError as error:
        plan.quarantine = str(error)
        return plan
    opened: dict[str, str] = {}  # claim number in the file -> last CLP02 seen in this remittance
    for ordinal, clp in enumerate(clps, start=1):
        plan.claims.append(plan_clp(tx, plan, clp, ordinal, payee, payer_id, lookup, strict, opened, comp))
    return plan


def balance(clps: list[Clp], plb: list[dict[str, Any]], total_paid: Decimal, comp: str) -> None:
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
             lookup: Callable[[str, str], Any], strict: bool, opened: dict[str, str], comp: str) -> ClaimPlan:
    seg = clp.segment
    number, status = el(seg, 1), el(seg, 2)
    charge, paid, patient = (money(el(seg, i), f"CLP0{i}") for i in (3, 4, 5))
    icn = el(seg, 7) or f"{plan.payment['trace']}/{ordinal}"
    out = ClaimPlan(label=number, facts={"status_code": status, "charge": str(charge), "paid": str(paid),
                                         "patient_responsibility": str(patient), "payer_claim_control_number": icn})
    if status == "25":
        out.notes.append("predetermination (CLP02 25): pricing only, no claim event; kept with the remittance")
        out.unmatched = True
        return out
    previous = opened.get(number)
    if previous is not None and previous != "22" and status != "22":
        # The same patient control number on another claim in this remittance (an account number used as
        # PCN): a claim of its own, numbered after its place in the remittance.
        suffix = f"-{ordinal}"
        # up to 20 characters the number is cut as it always was (claims opened so keep their ids)
        number = (number[:16] if len(number) <= c.BILLED_CLAIM_NUMBER_MAX
                  else number[:c.CLAIM_NUMBER_MAX - len(suffix)]) + suffix
        out.label = number
        out.notes.append(f"patient control number {el(seg, 1)} repeats in this remittance: claim {number}")
    claim = lookup(number, payee["npi"])
    lines = claim.lines if claim is not None else None
    billing = claim.billing_npi if claim is not None else next(
        (v for v in (payee["npi"], clp.rendering) if len(v) == 10 and v.isdigit()), "")
    if not billing and len(payee["tin"]) == 9 and payee["tin"].isdigit():
        billing = f"TIN-{payee['tin']}"
    opened[el(seg, 1)] = status
    if claim is None:
        if status == "22":
            out.error = f"reversal (CLP02 22) of payment {icn} for a claim the ledger never recorded"
            out.unmatched = True
            return out
        if strict:
            out.error = "no such claim in the ledger (--strict keeps it as an unmatched item)"
            out.unmatched = True
            return out
        if not billing:
            out.error = "the payee has neither an NPI nor a tax id (N1*PE): cannot open the claim"
            out.unmatched = True
            return out
    common = {"claim_number": number, "billing_npi": billing, "effective_at": plan.at.isoformat(), "actor": ACTOR,
              "source": f"x12:835 trace {plan.payment['trace']}"}
    try:
        if lines is None:
            days = [d for d in (ln["date"] for ln in clp.lines) if d] or clp.dates or [plan.at.date()]
            out.commands.append(c.COMMAND.validate_python({
                **common, "type": "open_from_remittance",
                "payer_id": payer_id, "payer_class": PAYER_CLASS.get(el(seg, 6), "commercial"),
                "payer_sequence": PAYER_SEQUENCE.get(status, "primary"),
                "patient_key": pseudonym(payer_id, clp.patient), "total_charge": str(charge),
                "rendering_npi": clp.rendering if len(clp.rendering) == 10 else None,
                "service_date": min(days).isoformat(),
                "origin": f"835 trace {plan.payment['trace']} of payer {payer_id}: no coding or submission known",
                "lines": [{"procedure": (el(ln["segment"], 1).split(comp) + [""])[1] or el(ln["segment"], 1),
                           "modifiers": el(ln["segment"], 1).split(comp)[2:6],
                           "charge": str(money(el(ln["segment"], 2), "SVC02")),
                           "units": billed_units(ln["segment"]),
                           "service_date": ln["date"].isoformat() if ln["date"] else None} for ln in clp.lines]}))
            numbers = list(range(1, len(clp.lines) + 1))
        else:
            numbers = match_lines(clp.lines, lines, comp)
        if status == "22":
            out.commands.append(c.COMMAND.validate_python({
                **common, "type": "reverse_payment", "payer_claim_control_number": icn,
                "command_id": str(key("835", payer_id, plan.payment["trace"], ordinal, "22"))}))
            return out
        adjustments = [{"group": g, "carc": r, "amount": str(a), "line": None} for g, r, a in clp.adjustments]
        line_paid = []
        for number_, ln in zip(numbers, clp.lines):
            adjustments += [{"group": g, "carc": r, "amount": str(a), "line": number_} for g, r, a in ln["adjustments"]]
            line_paid.append({"line": number_, "paid": str(money(el(ln["segment"], 3), "SVC03"))})
        billed = {number_: money(el(ln["segment"], 2), "SVC02") for number_, ln in zip(numbers, clp.lines)}
        denied = any(a.amount > 0 for a in denial_adjustments(
            [Adjustment(a["group"], a["carc"], Decimal(a["amount"]), a["line"]) for a in adjustments], charge, billed))
        kind = "record_payment" if paid > 0 or (not denied and status != "4") else "record_denial"
        out.commands.append(c.COMMAND.validate_python({
            **common, "type": kind, "status_code": status,
            "command_id": str(key("835", payer_id, plan.payment["trace"], ordinal, status)),
            "payer_claim_control_number": icn, "charge": str(charge), "paid": str(paid),
            "patient_responsibility": str(patient), "adjustments": adjustments, "line_paid": line_paid,
            "remark_codes": clp.remarks + [r for ln in clp.lines for r in ln["remarks"]],
            "trace_number": plan.payment["trace"]}))
    except (ValidationError, ValueError) as error:
        out.commands = []
        out.error = explain(error) if isinstance(error, ValidationError) else str(error)
    return out


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


# ---------------------------------------------------------------- 999 and 277CA -> accepted, rejected


def read_999(tx: Transaction, batch: Callable[[str, str], list[tuple[str, str]]]) -> Plan:
    """`batch(group_control, transaction_control)` lists the (billing NPI, claim number) an 837 sent."""
    plan = Plan(kind="999", key=f"999|{tx.sender}|{tx.interchange_control}|{tx.group_control}|{tx.control}",
                tx=tx, at=tx.created)
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


def read_277(tx: Transaction, lookup: Callable[[str, str], Any]) -> Plan:
    comp = tx.delimiters.component
    plan = Plan(kind="277CA", key=f"277CA|{tx.sender}|{tx.interchange_control}|{tx.group_control}|{tx.control}",
                tx=tx, at=tx.created)
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

