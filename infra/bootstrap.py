"""Composition root: the only place that knows which concrete store backs the ledger."""
from __future__ import annotations

from domain.ledger import Ledger
from infra.settings import Settings


def open_ledger(database_url: str | None = None, *, source: str = "cli") -> Ledger:
    settings = Settings.load(database_url)
    return Ledger(env=settings.eventsourcing_env(), actor=settings.actor, source=source)
