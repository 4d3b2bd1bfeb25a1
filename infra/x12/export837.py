"""`rcm export 837p`: claims that passed scrub as one 005010X222A1 837P, their submission recorded with its
control numbers in the same database transaction that issues those numbers.

The ledger keeps no patient demographics (minimum necessary): the subscriber is written with the claim's
pseudonymous patient key as member id. Billing providers' names, addresses and tax ids come from a JSON file
(`--providers`), because the ledger does not hold them either; a claim whose billing provider is not described
there is not exported, and the reason is reported.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate
from pydantic import BaseModel, ConfigDict, Field

from domain import commands as c
from domain.claim import Claim
from domain.intake import Intake, InterchangeCounter, SubmissionBatch
from domain.ledger import Ledger
from domain.values import claim_id
from infra.x12.plan import PSEUDONYMIZED, key

FILING = {"medicare": "MB", "medicaid": "MC", "commercial": "CI"}
SBR01 = {"primary": "P", "secondary": "S", "tertiary": "T"}


class Provider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    address: str = Field(min_length=1, max_length=55)
    city: str = Field(min_length=2, max_length=30)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    zip: str = Field(pattern=r"^[0-9]{9}$", description="ZIP+4, nine digits (the 837P requires them)")
    tin: str = Field(pattern=r"^[0-9]{9}$", description="employer identification number")


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender_id: str = Field(default="RCMLEDGER", min_length=2, max_length=15)
    receiver_id: str = Field(default="CLEARINGHOUSE", min_length=2, max_length=15)
    submitter_name: str = Field(default="RCM LEDGER", min_length=1, max_length=60)
    submitter_phone: str = Field(default="8005550100", pattern=r"^[0-9]{10}$")
    receiver_name: str = Field(default="CLEARINGHOUSE", min_length=1, max_length=60)
    usage: str = Field(default="P", pattern=r"^[PT]$")


@dataclass
class ExportResult:
    path: str
    interchange: str = ""
    claims: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def r(amount: Decimal) -> str:
    """X12 R (decimal) without trailing zeros: 125.00 -> 125, 12.50 -> 12.5."""
    text = f"{amount.normalize():f}"
    return text


def claim_segments(claim: Claim, hl: int, provider_hl: int) -> list[list[str]]:
    seq = SBR01[claim.payer_sequence] if claim.adjudicated else "P"
    frequency = "7" if claim.adjudicated else "1"
    segs = [
        ["HL", str(hl), str(provider_hl), "22", "0"],
        ["SBR", seq, "18", "", "", "", "", "", "", FILING[claim.payer_class]],
        ["NM1", "IL", "1", PSEUDONYMIZED, "", "", "", "", "MI", claim.patient_key],
        ["NM1", "PR", "2", claim.payer_id[:60], "", "", "", "", "PI", claim.payer_id[:80]],
        ["CLM", claim.claim_number, r(claim.total_charge), "", "", f"{claim.place_of_service}:B:{frequency}",
         "Y", "A", "Y", "Y"],
    ]
    if frequency == "7":
        segs.append(["REF", "F8", claim.payer_claim_control_number])
    hi = ["HI"]
    for i, code in enumerate(claim.diagnoses[:12]):
        icd10 = not code[:1].isdigit()  # ICD-9 codes the ledger holds came from BK/BF files and start with a digit
        hi.append(f"{('ABK' if i == 0 else 'ABF') if icd10 else ('BK' if i == 0 else 'BF')}:{code}")
    segs.append(hi)
    if claim.rendering_npi != claim.billing_npi:
        segs.append(["NM1", "82", "1", "RENDERING", "PROVIDER", "", "", "", "XX", claim.rendering_npi])
    for ln in claim.lines:
        procedure = ":".join(["HC", ln.procedure, *ln.modifiers])
        segs += [["LX", str(ln.number)],
                 ["SV1", procedure, r(ln.charge), "UN", r(ln.units), "", "", ":".join(str(p) for p in ln.pointers)],
                 ["DTP", "472", "D8", ln.service_date.strftime("%Y%m%d")],
                 ["REF", "6R", str(ln.number)]]
    return segs


def interchange(claims: list[Claim], providers: dict[str, Provider], env: Envelope, number: int,
                at: datetime) -> tuple[str, str, str, str]:
    isa13, gs06, st02 = f"{number:09d}", str(number), "0001"
    body: list[list[str]] = [
        ["ST", "837", st02, "005010X222A1"],
        ["BHT", "0019", "00", isa13, at.strftime("%Y%m%d"), at.strftime("%H%M"), "CH"],
        ["NM1", "41", "2", env.submitter_name, "", "", "", "", "46", env.sender_id],
        ["PER", "IC", env.submitter_name, "TE", env.submitter_phone],
        ["NM1", "40", "2", env.receiver_name, "", "", "", "", "46", env.receiver_id],
    ]
    hl = 0
    by_provider: dict[str, list[Claim]] = {}
    for claim in claims:
        by_provider.setdefault(claim.billing_npi, []).append(claim)
    for npi, group in by_provider.items():
        hl += 1
        provider_hl, p = hl, providers[npi]
        body += [["HL", str(hl), "", "20", "1"],
                 ["NM1", "85", "2", p.name, "", "", "", "", "XX", npi],
                 ["N3", p.address], ["N4", p.city, p.state, p.zip], ["REF", "EI", p.tin]]
        for claim in group:
            hl += 1
            body += claim_segments(claim, hl, provider_hl)
    body.append(["SE", str(len(body) + 1), st02])
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", env.sender_id.ljust(15), "ZZ", env.receiver_id.ljust(15),
           at.strftime("%y%m%d"), at.strftime("%H%M"), "^", "00501", isa13, "0", env.usage, ":"]
    gs = ["GS", "HC", env.sender_id, env.receiver_id, at.strftime("%Y%m%d"), at.strftime("%H%M"), gs06, "X",
          "005010X222A1"]
    segments = [isa, gs, *body, ["GE", "1", gs06], ["IEA", "1", isa13]]
    return "".join("*".join(s) + "~\n" for s in segments), isa13, gs06, st02


def ready_claims(ledger: Ledger, numbers: list[tuple[str, str]]) -> Iterator[Claim]:
    for npi, number in numbers:
        claim = ledger.load(claim_id(npi, number), {})
        if claim is not None and claim.status == "ready":
            yield claim


def not_exportable(claim: Claim, providers: dict[str, Provider]) -> str:
    """Why a ready claim is left out of an 837P ("" if it goes in)."""
    if claim.billing_npi not in providers:
        return f"billing provider {claim.billing_npi} has no name, address and tax id in the providers file"
    if claim.payer_class == "self_pay":
        return "self-pay: billed to the patient"
    if len(claim.claim_number) > c.BILLED_CLAIM_NUMBER_MAX:
        return (f"patient control number {claim.claim_number!r} has {len(claim.claim_number)} characters; an 837 "
                f"CLM01 allows at most {c.BILLED_CLAIM_NUMBER_MAX}: void it and code the claim under a shorter "
                f"number")
    if claim.facility_type_code:
        return (f"institutional claim (facility type code {claim.facility_type_code}): an 837P carries professional "
                f"claims only; bill it on an 837I")
    return ""


def submissions(claims: list[Claim], controls: tuple[str, str, str], at: datetime) -> list[Any]:
    """The submit_claim commands of an exported interchange, under its (ISA13, GS06, ST02)."""
    isa13, gs06, st02 = controls
    return [c.COMMAND.validate_python({
        "type": "submit_claim", "claim_number": cl.claim_number, "billing_npi": cl.billing_npi,
        "frequency": "7" if cl.adjudicated else "1",
        "payer_sequence": cl.payer_sequence if cl.adjudicated else "primary",
        "interchange_control_number": isa13, "group_control_number": gs06, "transaction_control_number": st02,
        "effective_at": at.isoformat(), "actor": "x12-export", "source": f"x12:837P {isa13}",
        "command_id": str(key("837", isa13, gs06, st02, i, cl.claim_number))})
        for i, cl in enumerate(claims, start=1)]


def export_record(env: Envelope, out: str, sent: list[list[str]], controls: tuple[str, str, str],
                  at: datetime) -> Intake:
    """The intake that records an exported interchange: its envelope and every claim it carries."""
    isa13, gs06, st02 = controls
    intake = Intake.log("837P", f"837P|{env.sender_id}|{isa13}|{gs06}|{st02}|export", at)
    intake.post(at=at, source=f"rcm export 837p {Path(out).name}",
                envelope={"interchange": isa13, "group": gs06, "transaction": st02, "sender": env.sender_id,
                          "receiver": env.receiver_id, "exported": True}, payment={}, provider_adjustments=[],
                items=[{"claim": n, "outcome": "exported", "reason": "", "notes": [], "events": 1,
                        "commands": ["submit_claim"]} for _, n in sent])
    return intake


def export_837p(ledger: Ledger, candidates: list[tuple[str, str]], out: str, providers: dict[str, Provider],
                env: Envelope | None = None, limit: int = 5000) -> ExportResult:
    """Writes the ready claims among `candidates` (billing NPI, claim number) and records their submission."""
    env = env or Envelope()
    result = ExportResult(out)
    claims: list[Claim] = []
    for claim in ready_claims(ledger, candidates):
        if reason := not_exportable(claim, providers):
            result.skipped.append({"claim": claim.claim_number, "reason": reason})
        elif len(claims) < limit:
            claims.append(claim)
    if not claims:
        return result
    at = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    written: dict[str, Any] = {}

    def also(outcomes: list[Any]) -> Iterator[Aggregate]:
        yield written["counter"]
        yield written["intake"]
        yield written["batch"]

    for _attempt in range(3):
        counter = ledger.load(InterchangeCounter.counter_id(env.sender_id), {}) \
            or InterchangeCounter.start(env.sender_id)
        number = counter.issue()
        text, isa13, gs06, st02 = interchange(claims, providers, env, number, at)
        commands = submissions(claims, (isa13, gs06, st02), at)
        sent = [[cl.billing_npi, cl.claim_number] for cl in claims]
        intake = export_record(env, out, sent, (isa13, gs06, st02), at)
        written.update(counter=counter, intake=intake, batch=SubmissionBatch.list(gs06, st02, sent))
        directory = os.path.dirname(os.path.abspath(out))
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".837p-")
        with os.fdopen(handle, "w", encoding="ascii") as f:
            f.write(text)
        try:
            outcomes = ledger.execute(commands, all_or_nothing=True, also=also)
        except BaseException:
            os.unlink(temp)
            raise
        refused = [o for o in outcomes if o.result == "rejected"]
        if refused:  # another writer moved a claim on meanwhile: leave it out and issue a new number
            os.unlink(temp)
            gone = {o.command.claim_number for o in refused}
            result.skipped += [{"claim": o.command.claim_number, "reason": str(o.error)} for o in refused]
            claims = [cl for cl in claims if cl.claim_number not in gone]
            if not claims:
                return result
            continue
        os.replace(temp, out)
        result.interchange, result.claims = isa13, [cl.claim_number for cl in claims]
        return result
    raise RuntimeError("claims kept changing while the 837P was being recorded; try again")


def load_providers(path: str | None) -> dict[str, Provider]:
    if not path:
        return {}
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {npi: Provider.model_validate(p) for npi, p in raw.items()}
