"""The tamper-evident hash chain: one `rcm_chain` row per stored event, written in the event's own transaction.

content = sha256(originator id (16 bytes) | version (8 bytes, big-endian) | topic length (4) | topic (UTF-8) |
                 state length (8) | state (the stored bytes));
claim   = sha256(previous claim hash of the same originator, or 32 zero bytes | content);
log     = sha256(previous log hash, or 32 zero bytes | notification id (8 bytes, big-endian) | claim).
docs/architecture.md states the same for an auditor who recomputes it without this code.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

ZERO = bytes(32)
CHAIN_TABLE = "rcm_chain"
PAGE = 5_000  # pairs per lookup and rows per page when walking or upgrading


def content_hash(originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    name = topic.encode()
    return hashlib.sha256(b"".join((originator_id.bytes, version.to_bytes(8, "big"), len(name).to_bytes(4, "big"),
                                    name, len(state).to_bytes(8, "big"), state))).digest()


def claim_hash(previous: bytes, content: bytes) -> bytes:
    return hashlib.sha256(previous + content).digest()


def log_hash(previous: bytes, notification_id: int, claim: bytes) -> bytes:
    return hashlib.sha256(previous + notification_id.to_bytes(8, "big") + claim).digest()


class UnchainedEvents(Exception):
    """The ledger holds events the chain does not cover (written before it, or by a writer without it)."""


@dataclass(frozen=True)
class ChainTables:
    """Where the events and the chain live and how this back end spells a query (`?` becomes `%s` on PostgreSQL)."""
    backend: str
    events: str
    chain: str
    nid: str  # the events' notification id column: SQLite's rowid, PostgreSQL's notification_id

    @classmethod
    def of(cls, recorder: Any) -> ChainTables:
        name, schema = recorder.events_table_name, getattr(recorder.datastore, "schema", None)
        if schema is None:  # SQLite: eventsourcing's stored_events, in the ledger's one file
            return cls("sqlite", name, CHAIN_TABLE, "rowid")
        return cls("postgresql", f'"{schema}"."{name}"', f'"{schema}"."{CHAIN_TABLE}"', "notification_id")

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.backend == "postgresql" else statement

    def stored_id(self, originator_id: UUID) -> Any:
        return originator_id.hex if self.backend == "sqlite" else originator_id

    def create_statements(self) -> list[str]:
        """The chain table and the append-only guard on both tables (kept as they are when they exist)."""
        nid_type, uuid_type, hash_type = ("INTEGER", "TEXT", "BLOB") if self.backend == "sqlite" else (
            "bigint", "uuid", "bytea")
        table = (f"CREATE TABLE IF NOT EXISTS {self.chain} (notification_id {nid_type} PRIMARY KEY, "
                 f"originator_id {uuid_type} NOT NULL, originator_version bigint NOT NULL, content_hash "
                 f"{hash_type} NOT NULL, claim_hash {hash_type} NOT NULL, log_hash {hash_type} NOT NULL)")
        return [table, *(self.sqlite_guards() if self.backend == "sqlite" else self.postgres_guards())]

    def sqlite_guards(self) -> list[str]:
        return [f"CREATE TRIGGER IF NOT EXISTS {table}_refuse_{op.lower()} BEFORE {op} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
                for table in (self.events, self.chain) for op in ("UPDATE", "DELETE")]

    def postgres_guards(self) -> list[str]:
        schema = self.events.split(".")[0]
        function = f"{schema}.rcm_refuse_change"
        guards = [f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
                  f"RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
                  f"USING ERRCODE = 'insufficient_privilege'; END $f$"]
        for table in (self.events, self.chain):
            trigger = f"{table.split('.')[1].strip(chr(34))}_append_only"
            guards.append(f"DO $d$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{trigger}' AND "
                          f"tgrelid = '{table}'::regclass) THEN CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE OR "
                          f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}(); END IF; END $d$")
        return guards


@dataclass(frozen=True)
class Link:
    notification_id: int
    originator_id: UUID
    originator_version: int
    content: bytes
    claim: bytes
    log: bytes


def head(c: Any, t: ChainTables) -> tuple[int, bytes]:
    c.execute(f"SELECT notification_id AS nid, log_hash AS log FROM {t.chain} ORDER BY notification_id DESC LIMIT 1")
    row = c.fetchone()
    return (row["nid"], bytes(row["log"])) if row else (0, ZERO)


def first_unchained(c: Any, t: ChainTables, after: int, before: int | None = None) -> int | None:
    bound = "" if before is None else f" AND {t.nid} < ?"
    c.execute(t.sql(f"SELECT min({t.nid}) AS nid FROM {t.events} WHERE {t.nid} > ?{bound}"),
              (after,) if before is None else (after, before))
    row = c.fetchone()
    return row["nid"] if row else None


Chained = dict[tuple[UUID, int], tuple[int, bytes]]  # (originator, version) -> (notification id, claim hash)


def stored_claim_hashes(c: Any, t: ChainTables, wanted: Sequence[tuple[UUID, int]]) -> Chained:
    """The notification id and claim hash of each wanted event that is stored and chained (index lookups: the
    LATERAL ... LIMIT 1 keeps PostgreSQL from hashing the whole chain table instead)."""
    found: Chained = {}
    for start in range(0, len(wanted), PAGE):
        page = wanted[start:start + PAGE]
        if t.backend == "sqlite":  # SQLite looks each pair up by the primary keys as it is
            c.execute(f"WITH w(o, v) AS (VALUES {','.join(['(?,?)'] * len(page))}) SELECT w.o AS o, w.v AS v, "
                      f"c.notification_id AS nid, c.claim_hash AS claim FROM w JOIN {t.events} e ON e.originator_id "
                      f"= w.o AND e.originator_version = w.v JOIN {t.chain} c ON c.notification_id = e.rowid",
                      [x for o, v in page for x in (o.hex, v)])
        else:
            c.execute(f"SELECT w.o AS o, w.v AS v, x.nid AS nid, x.claim AS claim FROM unnest(%s::uuid[], "
                      f"%s::bigint[]) AS w(o, v) CROSS JOIN LATERAL (SELECT c.notification_id AS nid, c.claim_hash "
                      f"AS claim FROM {t.events} e JOIN {t.chain} c ON c.notification_id = e.notification_id WHERE "
                      "e.originator_id = w.o AND e.originator_version = w.v LIMIT 1) AS x",
                      ([o for o, _ in page], [v for _, v in page]))
        for r in c.fetchall():
            o = r["o"] if isinstance(r["o"], UUID) else UUID(r["o"])
            found[o, r["v"]] = (r["nid"], bytes(r["claim"]))
    return found


class ClaimHeads:
    """The last committed claim hash of the originators this process wrote last, so that a batch looks up only
    the others. Filled after commit only; keyed by version, so another writer's later event is never chained on."""

    def __init__(self, limit: int = 100_000) -> None:  # ~20 MB
        self.limit, self.kept = limit, dict[UUID, tuple[int, bytes]]()

    def get(self, originator_id: UUID, version: int) -> bytes | None:
        kept = self.kept.get(originator_id)
        return kept[1] if kept is not None and kept[0] == version else None

    def remember(self, latest: dict[UUID, tuple[int, bytes]]) -> None:
        for originator_id, kept in latest.items():
            self.kept.pop(originator_id, None)
            self.kept[originator_id] = kept
        for stale in list(islice(self.kept, max(0, len(self.kept) - self.limit))):
            del self.kept[stale]


