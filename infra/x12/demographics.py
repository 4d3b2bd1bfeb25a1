"""Who a claim is about, as an 837 or 835 names them (for patient statements): kept only in the PHI store.

One entry per claim, in file order (an 837's CLM, an 835's CLP): the subscriber (2010BA NM1*IL, its N3/N4
address, DMG birth date and sex, the member id) and, when someone else is the patient, the patient (2010CA
NM1*QC and theirs); an 835 names the patient (NM1*QC) and, when another, the insured (NM1*IL), with the ids
the payer gave.
"""
from __future__ import annotations

from typing import Any

from infra.x12.plan import el
from infra.x12.segments import Transaction


def person(nm1: list[str]) -> dict[str, str]:
    return {"last": el(nm1, 3), "first": el(nm1, 4), "middle": el(nm1, 5), "suffix": el(nm1, 7),
            "id_qualifier": el(nm1, 8), "member_id": el(nm1, 9)}


def add_detail(who: dict[str, Any], seg: list[str]) -> None:
    """N3/N4 address and DMG birth date (D8) and sex of the person the last NM1 named."""
    if seg[0] == "N3":
        who["address"] = " ".join(filter(None, (el(seg, 1), el(seg, 2))))
    elif seg[0] == "N4":
        who |= {"city": el(seg, 1), "state": el(seg, 2), "postal_code": el(seg, 3)}
    elif seg[0] == "DMG":
        who |= {"birth_date": el(seg, 2), "sex": el(seg, 3)}


def people_837(tx: Transaction) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    subscriber: dict[str, Any] = {}
    patient: dict[str, Any] | None = None
    current: dict[str, Any] | None = None  # whom the last NM1 of the subscriber or patient loop named
    in_claim = False
    for seg in tx.segments:
        sid = seg[0]
        if sid == "HL":
            in_claim, current = False, None
            if el(seg, 3) == "22":
                subscriber, patient = {}, None
            elif el(seg, 3) == "23":
                patient = {}
        elif sid == "CLM":
            in_claim = True
            out.append({"claim": el(seg, 1), "subscriber": dict(subscriber),
                        "patient": dict(patient) if patient is not None else None})
        elif in_claim:
            continue  # the claim's own loops (other payers' subscribers included) are not this claim's people
        elif sid == "NM1" and el(seg, 1) == "IL":
            subscriber.update(person(seg))
            current = subscriber
        elif sid == "NM1" and el(seg, 1) == "QC" and patient is not None:
            patient.update(person(seg))
            current = patient
        elif sid == "NM1":
            current = None
        elif sid in ("N3", "N4", "DMG") and current is not None:
            add_detail(current, seg)
    return out


def people_835(tx: Transaction) -> list[dict[str, Any]]:
    """NM1*QC and NM1*IL appear only in a CLP's loop (2100), so each belongs to the last CLP read."""
    out: list[dict[str, Any]] = []
    for seg in tx.segments:
        if seg[0] == "CLP":
            out.append({"claim": el(seg, 1), "patient": None, "subscriber": None})
        elif seg[0] == "NM1" and out and el(seg, 1) in ("QC", "IL"):
            out[-1]["patient" if el(seg, 1) == "QC" else "subscriber"] = person(seg)
    return out


def people(tx: Transaction) -> list[dict[str, Any]]:
    """One entry per claim of an 837 or 835 (nothing for an acknowledgment)."""
    return people_837(tx) if tx.set_id == "837" else people_835(tx) if tx.set_id == "835" else []
