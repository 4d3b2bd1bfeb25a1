"""Bulk ingest over worker processes gives exactly what one process gives, on both back ends; its workers die
with their parent, and two writers at once on one ledger record each claim once."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.claim import Claim
from domain.commands import COMMAND
from domain.ledger import topic_of
from infra.bootstrap import open_ledger
from infra.ingest import ingest
from infra.present import claim_state
from infra.simulator import demo_commands
from infra.x12 import samples
from tests.conftest import require_postgres
from tests.e2e.test_bulk_input import demo_file
from tests.e2e.test_cli import RCM, ROOT, rcm


def state_of_every_claim(ledger):
    return {state["claim_number"]: {k: v for k, v in state.items() if k not in ("last_activity_at",)}
            for state in map(claim_state, ledger.claims())}


def test_two_workers_record_the_same_claims_as_one(database_url, tmp_path):
    commands = demo_commands(9, 400, date(2026, 11, 27))
    parallel = ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    assert (parallel.applied, parallel.duplicate, parallel.rejected) == (len(commands), 0, [])
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    ingest(single_url, commands, source="test", workers=1)
    assert state_of_every_claim(open_ledger(database_url)) == state_of_every_claim(open_ledger(single_url))
    ledger = open_ledger(database_url)  # kept: an Application closes its store when it is collected
    rows = ledger.recorder.select_notifications(start=None, limit=10**9)
    assert [n.id for n in rows] == list(range(rows[0].id, rows[0].id + len(rows)))  # gap-free


def test_rerunning_a_parallel_ingest_appends_nothing(database_url):
    commands = demo_commands(9, 300, date(2026, 11, 27))
    ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    again = ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    assert (again.applied, again.duplicate, again.events, again.rejected) == (0, len(commands), 0, [])


def test_a_refused_command_keeps_its_label_through_the_workers(database_url):
    commands = demo_commands(9, 300, date(2026, 11, 27))
    bad = COMMAND.validate_python({"type": "scrub_claim", "claim_number": "NOPE", "billing_npi": "1234567893"})
    commands.insert(777, bad)
    tally = ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    assert [(r.label, r.kind) for r in tally.rejected] == [(777, "UnknownClaim")]
    assert tally.applied == len(commands) - 1


def children(pid: int) -> set[int]:
    """The children of every thread of `pid`; a thread may end between listing and reading (CI saw it)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(map(int, (task / "children").read_text().split()))
        except FileNotFoundError:
            continue
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped; whoever adopted it may not reap it at once


def until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
def test_workers_die_with_a_killed_apply_and_a_rerun_completes_the_ledger(database_url, tmp_path):
    path = demo_file(tmp_path / "big.jsonl", 3000)
    apply = subprocess.Popen([*RCM, "apply", str(path), "--workers", "2", "--db", database_url], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = until(lambda: len(children(apply.pid)) >= 2 and children(apply.pid), 60, "no workers started")
    store = open_ledger(database_url)
    until(lambda: store.recorder.max_notification_id(), 60, "nothing was written")
    assert apply.poll() is None, "the apply ended before it could be killed: use a bigger file"
    apply.kill()
    apply.wait()
    until(lambda: not any(map(running, workers)), 20, f"workers {workers} outlived their parent")
    again = rcm("apply", str(path), "--json", db=database_url)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["applied"] > 0 and report["applied"] + report["already_applied"] == report["lines"]
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    ingest(single_url, demo_commands(3, 3000, date(2026, 11, 27)), source="test", workers=1)
    assert state_of_every_claim(open_ledger(database_url)) == state_of_every_claim(open_ledger(single_url))


def at_once(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    started = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for command in commands]
    outputs = [p.communicate(timeout=300) for p in started]
    return [subprocess.CompletedProcess(p.args, p.returncode, *output) for p, output in zip(started, outputs)]


def test_two_applies_at_once_record_each_claim_once(database_url, tmp_path):
    path = demo_file(tmp_path / "both.jsonl", 1500)
    done = at_once(*[[*RCM, "apply", str(path), "--workers", "2", "--json", "--db", database_url]] * 2)
    for run in done:
        assert run.returncode in (0, 2) and "Traceback" not in run.stderr and "unexpected" not in run.stderr, run.stderr
    reports = [json.loads(run.stdout) for run in done]
    assert sum(r["applied"] for r in reports) == reports[0]["lines"]  # each command applied by one of the two
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    ingest(single_url, demo_commands(3, 1500, date(2026, 11, 27)), source="test", workers=1)
    assert state_of_every_claim(open_ledger(database_url)) == state_of_every_claim(open_ledger(single_url))


def test_two_imports_of_one_file_at_once_post_it_once(database_url, tmp_path):
    path = tmp_path / "remits.835"
    remits = samples.random_remits(400, seed=5)
    path.write_text("".join(samples.remittance(remits[k * 50:(k + 1) * 50], trace=f"T{k}", payee_npi="1234567893",
                                               control=k + 1) for k in range(8)))
    done = at_once(*[[*RCM, "import", str(path), "--no-validate", "--json", "--db", database_url]] * 2)
    for run in done:
        assert run.returncode in (0, 2) and "Traceback" not in run.stderr and "unexpected" not in run.stderr, run.stderr
    statuses = [t["status"] for run in done for t in json.loads(run.stdout)[0]["transactions"]]
    assert sorted(statuses) == ["already imported"] * 8 + ["posted"] * 8
    ledger = open_ledger(database_url)
    opened = [n.originator_id for n in ledger.recorder.select_notifications(
        start=None, limit=10**9, topics=[topic_of(Claim.Opened)])]
    assert len(opened) == len(set(opened)) == 400


def test_two_processes_opening_a_new_ledger_at_once_both_succeed(database_url):
    urls = [f"{database_url}{n}" for n in range(12)]  # a new file, or a new schema, each round
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def open_each() -> None:
        for url in urls:
            barrier.wait()
            try:
                open_ledger(url).close()
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                failures.append(error)

    threads = [threading.Thread(target=open_each) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_mixed_case_schema_name_works_for_the_ledger_and_its_views(tmp_path):
    name = f"Mixed_{uuid.uuid4().hex[:8]}"
    url = f"{require_postgres()}?schema={name}"
    applied = rcm("apply", str(demo_file(tmp_path / "few.jsonl", 20)), db=url)
    assert applied.returncode == 0, applied.stderr
    report = rcm("report", "status", "--json", db=url)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["rows"]
    same = open_ledger(f"{require_postgres()}?schema={name.lower()}")
    assert same.recorder.max_notification_id() == open_ledger(url).recorder.max_notification_id() > 0


def test_a_schema_name_that_is_not_a_plain_identifier_is_refused():
    done = rcm("show", "C1", db=f"{require_postgres()}?schema=a;drop")
    assert done.returncode == 2 and "schema" in done.stderr
