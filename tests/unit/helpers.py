"""In-memory ledger for unit tests: the real application on eventsourcing's in-process store (no I/O)."""
from __future__ import annotations

from typing import Any

from domain.commands import COMMAND
from domain.ledger import Ledger, Outcome


def memory_ledger() -> Ledger:
    return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def run(ledger: Ledger, *commands: dict[str, Any]) -> list[Outcome]:
    return ledger.execute([COMMAND.validate_python(c) for c in commands])


def last_error(ledger: Ledger, *commands: dict[str, Any]) -> Any:
    outcomes = run(ledger, *commands)
    assert all(o.result == "applied" for o in outcomes[:-1]), [str(o.error) for o in outcomes[:-1]]
    assert outcomes[-1].result == "rejected", f"expected a refusal, got {outcomes[-1].result}"
    return outcomes[-1].error
