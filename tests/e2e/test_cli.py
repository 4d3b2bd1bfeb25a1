"""The `rcm` command as users run it, against real SQLite and PostgreSQL: output, exit codes, bad input."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.bootstrap import open_ledger
from tests.conftest import at, cmd, code, denial, lifecycle_to_submitted, payment

RCM = [sys.executable, "-m", "infra.cli"]
ROOT = Path(__file__).resolve().parents[2]


def rcm(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*RCM, *args, "--db", db], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def jsonl(path: Path, *lines: dict | str) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def snapshot(db: str) -> list[tuple]:
    ledger = open_ledger(db)
    return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in ledger.recorder.select_notifications(start=None, limit=10**9)]


@pytest.fixture
def story(tmp_path: Path) -> Path:
    return jsonl(tmp_path / "story.jsonl", *lifecycle_to_submitted(), denial(),
                 cmd("appeal_denial", level=1, reason="records attached", effective_at=at(20)))


def test_apply_show_history_and_idempotent_reapply(database_url, story):
    done = rcm("apply", str(story), db=database_url)
    assert done.returncode == 0, done.stderr
    assert "applied" in done.stdout
    rows = snapshot(database_url)
    again = rcm("apply", str(story), "--json", db=database_url)
    assert again.returncode == 0 and json.loads(again.stdout)["already_applied"] == 6
    assert snapshot(database_url) == rows

    shown = json.loads(rcm("show", "C1", "--json", db=database_url).stdout)
    assert (shown["status"], shown["payer_balance"], shown["appeal_level"]) == ("appealed", "100.00", 1)

    history = json.loads(rcm("history", "C1", "--json", db=database_url).stdout)["events"]
    assert [e["type"] for e in history] == ["Coded", "Scrubbed", "Submitted", "Accepted", "Denied", "Appealed"]
    assert history[4]["status_after"] == "denied" and history[4]["effective_at"].startswith("2026-03-16")
    assert all(e["actor"] and e["source"] and e["recorded_at"] for e in history)

    table = rcm("history", "C1", db=database_url).stdout
    assert "Denied" in table and "CO-50" in table
    upto = json.loads(rcm("history", "C1", "--version", "3", "--json", db=database_url).stdout)["events"]
    assert [e["status_after"] for e in upto] == ["coded", "ready", "submitted"]


def test_history_as_of_a_moment_before_the_claim_existed_is_refused(database_url, story):
    rcm("apply", str(story), db=database_url)
    early = rcm("history", "C1", "--as-of", "2001-01-01T00:00:00+00:00", db=database_url)
    assert early.returncode == 2 and "not yet recorded" in early.stderr
    naive = rcm("history", "C1", "--as-of", "2026-01-01T00:00:00", db=database_url)
    assert naive.returncode == 2 and "time zone" in naive.stderr
    now = json.loads(rcm("history", "C1", "--as-of", "2999-01-01", "--json", db=database_url).stdout)
    assert len(now["events"]) == 6


BAD_LINES = {
    "malformed JSON": ('{"type": "code_claim", "oops": ', "malformed JSON"),
    "unknown command": (cmd("pay_everything"), "unknown command"),
    "unknown claim": (cmd("scrub_claim", claim="NOPE"), "UnknownClaim"),
    "wrong type": (cmd("appeal_denial", level="first", reason="x"), "field level"),
    "float money": (payment(paid=60.0), "not a float"),
    "negative money": (cmd("record_patient_payment", amount="-5.00"), "must not be negative"),
    "unbalanced payment": (payment(paid="61.00"), "UnbalancedRemittance"),
    "illegal transition": (cmd("decide_appeal", overturned=True), "IllegalTransition"),
    "conflicting claim number": (lifecycle_to_submitted(charge="500.00")[0], "ClaimNumberConflict"),
    "code of the wrong shape": ({**lifecycle_to_submitted(claim="C9")[0], "diagnoses": ["11E"]}, "field diagnoses"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_input_is_refused_by_line_and_field_and_changes_nothing(database_url, tmp_path, case):
    rcm("apply", str(jsonl(tmp_path / "ok.jsonl", *lifecycle_to_submitted())), db=database_url)
    before = snapshot(database_url)
    line, words = BAD_LINES[case]
    done = rcm("apply", str(jsonl(tmp_path / "bad.jsonl", line)), db=database_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "line 1" in done.stderr and words in done.stderr
    assert snapshot(database_url) == before


def test_good_lines_are_applied_and_bad_ones_reported(database_url, tmp_path):
    path = jsonl(tmp_path / "mixed.jsonl", *lifecycle_to_submitted(), payment(paid="1.00"), payment())
    done = rcm("apply", str(path), "--json", db=database_url)
    report = json.loads(done.stdout)
    assert done.returncode == 2 and report["applied"] == 5 and report["rejected"] == 1
    assert report["problems"][0].startswith("line 5: UnbalancedRemittance")


def test_all_or_nothing_writes_nothing_when_a_line_is_bad(database_url, tmp_path):
    path = jsonl(tmp_path / "mixed.jsonl", *lifecycle_to_submitted(), payment(paid="1.00"))
    done = rcm("apply", str(path), "--all-or-nothing", db=database_url)
    assert done.returncode == 2 and "nothing was written" in done.stderr
    assert snapshot(database_url) == []


def test_schema_is_json_schema_of_every_command(tmp_path):
    done = subprocess.run([*RCM, "schema"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "code_claim" in json.loads(done.stdout)["discriminator"]["mapping"]


def test_an_unreachable_database_is_named_at_once():
    started = time.monotonic()
    done = rcm("show", "C1", db="postgresql://nobody:secret@127.0.0.1:9/none")
    assert done.returncode == 2, done.stderr
    assert "host 127.0.0.1 port 9 database none" in done.stderr and "secret" not in done.stderr
    assert time.monotonic() - started < 8, "a refused connection is reported without waiting out a pool timeout"


def test_an_unsupported_database_url_is_refused_readably():
    done = rcm("show", "C1", db="mysql://rcm@localhost/rcm")
    assert done.returncode == 2 and "'mysql://rcm@localhost/rcm': use sqlite:///PATH" in done.stderr
    assert "pydantic" not in done.stderr


@pytest.mark.parametrize("args,words", [
    (["demo", "--claims", "5", "--until", "2026-02-30"], "argument --until: '2026-02-30' is not a date"),
    (["journal", "--from", "2026-13-01"], "argument --from: '2026-13-01' is not a date"),
    (["claims", "--older-than", "-5"], "argument --older-than: -5 is not a number of days from 0 to 36500"),
    (["claims", "--older-than", "99999999999"], "argument --older-than: 99999999999 is not a number of days"),
    (["claims", "--status", "bogus"], "argument --status: invalid choice: 'bogus' (choose from 'coded', 'scrub_failed',"),
])
def test_impossible_arguments_are_refused_with_the_reason(database_url, args, words):
    done = rcm(*args, db=database_url)
    assert done.returncode == 2 and words in done.stderr, done.stderr


def test_an_unknown_payer_or_a_version_beyond_the_claim_is_refused(database_url, story):
    rcm("apply", str(story), db=database_url)
    unknown = rcm("claims", "--payer", "NOPE", db=database_url)
    assert unknown.returncode == 2 and "--payer 'NOPE': no such payer in the ledger (payers: BCBS)" in unknown.stderr
    assert rcm("claims", "--payer", "BCBS", db=database_url).returncode == 0
    beyond = rcm("history", "C1", "--version", "99", db=database_url)
    assert beyond.returncode == 2 and "--version 99: claim C1 has 6 events (versions 1 to 6)" in beyond.stderr
    zero = rcm("history", "C1", "--version", "0", db=database_url)
    assert zero.returncode == 2 and "argument --version" in zero.stderr


def test_demo_tells_a_denied_claims_story(database_url):
    done = rcm("demo", "--seed", "3", "--claims", "400", "--until", "2026-11-27", "--json", db=database_url)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rejected"] == 0 and summary["claims"] == summary["simulated_claims"] == 400
    denied = summary["examples"]["denied"][0]
    events = json.loads(rcm("history", denied, "--json", db=database_url).stdout)["events"]
    assert "Denied" in [e["type"] for e in events] and len(events) >= 4
    again = json.loads(rcm("demo", "--seed", "3", "--claims", "400", "--until", "2026-11-27", "--json",
                           db=database_url).stdout)
    assert again["events_appended"] == 0


def test_demo_keeps_its_own_rules_simulates_what_it_says_and_hints_what_can_be_typed(tmp_path):
    """Issue 12 item 18: 12,000 claims up to 2026-11-01 appealed a $123 Medicare denial to an ALJ hearing (minimum
    in controversy $190) and left the visits of the last days uncoded; every first submission carried ISA13
    000000001; the hints said `rcm` where only .venv/bin/rcm exists."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    installed = Path(sys.executable).parent / "rcm"
    env = {**os.environ, "COLUMNS": "200", "PATH": "/usr/bin:/bin"}  # as from a fresh shell: rcm is not on PATH
    done = subprocess.run([str(installed), "demo", "--claims", "12000", "--until", "2026-11-01", "--db", db],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Simulated 12000 claims" in done.stdout and "(12000 claims)" in done.stdout
    ledger = open_ledger(db)
    notifications = ledger.recorder.select_notifications(start=None, limit=10**9)
    assert len({n.originator_id for n in notifications if n.topic == "domain.claim:Claim.Coded"}) == 12000
    batch_days: dict[str, set] = {}
    for n in notifications:
        if n.topic == "domain.claim:Claim.Submitted":
            sent = ledger.mapper.to_domain_event(n)
            batch_days.setdefault(sent.interchange_control_number, set()).add(sent.effective_at.date())
    assert all(len(days) == 1 for days in batch_days.values())  # one ISA13 per day's 837 batch, never shared
    hint = next(line for line in done.stdout.splitlines() if line.startswith("Try: "))
    typed = shlex.split(hint.removeprefix("Try: "))
    assert f"try: {shlex.join(typed[:-3])}" in done.stdout  # the status table's column names the same command
    history = subprocess.run(typed, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert history.returncode == 0 and "Denied" in history.stdout, history.stderr


def test_projections_reports_and_worklist(database_url):
    assert rcm("demo", "--seed", "5", "--claims", "300", "--until", "2026-11-27", "--json", db=database_url).returncode == 0
    run = rcm("projections", "run", db=database_url)
    assert run.returncode == 0, run.stderr
    status = json.loads(rcm("projections", "status", "--json", db=database_url).stdout)
    assert {row["projection"] for row in status} == {"claim_status", "ar", "denials"}
    assert all(row["lag_events"] == 0 for row in status)
    verify = rcm("projections", "verify", "--as-of", "2026-10-01", db=database_url)
    assert verify.returncode == 0 and "identical" in verify.stdout
    kpis = json.loads(rcm("report", "kpis", "--json", db=database_url).stdout)
    assert 0 < kpis["initial_denial_rate"] < 0.35 and kpis["days_in_ar"] > 0
    aging = json.loads(rcm("report", "aging", "--as-of", "2026-09-30", "--by", "payer", "--json", db=database_url).stdout)
    assert aging["rows"] and {r["bucket"] for r in aging["rows"]} <= {"0-30", "31-60", "61-90", "91-120", "120+"}
    assert "120+" in rcm("report", "aging", "--aging-from", "submission", db=database_url).stdout
    denials = json.loads(rcm("report", "denials", "--json", db=database_url).stdout)["rows"]
    assert sum(r["denied"] for r in denials) > 0
    earlier = json.loads(rcm("report", "denials", "--as-of", "2026-09-30", "--json", db=database_url).stdout)["rows"]
    assert 0 < sum(r["adjudicated"] for r in earlier) < sum(r["adjudicated"] for r in denials)
    past = json.loads(rcm("report", "kpis", "--as-of", "2026-09-30", "--json", db=database_url).stdout)
    assert past["as_of"] == "2026-09-30" and 0 < past["claims_submitted"] < kpis["claims_submitted"]
    then = json.loads(rcm("report", "status", "--as-of", "2026-09-30", "--json", db=database_url).stdout)["rows"]
    assert 0 < sum(r["claims"] for r in then) <= 300
    bad = rcm("report", "status", "--as-of", "2026-13-01", db=database_url)
    assert bad.returncode == 2 and "--as-of '2026-13-01': not a date" in bad.stderr
    months = json.loads(rcm("report", "kpis", "--month-ends", "3", "--as-of", "2026-11-27", "--json",
                            db=database_url).stdout)["rows"]
    assert [r["month_end"] for r in months] == ["2026-08-31", "2026-09-30", "2026-10-31"]
    assert months[1]["claims_submitted"] == json.loads(rcm("report", "kpis", "--as-of", "2026-09-30", "--json",
                                                           db=database_url).stdout)["claims_submitted"]
    assert rcm("report", "status", "--month-ends", db=database_url).returncode == 2
    worklist = json.loads(rcm("claims", "--status", "denied", "--limit", "5", "--json", db=database_url).stdout)
    assert all(row["status"] == "denied" for row in worklist)


X12 = ROOT.parent / "shared" / "data" / "x12"


def test_x12_import_report_quarantine_and_export(database_url: str, tmp_path: Path):
    files = [str(X12 / "azoner+pyx12/835_mult_loops.txt"), str(X12 / "kputnam+stupidedi/3a.edi")]
    done = rcm("import", *files, "--json", db=database_url)
    assert done.returncode == 2, done.stderr  # a quarantined remittance is rejected input, recorded
    summary = json.loads(done.stdout)
    assert summary[0]["pyx12"].startswith("valid") and summary[0]["transactions"][0]["status"] == "posted"
    assert summary[1]["transactions"][0]["status"] == "quarantined"
    assert rcm("import", *files, "--json", db=database_url).returncode == 2
    denials = json.loads(rcm("report", "denials", "--json", db=database_url).stdout)
    # OA-A7 (presumptive payment adjustment) is no denial reason (docs/domain.md §3): CO-16 alone
    assert {r["carc"]: r["dollars"] for r in denials["by_carc"]} == {"CO-16": "500.04"}
    held = json.loads(rcm("quarantine", "--json", db=database_url).stdout)
    assert [(h["state"], h["kind"]) for h in held] == [("quarantined", "835")]
    assert "transaction balancing" in held[0]["reason"]
    garbage = tmp_path / "garbage.x12"
    garbage.write_bytes(bytes(range(256)) * 8)
    refused = rcm("import", str(garbage), db=database_url)
    assert refused.returncode == 2 and "nothing from this file was written" in refused.stderr

    from domain.commands import COMMAND
    coded_and_scrubbed = lifecycle_to_submitted("EX1")[:2]
    outcomes = open_ledger(database_url).execute([COMMAND.validate_python(c) for c in coded_and_scrubbed])
    assert [o.result for o in outcomes] == ["applied", "applied"]
    providers = tmp_path / "providers.json"
    providers.write_text(json.dumps({"1234567893": {"name": "VALLEY FAMILY PRACTICE", "address": "12 MAIN ST",
                                                    "city": "SPRINGFIELD", "state": "IL", "zip": "627011234",
                                                    "tin": "371234567"}}))
    out = tmp_path / "out.837"
    exported = rcm("export", "837p", "--out", str(out), "--providers", str(providers), "--json", db=database_url)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["claims"] == ["EX1"]
    again = json.loads(rcm("import", str(out), "--json", db=database_url).stdout)
    assert again[0]["pyx12"] == "valid (005010X222A1, pyx12 4.0.0)"
    assert [c["outcome"] for c in again[0]["transactions"][0]["claims"]] == ["duplicate"]


def test_x12_file_with_an_amount_x12_does_not_allow_is_held_whole_exit_2(database_url: str, tmp_path: Path):
    """A good 837 then an 835 whose BPR02 is NaN: the 835 is quarantined with its segment, element and reason,
    the 837 is not written (a file is written whole or not at all), exit 2; --per-transaction writes the 837."""
    from tests.integration.test_x12_file_outcomes import paying, sent_837

    path = tmp_path / "mixed.x12"
    path.write_text(sent_837(tmp_path, "NN1") + paying("NN1").replace("BPR*I*140*", "BPR*I*NaN*"))
    before = snapshot(database_url)
    dry = rcm("import", str(path), "--dry-run", "--no-validate", "--json", db=database_url)
    assert dry.returncode == 2 and snapshot(database_url) == before
    done = rcm("import", str(path), "--no-validate", "--json", db=database_url)
    assert done.returncode == 2, done.stderr
    [summary] = json.loads(done.stdout)
    assert [t["status"] for t in summary["transactions"]] == ["not written", "quarantined"]
    assert "(BPR) BPR02: 'NaN' is not a decimal number" in summary["transactions"][1]["reason"]
    assert "no claim NN1" in rcm("show", "NN1", db=database_url).stderr
    held = json.loads(rcm("quarantine", "--json", db=database_url).stdout)
    assert [(h["state"], h["kind"]) for h in held] == [("quarantined", "835")] and "NaN" in held[0]["reason"]
    each = rcm("import", str(path), "--no-validate", "--per-transaction", db=database_url)
    assert each.returncode == 2 and "held:" in each.stderr
    assert json.loads(rcm("show", "NN1", "--json", db=database_url).stdout)["status"] == "submitted"


def test_quarantine_lists_unmatched_items_and_retry_posts_them_once_the_claim_exists(database_url: str,
                                                                                      tmp_path: Path):
    from decimal import Decimal

    from infra.x12 import samples
    from tests.integration.test_x12_file_outcomes import sent_837

    ack, claims = tmp_path / "ack.277", tmp_path / "claims.837"
    ack.write_text(samples.ack_277("1234567893", [("UR1", "A2", Decimal("175"))]))
    claims.write_text(sent_837(tmp_path, "UR1"))
    rcm("import", str(ack), "--no-validate", db=database_url)
    [row] = json.loads(rcm("quarantine", "--json", db=database_url).stdout)
    assert (row["state"], row["claim"]) == ("unmatched", "UR1") and "never saw" in row["reason"]
    assert rcm("import", str(claims), "--no-validate", db=database_url).returncode == 0
    retried = rcm("quarantine", "retry", "--json", db=database_url)
    assert retried.returncode == 0, retried.stderr
    assert [(r["kind"], r["status"], r["events"]) for r in json.loads(retried.stdout)] == [("277CA", "posted", 1)]
    assert json.loads(rcm("quarantine", "--json", db=database_url).stdout) == []
    assert json.loads(rcm("show", "UR1", "--json", db=database_url).stdout)["status"] == "accepted"
    before = snapshot(database_url)
    assert json.loads(rcm("quarantine", "retry", "--json", db=database_url).stdout) == []
    assert snapshot(database_url) == before


def test_projections_run_follow_shows_new_claims_until_interrupted(database_url):
    """`rcm projections run --follow` as an operator runs it: woken by PostgreSQL's notifications (polling on
    SQLite), a claim coded while it follows reaches the views; Ctrl-C ends it cleanly."""
    import signal
    import time

    from infra.bootstrap import open_runner
    from tests.unit.helpers import run

    ledger = open_ledger(database_url)
    run(ledger, code("F0"))
    follower = subprocess.Popen([*RCM, "projections", "run", "--follow", "--db", database_url], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        watcher = open_runner(database_url)
        views = watcher.views
        deadline = time.monotonic() + 60
        while views.position() < ledger.recorder.max_notification_id() and time.monotonic() < deadline:
            time.sleep(0.1)
        run(ledger, code("F1"))
        head = ledger.recorder.max_notification_id()
        while views.position() < head and time.monotonic() < deadline:
            time.sleep(0.1)
        assert views.position() == head
        assert {r["claim_number"] for r in views.query(f"SELECT claim_number FROM {views.t['claim_status']}")} == \
            {"F0", "F1"}
    finally:
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=30)
    assert follower.returncode == 0, stderr
    how = "polling every 0.2 s" if database_url.startswith("sqlite") else "woken by PostgreSQL's notifications"
    assert f"following the ledger, {how}" in stderr


def test_stored_text_is_printed_with_its_control_characters_escaped(database_url):
    """Text recorded before commands refused control characters (here a terminal escape that would turn the screen
    red, and rich markup) is printed as \\x1b, never sent to the terminal."""
    from domain.commands import COMMAND

    spiked = COMMAND.validate_python(code()).model_copy(update={"payer_id": "BC\x1b[31mBS[bold]", "actor": "\x9b2J"})
    assert [o.result for o in open_ledger(database_url).execute([spiked])] == ["applied"]
    for args, escaped in ((["show", "C1"], "\\x1b[31m"), (["history", "C1"], "\\x9b2J"), (["claims"], "\\x1b[31m"),
                          (["report", "status", "--by", "payer"], "\\x1b[31m")):
        done = rcm(*args, db=database_url)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x9b" not in done.stdout, args
        assert escaped in done.stdout, (args, done.stdout)
    assert "BC\\x1b[31mBS[bold]" in rcm("show", "C1", db=database_url).stdout


def test_the_settings_are_loaded_once_at_the_entry_point(database_url, monkeypatch, tmp_path):
    """The composition root: `rcm` loads Settings once and passes the object on (bootstrap, ingest, runner)."""
    from infra.cli import main
    from infra.settings import Settings

    loads = []
    real = Settings.load.__func__

    def counted(cls, database_url=None):
        loads.append(database_url)
        return real(cls, database_url)

    monkeypatch.setattr(Settings, "load", classmethod(counted))
    story = tmp_path / "story.jsonl"
    story.write_text("\n".join(json.dumps(c) for c in lifecycle_to_submitted()) + "\n")
    assert main(["apply", str(story), "--db", database_url]) == 0
    assert main(["report", "kpis", "--db", database_url]) == 0
    assert loads == [database_url, database_url]
