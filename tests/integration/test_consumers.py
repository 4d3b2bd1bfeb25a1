"""The worklist and journal consumers against the real broker and real SQLite/PostgreSQL: results equal an
independent recomputation from the event store; a poison message goes to the dead-letter topic and the
consumer carries on; kill -9 and restart applies nothing twice; two instances in one group split the
partitions and together give the single-process result."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

from kafka import KafkaConsumer, KafkaProducer

from consumers import journal
from infra.bootstrap import open_consumer, open_consumer_database, open_ledger
from infra.kafka import consumer_stores
from infra.ingest import ingest
from infra.simulator import demo_commands
from projections import oracle
from tests.conftest import ROOT, require_kafka

TODAY = date(2026, 11, 27)


def relayed(url: str, claims: int, seed: int = 21) -> tuple[str, str]:
    """A demo ledger published to a fresh topic: (bootstrap, topic)."""
    from infra.bootstrap import open_relay
    bootstrap = require_kafka()
    ingest(url, demo_commands(seed, claims, TODAY), source="test", workers=1)
    topic = f"test-consume-{uuid.uuid4().hex[:8]}"
    relay = open_relay(url, bootstrap, topic, f"relay-{topic}")
    relay.run()
    relay.close()
    return bootstrap, topic


def consume(name: str, url: str, bootstrap: str, topic: str, group: str | None = None) -> dict[str, int]:
    runner = open_consumer(name, url, bootstrap, topic, group or f"g-{uuid.uuid4().hex[:8]}")
    try:
        return runner.run(idle_seconds=3)
    finally:
        runner.close()


def worklist_rows(url: str) -> list[dict]:
    with open_consumer_database(url) as db:
        return consumer_stores.worklist_rows(db)


def journal_rows(url: str) -> list[dict]:
    with open_consumer_database(url) as db:
        return consumer_stores.journal_rows(db)


def events(url: str) -> list:
    ledger = open_ledger(url)
    return [(n.id, ledger.mapper.to_domain_event(n)) for n in ledger.recorder.select_notifications(start=None, limit=10**7)]


def journal_totals(url: str) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {(str(r["day"]), r["payer_id"], r["account"]): (int(r["debit_cents"]), int(r["credit_cents"]))
            for r in journal_rows(url)}


def test_worklist_and_journal_equal_the_recomputation(database_url: str):
    bootstrap, topic = relayed(database_url, 400)
    assert consume("worklist", database_url, bootstrap, topic)["applied"] > 2000
    consume("journal", database_url, bootstrap, topic)
    rows = oracle.claim_rows(events(database_url))
    want = {r["claim_number"] for r in rows.values() if r["status"] in ("denied", "appealed")}
    items = [r for r in worklist_rows(database_url) if r["state"] in ("open", "appealed")]
    assert want and {r["claim_number"] for r in items} == want
    deadlines = [r["deadline"] for r in worklist_rows(database_url) if r["deadline"] is not None]
    assert deadlines == sorted(deadlines), "oldest deadline first"

    cash = oracle.cash_by_day(events(database_url))
    lines = journal_totals(database_url)
    by_day: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (day, payer, account), (debit, credit) in lines.items():
        by_day[(day, payer)]["debit"] += debit
        by_day[(day, payer)]["credit"] += credit
        by_day[(day, payer)][account] += debit - credit
    assert all(v["debit"] == v["credit"] for v in by_day.values()), "every day and payer balances"
    for (day, payer), money in cash.items():
        got = by_day.get((day.isoformat(), payer), {})
        assert got.get(journal.CASH, 0) == money.get("payer_paid", 0) + money.get("patient_paid", 0), (day, payer)
        reductions = sum(v for k, v in got.items()
                         if k in {journal.CONTRACTUAL, journal.ADJUSTMENTS, *journal.WRITE_OFF.values()})
        assert reductions == money.get("adjustments", 0) + money.get("written_off_payer", 0) + \
            money.get("written_off_patient", 0), (day, payer)


def test_poison_message_goes_to_the_dead_letter_topic(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    bootstrap, topic = relayed(url, 60)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, key=b"poison", value=b"\x00\x01 not json")
    producer.send(topic, key=b"poison2", value=b'{"schema_version": 1, "type": "Paid"}')
    producer.flush()
    producer.close()
    counts = consume("journal", url, bootstrap, topic)
    assert counts["dead_lettered"] == 2 and counts["applied"] > 300
    dlq = KafkaConsumer(topic + ".dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                        consumer_timeout_ms=5000)
    letters = list(dlq)
    dlq.close()
    assert len(letters) == 2
    # the two poison records sit on different partitions: their order in the dead-letter topic is not fixed
    reasons = {m.value: dict(m.headers)["reason"].decode() for m in letters}
    assert set(reasons) == {b"\x00\x01 not json", b'{"schema_version": 1, "type": "Paid"}'}
    assert reasons[b"\x00\x01 not json"].startswith("not a claim event message v1:")
    assert "field event_id: Field required" in reasons[b'{"schema_version": 1, "type": "Paid"}']
    assert all(dict(m.headers)["source"].decode().startswith(topic + "/") for m in letters)
    # the offsets moved past the poison: a second run applies and dead-letters nothing
    assert consume("journal", url, bootstrap, topic, group="again") == {"applied": 0, "dead_lettered": 0}


def test_killed_consumer_resumes_without_double_applying(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    bootstrap, topic = relayed(url, 1500)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    consume("journal", reference, bootstrap, topic)
    command = [sys.executable, "-m", "infra.cli", "consume", "journal", "--db", url, "--bootstrap-servers",
               bootstrap, "--topic", topic, "--group", f"g-{uuid.uuid4().hex[:8]}", "--follow"]
    for _ in range(2):  # killed as soon as it has stored something new, so each run ends part-way
        before = stored_offsets(url)
        worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while stored_offsets(url) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    applied_before = stored_offsets(url)
    done = subprocess.run(command[:-1] + ["--idle", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert journal_totals(url) == journal_totals(reference)
    assert 0 < applied_before, "the killed runs had applied part of the topic"


def stored_offsets(url: str) -> int:
    import sqlite3
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    try:
        return connection.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets").fetchone()[0]
    except sqlite3.OperationalError:  # the table does not exist before the consumer's first start
        return 0
    finally:
        connection.close()


def test_an_instance_whose_partitions_moved_on_meanwhile_drops_its_batch_instead_of_applying_it_twice(tmp_path):
    """The zombie case of a rebalance: an instance holds a polled batch while another instance applies those
    partitions and stores their offsets. Its batch must not be stored on top (nor its offsets written back)."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    bootstrap, topic = relayed(url, 60)
    late = open_consumer("journal", url, bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}")
    try:
        batch, deadline = {}, time.monotonic() + 60
        while not batch and time.monotonic() < deadline:  # joins, reads the stored offsets (none yet), polls
            batch = late.consumer.poll(timeout_ms=500)
        assert batch
        consume("journal", url, bootstrap, topic)  # meanwhile another instance applies the whole topic
        done = journal_totals(url)
        assert done
        assert late.handle(batch) == (0, 0)
        assert late.run(idle_seconds=3)["applied"] == 0
    finally:
        late.close()
    assert journal_totals(url) == done


