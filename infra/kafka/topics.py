"""The project's Kafka topics as it declares them (partitions, retention), created through the admin client."""
from __future__ import annotations

import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from domain.contract import TOPIC

CHECKPOINT_TOPIC = "rcm.relay-checkpoint.v1"
DEAD_LETTER_SUFFIX = ".dlq"
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


def ensure_dead_letter_topic(bootstrap: str, topic: str) -> None:
    admin = connect_admin(bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                      topic_configs={"cleanup.policy": "delete", "retention.ms": "-1"})])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
