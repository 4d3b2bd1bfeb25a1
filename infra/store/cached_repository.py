"""The ledger's claims kept between batches, and a batch's claims read in one query: what makes bulk ingest fast."""
from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ledger import LedgerRepository

CACHE_LIMIT = 200_000  # claims kept when the settings name no other number


class CachedRepository(LedgerRepository):
    """Keeps the claims written last (the least recently written go first, so memory stays bounded) and reads
    every claim a batch touches in one query, where the store can."""

    def __init__(self, *args: Any, limit: int = CACHE_LIMIT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.kept: dict[UUID, Aggregate] = {}
        self.prefetched: dict[UUID, Aggregate | None] = {}

    def prefetch(self, aggregate_ids: set[UUID]) -> None:
        select_many = getattr(self.event_store.recorder, "select_events_many", None)
        if select_many is None:
            return
        wanted = aggregate_ids - self.kept.keys()
        self.prefetched = dict.fromkeys(wanted)
        state: Any = None
        for stored in select_many(sorted(wanted)):
            event = self.event_store.mapper.to_domain_event(stored)
            state = event.mutate(None if event.originator_version == 1 else state)
            self.prefetched[state.id] = state

    def find(self, aggregate_id: UUID) -> Any:
        if aggregate_id in self.kept:
            return self.kept[aggregate_id]
        if aggregate_id in self.prefetched:
            return self.prefetched[aggregate_id]
        return super().find(aggregate_id)

    def keep(self, written: dict[UUID, Aggregate]) -> None:
        self.prefetched.clear()
        for aggregate_id, aggregate in written.items():
            self.kept.pop(aggregate_id, None)
            self.kept[aggregate_id] = aggregate
        for stale in list(islice(self.kept, max(0, len(self.kept) - self.limit))):
            del self.kept[stale]

    def drop(self, aggregate_ids: Iterable[UUID]) -> None:
        self.prefetched.clear()
        for aggregate_id in aggregate_ids:
            self.kept.pop(aggregate_id, None)

    def drop_kept(self, aggregate_id: UUID) -> bool:
        return self.kept.pop(aggregate_id, None) is not None