def test_two_instances_in_one_group_split_the_partitions(database_url: str, tmp_path):
    bootstrap, topic = relayed(database_url, 500)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    consume("journal", reference, bootstrap, topic)
    group = f"g-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "infra.cli", "consume", "journal", "--db", database_url, "--bootstrap-servers",
               bootstrap, "--topic", topic, "--group", group, "--idle", "8"]
    workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=300)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    seen = [[frozenset(int(p) for p in found.split(",") if p.strip())
             for found in re.findall(r"assigned partitions \[([0-9, ]*)\]", text)] for text in outputs]
    split = [(a, b) for a in seen[0] for b in seen[1] if a and b and not a & b and a | b == set(range(6))]
    assert split, f"the two instances never shared the partitions: {seen}"
    assert journal_totals(database_url) == journal_totals(reference)
    total = sum(Decimal(d) for d, _ in journal_totals(database_url).values())
    assert total > 0


def test_projections_as_a_consumer_group_equal_the_single_process_projection(database_url: str, tmp_path):
    """Scale-out mode: two workers fold the topic's partitions into a second database with the projections' own
    code; every view table equals the single process that reads the store."""
    from infra.bootstrap import open_runner
    from tests.conftest import view_tables

    source = f"sqlite:///{tmp_path / 'source.db'}"
    bootstrap, topic = relayed(source, 500, seed=33)
    single = open_runner(source)
    single.catch_up()
    command = [sys.executable, "-m", "infra.cli", "consume", "projections", "--db", database_url,
               "--bootstrap-servers", bootstrap, "--topic", topic, "--group", f"g-{uuid.uuid4().hex[:8]}",
               "--idle", "8"]
    workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=300)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert all("messages applied" in text for text in outputs)
    scaled = open_runner(database_url)
    assert normal(view_tables(scaled)) == normal(view_tables(single))


def normal(tables: list[list[dict]]) -> list[list[dict]]:
    """The same rows whichever back end holds them (SQLite keeps dates as text and booleans as integers)."""
    def value(v: object) -> object:
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, date):
            return v.isoformat()
        return v
    return [sorted(({k: value(v) for k, v in row.items()} for row in rows), key=lambda r: [str(x) for x in r.values()])
            for rows in tables]
