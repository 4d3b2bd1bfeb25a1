"""Value types of a claim: money, service lines, adjustments and the who/when/why every event carries."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid5

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
CLAIM_NAMESPACE = UUID("8d0f4a6e-3c1b-5d7e-9a2f-6b4c1e0d9f3a")
PayerClass = Literal["medicare", "medicaid", "commercial", "self_pay"]
Amount = TypeVar("Amount", Decimal, int)  # Decimal in the aggregate, integer cents in the views


@lru_cache(maxsize=1 << 16)
def claim_id(billing_npi: str, claim_number: str) -> UUID:
    """Deterministic: the same billing provider and patient control number always name the same claim."""
    return uuid5(CLAIM_NAMESPACE, f"claim|{billing_npi}|{claim_number}")


def is_money(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent >= -2


def total(amounts: Any) -> Decimal:
    return sum(amounts, ZERO)


def cents(amount: Decimal | str) -> int:
    """Decimal, or its text as plainly decoded events and published messages hold it."""
    return int((Decimal(amount) if type(amount) is str else amount) * 100)


def as_date(value: date | str) -> date:
    """A date, or its ISO text (a timestamp's text is cut to its date)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class Meta(dict):  # a dict: every event is built with **meta, so the provenance is merged in one step
    """Both clocks and the provenance of a fact: when it happened, who did it, from where, and why."""

    def __init__(self, effective_at: datetime, actor: str, source: str, correlation_id: UUID,
                 causation_id: UUID) -> None:
        super().__init__(effective_at=effective_at, actor=actor, source=source, correlation_id=correlation_id,
                         causation_id=causation_id)

    @property
    def effective_at(self) -> datetime:
        return self["effective_at"]


@dataclass(frozen=True)
class ServiceLine:
    number: int
    procedure: str
    charge: Decimal
    units: Decimal = Decimal("1")
    modifiers: tuple[str, ...] = ()
    pointers: tuple[int, ...] = (1,)
    service_date: date | None = None
    revenue_code: str = ""  # institutional lines (837I SV201)

    def as_record(self) -> dict[str, Any]:
        record = {"number": self.number, "procedure": self.procedure, "charge": self.charge, "units": self.units,
                  "modifiers": list(self.modifiers), "pointers": list(self.pointers), "service_date": self.service_date}
        if self.revenue_code:  # only where there is one: a professional line is recorded as it always was
            record["revenue_code"] = self.revenue_code
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ServiceLine:
        return cls(**{**record, "modifiers": tuple(record["modifiers"]), "pointers": tuple(record["pointers"])})


@dataclass(frozen=True)
class Adjustment:
    """One CAS triple: group (CO, PR, OA, PI), reason (CARC) and amount; at claim level when line is None."""

    group: str
    carc: str
    amount: Decimal
    line: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {"group": self.group, "carc": self.carc, "amount": self.amount, "line": self.line}


@dataclass(frozen=True)
class Remittance:
    """A claim's adjudication as an 835 reports it (CLP and its CAS/SVC), in the ledger's terms."""

    payer_claim_control_number: str
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    adjustments: tuple[Adjustment, ...] = ()
    line_paid: tuple[tuple[int, Decimal], ...] = ()
    remark_codes: tuple[str, ...] = ()
    trace_number: str = ""
    remitted_on: date | None = None
    carcs: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "carcs", tuple(f"{a.group}-{a.carc}" for a in self.adjustments))
