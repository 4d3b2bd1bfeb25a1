"""The relay: the ledger's notification log, in order, to Kafka; each page and its position in one transaction.

The publisher is injected (infra/kafka_io.py is the Kafka one): it commits a page's messages together with the
relay's position, so after a crash at any moment the relay resumes after the last committed page and a
read_committed consumer sees every event exactly once, in order per claim.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import time
from threading import Event
from typing import Any, Protocol
from uuid import UUID

from domain.contract import ClaimEventMessage, message_for

PAGE = 1000


class Publisher(Protocol):
    def position(self) -> int: ...

    def publish(self, messages: Sequence[ClaimEventMessage], position: int) -> None: ...

    def recover(self) -> None:
        """After a failed publish: a fresh producer under the same identity (the broker may still be down)."""


class Relay:
    def __init__(self, recorder: Any, mapper: Any, publisher: Publisher, claim_number: Callable[[UUID], str],
                 page: int = PAGE) -> None:
        self.recorder, self.mapper, self.publisher, self.page = recorder, mapper, publisher, page
        self.lookup, self.numbers = claim_number, {}

    def run(self, stop: Event | None = None, follow: bool = False, poll_seconds: float = 0.2,
            progress: Callable[[int], None] = lambda n: None, retry_for: float = 300.0,
            log: Callable[[str], None] = lambda s: None) -> int:
        """Publishes everything after the committed position; with follow, keeps going until stop is set.
        A failed publish (broker down mid-run) is retried with back-off from the last committed position, for
        up to `retry_for` seconds: nothing is lost (the position only moves with a committed page) and nothing
        is published twice to read_committed consumers (the failed transaction is aborted or fenced)."""
        position, published = self.publisher.position(), 0
        waiting = Event()
        while stop is None or not stop.is_set():
            notifications = self.recorder.select_notifications(start=position + 1, limit=self.page)
            if not notifications:
                if not follow:
                    break
                (stop or waiting).wait(poll_seconds)
                continue
            messages = [m for m in (self.message(n) for n in notifications) if m is not None]
            try:
                self.publisher.publish(messages, notifications[-1].id)
            except Exception as error:  # noqa: BLE001 - any broker failure: recover and resume from the checkpoint
                position = self.recover(error, retry_for, log, stop or waiting)
                continue
            position = notifications[-1].id
            published += len(messages)
            progress(len(notifications))
        return published

    def recover(self, error: Exception, retry_for: float, log: Callable[[str], None], stop: Event) -> int:
        delay, started = 0.5, time.monotonic()
        while True:
            log(f"publishing failed ({type(error).__name__}: {error}); retrying in {delay:.1f}s")
            stop.wait(delay)
            try:
                self.publisher.recover()
                return self.publisher.position()
            except Exception as again:  # noqa: BLE001
                error = again
            if time.monotonic() - started > retry_for:
                raise RuntimeError(f"the broker has not come back for {retry_for:.0f}s: {error}") from error
            delay = min(delay * 2, 10.0)

    def message(self, notification: Any) -> ClaimEventMessage | None:
        event = self.mapper.to_domain_event(notification)
        if not type(event).__qualname__.startswith("Claim."):
            return None  # the claim-number index is the ledger's own bookkeeping, not a claim fact
        if type(event).__name__ == "Coded":
            self.numbers[event.originator_id] = event.claim_number
        number = self.numbers.get(event.originator_id) or self.numbers.setdefault(
            event.originator_id, self.lookup(event.originator_id))
        return message_for(event, notification.id, number)
