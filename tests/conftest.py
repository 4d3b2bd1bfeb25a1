"""Shared fixtures: ledgers on every back end (memory, SQLite file, PostgreSQL schema) and command builders."""
from __future__ import annotations

import base64
import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from projections.tables import DELTAS, DENIAL_STATS, SUMMARIES

ROOT = Path(__file__).resolve().parent.parent
NPI = "1234567893"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# Tests never read or create the developer's own master key file: one fixed key for the run (subprocesses inherit
# it). A test of a missing or wrong key passes its own environment.
TEST_MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
os.environ.setdefault("RCM_MASTER_KEY", TEST_MASTER_KEY)


def started_service(script: str, prefix: str, env: str) -> str | None:
    """A test service's address: from `env`, else the project's own script (started if needed)."""
    if os.environ.get(env):
        return os.environ[env]
    try:
        done = subprocess.run([str(ROOT / "infra" / script), "start"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(prefix)]
    if lines:
        os.environ[env] = lines[-1]
        return lines[-1]
    return None


def require_service(script: str, prefix: str, env: str) -> str:
    """With CI=true a missing service fails the test; elsewhere it skips it."""
    address = started_service(script, prefix, env)
    if address is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI: infra/{script} start gave no {prefix}... address")
        pytest.skip(f"not available (run infra/{script} start)")
    return address


def require_postgres() -> str:
    return require_service("postgres.sh", "postgresql://", "RCM_TEST_POSTGRES_URL")


def as_role(url: str, role: str) -> str:
    """The same PostgreSQL URL for another of the ledger's roles (README "Using PostgreSQL"), without a password:
    libpq takes it from its passfile, which infra/postgres.sh keeps."""
    parts = urlsplit(url)
    where = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{where}"))


def require_kafka() -> str:
    return require_service("kafka.sh", "127.0.0.1:", "RCM_TEST_KAFKA")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger location on each real back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return f"{require_postgres()}?schema=t_{uuid.uuid4().hex[:12]}"


def at(days: float = 0, hours: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


def cmd(type_: str, claim: str = "C1", **fields: Any) -> dict[str, Any]:
    return {"type": type_, "claim_number": claim, "billing_npi": NPI, **fields}


def code(claim: str = "C1", charge: str = "100.00", **fields: Any) -> dict[str, Any]:
    body = dict(payer_id="BCBS", payer_class="commercial", patient_key="pk-1", place_of_service="11",
                diagnoses=["E11.9"], lines=[{"procedure": "99213", "charge": charge, "service_date": "2026-03-01"}],
                effective_at=at())
    body.update(fields)
    return cmd("code_claim", claim, **body)


def lifecycle_to_submitted(claim: str = "C1", **coding: Any) -> list[dict[str, Any]]:
    return [code(claim, **coding), cmd("scrub_claim", claim, effective_at=at(0, 1)),
            cmd("submit_claim", claim, effective_at=at(1)), cmd("accept_claim", claim, effective_at=at(2))]


def payment(claim: str = "C1", charge: str = "100.00", paid: str = "60.00", contractual: str = "20.00",
            patient: str = "20.00", icn: str = "ICN1", **fields: Any) -> dict[str, Any]:
    adjustments = [{"group": "CO", "carc": "45", "amount": contractual}]
    if patient != "0.00":
        adjustments.append({"group": "PR", "carc": "2", "amount": patient})
    body = dict(payer_claim_control_number=icn, charge=charge, paid=paid, patient_responsibility=patient,
                adjustments=adjustments, effective_at=at(14))
    body.update(fields)
    return cmd("record_payment", claim, **body)


def denial(claim: str = "C1", charge: str = "100.00", carc: str = "50", icn: str = "ICN1",
           **fields: Any) -> dict[str, Any]:
    body = dict(payer_claim_control_number=icn, charge=charge, paid="0.00",
                adjustments=[{"group": "CO", "carc": carc, "amount": charge}], effective_at=at(14))
    body.update(fields)
    return cmd("record_denial", claim, **body)


def view_tables(runner: Any) -> list[list[dict[str, Any]]]:
    """Every view table's rows, sorted; summary rows whose sums came back to zero are no difference, and a table of
    changes (tables.DELTAS: a row per key and page) is compared summed per key."""
    def counts(row: dict[str, Any]) -> bool:
        numbers = [x for x in row.values() if isinstance(x, int) and not isinstance(x, bool)]
        return not numbers or any(numbers)

    def rows(name: str, table: str) -> list[dict[str, Any]]:
        if name not in DELTAS:
            return v.query(f"SELECT * FROM {table}")
        keys, metrics = SUMMARIES.get(name, DENIAL_STATS)
        names = ", ".join(k for k, _ in keys)
        return [{k: int(x) if k in metrics else x for k, x in r.items()} for r in v.query(
            f"SELECT {names}, {', '.join(f'sum({m}) AS {m}' for m in metrics)} FROM {table} GROUP BY {names}")]
    v = runner.views
    return [sorted((r for r in rows(name, t) if counts(r)), key=lambda row: [str(x) for x in row.values()])
            for name, t in v.t.items()]
