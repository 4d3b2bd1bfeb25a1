"""Composition root: the only place that knows which concrete store backs the ledger."""
from __future__ import annotations

import gc
from collections.abc import Callable
import os
from datetime import date
from typing import Any

from domain.ledger import Ledger
from projections.runner import Runner
from projections.views import ClaimViews
from infra import icd_cache
from infra.settings import Settings
from infra.transcoding import PlainEvents


def open_ledger(database_url: str | None = None, *, source: str = "cli", create_tables: bool = True) -> Ledger:
    settings = Settings.load(database_url)
    icd_cache.install()
    if settings.backend == "postgresql":
        ensure_schema(settings)
    env = settings.eventsourcing_env()
    if not create_tables:
        env["CREATE_TABLE"] = "n"
    return Ledger(env=env, actor=settings.actor, source=source)


def tune_for_bulk_work() -> None:
    """Bulk ingest builds many short-lived objects while thousands of cached claims stay alive: without this,
    CPython's cyclic collector rescans the cache over and over (~20% of ingest time)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


class DatabaseUnreachable(Exception):
    """The database named by the URL cannot be connected to: said at once, with where it was looked for."""


def ensure_schema(settings: Settings) -> None:
    """Connects once before eventsourcing's pool does (which retries a refused connection for its whole timeout),
    so an unreachable server is reported at once; creates the URL's ?schema= if it has one."""
    import psycopg
    from psycopg import sql

    env = settings.eventsourcing_env()
    try:
        conn = psycopg.connect(settings.postgres_conninfo(), autocommit=True,
                               connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]))
    except psycopg.OperationalError as error:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at host {env['POSTGRES_HOST']} port {env['POSTGRES_PORT']} database "
            f"{env['POSTGRES_DBNAME']} as {env['POSTGRES_USER']}: {' '.join(str(error).split())}") from None
    with conn:
        if settings.postgres_schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.postgres_schema)))


def open_views(ledger: Ledger, database_url: str | None = None, suffix: str = "") -> ClaimViews:
    """The read-model tables live in the ledger's own database, tracked by eventsourcing's tracking recorder."""
    settings = Settings.load(database_url)
    if settings.backend not in ("sqlite", "postgresql"):
        raise ValueError(f"projections need SQLite or PostgreSQL, not {settings.database_url!r}")
    views = ClaimViews(ledger.factory.tracking_recorder(), settings.backend, suffix)
    views.create()
    return views


FACTS_KEPT = 200_000  # claims whose read-model facts a runner keeps in memory (about 1 GB at most)


def open_runner(database_url: str | None = None, suffix: str = "", until_day: date | None = None) -> Runner:
    ledger = open_ledger(database_url, source="projections")
    # Events per transaction. PostgreSQL takes big pages in its stride (20,000 catch up ~1.25x faster than
    # 2,000); SQLite has one write lock, which the ledger's writers wait for while a page is written.
    default = 20_000 if Settings.load(database_url).backend == "postgresql" else 2_000
    page = int(os.environ.get("RCM_PROJECTION_PAGE", default))
    views = open_views(ledger, database_url, suffix)
    views.keep_facts(FACTS_KEPT)
    runner = Runner(ledger.recorder, ledger.mapper, views, page=page, until_day=until_day,
                    read_event=PlainEvents(ledger.mapper))
    runner.ledger = ledger  # type: ignore[attr-defined]  # keeps the store open as long as the runner
    return runner


def appends_wake(runner: Runner, database_url: str | None = None) -> Callable[[float], None] | None:
    """On PostgreSQL, a wait that ends as soon as the ledger appends (every insert NOTIFYs the events table's
    channel; the connection LISTENs from now on, so an append between a catch-up and the wait still wakes it) or
    after the given seconds. None on SQLite, which has no notifications: the follower polls."""
    channel, settings = getattr(runner.recorder, "channel_name", None), Settings.load(database_url)
    if channel is None or settings.backend != "postgresql":
        return None
    import psycopg
    from psycopg import sql

    connection = psycopg.connect(settings.postgres_conninfo(), autocommit=True)
    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait(seconds: float) -> None:
        for _ in connection.notifies(timeout=seconds, stop_after=1):
            pass

    runner.listener = connection  # type: ignore[attr-defined]  # lives as long as the runner
    return wait


def open_relay(database_url: str | None, bootstrap: str, topic: str, name: str, page: int | None = None) -> Any:
    from consumers.relay import PAGE, Relay, read_pages
    from infra.kafka.publisher import KafkaPublisher
    from infra.kafka.relay_reader import MessageEncoder, ReaderProcess

    ledger = open_ledger(database_url, source="relay")
    if Settings.load(database_url).backend == "memory":
        pages = read_pages(ledger.recorder, MessageEncoder(ledger.mapper,
                                                           lambda claim: ledger.repository.get(claim).claim_number),
                           page or PAGE)
    else:
        pages = ReaderProcess(database_url, page or PAGE)  # started first: it loads while the producer connects
    relay = Relay(pages, KafkaPublisher(bootstrap, topic, name))
    relay.ledger = ledger  # type: ignore[attr-defined]  # keeps the store open as long as the relay
    return relay
