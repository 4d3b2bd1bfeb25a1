"""Composition root: the only place that knows which concrete store backs the ledger.

Each open_* takes the Settings the entry point loaded (or, for tests and the CLI, the database URL to load them
from) and hands that one object on to whatever else it opens."""
from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import OperationalError

from domain.contract import TOPIC
from domain.ledger import Ledger
from projections.runner import Runner
from projections.views import ClaimViews
from infra import icd_cache
from infra.keys import MasterKey
from infra.settings import Settings
from infra.store import grants
from infra.store.ledger import StoreLedger
from infra.store.transcoding import PlainEvents

if TYPE_CHECKING:  # the Kafka and X12 adapters are imported by the commands that use them
    from consumers.relay import Relay
    from infra.x12.plan import PatientKeys
    from infra.kafka.consumer_runner import ConsumerRunner
    from infra.kafka.consumer_stores import ConsumerStore, Database


def settings_of(where: Settings | str | None) -> Settings:
    """The settings given, or those loaded from the environment for the URL given (None: the environment's)."""
    return where if isinstance(where, Settings) else Settings.load(where)


def open_ledger(where: Settings | str | None = None, *, source: str = "cli", create_tables: bool = True
                ) -> StoreLedger:
    settings = settings_of(where)
    icd_cache.install()
    if settings.backend == "sqlite":
        private_file(settings.eventsourcing_env()["SQLITE_DBNAME"])
    if settings.backend == "postgresql" and not check_reachable(settings):
        create_tables = False  # a role that is not the owner uses the tables the owner made (README "Using PostgreSQL")
    env = settings.eventsourcing_env()
    if not create_tables:
        env["CREATE_TABLE"] = "n"
    with tables_lock(settings) if create_tables else nullcontext():
        return unlocked(lambda: StoreLedger(env=env, actor=settings.actor, source=source,
                                            cache_limit=settings.claim_cache))


def unlocked(make: Callable[[], StoreLedger], attempts: int = 8) -> StoreLedger:
    """SQLite answers 'database is locked' without waiting when two processes create a new file's tables (and
    switch it to WAL) at once: the loser tries again once the winner is done."""
    for attempt in range(attempts):
        try:
            return make()
        except (sqlite3.OperationalError, OperationalError) as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")


def open_patient_keys(env: dict[str, str] | None = None) -> PatientKeys:
    """The keyed patient pseudonym the X12 readers are given: from the master key (MasterKeyError when it is
    unusable), loaded before anything is written. With no key configured anywhere, the default key file is created
    (0600): a ledger that never had one sealed nothing with it."""
    from infra.x12.plan import PatientKeys

    return PatientKeys(MasterKey.load(env, create=True))


def private_file(path: str) -> None:
    """A new SQLite ledger is created readable and writable by its owner only (0600): it holds claims and money.
    SQLite gives its -wal and -shm files the mode of the database file. An existing file is left as it is."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class DatabaseUnreachable(Exception):
    """The database named by the URL cannot be connected to: said at once, with where it was looked for."""


class NotSetUp(Exception):
    """The ledger's tables are not there and this role may not create them: the owner sets the schema up first."""


def check_reachable(settings: Settings) -> bool:
    """Connects once before eventsourcing's pool does (which retries a refused connection for its whole timeout),
    so an unreachable server is reported at once (the schema is created under `tables_lock`). Returns whether this
    role may create the ledger's tables: only the owner may (roles without it find the owner's tables there)."""
    import psycopg

    env = settings.eventsourcing_env()
    try:
        conn = psycopg.connect(settings.postgres_conninfo(), autocommit=True,
                               connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]))
    except psycopg.OperationalError as error:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at host {env['POSTGRES_HOST']} port {env['POSTGRES_PORT']} database "
            f"{env['POSTGRES_DBNAME']} as {env['POSTGRES_USER']}: {' '.join(str(error).split())}") from None
    schema = settings.postgres_schema or "public"
    with conn:
        may_create, ready, user = conn.execute(
            "SELECT CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE')"
            " ELSE has_schema_privilege(n.oid, 'CREATE') END, has_schema_privilege(n.oid, 'USAGE') AND EXISTS"
            " (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = %s), current_user"
            " FROM (SELECT %s::text AS name) s LEFT JOIN pg_namespace n ON n.nspname = s.name",
            (f"{Ledger.name}_events", schema)).fetchone()  # type: ignore[misc]
    if not may_create and not ready:
        raise NotSetUp(f"schema {schema} holds no ledger that role {user} may use, and it may not create one: the "
                       f"owner (rcm) sets it up first with `rcm db grant --db postgresql://rcm@HOST:PORT/DB...`")
    return bool(may_create)


@contextmanager
def tables_lock(settings: Settings, make_schema: bool = True) -> Iterator[None]:
    """One process at a time creates the schema, the ledger's tables or the read models: on PostgreSQL concurrent
    CREATE ... IF NOT EXISTS statements collide on the catalogue's unique indexes (the lock ends with its
    connection); on SQLite two processes opening a new file at once both create eventsourcing's tracking table and
    one fails recording its first row (a lock file beside the database)."""
    if settings.backend == "sqlite":
        name = settings.eventsourcing_env()["SQLITE_DBNAME"]
        if ":memory:" in name or "mode=memory" in name:
            yield
            return
        import fcntl

        with open(f"{name}.lock", "a") as lock:
            os.chmod(lock.name, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    if settings.backend != "postgresql":  # (the in-memory store of tests and demos: one process)
        yield
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"rcm tables {settings.postgres_schema}",))
        if settings.postgres_schema and make_schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.postgres_schema)))
        yield


