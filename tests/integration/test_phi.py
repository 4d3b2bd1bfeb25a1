"""The PHI store on both back ends: a wrong or missing master key reads and writes nothing; forgetting a patient
leaves the money history and the reports whole and the PHI unreadable; after importing every 837/835 sample, no
patient name, birth date or member id is in the database file, a pg_dump, the read models or the Kafka topic."""
from __future__ import annotations

import base64
import glob
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from domain.values import claim_id
from infra.bootstrap import open_ledger, open_patient_keys, open_runner
from infra.keys import ENV_FILE, ENV_KEY, MasterKey, MasterKeyError
from infra.phi import TABLES, PhiUnreadable, open_phi_store
from infra.settings import Settings
from infra.x12.importer import Importer, intakes
from tests.conftest import ROOT, require_kafka, view_tables

SAMPLES = ROOT.parent / "shared" / "data" / "x12"
RCM = [sys.executable, "-m", "infra.cli"]
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()
QUARANTINED = "Inteligenz+X12Parser/ExampleFromNth.txt"  # masked amounts that do not balance: held whole


def rcm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RCM, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})


def remittance_and_claim_samples() -> list[str]:
    """Every 837 and 835 file INDEX.md lists (its "type" column), independently of the project's own lists."""
    names = []
    for line in (SAMPLES / "INDEX.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[2][:3] in ("835", "837"):
            names.append(cells[1])
    return names


def segments(text: str) -> list[list[str]]:
    """Segments of every interchange in a file, from the ISA's own delimiters (not the project's reader)."""
    out, start = [], text.find("ISA")
    while start >= 0:
        element, terminator = text[start + 3], text[start + 105]
        end = text.find("ISA" + element, start + 106)
        chunk = text[start:] if end < 0 else text[start:end]
        out += [[e.strip() for e in s.strip().split(element)] for s in chunk.split(terminator) if s.strip()]
        start = end
    return out


def sample_identifiers(names: list[str]) -> set[str]:
    """Patient and subscriber last and first names and member ids (NM1*QC/IL 03, 04, 09) and birth dates (DMG02).
    Left out: masked values (only X and 9), values shorter than 4 characters, and values the same files also use
    for something that is no person (a provider's tax id, a claim number, a contact name), which the ledger keeps
    by design. (Three letters are left out because random bytes - ciphertext, the chain's hashes - spell them by
    chance: 'DOE', 'TWO' and 'TED' each appeared once in ten runs of the SQLite scan, from different bytes each
    time; a four-letter word is some 256 times less likely.)"""
    person, other = set(), set()
    for name in names:
        for seg in segments((SAMPLES / name).read_text(encoding="utf-8-sig", errors="replace")):
            if seg[0] == "NM1" and len(seg) > 1 and seg[1] in ("IL", "QC"):
                person.update(seg[i] for i in (3, 4, 9) if len(seg) > i)
            elif seg[0] == "DMG" and len(seg) > 2:
                person.add(seg[2])
            else:
                other.update(seg[1:])
    return {v for v in person - other if len(v) >= 4 and not re.fullmatch(r"[X9 \-]*", v)}


def tokens(data: bytes) -> set[str]:
    """What `strings` shows (runs of 3+ printable characters), split into words of letters and digits."""
    found: set[str] = set()
    for run in re.findall(rb"[\x20-\x7e]{3,}", data):
        found.update(re.findall(r"[A-Za-z0-9]+", run.decode()))
    return found


def database_dump(url: str) -> bytes:
    settings = Settings.load(url)
    if settings.backend == "sqlite":
        path = settings.eventsourcing_env()["SQLITE_DBNAME"]
        return b"".join(Path(p).read_bytes() for p in (path, f"{path}-wal") if Path(p).exists())
    pg_dump = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    if not pg_dump:
        pytest.fail("pg_dump not found under /usr/lib/postgresql/*/bin")
    done = subprocess.run([pg_dump[-1], "--schema", settings.postgres_schema, settings.postgres_conninfo()],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def import_samples(url: str, names: list[str]) -> Any:
    ledger = open_ledger(url)
    importer = Importer(ledger, open_patient_keys(), validate=False)
    for name in names:
        importer.import_file(str(SAMPLES / name))
    return ledger


def test_the_scan_finds_what_the_samples_name():
    """The identifiers are many, and the scan sees them in the samples' own text: finding none means something."""
    names = remittance_and_claim_samples()
    wanted = sample_identifiers(names)
    assert len(names) >= 20 and QUARANTINED in names and len(wanted) > 50
    text = b"".join((SAMPLES / n).read_bytes() for n in names)
    assert wanted <= tokens(text)


def test_no_identifier_in_the_database_after_importing_every_sample(database_url: str):
    names = remittance_and_claim_samples()
    ledger = import_samples(database_url, names)
    held = [i for i in intakes(ledger) if i.status == "quarantined"]
    assert held and all(q["phi_record"] and not q["text"] for i in held for q in i.quarantines)
    leaked = sample_identifiers(names) & tokens(database_dump(database_url))
    assert leaked == set(), f"in clear in the database: {sorted(leaked)}"
    phi = open_phi_store(ledger)
    assert "ISA" in phi.open(held[0].quarantines[0]["phi_record"])["text"]  # the held text, read back


def test_read_models_carry_no_identifier(database_url: str):
    names = remittance_and_claim_samples()
    import_samples(database_url, names)
    runner = open_runner(database_url)
    runner.catch_up()
    rows = json.dumps(view_tables(runner), default=str).encode()
    assert b"claim_number" in rows or len(rows) > 1000
    assert sample_identifiers(names) & tokens(rows) == set()


def test_kafka_messages_carry_no_identifier(tmp_path: Path):
    bootstrap = require_kafka()
    names = remittance_and_claim_samples()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = import_samples(url, names)
    claim_events = [n for n in ledger.recorder.select_notifications(start=None, limit=10**9)
                    if n.topic.startswith("domain.claim:")]
    topic, name = f"test-phi-{uuid.uuid4().hex[:8]}", f"test-relay-{uuid.uuid4().hex[:8]}"
    done = rcm("relay", "--db", url, "--bootstrap-servers", bootstrap, "--topic", topic, "--name", name)
    assert done.returncode == 0, done.stderr
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                             isolation_level="read_committed", consumer_timeout_ms=6000)
    try:
        messages = [m.value for m in consumer]
    finally:
        consumer.close()
    assert len(messages) == len(claim_events) > 0
    assert sample_identifiers(names) & tokens(b"\n".join(messages)) == set()


# ---- the master key ----

def phi_rows(ledger: Any) -> list[Any]:
    phi = open_phi_store(ledger)
    return [phi.rows(f"SELECT * FROM {{{table}}}") for table in TABLES]


def test_a_wrong_or_missing_master_key_reads_and_writes_nothing(database_url: str, tmp_path: Path):
    era = str(SAMPLES / "kputnam+stupidedi/era-sample.edi")
    ledger = open_ledger(database_url)
    Importer(ledger, open_patient_keys(), validate=False).import_file(str(SAMPLES / "kputnam+stupidedi/commercial-health-insurance.edi"))
    before, events = phi_rows(ledger), ledger.recorder.max_notification_id()
    wrong = {ENV_KEY: OTHER_KEY}
    missing = {ENV_KEY: "", ENV_FILE: str(tmp_path / "no-such.key")}
    for env in (wrong, missing):
        with pytest.raises(MasterKeyError, match="fingerprint" if env is wrong else "does not exist"):
            open_phi_store(ledger, {**os.environ, **env})
        done = rcm("import", era, "--no-validate", "--db", database_url, env=env)
        assert done.returncode == 2 and "master key" in done.stderr, done.stderr
        shown = rcm("phi", "show", claim_patient(ledger), "--db", database_url, env=env)
        assert shown.returncode == 2 and "master key" in shown.stderr and "SMITH" not in shown.stdout
    assert phi_rows(ledger) == before and open_ledger(database_url).recorder.max_notification_id() == events
    assert not (tmp_path / "no-such.key").exists()


def test_a_new_ledger_with_no_key_configured_makes_one(tmp_path: Path):
    """Zero set-up: `rcm import` on a new ledger with no key anywhere creates the default key file (0600)."""
    env = {ENV_KEY: "", ENV_FILE: "", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = rcm("import", str(SAMPLES / "kputnam+stupidedi/commercial-health-insurance.edi"), "--no-validate",
               "--db", url, env=env)
    assert done.returncode == 0, done.stderr
    key_file = tmp_path / "config" / "rcm" / "master.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = MasterKey.load({ENV_FILE: str(key_file)})
    assert open_phi_store(open_ledger(url), {ENV_FILE: str(key_file)}).recorded == key.fingerprint


# ---- forgetting a patient ----

def claim_patient(ledger: Any, number: str = "26463774") -> str:
    return ledger.repository.get(claim_id("9876543210", number)).patient_key


def test_forget_destroys_the_phi_and_keeps_the_money(database_url: str):
    ledger = open_ledger(database_url)
    Importer(ledger, open_patient_keys(), validate=False).import_file(str(SAMPLES / "kputnam+stupidedi/commercial-health-insurance.edi"))
    patient = claim_patient(ledger)
    runner = open_runner(database_url)
    runner.catch_up()
    reports_before = view_tables(runner)
    shown = rcm("phi", "show", patient, "--json", "--db", database_url)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)["records"][0]
    assert record["data"]["subscriber"]["last"] == "SMITH" and record["data"]["subscriber"]["birth_date"]

    refused = rcm("phi", "forget", patient, "--db", database_url)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = rcm("phi", "forget", patient, "--yes", "--db", database_url)
    assert done.returncode == 0 and "can no longer be read" in done.stdout, done.stderr

    after = rcm("phi", "show", patient, "--json", "--db", database_url)
    shown_after = json.loads(after.stdout)
    assert shown_after["forgotten_at"] and "SMITH" not in after.stdout
    assert all("destroyed" in r["unreadable"] for r in shown_after["records"])
    assert rcm("phi", "show", "p-nobody", "--db", database_url).returncode == 2
    fresh = open_ledger(database_url)  # the money history replays from the events alone
    claim = fresh.repository.get(claim_id("9876543210", "26463774"))
    assert claim.patient_key == patient and claim.version == ledger.repository.get(claim.id).version
    rebuilt = open_runner(database_url, suffix="_after")
    rebuilt.catch_up()
    assert view_tables(rebuilt) == reports_before
    again = Importer(fresh, open_patient_keys(), validate=False).import_file(
        str(SAMPLES / "kputnam+stupidedi/commercial-health-insurance.edi"))
    assert again.transactions[0].status == "already imported"
    assert all("unreadable" in r for r in open_phi_store(fresh).records_of(patient))


def test_a_held_text_is_read_back_through_the_store_until_a_patient_it_names_is_forgotten(database_url: str):
    ledger = open_ledger(database_url)
    result = Importer(ledger, open_patient_keys(), validate=False).import_file(str(SAMPLES / "kputnam+stupidedi/3a.edi"))
    assert "quarantined" in {t.status for t in result.transactions}  # two patients' claims, not balancing
    key = next(i.key for i in intakes(ledger) if i.status == "quarantined")
    shown = rcm("quarantine", "show", key, "--db", database_url)
    assert shown.returncode == 0 and shown.stdout.lstrip().startswith("ISA"), shown.stderr
    retried = rcm("quarantine", "retry", key, "--json", "--db", database_url)
    assert retried.returncode == 0 and "already quarantined" in retried.stdout, retried.stderr
    record = next(q["phi_record"] for i in intakes(ledger) if i.key == key for q in i.quarantines)
    named = [r["patient_key"] for r in open_phi_store(ledger).rows(
        "SELECT patient_key FROM {rcm_phi_links} WHERE record_id = ?", record)]
    assert len(named) > 1  # a remittance naming many patients: sealed under a key of its own, linked to each

    assert rcm("phi", "forget", named[-1], "--yes", "--db", database_url).returncode == 0
    gone = rcm("quarantine", "show", key, "--db", database_url)
    assert gone.returncode == 2 and "forgotten" in gone.stderr and "ISA" not in gone.stdout
    retried = rcm("quarantine", "retry", key, "--json", "--db", database_url)
    assert retried.returncode == 0 and "not retried" in retried.stdout
    assert all("unreadable" in r for r in open_phi_store(ledger).records_of(named[0]))


def test_an_intake_stored_before_the_phi_store_replays_and_retries_its_clear_text(tmp_path: Path):
    """Events are forever: a Quarantined event written before the reference existed (text, no phi_record)."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from domain.intake import Intake
    from infra.x12.importer import retry_quarantined

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    era = (SAMPLES / "kputnam+stupidedi/era-sample.edi").read_text()
    intake = Intake.log("835", "835|an old quarantine", datetime(2026, 1, 5, tzinfo=timezone.utc))
    intake.quarantine(at=datetime(2026, 1, 5, tzinfo=timezone.utc), source="old.835", reason="did not balance",
                      digest="d1", phi_record="")
    stored = []
    for event in intake.collect_events():
        s = ledger.mapper.to_stored_event(event)
        state = ledger.mapper.transcoder.decode(s.state)
        if "phi_record" in state:  # as the event class stored it before: the text itself, no reference
            del state["phi_record"]
            state["text"] = era
        stored.append(replace(s, state=ledger.mapper.transcoder.encode(state)))
    ledger.recorder.insert_events(stored)
    replayed = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    held = replayed.repository.get(intake.id).quarantines[0]
    assert held["text"] == era and held["phi_record"] == ""
    assert [r.status for r in retry_quarantined(ledger, open_patient_keys())] == ["posted"]


def test_a_ciphertext_moved_to_another_record_does_not_open(tmp_path: Path):
    phi = open_phi_store(open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}"))
    phi.seal("a", "demographics", {"last": "SMITH"}, ["p-1"])
    phi.seal("b", "demographics", {"last": "JONES"}, ["p-1"])
    with phi.cursor(commit=True) as c:  # someone with write access swaps the rows' contents
        c.execute("UPDATE rcm_phi_records SET (nonce, ciphertext) = "
                  "(SELECT nonce, ciphertext FROM rcm_phi_records WHERE record_id = 'a') WHERE record_id = 'b'")
    assert phi.open("a") == {"last": "SMITH"}
    with pytest.raises(PhiUnreadable, match="altered or moved"):
        phi.open("b")
