"""`rcm consume NAME`: Kafka consumers that keep their results and their offsets in one database transaction.

Each poll's records are applied per partition; the results and the next offset of every partition touched are
written together, so a crash between "result written" and "offset written" cannot happen, and a restart (or a
rebalance) resumes from the offsets in the database, never double-applying; offsets move by compare and set, so
an instance that lost a partition in a rebalance while holding a batch of it drops that batch. A record that does not parse as a
claim event message goes to the dead-letter topic with the reason (durably, before its offset is stored) and the
consumer carries on. Several instances in one consumer group split the topic's partitions.
"""
from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from threading import Event
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from pydantic import ValidationError

from consumers import journal, worklist
from domain.contract import TOPIC, ClaimEventMessage
from infra.kafka.publisher import BrokerUnavailable, ensure_topics
from infra.settings import Settings
from infra.transcoding import plain_event_class

DEAD_LETTER_SUFFIX = ".dlq"


class Database:
    """The ledger's own database (SQLite file or PostgreSQL schema), for the consumers' tables."""

    def __init__(self, url: str | None) -> None:
        self.settings = Settings.load(url)
        self.dialect = self.settings.backend
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError("consumers keep their results in SQLite or PostgreSQL, not memory:")
        self.connection = self.open()
        self.lock = threading.RLock()

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
            db.execute(c, "CREATE TABLE IF NOT EXISTS journal_claims (claim_id TEXT PRIMARY KEY, payer_id TEXT NOT NULL, "
                          "sequence INTEGER NOT NULL)")
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
    return event


class ProjectionStore:
    """Scale-out mode: the projections' own code (fold and views) fed from the topic's partitions; the page and
    the partitions' offsets are written in the views' transaction instead of the tracking rows."""

    name = "projections"

    def __init__(self, db: Database) -> None:
        from infra.bootstrap import open_ledger, open_views
        with db.exclusive():  # two workers starting together create the tables one after the other
            self.ledger = open_ledger(db.settings.database_url, source="projections")
            self.views = open_views(self.ledger, db.settings.database_url)

    def save(self, messages: list[ClaimEventMessage], record_offsets: Callable[[Any], None]) -> None:
        page = [(m.position, event_of(m)) for m in messages]
        if page:
            self.views.apply(page, record_position=record_offsets)
        else:
            with self.views.transaction() as c:
                record_offsets(c)


STORES = {"worklist": WorklistStore, "journal": JournalStore, "projections": ProjectionStore}


class Offsets:
    def __init__(self, db: Database) -> None:
        self.db = db
        schema = db.settings.postgres_schema if db.dialect == "postgresql" else ""
        # qualified: the projections write offsets through the views' own connection, whose search_path differs
        self.table = f"{schema}.consumer_offsets" if schema else "consumer_offsets"
        with db.schema_change() as c:
            db.execute(c, f"CREATE TABLE IF NOT EXISTS {self.table} (consumer TEXT NOT NULL, topic TEXT NOT NULL, "
                          "partition_id INTEGER NOT NULL, next_offset BIGINT NOT NULL, "
                          "PRIMARY KEY (consumer, topic, partition_id))")

    def read(self, consumer: str, topic: str) -> dict[int, int]:
        rows = self.db.query(f"SELECT partition_id, next_offset FROM {self.table} WHERE consumer = ? AND topic = ?",
                             (consumer, topic))
        return {r["partition_id"]: r["next_offset"] for r in rows}

    def write(self, c: Any, consumer: str, topic: str, offsets: dict[int, int],
              expected: dict[int, int | None]) -> None:
        """Compare and set: each partition's offset moves only from the one this instance last read or wrote
        (None: no row yet). An instance whose partition was moved to another during a rebalance, with a batch
        in flight, cannot store that batch: the other instance may have applied its records already."""
        for partition, offset in sorted(offsets.items()):
            if partition not in expected:
                raise StaleOffsets(f"partition {partition} of {topic} is not assigned to this {consumer} instance")
            was = expected[partition]
            if was is None:
                self.db.execute(c, f"INSERT INTO {self.table} (consumer, topic, partition_id, next_offset) VALUES "
                                   "(?, ?, ?, ?) ON CONFLICT (consumer, topic, partition_id) DO NOTHING "
                                   "RETURNING next_offset", (consumer, topic, partition, offset))
            else:
                self.db.execute(c, f"UPDATE {self.table} SET next_offset = ? WHERE consumer = ? AND topic = ? AND "
                                   "partition_id = ? AND next_offset = ? RETURNING next_offset",
                                (offset, consumer, topic, partition, was))
            if c.fetchone() is None:
                raise StaleOffsets(f"partition {partition} of {topic}: another {consumer} instance stored results "
                                   f"past offset {was}")


