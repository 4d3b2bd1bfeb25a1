"""The project's own Apache Kafka broker (KRaft, from Maven Central jars): topics, transactions, read_committed.
(The relay and consumers of the Kafka issue build on this; they are not written yet.)"""
from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.conftest import require_kafka


def read_committed(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                             isolation_level="read_committed", consumer_timeout_ms=4000)
    try:
        return sorted(m.value for m in consumer)
    finally:
        consumer.close()


def test_transactions_are_visible_to_read_committed_consumers_only_when_committed():
    bootstrap = require_kafka()
    topic = f"test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{topic}", enable_idempotence=True)
    producer.init_transactions()
    producer.begin_transaction()
    for i in range(5):
        producer.send(topic, key=f"claim-{i % 2}".encode(), value=f"kept-{i}".encode())
    producer.commit_transaction()
    producer.begin_transaction()
    producer.send(topic, key=b"claim-0", value=b"aborted")
    producer.flush()
    producer.abort_transaction()
    producer.close()
    assert read_committed(bootstrap, topic) == [f"kept-{i}".encode() for i in range(5)]
