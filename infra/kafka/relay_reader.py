"""The relay's reading half: stored claim events encoded as published messages, in a process of its own.

`MessageEncoder` writes a stored event's message without building event objects or models on the way;
`ReaderProcess` runs it in a child program (`python -m infra.kafka.relay_reader`) that reads and encodes pages while
the relay publishes the previous one, so decoding the store and kafka-python's send each get a core.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from hashlib import sha1
from typing import Any, BinaryIO
from uuid import UUID

import orjson
from eventsourcing.utils import resolve_topic

from consumers.relay import PAGE, Page, Pages, read_pages
from domain.contract import META, SCHEMA_VERSION, Encoded, encoded, message_for
from infra.transcoding import Unusual, untagged


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
        state = orjson.loads(untagged(notification.state))
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


class ReaderProcess:
    """Pages read and encoded by a child program while this process publishes. The child only reads; the relay
    still commits every page with its position, in order, so nothing about exactly-once changes.

    The child starts as soon as the relay is built (it loads while the producer connects), lives as long as the
    relay, and dies with it, even on kill -9 (parent-death signal, and end of file on its input). It is told
    where to read from; pages of an earlier request are recognised by their number and dropped."""

    def __init__(self, database_url: str | None, size: int = PAGE) -> None:
        self.child = subprocess.Popen([sys.executable, "-m", "infra.kafka.relay_reader", database_url or "", str(size)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=os.getcwd())
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=3)
        self.request = 0
        threading.Thread(target=self.receive, daemon=True, name="rcm-relay-reader").start()

    def receive(self) -> None:
        assert self.child.stdout is not None
        while (frame := read_frame(self.child.stdout)) is not None:
            self.pages.put(frame)
        self.pages.put((None, EOFError()))

    def __call__(self, start: int, poll_seconds: float) -> Iterator[Page | None]:
        self.request += 1
        request = self.request
        write_frame(self.child.stdin, (request, start, poll_seconds))  # type: ignore[arg-type]
        caught_up = False
        while True:
            try:
                number, page = self.pages.get(timeout=0.2)
            except queue.Empty:
                if caught_up:
                    yield None
                continue
            if isinstance(page, EOFError):
                self.pages.put((None, page))
                raise RuntimeError(f"the relay's reader process ended (exit code {self.child.wait()})")
            if isinstance(page, str):
                raise RuntimeError(f"the relay's reader failed:\n{page}")
            if number != request:
                continue  # read for an earlier request
            caught_up = page is None
            yield page

    def close(self) -> None:
        self.child.kill()
        self.child.wait()


def write_frame(stream: BinaryIO, item: Any) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        return None
    return pickle.loads(stream.read(struct.unpack("<Q", head)[0]))


def main(database_url: str, size: int) -> None:
    """The child: for each request (number, start, poll_seconds) read from stdin, pages from `start` on, each
    tagged with the request's number, to stdout; None once each time it has caught up. A new request abandons
    the current one; end of input ends the child."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the relay ends this too
    except (OSError, AttributeError):
        pass
    from infra.bootstrap import open_ledger, tune_for_bulk_work

    tune_for_bulk_work()
    requests, out = sys.stdin.buffer, sys.stdout.buffer
    request = read_frame(requests)
    try:
        ledger = open_ledger(database_url or None, source="relay", create_tables=False)
        encoder = MessageEncoder(ledger.mapper, lambda claim: ledger.repository.get(claim).claim_number)
        while request is not None:
            request = serve(request, read_pages(ledger.recorder, encoder, size), requests, out)
    except BaseException:  # noqa: BLE001 - handed to the parent, which stops and says so
        write_frame(out, (request[0] if request else 0, traceback.format_exc()))


def serve(request: tuple[int, int, float], pages: Pages, requests: BinaryIO, out: BinaryIO) -> Any:
    """Serves one request until a newer one arrives (returned), or the input ends (None)."""
    number, start, poll_seconds = request
    said_caught_up = False
    for page in pages(start, poll_seconds):
        if page is None:
            if said_caught_up:
                if select.select([requests], [], [], poll_seconds)[0]:
                    return read_frame(requests)
                continue
            said_caught_up = True
        else:
            said_caught_up = False
            page = page._replace(messages=[tuple(m) for m in page.messages])  # plain tuples pickle 3x faster
        write_frame(out, (number, page))
        if select.select([requests], [], [], 0)[0]:
            return read_frame(requests)
    raise AssertionError("a page source never ends")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
