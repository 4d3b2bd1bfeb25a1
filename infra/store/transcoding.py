"""orjson behind eventsourcing's JSON transcoder: the same stored format, written and read several times faster.

Registered types (UUID, Decimal, datetime, date) are stored as {"_type_": name, "_data_": text}, exactly as
eventsourcing's JSONTranscoder stores them, so either transcoder reads what the other wrote. orjson writes
UUIDs itself, so top-level UUID values are tagged before encoding; event payloads keep UUIDs at top level.
"""
from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import resolve_topic

OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class FastJSONTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        encode_registered = self._encode_obj

        def tag(o: Any) -> dict[str, str]:
            # The common types inline, in the exact shape eventsourcing's transcodings give them.
            t = type(o)
            if t is Decimal:
                return {"_type_": "decimal_str", "_data_": str(o)}
            if t is datetime:
                return {"_type_": "datetime_iso", "_data_": o.isoformat()}
            if t is UUID:
                return {"_type_": "uuid_hex", "_data_": o.hex}
            return encode_registered(o)

        self.tag = tag

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict:
            tag = self.tag
            obj = {k: tag(v) if type(v) is UUID else v for k, v in obj.items()}
        return orjson.dumps(obj, default=self.tag, option=OPTIONS)

    def decode(self, data: bytes) -> Any:
        return self.untag(orjson.loads(data))

    def untag(self, value: Any) -> Any:
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
            return {k: self.untag(v) if type(v) in (dict, list) else v for k, v in value.items()}
        if type(value) is list:
            return [self.untag(v) if type(v) in (dict, list) else v for v in value]
        return value


class Unusual(Exception):
    """A stored value `untagged` does not handle: the caller decodes it the mapper's way instead."""


# eventsourcing's tagged values, {"_type_":name,"_data_":text}, as the text alone (UUIDs dashed). Untagging the
# stored JSON as bytes is several times cheaper than walking the decoded values, and safe: a tag's opening
# brace and quotes cannot occur unescaped inside a JSON string, so only real tags match. Splitting on a pattern
# with a group keeps the group (the quoted text) in place of the tag, at C speed; a tag of another shape (a text
# with a quote, a UUID not 32 lowercase hex digits) is left in place and refused by the last check.
TEXT_TAG = re.compile(rb'\{"_type_":"(?:decimal_str|datetime_iso|date_iso)","_data_":("[^"]*")\}')
UUID_TAG = re.compile(rb'\{"_type_":"uuid_hex","_data_":"([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})'
                      rb'([0-9a-f]{12})"\}')


def dashed(match: re.Match[bytes]) -> bytes:
    return b'"%s-%s-%s-%s-%s"' % match.groups()


def untagged(data: bytes) -> bytes:
    data = b"".join(TEXT_TAG.split(data))
    if b'"uuid_hex"' in data:
        data = UUID_TAG.sub(dashed, data)
    if b'"_type_"' in data:
        raise Unusual("a tag this encoder does not write")
    return data


def upcast(cls: type, state: dict[str, Any]) -> dict[str, Any]:
    """A stored event's state in the shape its class has today, as eventsourcing's mapper gives it: the stored
    class version dropped, each upcast from it to the class's own version applied in turn."""
    version, current = state.pop("class_version", 1), getattr(cls, "class_version", 1)
    while version < current:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
    return state


class PlainEvents:
    """Stored events decoded for reading, not for replay: what the projections' fold reads, several times cheaper
    than the mapper's domain events. Each is an object of a bare class named like the event class, holding the
    stored attributes as JSON gives them after untagging (money and dates as text, UUIDs dashed), with
    `effective_at` as an aware datetime and the originator's id and version. A compressed or enciphered store,
    or a value `untagged` does not know, takes the mapper's path.

    `nul_free` stays true as long as no event decoded held a NUL character (JSON writes it as an escape: a search of
    the stored bytes finds it) and none took the mapper's path (not looked at): the views' writer then skips
    replacing NUL in text (projections/page_writer.py)."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.fast = getattr(mapper, "compressor", None) is None and getattr(mapper, "cipher", None) is None
        self.kinds: dict[str, tuple[type, type, bool]] = {}
        self.nul_free = True

    def __call__(self, notification: Any) -> Any:
        if self.fast:
            if b"\\u0000" in notification.state:
                self.nul_free = False
            try:
                state = orjson.loads(untagged(notification.state))
            except Unusual:
                pass
            else:
                plain, real, versioned = self.kinds.get(notification.topic) or self.kind(notification.topic)
                if versioned or "class_version" in state:
                    upcast(real, state)
                event = plain()
                event.__dict__ = state
                state["originator_id"], state["originator_version"] = notification.originator_id, \
                    notification.originator_version
                if "effective_at" in state:
                    state["effective_at"] = datetime.fromisoformat(state["effective_at"])
                return event
        self.nul_free = False
        return self.mapper.to_domain_event(notification)

    def plain_class(self, topic: str) -> type:
        return (self.kinds.get(topic) or self.kind(topic))[0]

    def kind(self, topic: str) -> tuple[type, type, bool]:
        """The topic's plain class, its event class, and whether that class has upcasts (a version above 1)."""
        real = resolve_topic(topic)
        kind = self.kinds[topic] = (plain_event_class(real.__qualname__, real.__module__), real,
                                    getattr(real, "class_version", 1) > 1)
        return kind


@lru_cache(maxsize=None)
def plain_event_class(qualname: str, module: str = "domain.claim") -> type:
    """A bare class named like an event class (`Claim.Paid`): what the projections' fold reads an event's type
    from, for events decoded plainly from the store or from a Kafka message."""
    return type(qualname.rsplit(".", 1)[-1], (), {"__qualname__": qualname, "__module__": module})
