"""Event-store adapters: eventsourcing's recorders with batch-sized writes and reads, and the hash chain.

SQLite writes a batch with one executemany instead of a row at a time; PostgreSQL writes it with COPY
under eventsourcing's table lock; both read the events of many claims in one query (the ledger
prefetches every claim a batch of commands touches). Each batch's chain rows (infra/store/chain.py) are
written in its transaction, while the writer holds the log (the table lock, SQLite's write lock).
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from infra.store import chain

CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Any:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class Chained:
    """Writes the chain rows of a batch in the batch's transaction (a benchmark's subclass leaves them out)."""
    chain_tables: chain.ChainTables
    claim_heads: chain.ClaimHeads

    def prepare_chain(self, stored_events: Sequence[StoredEvent]) -> list[bytes]:
        return chain.contents_of(stored_events)  # before the lock: other writers wait only for the rest

    def append_chain(self, c: Any, stored_events: Sequence[StoredEvent], notification_ids: Sequence[int],
                     contents: list[bytes]) -> chain.Latest:
        return chain.append(c, self.chain_tables, stored_events, notification_ids, self.claim_heads, contents)


class BatchedSQLiteApplicationRecorder(Chained, SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        self.chain_tables, self.claim_heads = chain.ChainTables.of(self), chain.ClaimHeads()
        return [*super().construct_create_table_statements(), *self.chain_tables.create_statements()]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        contents = self.prepare_chain(stored_events)
        with self.datastore.transaction(commit=True) as c:
            notification_ids = self._insert_events(c, stored_events, **kwargs)
            latest = self.append_chain(c, stored_events, notification_ids, contents) if stored_events else {}
        self.claim_heads.remember(latest)
        return notification_ids

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

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(originator_ids):
                c.execute(f"SELECT * FROM {self.events_table_name} WHERE originator_id IN "
                          f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                          [i.hex for i in chunk])
                found += [StoredEvent(originator_id=UUID(r["originator_id"]), originator_version=r["originator_version"],
                                      topic=r["topic"], state=r["state"]) for r in c.fetchall()]
        return found


class BatchedSQLiteFactory(SQLiteFactory):
    application_recorder_class = BatchedSQLiteApplicationRecorder


class CopyPostgresApplicationRecorder(Chained, PostgresApplicationRecorder):
    """Appends take eventsourcing's EXCLUSIVE lock on the events table (insert order = commit order) through
    `<events table>_lock()`, a function of the table's owner: PostgreSQL lets only those who may UPDATE, DELETE or
    TRUNCATE a table take that lock, which the ledger's writer role may not (infra/store/grants.py)."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        function = Identifier(self.datastore.schema, f"{self.events_table_name}_lock")
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS void LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS $$ BEGIN LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; END $$"
        ).format(function=function, schema=schema, table=table))
        self.sql_create_statements.append(SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
        self.lock_table_statements = [self.lock_table_statements[0], SQL("SELECT {}()").format(function)]
        self.chain_tables, self.claim_heads = chain.ChainTables.of(self), chain.ClaimHeads()
        self.sql_create_statements += [SQL(s) for s in self.chain_tables.create_statements()]  # type: ignore[arg-type]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        contents = self.prepare_chain(stored_events)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            copy_sql = SQL("COPY {} (originator_id, originator_version, topic, state) FROM STDIN").format(table)
            with curs.copy(copy_sql) as copy:
                for s in stored_events:
                    copy.write_row((s.originator_id, s.originator_version, s.topic, s.state))
            # The table lock makes this transaction the only one drawing ids: they are consecutive.
            curs.execute(SQL("SELECT max(notification_id) AS last FROM {}").format(table))
            last = curs.fetchone()["last"]  # type: ignore[index]
            notification_ids = list(range(last - len(stored_events) + 1, last + 1))
            latest = self.append_chain(curs, stored_events, notification_ids, contents)
        self.claim_heads.remember(latest)
        return notification_ids

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        query = SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} WHERE originator_id = ANY(%s) "
                    "ORDER BY originator_id, originator_version").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (list(originator_ids),))
            return [StoredEvent(originator_id=r["originator_id"], originator_version=r["originator_version"],
                                topic=r["topic"], state=bytes(r["state"])) for r in curs.fetchall()]


    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notification_rows(self, start: int, limit: int, stop: int | None = None) -> list[Notified]:
        """Notifications from `start` (up to `stop`) as eventsourcing's select_notifications gives them, but with
        the originator's id as text (what the projections key claims by), read in binary as plain tuples: the
        same page in less than half the time (bench/projections.py measures both)."""
        query = self.notification_rows_query
        if query is None:
            query = self.notification_rows_query = SQL(
                "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {}.{} "
                "WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id LIMIT %s").format(
                Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (start, (1 << 63) - 1 if stop is None else stop, limit), prepare=True)
            return list(map(Notified._make, curs.fetchall()))

    notification_rows_query: Any = None


class Notified(NamedTuple):
    """A notification as the projections read it (eventsourcing's Notification, the originator's id as text)."""
    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


class CopyPostgresFactory(PostgresFactory):
    application_recorder_class = CopyPostgresApplicationRecorder
