"""A dry run's ledger: the real store read, what the run would write kept in memory and never stored."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.ledger import Ledger
from infra.store.ledger import StoreLedger


class RehearsalRecorder:
    """The store as a dry run sees it: every stored event, then those the run would have written (kept in memory,
    never stored), so a dry run goes through the import's own code and counts exactly what the import would."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.written: dict[Any, list[StoredEvent]] = {}

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        for event in stored_events:
            self.written.setdefault(event.originator_id, []).append(event)
        return []

    def select_events(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> list[StoredEvent]:
        events = [e for e in [*self.store.select_events(originator_id), *self.written.get(originator_id, [])]
                  if (gt is None or e.originator_version > gt) and (lte is None or e.originator_version <= lte)]
        return (events[::-1] if desc else events)[:limit]


class Rehearsal(StoreLedger):
    """A ledger over the real store that writes nothing: what it records stays in its RehearsalRecorder."""

    def __init__(self, ledger: Ledger) -> None:
        self.real, self.store = ledger, ledger.recorder  # the real ledger closes its store when it is collected
        super().__init__({**ledger.env, "PERSISTENCE_MODULE": "eventsourcing.popo"}, actor=ledger.actor,
                         source=ledger.source)

    def construct_recorder(self) -> Any:
        return RehearsalRecorder(self.store)
