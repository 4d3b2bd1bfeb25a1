"""The published message contract for claim events on Kafka (versioned; not the internal event classes).

Minimum necessary: a claim event carries the pseudonymous patient key at most, never a name, birth date or
member id (the claim events themselves hold none).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple
from uuid import UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
TOPIC = "rcm.claim-events.v1"
META = ("originator_id", "originator_version", "timestamp", "originator_topic", "effective_at", "actor", "source",
        "correlation_id", "causation_id")


class ClaimEventMessage(BaseModel):
    """One claim event as downstream systems see it. Key: claim_id. Headers: event type, schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: UUID = Field(description="stable per claim and sequence")
    claim_id: UUID
    claim_number: str
    sequence: int = Field(ge=1, description="the event's version within its claim: gap-free, in order")
    position: int = Field(ge=1, description="the event's place in the ledger's global notification order")
    type: str = Field(description="Coded, Scrubbed, Submitted, Accepted, Rejected, Paid, Denied, ...")
    occurred_at: AwareDatetime = Field(description="business time (effective_at)")
    recorded_at: AwareDatetime = Field(description="when the ledger recorded it")
    actor: str
    source: str
    correlation_id: UUID
    causation_id: UUID
    payload: dict[str, Any]


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def message_for(event: Any, position: int, claim_number: str) -> ClaimEventMessage:
    return ClaimEventMessage(
        event_id=uuid5(event.originator_id, str(event.originator_version)), claim_id=event.originator_id,
        claim_number=claim_number, sequence=event.originator_version, position=position,
        type=type(event).__name__, occurred_at=event.effective_at, recorded_at=event.timestamp, actor=event.actor,
        source=event.source, correlation_id=event.correlation_id, causation_id=event.causation_id,
        payload=plain({k: v for k, v in vars(event).items() if k not in META}),
    )


class Encoded(NamedTuple):
    """A message as it goes on the wire: key (the claim id), event type (a header) and the JSON value."""

    key: bytes
    type: str
    value: bytes


def encoded(message: ClaimEventMessage) -> Encoded:
    return Encoded(str(message.claim_id).encode(), message.type, message.model_dump_json().encode())
