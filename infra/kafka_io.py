"""Kafka adapters: topics as the project declares them, and the relay's transactional publisher."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from domain.contract import SCHEMA_VERSION, TOPIC, ClaimEventMessage

CHECKPOINT_TOPIC = "rcm.relay-checkpoint.v1"
TOPICS = {
    # per-claim order needs one partition per claim: key = claim id; events are kept forever (the ledger's copy)
    TOPIC: (6, {"cleanup.policy": "delete", "retention.ms": "-1", "min.insync.replicas": "1"}),
    # the relay's committed position: only the newest record per key matters
    CHECKPOINT_TOPIC: (1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
}


class BrokerUnavailable(Exception):
    pass


def connect_admin(bootstrap: str, attempts: int = 4) -> KafkaAdminClient:
    """The admin client, retried with back-off (0.5 s doubling) while no broker answers; each try waits 5 s."""
    delay = 0.5
    for attempt in range(attempts):
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="rcm-admin", request_timeout_ms=5000,
                                    bootstrap_timeout_ms=5000)
        except KafkaTimeoutError:
            if attempt == attempts - 1:
                raise BrokerUnavailable(f"no Kafka broker answers at {bootstrap} (start one: infra/kafka.sh start)")
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def ensure_topics(bootstrap: str, events_topic: str = TOPIC) -> None:
    admin = connect_admin(bootstrap)
    try:
        for name, (partitions, config) in TOPICS.items():
            name = events_topic if name == TOPIC else name
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                              topic_configs=config)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


class KafkaPublisher:
    """Publishes a page of messages and the relay's position in one Kafka transaction (fencing older relays)."""

    FLUSH_SECONDS = 10.0

    def __init__(self, bootstrap: str, topic: str = TOPIC, name: str = "rcm-relay") -> None:
        """`name` is the relay's identity: its transactional id and the key of its checkpoint."""
        ensure_topics(bootstrap, topic)
        self.bootstrap, self.topic, self.name = bootstrap, topic, name
        self.producer = self.new_producer()

    def new_producer(self) -> KafkaProducer:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, transactional_id=self.name,
                                 enable_idempotence=True, acks="all", linger_ms=5, batch_size=256 * 1024,
                                 compression_type=None, max_block_ms=10_000, request_timeout_ms=10_000)
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

    def publish(self, messages: Sequence[ClaimEventMessage], position: int) -> None:
        """One transaction: the page and the checkpoint. If the broker does not take the page within
        FLUSH_SECONDS the transaction is left open and an error raised: the relay replaces this producer, whose
        successor (same transactional id) aborts it, so read_committed consumers never see the page twice."""
        producer = self.producer
        producer.begin_transaction()
        for m in messages:
            producer.send(self.topic, key=str(m.claim_id).encode(), value=m.model_dump_json().encode(),
                          headers=[("type", m.type.encode()), ("schema_version", str(SCHEMA_VERSION).encode())])
        producer.send(CHECKPOINT_TOPIC, key=self.name.encode(), value=json.dumps({"position": position}).encode())
        producer.flush(timeout=self.FLUSH_SECONDS)  # raises KafkaTimeoutError while the broker is away
        producer.commit_transaction()

    def close(self) -> None:
        self.producer.close()
