"""Synthetic X12 files for tests and benchmarks: an 835 that pays or denies given claims (balanced, or not on
request), a 999 and a 277CA answering an 837. The real sample files in ../shared/data/x12 are the other input."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

Z = Decimal("0.00")


def answer_day() -> date:
    """When a synthetic 835, 999 or 277CA is dated unless told: tomorrow, after any 837 the ledger exports today (an
    answer is never dated before the submission it answers)."""
    return datetime.now(timezone.utc).date() + timedelta(days=1)


@dataclass
class Line:
    procedure: str
    charge: Decimal
    paid: Decimal
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)
    ref: str = ""
    service_date: date | None = None
    modifiers: tuple[str, ...] = ()  # SVC01-3..6
    units_paid: str = "1"  # SVC05
    original_units: str = ""  # SVC07, when the payer paid other units than billed


@dataclass
class Remit:
    claim_number: str
    status: str  # CLP02
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    icn: str
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)  # claim level
    lines: list[Line] = field(default_factory=list)
    filing: str = "12"  # CLP06: preferred provider organization (commercial)


def envelope(functional: str, version: str, body: list[list[str]], control: int, sender: str = "PAYER",
             receiver: str = "PROVIDER", on: date | None = None) -> str:
    isa13, on = f"{control:09d}", on or answer_day()
    segments = [
        ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15), f"{on:%y%m%d}",
         "1200", "^", "00501", isa13, "0", "T", ":"],
        ["GS", functional, sender, receiver, f"{on:%Y%m%d}", "1200", str(control), "X", version],
        *body,
        ["GE", "1", str(control)], ["IEA", "1", isa13]]
    return "".join("*".join(s) + "~\n" for s in segments)


def money(amount: Decimal) -> str:
    return f"{amount.normalize():f}"


def cas(group: str, adjustments: list[tuple[str, str, Decimal]]) -> list[list[str]]:
    return [["CAS", g, carc, money(a)] for g, carc, a in adjustments if g == group]


def remittance(remits: list[Remit], *, trace: str = "TRACE1", payer_id: str = "1999999999", payee_npi: str = "",
               payee_tin: str = "123456789", paid_on: date | None = None, control: int = 1,
               provider_adjustments: list[tuple[str, Decimal]] = (), bpr_off_by: Decimal = Z) -> str:
    """An 005010X221A1 835 for the given claims; BPR02 balances unless bpr_off_by says otherwise."""
    paid_on = paid_on or answer_day()
    total = sum((r.paid for r in remits), Z) - sum((a for _, a in provider_adjustments), Z) + bpr_off_by
    payee = ["N1", "PE", "BILLING PROVIDER", "XX", payee_npi] if payee_npi else \
        ["N1", "PE", "BILLING PROVIDER", "FI", payee_tin]
    body: list[list[str]] = [
        ["ST", "835", "0001"],
        ["BPR", "I", money(total), "C", "ACH", "CCP", "01", "011000015", "DA", "123456", "1512345678", "",
         "01", "011000015", "DA", "654321", paid_on.strftime("%Y%m%d")],
        ["TRN", "1", trace, "1" + payer_id[-9:]],
        ["DTM", "405", paid_on.strftime("%Y%m%d")],
        ["N1", "PR", "SYNTHETIC PAYER"], ["N3", "1 PAYER WAY"], ["N4", "HARTFORD", "CT", "061011234"],
        ["REF", "2U", payer_id],
        ["PER", "BL", "PROVIDER SERVICES", "TE", "8005551212"],
        payee, ["N3", "12 MAIN ST"], ["N4", "SPRINGFIELD", "IL", "627011234"],
        ["LX", "1"],
    ]
    for r in remits:
        body.append(["CLP", r.claim_number, r.status, money(r.charge), money(r.paid), money(r.patient_responsibility),
                     r.filing, r.icn, "11", "1"])
        for group in ("CO", "OA", "PI", "PR"):
            body += cas(group, r.adjustments)
        body.append(["NM1", "QC", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", "M" + r.claim_number[-8:]])
        for ln in r.lines:
            svc = ["SVC", ":".join(("HC", ln.procedure, *ln.modifiers)), money(ln.charge), money(ln.paid), "",
                   ln.units_paid]
            body.append(svc + (["", ln.original_units] if ln.original_units else []))
            if ln.service_date:
                body.append(["DTM", "472", ln.service_date.strftime("%Y%m%d")])
            for group in ("CO", "OA", "PI", "PR"):
                body += cas(group, ln.adjustments)
            if ln.ref:
                body.append(["REF", "6R", ln.ref])
    if provider_adjustments:
        plb = ["PLB", payee_npi or payee_tin, paid_on.strftime("%Y%m%d")]
        for reason, amount in provider_adjustments:
            plb += [reason, money(amount)]
        body.append(plb)
    body.append(["SE", str(len(body) + 1), "0001"])
    return envelope("HP", "005010X221A1", body, control)


def ack_999(group_control: str, set_control: str, accepted: bool, control: int = 7) -> str:
    body = [["ST", "999", "0001", "005010X231A1"], ["AK1", "HC", group_control, "005010X222A1"],
            ["AK2", "837", set_control, "005010X222A1"]]
    if not accepted:
        body += [["IK3", "CLM", "15", "", "8"], ["IK4", "2", "782", "1"]]
    body += [["IK5", "A" if accepted else "R", *([] if accepted else ["5"])],
             ["AK9", "A" if accepted else "R", "1", "1", "1" if accepted else "0"]]
    body.append(["SE", str(len(body) + 1), "0001"])
    return envelope("FA", "005010X231A1", body, control, sender="CLEARINGHOUSE", receiver="RCMLEDGER")


def ack_277(npi: str, claims: list[tuple[str, str, Decimal]], control: int = 9) -> str:
    """claims: (claim number, STC category code such as A2 or A7, billed)."""
    day = f"{answer_day():%Y%m%d}"
    body = [["ST", "277", "0001", "005010X214"], ["BHT", "0085", "08", "BATCH1", day, "0900", "TH"],
            ["HL", "1", "", "20", "1"], ["NM1", "PR", "2", "SYNTHETIC PAYER", "", "", "", "", "PI", "12345"],
            ["TRN", "1", "ACK1"], ["DTP", "050", "D8", day], ["DTP", "009", "D8", day],
            ["HL", "2", "1", "21", "1"], ["NM1", "41", "2", "RCM LEDGER", "", "", "", "", "46", "RCMLEDGER"],
            ["TRN", "2", "BATCH1"], ["STC", "A1:20", day, "WQ", "0"],
            ["HL", "3", "2", "19", "1"], ["NM1", "85", "2", "BILLING PROVIDER", "", "", "", "", "XX", npi],
            ["TRN", "1", "0"], ["STC", "A1:20", "", "WQ", "0"]]
    hl = 3
    for number, category, billed in claims:
        hl += 1
        body += [["HL", str(hl), "3", "PT"], ["NM1", "QC", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", "M1"],
                 ["TRN", "2", number], ["STC", f"{category}:20", day, "WQ", money(billed)],
                 ["REF", "1K", f"PAYER{number}"], ["DTP", "472", "D8", "20261101"]]
    body.append(["SE", str(len(body) + 1), "0001"])
    return envelope("HN", "005010X214", body, control, sender="PAYER", receiver="RCMLEDGER")


def random_remits(count: int, seed: int = 1) -> list[Remit]:
    """Claims as a payer adjudicates them: mostly paid with contractual and patient share, ~10% denied."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lines = []
        for n in range(rng.choice((1, 1, 2, 2, 3))):
            charge = Decimal(rng.choice((85, 110, 145, 210, 320))).quantize(Decimal("0.01"))
            if rng.random() < 0.1:
                lines.append(Line(rng.choice(("99213", "99214", "80053")), charge, Z,
                                  [("CO", rng.choice(("16", "197", "50", "29")), charge)], str(n + 1)))
                continue
            allowed = (charge * Decimal(rng.choice(("0.55", "0.62", "0.7")))).quantize(Decimal("0.01"))
            share = (allowed * Decimal("0.2")).quantize(Decimal("0.01"))
            lines.append(Line(rng.choice(("99213", "99214", "80053", "36415")), charge, allowed - share,
                              [("CO", "45", charge - allowed), ("PR", "2", share)], str(n + 1)))
        charge = sum((ln.charge for ln in lines), Z)
        paid = sum((ln.paid for ln in lines), Z)
        pr = sum((a for ln in lines for g, _, a in ln.adjustments if g == "PR"), Z)
        out.append(Remit(f"G{i:08d}", "1" if paid > 0 else "4", charge, paid, pr, f"ICN{i:010d}", lines=lines))
    return out
