"""`rcm consume NAME`: a Kafka consumer that keeps its results and its offsets in one database transaction.

Each poll's records are applied per partition; the results and the next offset of every partition touched are
written together, so a crash between "result written" and "offset written" cannot happen, and a restart (or a
rebalance) resumes from the offsets in the database, never double-applying; offsets move by compare and set, so
an instance that lost a partition in a rebalance while holding a batch of it drops that batch. A record that does
not parse as a claim event message goes to the dead-letter topic with the reason (durably, before its offset is
stored) and the consumer carries on. Several instances in one consumer group split the topic's partitions.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from threading import Event
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from pydantic import ValidationError

from domain.contract import TOPIC, ClaimEventMessage
from infra.kafka.consumer_stores import ConsumerStore, Database
from infra.kafka.topics import DEAD_LETTER_SUFFIX, BrokerUnavailable, ensure_dead_letter_topic, ensure_topics


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
    """Consumes `topic` into `store` (which it closes with itself) as consumer `name` of the broker at
    `bootstrap`."""

    def __init__(self, name: str, store: ConsumerStore, bootstrap: str, topic: str = TOPIC,
                 group: str | None = None, log: Callable[[str], None] = lambda s: None) -> None:
        self.name, self.topic, self.bootstrap, self.log = name, topic, bootstrap, log
        self.group = group or f"rcm-{name}"
        self.dead_letter_topic = topic + DEAD_LETTER_SUFFIX
        self.store = store
        self.offsets = Offsets(store.db)
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
        self.store.close()


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
