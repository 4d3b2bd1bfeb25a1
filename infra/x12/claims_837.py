"""837P and 837I claims in the ledger's terms: each CLM becomes a code_claim and a submit_claim (already sent),
applied together or not at all; a claim the ledger cannot take is kept as an item with its reason."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from domain import commands as c
from infra.x12.plan import (ACTOR, PAYER_CLASS, PSEUDONYMIZED, ClaimPlan, PatientKeys, Plan, created, day_of, el,
                            explain, key, transaction_key)
from infra.x12.segments import Transaction

ICD10 = {"ABK", "ABF"}
ICD9 = {"BK", "BF"}
PAYER_RESPONSIBILITY = {"P": "primary", "S": "secondary", "T": "tertiary"}  # SBR01


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


@dataclass
class ClaimsReading:
    """The 837's loops as read so far: billing provider (HL 20), subscriber and payer (HL 22), patient (HL 23),
    the open claim (2300) and its current service line (2400)."""
    component: str
    patient_keys: PatientKeys
    level: str = ""
    billing_npi: str = ""
    billing_tin: str = ""
    payer_id: str = ""
    member: str = ""
    patient: str = ""
    sequence: str = ""
    filing: str = ""
    claim: dict[str, Any] | None = None
    line: dict[str, Any] | None = None
    in_other_payer: bool = False

    def read(self, seg: list[str]) -> dict[str, Any] | None:
        """Takes one segment; returns the claim it closes, if it closes one."""
        if seg[0] in ("HL", "CLM"):
            done = self.close()
            if seg[0] == "HL":
                self.enter_hierarchy(seg)
            else:
                self.open_claim(seg)
            return done
        if self.claim is None:
            self.read_parties(seg)
        else:
            self.read_claim(seg, self.claim)
        return None

    def close(self) -> dict[str, Any] | None:
        done, self.claim = self.claim, None
        return done

    def enter_hierarchy(self, hl: list[str]) -> None:
        self.level = el(hl, 3)
        if self.level == "20":
            self.billing_npi = self.billing_tin = ""
        elif self.level == "22":
            self.member = self.patient = self.payer_id = ""
        elif self.level == "23":
            self.patient = ""
        self.in_other_payer = False

    def read_parties(self, seg: list[str]) -> None:
        sid, entity = seg[0], el(seg, 1)
        if sid == "NM1" and entity == "85" and el(seg, 8) == "XX":
            self.billing_npi = el(seg, 9)
        elif sid == "NM1" and entity == "IL":
            self.member = el(seg, 9)
            self.patient = PSEUDONYMIZED if el(seg, 3) == PSEUDONYMIZED else ""
        elif sid == "NM1" and entity == "PR":
            self.payer_id = el(seg, 9) or el(seg, 3)
        elif sid == "NM1" and entity == "QC":
            self.patient = " ".join(filter(None, (el(seg, 3), el(seg, 4), el(seg, 9))))
        elif sid == "SBR":
            self.sequence, self.filing = el(seg, 1), el(seg, 9)
        elif sid == "REF" and entity == "EI" and self.level == "20":
            self.billing_tin = el(seg, 2)  # 2010AA: the billing provider's tax id

    def open_claim(self, clm: list[str]) -> None:
        self.line, self.in_other_payer = None, False
        self.claim = {"number": el(clm, 1), "total": el(clm, 2), "clm05": el(clm, 5).split(self.component),
                      "billing_npi": self.billing_npi, "billing_tin": self.billing_tin, "payer_id": self.payer_id,
                      "sequence": self.sequence, "filing": self.filing,
                      "patient": self.patient_keys(self.payer_id, self.member, self.patient), "diagnoses": [],
                      "lines": [], "rendering": "", "dates": [], "notes": [], "other_payers": 0}

    def read_claim(self, seg: list[str], claim: dict[str, Any]) -> None:
        sid, line = seg[0], self.line
        if sid == "SBR":
            self.in_other_payer = True
            claim["other_payers"] += 1
        elif sid == "HI" and line is None:
            claim["diagnoses"] += diagnoses_of(seg, self.component, claim["notes"])
        elif sid == "NM1" and el(seg, 1) == "82" and el(seg, 8) == "XX" and line is None and not self.in_other_payer:
            claim["rendering"] = el(seg, 9)
        elif sid == "DTP" and line is None and el(seg, 1) in ("472", "434", "431"):
            if (d := day_of(seg)) is not None:
                claim["dates"].append((el(seg, 1), d))
        elif sid == "LX":
            self.line = {"number": el(seg, 1)}
            claim["lines"].append(self.line)
        elif sid in ("SV1", "SV2") and line is not None:
            line["segment"] = seg
        elif sid == "DTP" and line is not None and el(seg, 1) == "472":
            line["date"] = day_of(seg)


def read_837(tx: Transaction, patient_keys: PatientKeys,
             opened_under_tax_id: Callable[[str, str, str], str | None] = lambda n, npi, tin: None) -> Plan:
    """`opened_under_tax_id(claim number, billing NPI, billing tax id)` names the key of a claim an 835 opened
    under the billing provider's tax id (its payee gave no NPI), to attach this 837's claim to instead;
    `patient_keys` gives each subscriber's (or patient's) pseudonymous key."""
    plan = Plan(kind=tx.kind, key=f"{transaction_key(tx.kind, tx)}|{tx.digest()[:16]}", tx=tx, at=tx.created,
                batch=(tx.group_control, tx.control))
    for ordinal, claim in enumerate(claims_of(tx, plan, patient_keys), start=1):
        plan.patients.append(claim["patient"].key)
        plan.claims.append(plan_837_claim(tx, claim, plan.at, ordinal, opened_under_tax_id))
    return plan


def claims_of(tx: Transaction, plan: Plan, patient_keys: PatientKeys) -> Iterator[dict[str, Any]]:
    """Each claim as soon as its last segment is read (BHT, read first, sets the plan's business time)."""
    reading = ClaimsReading(tx.delimiters.component, patient_keys)
    for seg in tx.segments:
        if seg[0] == "BHT":
            created(plan, seg)
        elif (claim := reading.read(seg)) is not None:
            yield claim
    if (claim := reading.close()) is not None:
        yield claim


def plan_837_claim(tx: Transaction, claim: dict[str, Any], at: datetime, ordinal: int,
                   opened_under_tax_id: Callable[[str, str, str], str | None]) -> ClaimPlan:
    plan = ClaimPlan(label=claim["number"], notes=claim["notes"], patient=claim["patient"])
    if len(claim["number"]) > c.BILLED_CLAIM_NUMBER_MAX:
        plan.error = (f"CLM01 {claim['number']!r} has {len(claim['number'])} characters; an 837 allows at most "
                      f"{c.BILLED_CLAIM_NUMBER_MAX} (5010 TR3 patient control number)")
        return plan
    lines = service_lines(tx.delimiters.component, claim, at, plan)
    if lines is None:
        return plan
    clm05 = claim["clm05"] + ["", "", ""]
    where = where_performed(tx.kind, clm05, plan.notes)
    billing = claim["billing_npi"]
    if not billing:
        plan.error = "no billing provider NPI (2010AA NM1*85 with qualifier XX)"
        return plan
    sequence = PAYER_RESPONSIBILITY.get(claim["sequence"])
    if sequence is None:
        plan.error = (f"payer responsibility {claim['sequence']!r} (SBR01): the ledger follows primary, secondary "
                      f"and tertiary")
        return plan
    opened_as = opened_under_tax_id(claim["number"], billing, claim["billing_tin"])
    if opened_as:
        plan.notes.append(f"attached to claim {claim['number']} an 835 opened under tax id {claim['billing_tin']}")
        billing = opened_as
    try:
        plan.commands = code_and_submit(tx, claim, at, ordinal, billing, coding={**where, "lines": lines},
                                        submission={"frequency": clm05[2] or "1", "payer_sequence": sequence})
    except ValidationError as error:
        plan.error = explain(error)
        return plan
    plan.facts = {"billing_npi": billing, "charge": str(plan.commands[0].total_charge), "lines": len(lines)}
    return plan


def service_lines(comp: str, claim: dict[str, Any], at: datetime, plan: ClaimPlan) -> list[dict[str, Any]] | None:
    """The claim's lines as the code_claim command has them; None (with the plan's error set) if one is unusable."""
    claim_day = next((d for q, d in claim["dates"] if q in ("472", "434")), None)
    lines = []
    for ln in claim["lines"]:
        seg = ln.get("segment")
        if seg is None:
            plan.error = f"service line {ln['number']} has no SV1/SV2"
            return None
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
                return None
        service_date = ln.get("date") or claim_day or at.date()
        lines.append({"procedure": procedure[1] if len(procedure) > 1 else "", "modifiers": procedure[2:6],
                      "units": units, "charge": charge, "service_date": service_date.isoformat(),
                      "pointers": [int(p) for p in pointers.split(comp) if p.isdigit()] or [1], **revenue})
    return lines


def code_and_submit(tx: Transaction, claim: dict[str, Any], at: datetime, ordinal: int, billing: str, *,
                    coding: dict[str, Any], submission: dict[str, Any]) -> list[Any]:
    """The claim's code_claim (with `coding`: where performed, the lines) and submit_claim (with `submission`:
    frequency, payer sequence), already sent under this file's control numbers."""
    common = {"claim_number": claim["number"], "billing_npi": billing, "effective_at": at.isoformat(),
              "actor": ACTOR, "source": f"x12:{tx.kind} {tx.control}"}
    code = c.COMMAND.validate_python({
        **common, "type": "code_claim", "command_id": str(key(tx.kind, "code", billing, claim["number"])),
        "rendering_npi": claim["rendering"] if len(claim["rendering"]) == 10 else None,
        "payer_id": claim["payer_id"] or "unknown", "payer_class": PAYER_CLASS.get(claim["filing"], "commercial"),
        "patient_key": claim["patient"].key, **coding, "diagnoses": claim["diagnoses"],
        "total_charge": claim["total"]})
    submit = c.COMMAND.validate_python({
        **common, "type": "submit_claim",
        "command_id": str(key("837", tx.interchange_control, tx.group_control, tx.control, ordinal,
                              claim["number"])),
        **submission, "payer_id": claim["payer_id"] or None, "already_sent": True,
        "interchange_control_number": tx.interchange_control,
        "group_control_number": tx.group_control if tx.group_control.isdigit() else "",
        "transaction_control_number": tx.control if len(tx.control) <= 9 else ""})
    return [code, submit]


def where_performed(kind: str, clm05: list[str], notes: list[str]) -> dict[str, str]:
    """CLM05-1: an 837P's place of service; an 837I's facility type code (with CLM05-3, the type of bill), which
    is no place of service even where the digits look alike (11 is inpatient hospital, not an office)."""
    if kind != "837I":
        return {"place_of_service": clm05[0]}
    if clm05[1] != "A":
        notes.append(f"CLM05-2 {clm05[1]!r} on an 837I (the TR3 has A, uniform billing bill type): CLM05-1 "
                     f"{clm05[0]} read as the facility type code")
    return {"facility_type_code": clm05[0]}

