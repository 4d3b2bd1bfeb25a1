"""Reads the notification log in pages and applies each page to the views in one transaction; follows live."""
from __future__ import annotations

import time
from collections.abc import Callable
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
        self.read_event = read_event or mapper.to_domain_event
        self.ignored: dict[str, bool] = {}
        views.read_history_with(self.history)

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

        with self.views.pipeline(committed) as pipeline:  # (on PostgreSQL a page is written while the next folds)
            while True:
                notifications = [] if until is not None and position >= until else \
                    self.recorder.select_notifications(start=position + 1, limit=self.page, stop=until)
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


def wait_until_caught_up(runner: Runner, head: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while runner.views.position() < head:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
