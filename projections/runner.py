"""Reads the notification log in pages and applies each page to the views in one transaction; follows live."""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from threading import Event
from typing import Any
from uuid import UUID

from eventsourcing.utils import TopicError, resolve_topic

from projections.deposits import RECONCILED
from projections.facts import IGNORED, UnknownEvent
from projections.page_writer import ConcurrentRunner
from projections.views import ClaimViews

PAGE = 2000


@dataclass(frozen=True)
class Lag:
    position: int
    head: int
    events: int
    seconds: float


class IncompleteViews(Exception):
    """Tables or columns a newer release added to the views exist but hold nothing of what was projected before."""


class Runner:
    def __init__(self, recorder: Any, mapper: Any, views: ClaimViews, page: int = PAGE,
                 read_event: Callable[[Any], Any] | None = None) -> None:
        """`read_event` decodes a notification for the fold (default: the mapper's domain event)."""
        self.recorder, self.mapper, self.views, self.page = recorder, mapper, views, page
        # (PostgreSQL's recorder reads a page of notifications as plain tuples: infra/store/recorders.py)
        self.read_page = getattr(recorder, "select_notification_rows", None) or recorder.select_notifications
        self.read_event = read_event or mapper.to_domain_event
        self.ignored: dict[str, bool] = {}
        views.read_history_with(self.history, lambda: getattr(self.read_event, "nul_free", False))

    def history(self, claim_id: str) -> list[Any]:
        """A claim's recorded events, in the order recorded: what a late fact makes the views fold again."""
        return [self.read_event(stored) for stored in self.recorder.select_events(UUID(claim_id))]

    def catch_up(self, progress: Callable[[int], None] = lambda n: None, until: int | None = None) -> int:
        """Applies every notification after the views' position (up to `until`); returns how many it applied.
        Another runner on the same views is waited out, not raced: when it wrote first, this page is dropped
        and the catch-up goes on from the position it stored (a view left inconsistent still stops it)."""
        if self.views.incomplete:
            raise IncompleteViews(
                f"the read models were built by an earlier release: {', '.join(self.views.incomplete)} would start "
                f"empty behind position {self.views.position()}; run `rcm projections rebuild` once")
        done, position = 0, self.views.position()

        def committed(events: int) -> None:
            nonlocal done
            done += events
            progress(events)

        # (on PostgreSQL a page is written while the next folds, and the one after is read meanwhile)
        with self.views.pipeline(committed) as pipeline, Prefetch(self.read_page, pipeline.threaded) as read:
            while True:
                notifications = [] if until is not None and position >= until else \
                    read(position + 1, self.page, until)
                try:
                    if notifications:
                        end = notifications[-1].id  # (a page short of full ends the log, for now: written at once)
                        pipeline.apply(self.decoded(notifications), end, position, len(notifications),
                                       last=len(notifications) < self.page or end == until)
                    else:
                        pipeline.finish()
                except ConcurrentRunner as e:
                    before = position if e.previous is None else e.previous  # the position the failed page followed
                    stored = self.views.position()
                    if stored == before:
                        raise
                    progress(max(0, stored - before))
                    position = stored
                    continue
                if not notifications:
                    return done
                position = notifications[-1].id

    def decoded(self, notifications: list[Any]) -> list[tuple[int, Any]]:
        """The page as (notification id, event), without the topics no projection reads."""
        return [(n.id, self.decode(n)) for n in notifications if not self.is_ignored(n)]

    def follow(self, stop: Event, poll_seconds: float = 0.2, progress: Callable[[int], None] = lambda n: None,
               wait: Callable[[float], None] | None = None) -> None:
        """Catches up whenever the ledger may have grown, until `stop` is set: after `wait` returns (woken by an
        append, or after `poll_seconds`), or by polling every `poll_seconds` (eventsourcing 9.5 has no SQLite
        subscriptions)."""
        while not stop.is_set():
            if not self.catch_up(progress):
                if wait is None:
                    stop.wait(poll_seconds)
                else:
                    wait(poll_seconds)

    def is_ignored(self, notification: Any) -> bool:
        """Whether no projection reads events of this topic (skipped undecoded); an unknown topic is an error."""
        topic = notification.topic
        known = self.ignored.get(topic)
        if known is None:
            try:
                name = resolve_topic(topic).__qualname__
                known = self.ignored[topic] = name in IGNORED and name not in RECONCILED
            except TopicError as e:
                raise UnknownEvent(f"notification {notification.id} has topic {topic!r}, which this release "
                                   f"does not know: {e}") from e
        return known

    def decode(self, notification: Any) -> Any:
        try:
            return self.read_event(notification)
        except TopicError as e:
            raise UnknownEvent(f"notification {notification.id} has topic {notification.topic!r}, which this "
                               f"release does not know: {e}") from e

    def lag(self) -> Lag:
        position = self.views.position()
        head = self.recorder.max_notification_id() or 0
        seconds = 0.0
        if head > position:
            oldest = self.recorder.select_notifications(start=position + 1, limit=1)
            recorded = self.mapper.to_domain_event(oldest[0]).timestamp if oldest else datetime.now(timezone.utc)
            seconds = max(0.0, (datetime.now(timezone.utc) - recorded).total_seconds())
        return Lag(position, head, head - position, round(seconds, 3))


class Prefetch:
    """Reads pages of notifications; `ahead`, the page after a full one is read in a thread while the caller works
    on it (psycopg waits for the server with the GIL released). A page asked for from another position (the
    catch-up moved on after another runner's page) is read afresh."""

    def __init__(self, read: Callable[..., list[Any]], ahead: bool) -> None:
        self.read = read
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="page-reader") if ahead else None
        self.pending: tuple[tuple[int, int, int | None], Future[list[Any]]] | None = None

    def __call__(self, start: int, limit: int, stop: int | None) -> list[Any]:
        asked, pending, self.pending = (start, limit, stop), self.pending, None
        if pending is not None and pending[0] == asked:
            page = pending[1].result()
        else:
            if pending is not None:
                pending[1].exception()  # (read for a position given up: its result or failure goes unused)
            page = self.read(start=start, limit=limit, stop=stop)
        if self.thread is not None and len(page) == limit and (stop is None or page[-1].id < stop):
            following = (page[-1].id + 1, limit, stop)
            self.pending = (following, self.thread.submit(self.read, start=following[0], limit=limit, stop=stop))
        return page

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread is not None:
            if self.pending is not None:
                self.pending[1].exception()
                self.pending = None
            self.thread.shutdown()


def wait_until_caught_up(runner: Runner, head: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while runner.views.position() < head:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
