"""The relay: the ledger's notification log, in order, to Kafka; each page and its position in one transaction.

The publisher is injected (infra/kafka/publisher.py is the Kafka one): it commits a page's messages together with the
relay's position, so after a crash at any moment the relay resumes after the last committed page and a
read_committed consumer sees every event exactly once, in order per claim.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import time
from threading import Event
from typing import Any, NamedTuple, Protocol

from domain.contract import Encoded

PAGE = 5000


class Page(NamedTuple):
    messages: list[Encoded]
    last: int  # the id of the last notification read (the checkpoint once the page is committed)
    read: int  # notifications read, published or not


# A page source reads and encodes the log from a notification id on: the next page, or None when it has
# caught up for now (it may look again every poll_seconds). The relay may close it and open another.
Pages = Callable[[int, float], Iterator[Page | None]]


def read_pages(recorder: Any, encode: Callable[[Any], Encoded | None], size: int = PAGE) -> Pages:
    """Pages read and encoded in this process; `encode` gives a notification's message, or None for what is
    not published."""
    def pages(start: int, poll_seconds: float) -> Iterator[Page | None]:
        while True:
            notifications = recorder.select_notifications(start=start, limit=size)
            if not notifications:
                yield None
                continue
            yield Page([m for m in map(encode, notifications) if m is not None], notifications[-1].id,
                       len(notifications))
            start = notifications[-1].id + 1
    return pages


class Publisher(Protocol):
    def position(self) -> int: ...

    def publish(self, messages: Sequence[Encoded], position: int) -> None: ...

    def recover(self) -> None:
        """After a failed publish: a fresh producer under the same identity (the broker may still be down)."""

    def close(self) -> None: ...


class Relay:
    def __init__(self, pages: Pages, publisher: Publisher) -> None:
        self.pages, self.publisher = pages, publisher

    def run(self, stop: Event | None = None, follow: bool = False, poll_seconds: float = 0.2,
            progress: Callable[[int], None] = lambda n: None, retry_for: float = 300.0,
            log: Callable[[str], None] = lambda s: None) -> int:
        """Publishes everything after the committed position; with follow, keeps going until stop is set.
        A failed publish (broker down mid-run) is retried with back-off from the last committed position, for
        up to `retry_for` seconds: nothing is lost (the position only moves with a committed page) and nothing
        is published twice to read_committed consumers (the failed transaction is aborted or fenced)."""
        published, waiting = 0, Event()
        pages = self.pages(self.publisher.position() + 1, poll_seconds)
        try:
            while stop is None or not stop.is_set():
                page = next(pages)
                if page is None:
                    if not follow:
                        break
                    (stop or waiting).wait(poll_seconds)
                    continue
                try:
                    self.publisher.publish(page.messages, page.last)
                except Exception as error:  # noqa: BLE001 - any broker failure: recover, resume from the checkpoint
                    position = self.recover(error, retry_for, log, stop or waiting)
                    pages.close()
                    pages = self.pages(position + 1, poll_seconds)
                    continue
                published += len(page.messages)
                progress(page.read)
        finally:
            pages.close()
        return published

    def close(self) -> None:
        for part in (self.publisher, self.pages):
            close = getattr(part, "close", None)
            if close is not None:
                close()

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
