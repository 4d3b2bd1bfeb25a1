"""The consumers' stores: the database they write (the ledger's own SQLite file or PostgreSQL schema) and, per
consumer, how a batch of messages lands in it (worklist and journal tables, or the projections' views), with
the queries that read the worklist and the journal back."""
from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, Protocol

from consumers import journal, worklist
from domain.contract import ClaimEventMessage
from domain.ledger import Ledger
from infra.settings import Settings
from infra.store.transcoding import plain_event_class
from projections.views import ClaimViews


class Database:
    """The ledger's own database (SQLite file or PostgreSQL schema), for the consumers' tables."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dialect = settings.backend
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError("consumers keep their results in SQLite or PostgreSQL, not memory:")
        self.connection = self.open()
        self.lock = threading.RLock()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def open(self) -> Any:
        if self.dialect == "sqlite":
            path = self.settings.eventsourcing_env()["SQLITE_DBNAME"]
            # kafka-python may call the rebalance listener from its heartbeat thread: one lock guards the connection
            connection = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            return connection
        import psycopg
        connection = psycopg.connect(self.settings.postgres_conninfo(), autocommit=True)
        schema = self.settings.postgres_schema
        if schema:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(hashtext('rcm-consumer-tables'))")
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            connection.execute(f"SET search_path TO {schema}")
        return connection

    def sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else text.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.lock:
            with self.unlocked_transaction() as c:
                yield c

    @contextmanager
    def unlocked_transaction(self) -> Iterator[Any]:
        if self.dialect == "sqlite":
            cursor = self.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        else:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                yield cursor

    @contextmanager
    def schema_change(self) -> Iterator[Any]:
        """Creating tables: two instances starting together must not race (PostgreSQL's catalog would)."""
        with self.transaction() as c:
            if self.dialect == "postgresql":
                c.execute("SELECT pg_advisory_xact_lock(hashtext('rcm-consumer-tables'))")
            yield c

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Serializes other connections' schema changes on PostgreSQL; SQLite's own file lock does it there."""
        if self.dialect == "sqlite":
            yield None
            return
        with self.schema_change():
            yield None

    def execute(self, c: Any, text: str, params: Any = ()) -> Any:
        return c.execute(self.sql(text), params)

    def executemany(self, c: Any, text: str, rows: list[Any]) -> None:
        if rows:
            c.executemany(self.sql(text), rows)

    def select_in(self, c: Any, text: str, ids: list[str]) -> Iterator[dict[str, Any]]:
        """Rows of `text` (ending in `IN`) for many ids, 500 at a time."""
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            self.execute(c, f"{text} ({','.join('?' * len(chunk))})", chunk)
            names = [d[0] for d in c.description]
            yield from (dict(zip(names, row)) for row in c.fetchall())

    def query(self, text: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.transaction() as c:
            self.execute(c, text, params)
            names = [d[0] for d in c.description]
            return [dict(zip(names, row)) for row in c.fetchall()]


class ConsumerStore(Protocol):
    """Where a consumer's results go: a batch and its partitions' offsets (written by `record_offsets` with the
    transaction's cursor) in one transaction of `db`."""

    db: Database

    def save(self, messages: list[ClaimEventMessage], record_offsets: Callable[[Any], None]) -> None: ...

    def close(self) -> None: ...


def day(value: Any) -> date | None:
    return None if value is None else value if isinstance(value, date) else date.fromisoformat(value)


class TableStore(ABC):
    """A consumer whose results are its own tables: results and offsets in one transaction."""

    db: Database

    @abstractmethod
    def apply(self, c: Any, messages: list[ClaimEventMessage]) -> None:
        """Folds the messages into the consumer's tables, with the transaction's cursor."""

    def save(self, messages: list[ClaimEventMessage], record_offsets: Callable[[Any], None]) -> None:
        with self.db.transaction() as c:
            self.apply(c, messages)
            record_offsets(c)

    def close(self) -> None:
        self.db.close()


class WorklistStore(TableStore):
    name = "worklist"

    def __init__(self, db: Database) -> None:
        self.db = db
        d = "DATE" if db.dialect == "postgresql" else "TEXT"
        with db.schema_change() as c:
            db.execute(c, f"""CREATE TABLE IF NOT EXISTS worklist (claim_id TEXT PRIMARY KEY, claim_number TEXT,
                payer_id TEXT, payer_class TEXT, state TEXT NOT NULL, category TEXT, carcs TEXT,
                at_stake_cents BIGINT NOT NULL, denied_on {d}, appeal_level INTEGER NOT NULL, deadline {d},
                priority TEXT, closed_on {d}, closed_reason TEXT, sequence INTEGER NOT NULL)""")
            db.execute(c, "CREATE INDEX IF NOT EXISTS worklist_open ON worklist (state, deadline)")

    def apply(self, c: Any, messages: list[ClaimEventMessage]) -> None:
        rows: dict[str, dict[str, Any]] = {}
        for r in self.db.select_in(c, "SELECT * FROM worklist WHERE claim_id IN",
                                   sorted({str(m.claim_id) for m in messages})):
            r.update(denied_on=day(r["denied_on"]), deadline=day(r["deadline"]), closed_on=day(r["closed_on"]))
            rows[r["claim_id"]] = r
        for m in messages:
            worklist.apply(rows.setdefault(str(m.claim_id), worklist.new_row(str(m.claim_id))), m)
        cols = worklist.COLUMNS
        self.db.executemany(
            c, f"INSERT INTO worklist ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) ON CONFLICT (claim_id) "
               f"DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in cols[1:])}",
            [tuple(r[k] for k in cols) for r in rows.values()])


class JournalStore(TableStore):
    name = "journal"

    def __init__(self, db: Database) -> None:
        self.db = db
        d = "DATE" if db.dialect == "postgresql" else "TEXT"
        with db.schema_change() as c:
            db.execute(c, "CREATE TABLE IF NOT EXISTS journal_claims (claim_id TEXT PRIMARY KEY, "
                          "payer_id TEXT NOT NULL, sequence INTEGER NOT NULL)")
            db.execute(c, f"""CREATE TABLE IF NOT EXISTS journal_lines (day {d} NOT NULL, payer_id TEXT NOT NULL,
                account TEXT NOT NULL, debit_cents BIGINT NOT NULL, credit_cents BIGINT NOT NULL,
                PRIMARY KEY (day, payer_id, account))""")

    def apply(self, c: Any, messages: list[ClaimEventMessage]) -> None:
        claims: dict[str, list[Any]] = {
            r["claim_id"]: [r["payer_id"], r["sequence"]]
            for r in self.db.select_in(c, "SELECT claim_id, payer_id, sequence FROM journal_claims WHERE claim_id IN",
                                       sorted({str(m.claim_id) for m in messages}))}
        totals: dict[tuple[date, str, str], list[int]] = {}
        for m in messages:
            known = claims.setdefault(str(m.claim_id), ["", 0])
            if m.sequence <= known[1]:
                continue  # already applied
            known[1] = m.sequence
            if m.type in ("Coded", "Opened", "Submitted", "SubmissionAttached"):
                known[0] = m.payload["payer_id"]
            for line_day, payer, account, debit, credit in journal.lines(m, known[0]):
                t = totals.setdefault((line_day, payer, account), [0, 0])
                t[0] += debit
                t[1] += credit
        self.db.executemany(c, "INSERT INTO journal_claims (claim_id, payer_id, sequence) VALUES (?, ?, ?) ON CONFLICT "
                               "(claim_id) DO UPDATE SET payer_id = excluded.payer_id, sequence = excluded.sequence",
                            [(k, v[0], v[1]) for k, v in claims.items()])
        self.db.executemany(
            c, "INSERT INTO journal_lines (day, payer_id, account, debit_cents, credit_cents) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (day, payer_id, account) DO UPDATE SET debit_cents = journal_lines.debit_cents + "
               "excluded.debit_cents, credit_cents = journal_lines.credit_cents + excluded.credit_cents",
            # in key order: instances adding to the same day's lines then lock them in one order (no deadlock)
            [(d.isoformat() if self.db.dialect == "sqlite" else d, p, a, v[0], v[1])
             for (d, p, a), v in sorted(totals.items())])


def event_of(m: ClaimEventMessage) -> Any:
    """The message as the projections' fold reads an event: its type name, ids, business time and payload
    (money as text, as in the runner's plainly decoded events)."""
    event = plain_event_class(f"Claim.{m.type}")()
    event.__dict__.update(m.payload)
    event.originator_id, event.originator_version, event.effective_at = m.claim_id, m.sequence, m.occurred_at
    event.actor, event.timestamp = m.actor, m.recorded_at  # who did it and when it was recorded: productivity
    return event


class ProjectionStore:
    """Scale-out mode: the projections' own code (fold and views) fed from the topic's partitions; the page and
    the partitions' offsets are written in the views' transaction instead of the tracking rows."""

    name = "projections"

    def __init__(self, db: Database, ledger: Ledger, views: ClaimViews) -> None:
        self.db, self.ledger, self.views = db, ledger, views

    def save(self, messages: list[ClaimEventMessage], record_offsets: Callable[[Any], None]) -> None:
        page = [(m.position, event_of(m)) for m in messages]
        if page:
            self.views.apply(page, record_position=record_offsets)
        else:
            with self.views.transaction() as c:
                record_offsets(c)

    def close(self) -> None:
        self.ledger.close()
        self.db.close()


def worklist_rows(db: Database, include_closed: bool = False) -> list[dict[str, Any]]:
    WorklistStore(db)
    states = "('open', 'appealed', 'overturned', 'closed')" if include_closed else "('open', 'appealed', 'overturned')"
    rows = db.query(f"SELECT claim_number, payer_id, category, carcs, at_stake_cents, denied_on, appeal_level, "
                    f"deadline, priority, state FROM worklist WHERE state IN {states} "
                    f"ORDER BY deadline IS NULL, deadline, at_stake_cents DESC, claim_number")
    return rows


def journal_rows(db: Database, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    JournalStore(db)
    where, params = [], []
    if start:
        where.append("day >= ?")
        params.append(start.isoformat() if db.dialect == "sqlite" else start)
    if end:
        where.append("day <= ?")
        params.append(end.isoformat() if db.dialect == "sqlite" else end)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return db.query(f"SELECT day, payer_id, account, debit_cents, credit_cents FROM journal_lines {clause} "
                    f"ORDER BY day, payer_id, account", params)
