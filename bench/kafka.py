"""Kafka benchmark: the relay's throughput next to Kafka's own producer-perf-test, and end-to-end latency.

  python bench/kafka.py [--claims 8000] [--json]

In one run, on the project's broker (infra/kafka.sh): (1) the relay publishes a demo ledger to a fresh topic
(events/s); (2) org.apache.kafka.tools.ProducerPerformance, from the same jars, sends the same number of
records of the same average size, and so does kafka-python's public send() with the relay's producer
settings and transactions (the Python client's own ceiling: no store, no encoding); (3) while the relay
follows, single commands are appended and a read_committed consumer times each event from append to arrival.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the kafka package: take its own folder off the path before importing it.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer  # noqa: E402

from consumers.relay import PAGE  # noqa: E402
from infra.bootstrap import open_ledger, open_relay  # noqa: E402
from infra.gc_tuning import tune_for_bulk_work  # noqa: E402
from infra.kafka.publisher import PRODUCER_SETTINGS  # noqa: E402
from infra.kafka.topics import ensure_topics  # noqa: E402
from infra.ingest import ingest  # noqa: E402
from infra.simulator import demo_commands, office_visit  # noqa: E402


def kafka_bootstrap() -> str:
    done = subprocess.run([str(ROOT / "infra" / "kafka.sh"), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def perf_test(bootstrap: str, records: int, size: int) -> float:
    lib = ROOT / "infra" / "kafka" / "lib"
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    subprocess.run(["java", "-cp", f"{lib}/*", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap,
                    "--create", "--topic", topic, "--partitions", "6"], capture_output=True, check=True)
    done = subprocess.run(["java", "-cp", f"{lib}/*", "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                           "--num-records", str(records), "--record-size", str(size), "--throughput", "-1",
                           "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5",
                           "batch.size=262144"], capture_output=True, text=True, check=True)
    return float(re.findall(r"([0-9.]+) records/sec", done.stdout)[-1])


def client_ceiling(bootstrap: str, records: int, size: int, page: int = PAGE) -> float:
    """kafka-python's own speed here: its public send() with the relay's producer settings and transactions of
    a relay page, records of the same size and count built beforehand (no store, no encoding)."""
    from kafka import KafkaProducer

    topic = f"bench-client-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, topic)
    keys = [str(uuid.uuid4()).encode() for _ in range(records)]
    value = b"x" * size
    headers = [("type", b"Paid"), ("schema_version", b"1")]
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic, **PRODUCER_SETTINGS)
    producer.init_transactions()
    started = time.perf_counter()
    for first in range(0, records, page):
        producer.begin_transaction()
        for key in keys[first:first + page]:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
        producer.commit_transaction()
    seconds = time.perf_counter() - started
    producer.close()
    return records / seconds


def e2e_latency(url: str, bootstrap: str, topic: str, name: str, samples: int = 100) -> list[float]:
    relay = open_relay(url, bootstrap, topic, name)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, kwargs={"stop": stop, "follow": True, "poll_seconds": 0.005},
                              daemon=True)
    thread.start()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, isolation_level="read_committed", group_id=None,
                             auto_offset_reset="latest", fetch_max_wait_ms=5)
    consumer.poll(timeout_ms=1000)
    writer, lags = open_ledger(url, source="bench"), []
    try:
        for i in range(samples):
            number = f"E2E-{i}-{uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            writer.execute([office_visit(number)])
            seen = False
            while not seen and time.perf_counter() - started < 10:
                for records in consumer.poll(timeout_ms=50).values():
                    seen = seen or any(json.loads(r.value)["claim_number"] == number for r in records)
            lags.append((time.perf_counter() - started) * 1000)
    finally:
        stop.set()
        thread.join()
        consumer.close()
        relay.close()
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=8000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tune_for_bulk_work()
    bootstrap = kafka_bootstrap()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='rcm-kafka-bench-')}/ledger.db"
    ingest(url, demo_commands(4, args.claims, date(2026, 11, 27)), source="bench")
    topic, name = f"bench-events-{uuid.uuid4().hex[:8]}", f"bench-relay-{uuid.uuid4().hex[:8]}"
    relay = open_relay(url, bootstrap, topic, name)
    started = time.perf_counter()
    published = relay.run()
    relay_s = time.perf_counter() - started
    relay.close()
    sizes = [len(m.value) for m in KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                                 group_id=None, consumer_timeout_ms=3000, max_poll_records=5000)]
    size = round(sum(sizes) / len(sizes))
    perf = perf_test(bootstrap, published, size)
    client = client_ceiling(bootstrap, published, size)
    lags = sorted(e2e_latency(url, bootstrap, f"{topic}-e2e", f"{name}-e2e"))
    result = {"events": published, "message_bytes_avg": size, "relay_events_per_s": round(published / relay_s),
              "perf_test_records_per_s": round(perf), "relay_vs_perf_test": round(published / relay_s / perf, 3),
              "kafka_python_records_per_s": round(client),
              "relay_vs_kafka_python": round(published / relay_s / client, 3),
              "e2e_p50_ms": round(lags[len(lags) // 2], 1), "e2e_p99_ms": round(lags[int(len(lags) * 0.99) - 1], 1)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
