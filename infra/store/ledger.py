"""The ledger over a real store: claims kept between batches, batches retried when another writer got in first."""
from __future__ import annotations

from collections.abc import Callable

from domain.ledger import Ledger, Outcome
from infra.store.cached_repository import CACHE_LIMIT, CachedRepository
from infra.store.retry import ATTEMPTS, retry_conflicts


class StoreLedger(Ledger):
    ATTEMPTS = ATTEMPTS

    def __init__(self, env: dict[str, str] | None = None, *, actor: str = "rcm", source: str = "api",
                 cache_limit: int = CACHE_LIMIT) -> None:
        self.cache_limit = cache_limit  # read by construct_repository, which the application's constructor calls
        super().__init__(env, actor=actor, source=source)

    def construct_repository(self) -> CachedRepository:
        return CachedRepository(self.events, snapshot_store=self.snapshots, limit=self.cache_limit)

    def retrying(self, batch: Callable[[], list[Outcome]]) -> list[Outcome]:
        return retry_conflicts(batch, self.ATTEMPTS)
