"""The relay against the real broker: kill -9 it repeatedly while it publishes ~50,000 events, restart it each
time; a read_committed consumer then sees every event exactly once and in order per claim."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import date
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from domain.contract import ClaimEventMessage
from infra.bootstrap import open_ledger
from infra.ingest import ingest
from infra.simulator import demo_commands
from tests.conftest import require_kafka

ROOT = Path(__file__).resolve().parents[2]


def read_topic(bootstrap: str, topic: str) -> list[tuple[dict[str, bytes], ClaimEventMessage]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                             isolation_level="read_committed", consumer_timeout_ms=6000, max_poll_records=5000)
    try:
        return [(dict(m.headers), ClaimEventMessage.model_validate_json(m.value)) for m in consumer]
    finally:
        consumer.close()


def log_end(bootstrap: str, topic: str) -> int:
    """Records written to the topic so far, committed or not (the sum of its partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def stored_sequences(url: str) -> dict[str, list[int]]:
    """Each claim's event versions as the store holds them, in order."""
    stored: dict[str, list[int]] = defaultdict(list)
    ledger = open_ledger(url)  # held: the store closes when its ledger goes
    for n in ledger.recorder.select_notifications(start=None, limit=10**9):
        if n.topic.startswith("domain.claim:Claim."):
            stored[str(n.originator_id)].append(n.originator_version)
    return stored


def survivors_of(topic: str) -> list[str]:
    """Processes still running for this topic, once the kernel has had up to 30 s to end the killed relays' readers
    (their parent-death signal)."""
    deadline = time.monotonic() + 30
    while True:
        survivors = subprocess.run(["pgrep", "-f", topic], capture_output=True, text=True).stdout.split()
        if not survivors or time.monotonic() > deadline:
            return survivors
        time.sleep(0.05)


def stderr_lines(process: subprocess.Popen) -> list[str]:
    """The process's stderr lines as they come, read by a thread (a full pipe would stall the process)."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_killed_relay_publishes_every_event_exactly_once_in_order(tmp_path):
    bootstrap = require_kafka()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ingest(url, demo_commands(12, 8000, date(2026, 11, 27)), source="test", workers=1)
    stored = stored_sequences(url)
    assert sum(map(len, stored.values())) > 45_000
    topic, name = f"test-events-{uuid.uuid4().hex[:8]}", f"test-relay-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "infra.cli", "relay", "--db", url, "--bootstrap-servers", bootstrap,
               "--topic", topic, "--name", name, "--page", "1000"]
    rng = random.Random(3)
    written = 0
    for _ in range(5):
        # Each kill lands once this run has written something (mid-page, mid-flush or mid-commit), so the kills
        # cover the whole publication however fast the machine is.
        relay = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while log_end(bootstrap, topic) < written + 1000 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.1))
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        written = log_end(bootstrap, topic)
    assert survivors_of(topic) == [], "a killed relay left its reader process behind"
    interrupted = len(read_topic(bootstrap, topic))
    assert interrupted < sum(map(len, stored.values())), "the kills all came after the relay had finished"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    published: dict[str, list[int]] = defaultdict(list)
    for headers, message in read_topic(bootstrap, topic):
        assert headers == {"type": message.type.encode(), "schema_version": b"1"}
        published[str(message.claim_id)].append(message.sequence)
    assert published == stored  # same claims, same sequences, no gap, no duplicate, in order


def test_published_messages_carry_no_patient_identifiers(tmp_path):
    bootstrap = require_kafka()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ingest(url, demo_commands(13, 30, date(2026, 11, 27)), source="test", workers=1)
    topic, name = f"test-events-{uuid.uuid4().hex[:8]}", f"test-relay-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-m", "infra.cli", "relay", "--db", url, "--bootstrap-servers", bootstrap,
                           "--topic", topic, "--name", name], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    messages = [m for _, m in read_topic(bootstrap, topic)]
    assert messages and all(m.claim_number for m in messages)
    text = " ".join(json.dumps(m.payload) for m in messages).lower()
    assert not any(word in text for word in ("birth", "member_id", "patient_name", "address"))


def test_relay_rides_out_a_broker_restart(tmp_path):
    """The project's broker is stopped while the relay publishes, claims keep being recorded meanwhile, and the
    broker is started again: the relay says so, backs off, resumes from its checkpoint, and the topic ends with
    every event exactly once, in order per claim."""
    bootstrap = require_kafka()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ingest(url, demo_commands(14, 8000, date(2026, 11, 27)), source="test", workers=1)
    topic, name = f"test-events-{uuid.uuid4().hex[:8]}", f"test-relay-{uuid.uuid4().hex[:8]}"
    relay = subprocess.Popen([sys.executable, "-m", "infra.cli", "relay", "--db", url, "--bootstrap-servers",
                              bootstrap, "--topic", topic, "--name", name, "--follow", "--page", "1000"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said = stderr_lines(relay)
    kafka = str(ROOT / "infra" / "kafka.sh")
    try:
        deadline = time.monotonic() + 120
        while log_end(bootstrap, topic) < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run([kafka, "stop"], capture_output=True, timeout=120, check=True)
        # Claims recorded while the broker is away: the relay must publish them into the outage.
        ingest(url, demo_commands(15, 200, date(2026, 11, 27)), source="test", workers=1)
        # the broker stays away until the relay says its own recovery took over (after the producer's 10 s limit)
        deadline = time.monotonic() + 180
        while not any("publishing failed" in line for line in said) and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run([kafka, "start"], capture_output=True, timeout=300, check=True)
        stored = stored_sequences(url)
        total = sum(map(len, stored.values()))
        deadline = time.monotonic() + 240
        published: list = []
        while time.monotonic() < deadline:
            published = read_topic(bootstrap, topic)
            if len(published) >= total:
                break
            time.sleep(3)
    finally:
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=30)
    log = "".join(said)
    assert "publishing failed" in log, "the relay never saw the broker go away"
    got: dict[str, list[int]] = defaultdict(list)
    for _, message in published:
        got[str(message.claim_id)].append(message.sequence)
    assert got == stored, log[-2000:]


def test_no_broker_at_start_up_is_said_plainly(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = subprocess.run([sys.executable, "-m", "infra.cli", "relay", "--db", url, "--bootstrap-servers",
                           f"127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert f"Kafka unavailable: no Kafka broker answers at 127.0.0.1:{port} (start one: infra/kafka.sh start)" \
        in done.stderr


def test_encoder_writes_what_the_model_writes_on_each_back_end(database_url):
    """The relay's fast encoder against the message model over a demo ledger read back from SQLite/PostgreSQL."""
    from domain.commands import COMMAND
    from domain.contract import encoded, message_for
    from infra.kafka.message_encoder import MessageEncoder

    ingest(database_url, demo_commands(14, 300, date(2026, 11, 27)), source="test", workers=1)
    ledger = open_ledger(database_url)
    ledger.execute([COMMAND.validate_python(
        {"type": "open_from_remittance", "claim_number": "ERA-ONLY-1", "billing_npi": "1234567893",
         "payer_id": "MCR", "payer_class": "medicare", "patient_key": "pk", "total_charge": "80.00",
         "service_date": "2026-05-01", "origin": "835 trace T1", "effective_at": "2026-06-01T10:00:00-04:00"}),
        COMMAND.validate_python(  # its 837, found later
            {"type": "code_claim", "claim_number": "ERA-ONLY-1", "billing_npi": "1234567893", "payer_id": "MCR",
             "payer_class": "medicare", "patient_key": "pk", "place_of_service": "11", "diagnoses": ["E11.9"],
             "lines": [{"procedure": "99213", "charge": "80.00", "service_date": "2026-05-01"}],
             "effective_at": "2026-05-02T10:00:00-04:00"}),
        COMMAND.validate_python({"type": "submit_claim", "claim_number": "ERA-ONLY-1", "billing_npi": "1234567893",
                                 "already_sent": True, "interchange_control_number": "000000777",
                                 "effective_at": "2026-05-02T10:00:00-04:00"})])
    encoder = MessageEncoder(ledger.mapper, lambda claim: ledger.repository.get(claim).claim_number)
    types = set()
    for n in ledger.recorder.select_notifications(start=1, limit=10**6):
        event = ledger.mapper.to_domain_event(n)
        if not n.topic.startswith("domain.claim:Claim."):
            assert encoder(n) is None
            continue
        reference = encoded(message_for(event, n.id, ledger.repository.get(n.originator_id).claim_number))
        assert encoder(n) == reference, n.topic
        types.add(reference.type)
    assert {"Coded", "Opened", "CodingAttached", "SubmissionAttached", "Scrubbed", "Submitted", "Accepted", "Rejected", "Paid", "Denied", "Appealed",
            "AppealDecided", "PatientBilled", "PatientPaid", "WrittenOff"} <= types, types