Rows = list[tuple[int, Any, int, bytes, bytes, bytes]]  # chain rows as stored
Latest = dict[UUID, tuple[int, bytes]]  # originator -> (its last version in a batch, that version's claim hash)


def contents_of(events: Sequence[StoredEvent]) -> list[bytes]:
    """The events' content hashes: the costly part, computed before the writer takes the log's lock."""
    return [content_hash(s.originator_id, s.originator_version, s.topic, s.state)  # type: ignore[arg-type]
            for s in events]


def rows_for(c: Any, t: ChainTables, events: Sequence[StoredEvent], notification_ids: Sequence[int],
             heads: ClaimHeads, contents: Sequence[bytes]) -> tuple[Rows, Latest]:
    """The chain rows of events about to be committed with these notification ids (the writer holds the log)."""
    last_nid, log = head(c, t)
    unchained = first_unchained(c, t, last_nid, notification_ids[0])
    if unchained is not None:
        raise UnchainedEvents(f"the ledger has events from notification {unchained} on that the hash chain does not "
                              "cover (written before it): run `rcm audit upgrade` once, then write again")
    latest = previous_claim_hashes(c, t, events, heads)
    rows: Rows = []
    for s, nid, content in zip(events, notification_ids, contents):
        o: UUID = s.originator_id  # type: ignore[assignment]
        claim = claim_hash(latest[o][1], content)
        log = log_hash(log, nid, claim)
        latest[o] = (s.originator_version, claim)
        rows.append((nid, t.stored_id(o), s.originator_version, content, claim, log))
    return rows, latest


