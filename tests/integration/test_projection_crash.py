"""kill -9 at any moment during catch-up, restart: the views end exactly as a fresh rebuild (exactly once)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from infra.bootstrap import open_runner
from infra.ingest import ingest
from infra.simulator import demo_commands
from infra.verify import differences
from projections.runner import Runner
from tests.conftest import view_tables

ROOT = Path(__file__).resolve().parents[2]


def kill_once_it_has_progressed(database_url: str, observer: Runner, rng: random.Random) -> int:
    """Start a runner, kill -9 it once the views' position (read from the database) has moved past where this run
    started, or once it has finished; the position it was killed at."""
    start = observer.views.position()
    runner = subprocess.Popen([sys.executable, "-m", "infra.cli", "projections", "run", "--db", database_url],
                              cwd=ROOT, env={**os.environ, "RCM_PROJECTION_PAGE": "150"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while observer.views.position() == start and runner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.05))  # somewhere in the page after the one seen committed
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    return observer.views.position()


def test_killed_runner_resumes_exactly_where_it_stopped(database_url):
    observer = open_runner(database_url)  # kept alive: an application closes its store when collected
    rng = random.Random(8)
    positions: list[int] = []
    mid_catch_up: list[int] = []
    # A machine fast enough to finish between two looks needs a longer log to be caught mid-way: grow it and retry.
    for seed, claims in ((8, 1200), (9, 4000), (10, 12000)):
        ingest(database_url, demo_commands(seed, claims, date(2026, 11, 27)), source="test", workers=1)
        head = observer.recorder.max_notification_id()
        for _ in range(6):
            positions.append(kill_once_it_has_progressed(database_url, observer, rng))
            mid_catch_up += [p for p in positions[-1:] if 0 < p < head]
        if mid_catch_up:
            break
    assert mid_catch_up, f"no kill landed mid catch-up: {positions}"
    resumed = open_runner(database_url)
    resumed.catch_up()
    fresh = open_runner(database_url, suffix="_fresh")
    fresh.catch_up()
    assert view_tables(resumed) == view_tables(fresh)
    assert differences(resumed) == []
