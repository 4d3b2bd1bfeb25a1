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
from tests.conftest import view_tables

ROOT = Path(__file__).resolve().parents[2]


def test_killed_runner_resumes_exactly_where_it_stopped(database_url):
    ingest(database_url, demo_commands(8, 1200, date(2026, 11, 27)), source="test", workers=1)
    observer = open_runner(database_url)  # kept alive: an application closes its store when collected
    head = observer.recorder.max_notification_id()
    env = {**os.environ, "RCM_PROJECTION_PAGE": "150"}
    rng = random.Random(8)
    positions = []
    for _ in range(6):
        runner = subprocess.Popen([sys.executable, "-m", "infra.cli", "projections", "run", "--db", database_url],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.2))
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        positions.append(observer.views.position())
    assert any(0 < p < head for p in positions), f"no kill landed mid catch-up: {positions} of {head}"
    resumed = open_runner(database_url)
    resumed.catch_up()
    fresh = open_runner(database_url, suffix="_fresh")
    fresh.catch_up()
    assert view_tables(resumed) == view_tables(fresh)
    assert differences(resumed) == []