def previous_claim_hashes(c: Any, t: ChainTables, events: Sequence[StoredEvent], heads: ClaimHeads) -> Latest:
    """Each originator's claim hash before the batch: zeros for a new one, else remembered, else read."""
    latest: Latest = {}
    wanted = []
    for s in events:
        o: UUID = s.originator_id  # type: ignore[assignment]
        if o not in latest:
            known = ZERO if s.originator_version == 1 else heads.get(o, s.originator_version - 1)
            latest[o] = (s.originator_version - 1, known or b"")
            if known is None:
                wanted.append((o, s.originator_version - 1))
    stored = stored_claim_hashes(c, t, wanted)
    for o, v in wanted:
        if (o, v) not in stored:
            raise UnchainedEvents(f"no chain row for {o} version {v}: run `rcm audit verify` (and `rcm audit "
                                  "upgrade` for a ledger written before the chain)")
        latest[o] = (v, stored[o, v][1])
    return latest


def insert_rows(c: Any, t: ChainTables, rows: Rows) -> None:
    if t.backend == "sqlite":
        c.executemany(f"INSERT INTO {t.chain} VALUES (?,?,?,?,?,?)", rows)
        return
    with c.copy(f"COPY {t.chain} (notification_id, originator_id, originator_version, content_hash, claim_hash, "
                "log_hash) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "uuid", "int8", "bytea", "bytea", "bytea"])  # hashes as they are, not in hex
        for row in rows:
            copy.write_row(row)


def append(c: Any, t: ChainTables, events: Sequence[StoredEvent], notification_ids: Sequence[int],
           heads: ClaimHeads, contents: Sequence[bytes] | None = None) -> Latest:
    """Writes the batch's chain rows; what to remember once the transaction has committed."""
    contents = contents_of(events) if contents is None else contents
    rows, latest = rows_for(c, t, events, notification_ids, heads, contents)
    insert_rows(c, t, rows)
    return latest


class ChainStore:
    """The chain of one ledger's store, read and extended through the recorder's own connections."""

    def __init__(self, recorder: Any) -> None:
        self.recorder, self.t = recorder, recorder.chain_tables
        self.ledger: Any = None  # whatever owns the recorder's store, kept open as long as this

    @classmethod
    def of(cls, recorder: Any) -> ChainStore | None:
        return cls(recorder) if hasattr(recorder, "chain_tables") else None

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=False) as c:
            yield c

    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A transaction holding the log as the event writers do (PostgreSQL's table lock, SQLite's write lock)."""
        with self.recorder.datastore.transaction(commit=True) as c:
            if self.t.backend == "postgresql":
                self.recorder._lock_table(c)
            else:
                c.execute(f"INSERT INTO {self.t.chain} SELECT * FROM {self.t.chain} WHERE 0")  # takes the write lock
            yield c

    def claim_hashes(self, originator_id: UUID) -> dict[int, bytes]:
        with self.reading() as c:
            c.execute(self.t.sql(f"SELECT originator_version AS v, claim_hash AS claim FROM {self.t.chain} "
                                 "WHERE originator_id = ?"), (self.t.stored_id(originator_id),))
            return {r["v"]: bytes(r["claim"]) for r in c.fetchall()}

    def upgrade(self, progress: Any = lambda n: None) -> int:
        """Chains the events after the chain's head (those written before it), page by page; rewrites nothing."""
        self.recorder.create_table()
        chained = 0
        while True:
            with self.writing() as c:
                last_nid, _ = head(c, self.t)
                c.execute(self.t.sql(f"SELECT {self.t.nid} AS nid, originator_id, originator_version, topic, state "
                                     f"FROM {self.t.events} WHERE {self.t.nid} > ? ORDER BY {self.t.nid} LIMIT ?"),
                          (last_nid, PAGE))
                rows = c.fetchall()
                if not rows:
                    return chained
                events = [StoredEvent(originator_id=r["originator_id"] if isinstance(r["originator_id"], UUID)
                                      else UUID(r["originator_id"]), originator_version=r["originator_version"],
                                      topic=r["topic"], state=bytes(r["state"])) for r in rows]
                append(c, self.t, events, [r["nid"] for r in rows], ClaimHeads())
            chained += len(rows)
            progress(len(rows))
