"""A stored claim event straight to its published message (JSON bytes), without building objects on the way."""
from __future__ import annotations

from collections.abc import Callable
from hashlib import sha1
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import resolve_topic

from domain.contract import META, SCHEMA_VERSION, Encoded, encoded, message_for
from domain.ledger import Ledger
from infra.store.transcoding import Unusual, untagged, upcast


class MessageEncoder:
    """A stored claim event straight to its published JSON: byte for byte what
    `ClaimEventMessage.model_dump_json()` gives for the decoded event (tests hold it to that over every event
    type), without building the event object, the message model or Decimal/UUID/datetime values on the way.
    Anything unusual (a compressed or enciphered store, an unknown tag, an odd time-zone offset) takes the
    model's own path."""

    def __init__(self, mapper: Any, claim_number: Callable[[UUID], str]) -> None:
        self.mapper, self.lookup = mapper, claim_number
        self.fast = getattr(mapper, "compressor", None) is None and getattr(mapper, "cipher", None) is None
        self.types: dict[str, str | None] = {}
        self.numbers: dict[UUID, str] = {}

    @classmethod
    def for_ledger(cls, ledger: Ledger) -> MessageEncoder:
        """Claim numbers that an event does not carry are looked up in the ledger."""
        return cls(ledger.mapper, lambda claim: ledger.repository.get(claim).claim_number)

    def type_of(self, topic: str) -> str | None:
        """The claim event type a topic names; None for the ledger's own bookkeeping (claim-number index,
        intakes): not claim facts, not published."""
        if topic not in self.types:
            cls = resolve_topic(topic)
            self.types[topic] = cls.__name__ if cls.__qualname__.startswith("Claim.") else None
        return self.types[topic]

    def __call__(self, notification: Any) -> Encoded | None:
        kind = self.type_of(notification.topic)
        if kind is None:
            return None
        claim = notification.originator_id
        if self.fast:
            try:
                return self.encode(notification, kind, claim)
            except Unusual:
                pass
        event = self.mapper.to_domain_event(notification)
        return encoded(message_for(event, notification.id, self.number(claim, getattr(event, "claim_number", None))))

    def number(self, claim: UUID, known: str | None) -> str:
        if known is not None:
            self.numbers[claim] = known
            return known
        return self.numbers.get(claim) or self.numbers.setdefault(claim, self.lookup(claim))

    def encode(self, notification: Any, kind: str, claim: UUID) -> Encoded:
        state = upcast(resolve_topic(notification.topic), orjson.loads(untagged(notification.state)))
        claim_id = str(claim)
        message = {
            "schema_version": SCHEMA_VERSION,
            "event_id": event_id(claim, notification.originator_version),
            "claim_id": claim_id,
            "claim_number": self.number(claim, state.get("claim_number")),
            "sequence": notification.originator_version,
            "position": notification.id,
            "type": kind,
            "occurred_at": instant(state["effective_at"]),
            "recorded_at": instant(state["timestamp"]),
            "actor": state["actor"],
            "source": state["source"],
            "correlation_id": state["correlation_id"],
            "causation_id": state["causation_id"],
            "payload": {k: v for k, v in state.items() if k not in META},
        }
        return Encoded(claim_id.encode(), kind, orjson.dumps(message))


def event_id(claim: UUID, version: int) -> str:
    """str(uuid5(claim, str(version))) without building the UUID."""
    digest = bytearray(sha1(claim.bytes + str(version).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def instant(text: Any) -> str:
    """A stored aware datetime as pydantic writes it: ISO 8601, UTC as Z."""
    if type(text) is not str or len(text) < 25 or text[-6] not in "+-" or text[-3] != ":":
        raise Unusual(text)  # not a datetime, naive, or an offset with seconds
    return text[:-6] + "Z" if text.endswith("+00:00") else text
