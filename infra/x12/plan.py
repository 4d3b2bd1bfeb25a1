"""What every X12 transaction maps to (docs/domain.md §7): a Plan of ledger commands per claim, and the element,
amount, date and key helpers the per-transaction mappings (claims_837, remittance_835, ack_999, ack_277ca) share.

A Plan holds the commands per claim (a claim's commands apply together or not at all), the items the ledger
cannot post (kept with the intake, never dropped), the payment facts and, for an 835 that does not balance, the
reason to quarantine it whole.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from pydantic import ValidationError

from infra.keys import MasterKey
from infra.x12.segments import Transaction, decimal, x12_date

NAMESPACE = UUID("3c9a1f0e-7d2b-5c4e-9f1a-2b3c4d5e6f70")
ACTOR = "x12-import"
PAYER_CLASS = {"MA": "medicare", "MB": "medicare", "16": "medicare", "MC": "medicaid", "09": "self_pay",
               "ZZ": "commercial"}


@dataclass
class ClaimPlan:
    label: str  # the claim number as the file has it
    commands: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why it cannot be posted at all (kept as an item)
    unmatched: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    patient: PatientKey | None = None  # the patient's key, and the unkeyed one earlier releases gave it


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
    patients: list[str] = field(default_factory=list)  # each claim's patient key, in file order (CLM, CLP)

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


KEYED, LEGACY = "pk-", "p-"  # the prefixes of the keyed patient keys and of the unkeyed ones before them


@dataclass(frozen=True)
class PatientKey:
    key: str  # what the ledger records now
    legacy: str  # what releases before the keyed pseudonym recorded for the same member (a claim may hold it)


class PatientKeys:
    """A patient key that identifies without naming (minimum necessary): a keyed hash (HMAC-SHA256, under a key
    derived from the master key) of the payer's member id, so that nobody without the key can try member ids
    against it. The ledger's own 837P exports carry the key itself as member id, under the name PSEUDONYMIZED."""

    def __init__(self, master: MasterKey) -> None:
        self.master = master

    def __call__(self, payer: str, member: str, patient: str = "") -> PatientKey:
        if patient == PSEUDONYMIZED:
            return PatientKey(member, member)
        identity = f"{payer}|{member}|{patient}"
        return PatientKey(KEYED + self.master.pseudonym(identity)[:32], legacy_pseudonym(identity))


def legacy_pseudonym(identity: str) -> str:
    """The unsalted hash earlier releases used as patient key (anyone can recompute it from a member id): only to
    recognise claims that still hold it, so that they are given the keyed one."""
    return LEGACY + hashlib.sha256(identity.encode()).hexdigest()[:16]


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



def transaction_key(kind: str, tx: Transaction) -> str:
    """The intake key of a transaction known by its envelope: sender and interchange, group and set controls."""
    return f"{kind}|{tx.sender}|{tx.interchange_control}|{tx.group_control}|{tx.control}"


def created(plan: Plan, bht: list[str]) -> None:
    """BHT04/05: when the sender created the transaction, the business time of what it reports."""
    try:
        plan.at = x12_date(el(bht, 4), el(bht, 5))
    except ValueError:
        plan.notes.append(f"BHT04 {el(bht, 4)!r} is not a date: the group date is used")
