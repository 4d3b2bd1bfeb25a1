"""Event-store adapters: eventsourcing's SQLite recorder with one executemany per batch instead of a row at a time."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory


class BatchedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(self.insert_events_statement, [
            (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state)
            for s in stored_events
        ])
        # Inside the write transaction SQLite gives the rows consecutive rowids ending at max(rowid).
        last = self._max_notification_id(c)
        return list(range(last - len(stored_events) + 1, last + 1))


class BatchedSQLiteFactory(SQLiteFactory):
    application_recorder_class = BatchedSQLiteApplicationRecorder