def open_views(ledger: StoreLedger, where: Settings | str | None = None, suffix: str = "") -> ClaimViews:
    """The read-model tables live in the ledger's own database, tracked by eventsourcing's tracking recorder."""
    settings = settings_of(where)
    if settings.backend not in ("sqlite", "postgresql"):
        raise ValueError(f"projections need SQLite or PostgreSQL, not {settings.database_url!r}")
    with tables_lock(settings, make_schema=False):  # (two consumers starting at once: one creates, the other waits)
        views = ClaimViews(ledger.factory.tracking_recorder(), settings.backend, suffix, grant=grants.grant_if_roles)
        views.create()
    return views


def grant_roles(settings: Settings) -> list[dict[str, str]]:
    """`rcm db grant`: as the owner, creates the ledger's tables and read models missing in the schema, then grants
    each role its privileges on every table there (infra/store/grants.py)."""
    import psycopg

    ledger = open_ledger(settings)
    try:
        open_views(ledger, settings)
    finally:
        ledger.close()
    schema = settings.postgres_schema or "public"
    with psycopg.connect(settings.postgres_conninfo()) as conn:
        try:
            return grants.grant(conn.cursor(), schema)
        except psycopg.errors.InsufficientPrivilege as error:
            raise grants.NotOwner(f"only the owner of the tables in schema {schema} may grant on them: "
                                  f"{' '.join(str(error).split())}") from None


FACTS_KEPT = 200_000  # claims whose read-model facts a runner keeps in memory (about 1 GB at most)


def open_runner(where: Settings | str | None = None, suffix: str = "") -> Runner:
    settings = settings_of(where)
    ledger = open_ledger(settings, source="projections")
    # Events per transaction. PostgreSQL takes big pages in its stride: a claim touched by consecutive events
    # is folded, summed and written once per page. Over the first 300,000 events of the million-claim bench,
    # pages of 15,000, 25,000, 50,000, 75,000 and 100,000 caught up in 22.7, 19.3, 16.3, 15.5 and 14.8 s (one run
    # each, side by side); 100,000 peaks at some 850 MB of memory.
    # SQLite has one write lock, which the ledger's writers wait for while a page is written.
    default = 100_000 if settings.backend == "postgresql" else 2_000
    page = int(os.environ.get("RCM_PROJECTION_PAGE", default))
    views = open_views(ledger, settings, suffix)
    views.keep_facts(FACTS_KEPT)
    runner = Runner(ledger.recorder, ledger.mapper, views, page=page, read_event=PlainEvents(ledger.mapper))
    runner.ledger = ledger  # type: ignore[attr-defined]  # keeps the store open as long as the runner
    return runner


def appends_wake(runner: Runner, where: Settings | str | None = None) -> Callable[[float], None] | None:
    """On PostgreSQL, a wait that ends as soon as the ledger appends (every insert NOTIFYs the events table's
    channel; the connection LISTENs from now on, so an append between a catch-up and the wait still wakes it) or
    after the given seconds. None on SQLite, which has no notifications: the follower polls."""
    channel, settings = getattr(runner.recorder, "channel_name", None), settings_of(where)
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


def open_relay(where: Settings | str | None, bootstrap: str, topic: str, name: str, page: int | None = None
               ) -> Relay:
    from consumers.relay import PAGE, Relay
    from infra.kafka.publisher import KafkaPublisher
    from infra.kafka.relay_reader import LedgerPages, ReaderProcess

    settings = settings_of(where)
    ledger = open_ledger(settings, source="relay")  # creates the tables the reader reads
    if settings.backend == "memory":
        pages: LedgerPages | ReaderProcess = LedgerPages(ledger, page or PAGE)
    else:
        ledger.close()
        pages = ReaderProcess(settings, page or PAGE)  # started first: it loads while the producer connects
    try:
        return Relay(pages, KafkaPublisher(bootstrap, topic, name))
    except BaseException:
        pages.close()
        raise


def open_consumer(name: str, where: Settings | str | None, bootstrap: str, topic: str = TOPIC, group: str | None = None,
                  log: Callable[[str], None] = lambda s: None) -> ConsumerRunner:
    from infra.kafka.consumer_runner import ConsumerRunner
    from infra.kafka.consumer_stores import JournalStore, WorklistStore

    stores: dict[str, Callable[[Database], ConsumerStore]] = {
        "worklist": WorklistStore, "journal": JournalStore, "projections": open_projection_store}
    if name not in stores:
        raise ValueError(f"no consumer {name!r}: one of {', '.join(stores)}")
    store = stores[name](open_consumer_database(where))
    try:
        return ConsumerRunner(name, store, bootstrap, topic, group, log)
    except BaseException:
        store.close()
        raise


def open_consumer_database(where: Settings | str | None) -> Database:
    from infra.kafka.consumer_stores import Database

    return Database(settings_of(where))


def open_projection_store(db: Database) -> ConsumerStore:
    """Scale-out mode: the projections fed from Kafka, writing the views in the consumers' database."""
    from infra.kafka.consumer_stores import ProjectionStore

    with db.exclusive():  # two workers starting together create the tables one after the other
        ledger = open_ledger(db.settings, source="projections")
        views, read = open_views(ledger, db.settings), PlainEvents(ledger.mapper)
        # a late fact's claim is folded again from the ledger's own events (the topic carries only the new ones)
        views.read_history_with(lambda claim_id: [read(e) for e in ledger.recorder.select_events(UUID(claim_id))])
        return ProjectionStore(db, ledger, views)
