"""The relay's Kafka publisher: each page of claim event messages and the relay's position in one transaction."""
from __future__ import annotations

import json
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.partitioner.default import murmur2

from domain.contract import SCHEMA_VERSION, TOPIC, Encoded
from infra.kafka.topics import CHECKPOINT_TOPIC, ensure_topics

SCHEMA = str(SCHEMA_VERSION).encode()
# The relay's producer (bench/kafka.py measures kafka-python's own ceiling with the same settings).
PRODUCER_SETTINGS = dict(enable_idempotence=True, acks="all", linger_ms=5, batch_size=256 * 1024,
                         compression_type=None, max_block_ms=10_000, request_timeout_ms=10_000)


class KafkaPublisher:
    """Publishes a page of messages and the relay's position in one Kafka transaction (fencing older relays)."""

    FLUSH_SECONDS = 10.0

    def __init__(self, bootstrap: str, topic: str = TOPIC, name: str = "rcm-relay") -> None:
        """`name` is the relay's identity: its transactional id and the key of its checkpoint."""
        ensure_topics(bootstrap, topic)
        self.bootstrap, self.topic, self.name = bootstrap, topic, name
        self.partitions: dict[bytes, int] = {}
        self.partition_ids: list[int] = []
        self.header_sets: dict[str, list[tuple[str, bytes]]] = {}
        self.producer = self.new_producer()

    def new_producer(self) -> KafkaProducer:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, transactional_id=self.name, **PRODUCER_SETTINGS)
        try:
            producer.init_transactions()  # fences any earlier producer of this relay, aborting its open transaction
        except Exception:
            producer.close(timeout=0)
            raise
        return producer

    def recover(self) -> None:
        try:
            self.producer.close(timeout=2)
        except Exception:  # noqa: BLE001 - the old producer is being replaced whatever state it is in
            pass
        self.producer = self.new_producer()

    def position(self) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, isolation_level="read_committed",
                                 enable_auto_commit=False, group_id=None)
        try:
            partition = TopicPartition(CHECKPOINT_TOPIC, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            end = consumer.end_offsets([partition])[partition]
            last = 0
            while consumer.position(partition) < end:
                for records in consumer.poll(timeout_ms=1000).values():
                    for record in records:
                        if record.key == self.name.encode():
                            last = json.loads(record.value)["position"]
            return last
        finally:
            consumer.close()

    def publish(self, messages: Sequence[Encoded], position: int) -> None:
        """One transaction: the page and the checkpoint. If the broker does not take the page within
        FLUSH_SECONDS the transaction is left open and an error raised: the relay replaces this producer, whose
        successor (same transactional id) aborts it, so read_committed consumers never see the page twice.
        Each message goes to the partition Kafka's default partitioner picks for its key (murmur2, computed
        once per claim here instead of once per message)."""
        producer = self.producer
        producer.begin_transaction()
        if all(hasattr(producer, name) for name in ("_accumulator", "_sender", "_transaction_manager")):
            self.append(messages)
        else:
            self.learn_partitions()
            for key, kind, value in messages:
                producer.send(self.topic, key=key, value=value, partition=self.partition_of(key),
                              headers=self.headers(kind))
        producer.send(CHECKPOINT_TOPIC, key=self.name.encode(), value=json.dumps({"position": position}).encode())
        producer.flush(timeout=self.FLUSH_SECONDS)  # raises KafkaTimeoutError while the broker is away
        self.commit(producer)

    def commit(self, producer: KafkaProducer) -> None:
        """Commits the page's transaction, waiting FLUSH_SECONDS at most. kafka-python's commit_transaction() waits
        for the broker's answer without a limit: a broker gone between the flush and the commit left the relay
        silent until it came back (CI saw it). Past the limit an error is raised; the relay replaces this producer,
        whose successor aborts the transaction unless the broker committed it, and resumes from the checkpoint the
        topic holds either way (kafka-python 3.0.x, as `append`; without its internals, commit_transaction())."""
        manager, sender = getattr(producer, "_transaction_manager", None), getattr(producer, "_sender", None)
        if manager is None or sender is None or not hasattr(manager, "begin_commit"):
            producer.commit_transaction()
            return
        result = manager.begin_commit()
        sender.wakeup()
        if not result.wait(timeout_ms=self.FLUSH_SECONDS * 1000):
            raise KafkaTimeoutError(f"the broker did not answer the commit within {self.FLUSH_SECONDS:.0f}s")

    def append(self, messages: Sequence[Encoded]) -> None:
        """What kafka-python's `send()` does for each message, minus what it repeats for every message of a page
        (argument checks, a debug line formatted per call, adding the partition to the transaction, size
        estimates): its record accumulator appends each record and the sender is woken for each new batch. About
        half the relay's time was `send()`'s own overhead. kafka-python is pinned to the release this was written
        against (3.0.x); without these internals publish() takes `send()`."""
        producer = self.producer
        accumulator, sender, transactions = producer._accumulator, producer._sender, producer._transaction_manager
        self.learn_partitions()  # as send() does: without the topic's metadata the sender could not deliver
        limit = producer.config["max_request_size"] - 512  # room for the record's own framing and headers
        partitions: dict[int, TopicPartition] = {}
        for key, kind, value in messages:
            partition = self.partition_of(key)
            tp = partitions.get(partition)
            if tp is None:
                tp = partitions[partition] = TopicPartition(self.topic, partition)
                transactions.maybe_add_partition_to_transaction(tp)  # raises if the transaction has failed
            if len(value) > limit:
                raise MessageSizeTooLargeError(f"claim event message of {len(value)} bytes exceeds {limit}")
            _, full, new, _ = accumulator.append(tp, None, key, value, self.headers(kind))
            if full or new:
                sender.wakeup()

    def learn_partitions(self) -> None:
        """The topic's partitions, from the producer's metadata (waiting for it, e.g. after a new producer)."""
        ids = sorted(self.producer.partitions_for(self.topic))
        if ids != self.partition_ids:
            self.partition_ids, self.partitions = ids, {}

    def headers(self, kind: str) -> list[tuple[str, bytes]]:
        found = self.header_sets.get(kind)
        if found is None:
            found = self.header_sets[kind] = [("type", kind.encode()), ("schema_version", SCHEMA)]
        return found

    def partition_of(self, key: bytes) -> int:
        partition = self.partitions.get(key)
        if partition is None:
            if len(self.partitions) > 1_000_000:
                self.partitions.clear()
            partition = self.partitions[key] = self.partition_ids[(murmur2(key) & 0x7FFFFFFF)
                                                                  % len(self.partition_ids)]
        return partition

    def close(self) -> None:
        self.producer.close()