class StaleOffsets(Exception):
    """A batch's partition moved on in the database meanwhile (a rebalance gave it to another instance)."""


class SeekToStored(ConsumerRebalanceListener):
    """On every assignment, resume each partition at the offset stored with the results."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self.runner.expected.pop(tp.partition, None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        r = self.runner
        r.assigned = sorted(tp.partition for tp in assigned)
        r.joined, r.quiet_since = True, time.monotonic()
        r.log(f"assigned partitions {r.assigned} of {r.topic}")
        r.seek_to_stored(assigned)


class ConsumerRunner:
    def __init__(self, name: str, database_url: str | None, bootstrap: str, topic: str = TOPIC,
                 group: str | None = None, log: Callable[[str], None] = lambda s: None) -> None:
        if name not in STORES:
            raise ValueError(f"no consumer {name!r}: one of {', '.join(STORES)}")
        self.name, self.topic, self.bootstrap, self.log = name, topic, bootstrap, log
        self.group = group or f"rcm-{name}"
        self.dead_letter_topic = topic + DEAD_LETTER_SUFFIX
        self.db = Database(database_url)
        self.store = STORES[name](self.db)
        self.offsets = Offsets(self.db)
        self.assigned: list[int] = []
        self.expected: dict[int, int | None] = {}  # each assigned partition's stored offset, as last read or written
        self.joined = False
        self.quiet_since = time.monotonic()
        self.consumer, self.producer = self.connect()

    def connect(self, attempts: int = 3) -> tuple[KafkaConsumer, KafkaProducer]:
        delay = 0.5
        for attempt in range(attempts):
            try:
                ensure_topics(self.bootstrap, self.topic)
                ensure_dead_letter_topic(self.bootstrap, self.dead_letter_topic)
                consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                         enable_auto_commit=False, isolation_level="read_committed",
                                         auto_offset_reset="earliest", max_poll_records=2000,
                                         client_id=f"rcm-{self.name}",
                                         # a crashed instance's partitions move on after 6 s (the broker's minimum)
                                         session_timeout_ms=6000, heartbeat_interval_ms=2000)
                self.consumer = consumer
                consumer.subscribe([self.topic], listener=SeekToStored(self))
                producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
                return consumer, producer
            except (BrokerUnavailable, KafkaError) as error:
                if attempt == attempts - 1:
                    raise BrokerUnavailable(str(error) if isinstance(error, BrokerUnavailable) else
                                            f"Kafka at {self.bootstrap} failed {attempts} times: {error}") from None
                self.log(f"Kafka at {self.bootstrap} not answering ({type(error).__name__}); retrying in {delay:.1f}s")
                time.sleep(delay)
                delay = min(delay * 2, 10)
        raise AssertionError("unreachable")

    def run(self, stop: Event | None = None, follow: bool = False, idle_seconds: float = 5.0,
            progress: Callable[[int], None] = lambda n: None) -> dict[str, int]:
        """Consumes until stopped (follow) or until nothing arrives for `idle_seconds`."""
        counts = {"applied": 0, "dead_lettered": 0}
        self.quiet_since = quiet_since = time.monotonic()
        while stop is None or not stop.is_set():
            try:
                batch = self.consumer.poll(timeout_ms=500)
            except KafkaError as error:  # broker gone mid-run: kafka-python reconnects; we wait and say so
                self.log(f"Kafka error while polling ({type(error).__name__}: {error}); retrying")
                time.sleep(1)
                continue
            if not batch:
                # idle only counts once the group has given this instance its partitions (a join can take a
                # session timeout when an earlier member left without saying so)
                waited = time.monotonic() - max(quiet_since, self.quiet_since)
                if not follow and (self.joined and waited > idle_seconds or waited > max(idle_seconds, 60)):
                    break
                continue
            quiet_since = time.monotonic()
            applied, dead = self.handle(batch)
            counts["applied"] += applied
            counts["dead_lettered"] += dead
            progress(applied + dead)
        return counts

    def handle(self, batch: dict[TopicPartition, list[Any]]) -> tuple[int, int]:
        messages: list[ClaimEventMessage] = []
        offsets: dict[int, int] = {}
        dead: list[Any] = []
        for tp, records in batch.items():
            for record in records:
                try:
                    messages.append(ClaimEventMessage.model_validate_json(record.value))
                except (ValidationError, ValueError, TypeError) as error:
                    dead.append((record, reason_of(error)))
            offsets[tp.partition] = records[-1].offset + 1
        for record, reason in dead:
            self.dead_letter(record, reason)
        if dead:
            self.producer.flush(timeout=30)  # durable in the dead-letter topic before its offset is stored
        for attempt in range(3):  # a transaction the database gave up on (deadlock, busy) is simply run again
            try:
                self.store.save(messages, lambda c: self.offsets.write(c, self.name, self.topic, offsets,
                                                                       self.expected))
                self.expected.update(offsets)
                break
            except StaleOffsets as error:
                self.log(f"{error}: batch dropped, resuming from the stored offsets")
                self.seek_to_stored(self.consumer.assignment())
                return 0, len(dead)
            except Exception as error:  # noqa: BLE001 - only the database's transient refusals are retried
                if attempt == 2 or not transient(error):
                    raise
                self.log(f"database refused a page ({type(error).__name__}); running it again")
                time.sleep(0.2 * (attempt + 1))
        try:
            self.consumer.commit({tp: _offset(offsets[tp.partition]) for tp in batch})  # for group tooling only
        except KafkaError:
            pass  # the database holds the truth; the group's committed offsets are informational
        return len(messages), len(dead)

    def seek_to_stored(self, partitions: Any) -> None:
        """Resumes each partition at the offset stored with the results (from the start if none is)."""
        stored = self.offsets.read(self.name, self.topic)
        for tp in partitions:
            self.expected[tp.partition] = stored.get(tp.partition)
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)

    def dead_letter(self, record: Any, reason: str) -> None:
        self.log(f"dead letter: {record.topic}[{record.partition}]@{record.offset}: {reason}")
        self.producer.send(self.dead_letter_topic, key=record.key, value=record.value or b"", headers=[
            ("reason", reason.encode()[:2000]), ("consumer", self.name.encode()),
            ("source", f"{record.topic}/{record.partition}/{record.offset}".encode())])

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()


def _offset(value: int) -> Any:
    from kafka.structs import OffsetAndMetadata
    return OffsetAndMetadata(value, "", -1)


def transient(error: Exception) -> bool:
    name = type(error).__name__
    return name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable") or \
        (name == "OperationalError" and ("locked" in str(error) or "deadlock" in str(error)))


def reason_of(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        return f"not a claim event message v1: field {where}: {first['msg']}"
    return f"not a claim event message v1: {error}"


def ensure_dead_letter_topic(bootstrap: str, topic: str) -> None:
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from infra.kafka.publisher import connect_admin
    admin = connect_admin(bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                      topic_configs={"cleanup.policy": "delete", "retention.ms": "-1"})])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def worklist_rows(database_url: str | None, include_closed: bool = False) -> list[dict[str, Any]]:
    db = Database(database_url)
    WorklistStore(db)
    states = "('open', 'appealed', 'overturned', 'closed')" if include_closed else "('open', 'appealed', 'overturned')"
    rows = db.query(f"SELECT claim_number, payer_id, category, carcs, at_stake_cents, denied_on, appeal_level, "
                    f"deadline, priority, state FROM worklist WHERE state IN {states} "
                    f"ORDER BY deadline IS NULL, deadline, at_stake_cents DESC, claim_number")
    return rows


def journal_rows(database_url: str | None, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    db = Database(database_url)
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

