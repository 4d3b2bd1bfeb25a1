"""Shared fixtures: ledgers on every back end (memory, SQLite file, PostgreSQL schema) and command builders."""
from __future__ import annotations

import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPI = "1234567893"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def postgres_url() -> str | None:
    """The test PostgreSQL: RCM_TEST_POSTGRES_URL, else the project's own server (started if needed)."""
    url = os.environ.get("RCM_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        done = subprocess.run([str(ROOT / "infra" / "postgres.sh"), "start"], capture_output=True, text=True,
                              timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("postgresql://")]
    if lines:
        os.environ["RCM_TEST_POSTGRES_URL"] = lines[-1]
        return lines[-1]
    return None


def kafka_bootstrap() -> str | None:
    """The test Kafka broker: RCM_TEST_KAFKA, else the project's own (started if needed)."""
    if os.environ.get("RCM_TEST_KAFKA"):
        return os.environ["RCM_TEST_KAFKA"]
    try:
        done = subprocess.run([str(ROOT / "infra" / "kafka.sh"), "start"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("127.0.0.1:")]
    if lines:
        os.environ["RCM_TEST_KAFKA"] = lines[-1]
        return lines[-1]
    return None


def require_kafka() -> str:
    bootstrap = kafka_bootstrap()
    if bootstrap is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Kafka is required in CI: infra/kafka.sh start gave no bootstrap address")
        pytest.skip("Kafka not available (run infra/kafka.sh start)")
    return bootstrap


def require_postgres() -> str:
    url = postgres_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required in CI: infra/postgres.sh start gave no URL")
        pytest.skip("PostgreSQL not available (run infra/postgres.sh start)")
    return url


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
    """Every view table's rows, sorted; summary rows whose sums came back to zero are no difference."""
    def counts(row: dict[str, Any]) -> bool:
        numbers = [x for x in row.values() if isinstance(x, int) and not isinstance(x, bool)]
        return not numbers or any(numbers)
    v = runner.views
    return [sorted((r for r in v.query(f"SELECT * FROM {t}") if counts(r)), key=lambda row: [str(x) for x in row.values()])
            for t in v.t.values()]
