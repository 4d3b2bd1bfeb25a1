"""Least privilege on real PostgreSQL (README "Using PostgreSQL"): each of the ledger's roles is tried against every
table of a ledger's schema with every kind of statement, and the app runs end to end as the writer, the projector and
the auditor on the tables the owner made. The expectations below are the contract (SESSION 6), written out here
independently of infra/store/grants.py."""
from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from infra.cli import main
from tests.conftest import as_role, lifecycle_to_submitted, payment, require_postgres

ROLES = ("rcm_writer", "rcm_projector", "rcm_grafana", "rcm_auditor")
ALL = {"SELECT", "INSERT", "UPDATE", "DELETE"}
# role -> kind of table -> what it may do; anything not listed is refused (TRUNCATE to every role)
MAY = {
    "rcm_writer": {"history": {"SELECT", "INSERT"}, "phi": ALL},
    "rcm_projector": {"history": {"SELECT"}, "tracking": ALL, "read model": ALL, "view": {"SELECT"}},
    "rcm_grafana": {"read model": {"SELECT"}, "view": {"SELECT"}},
    "rcm_auditor": {"history": {"SELECT"}},
}
TEMP = {"rcm_writer": False, "rcm_projector": True, "rcm_grafana": False, "rcm_auditor": False}


def kind_of(table: str, relkind: str) -> str:
    if table in ("rcm_events", "rcm_chain"):
        return "history"
    if table.startswith("rcm_phi_"):
        return "phi"
    if table == "rcm_tracking":
        return "tracking"
    return "view" if relkind == "v" else "read model"


def roles_present(owner: str) -> None:
    with psycopg.connect(owner) as c:
        have = {r[0] for r in c.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES),))}
    if have != set(ROLES):
        message = f"the cluster lacks the roles {sorted(set(ROLES) - have)}: run infra/postgres.sh start"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def rcm(*args: str) -> int:
    return main([*args])


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A schema the owner set up (ledger, read models, stand-ins for the chain and PHI tables where this release
    has none yet) and granted; the URL of each role on it."""
    base = require_postgres()
    roles_present(base)
    schema = f"roles_{uuid.uuid4().hex[:10]}"
    owner = f"{as_role(base, 'rcm')}?schema={schema}"
    commands = tmp_path_factory.mktemp("roles") / "owner.jsonl"
    commands.write_text("\n".join(json.dumps(c) for c in [*lifecycle_to_submitted("O1"), payment("O1")]) + "\n")
    assert rcm("apply", str(commands), "--db", owner) == 0
    assert rcm("projections", "run", "--db", owner) == 0
    with psycopg.connect(as_role(base, "rcm"), autocommit=True) as c:
        for table in ("rcm_chain", "rcm_phi_keys", "rcm_phi_records"):
            c.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, body TEXT)").format(
                sql.Identifier(schema, table)))
        # a grant an earlier release (or a hand) made too wide is taken back
        c.execute(sql.SQL("GRANT ALL ON {} TO rcm_grafana").format(sql.Identifier(schema, "rcm_events")))
    assert rcm("db", "grant", "--db", owner) == 0
    return {"schema": schema, "base": base, "rcm": owner,
            **{role: f"{as_role(base, role)}?schema={schema}" for role in ROLES}}


def connect(ledger: dict[str, str], role: str) -> psycopg.Connection:
    """A connection as `role` (libpq finds its password) with the ledger's schema on the search path."""
    connection = psycopg.connect(as_role(ledger["base"], role))
    connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(ledger["schema"])))
    connection.commit()
    return connection


def relations(ledger: dict[str, str]) -> list[tuple[str, str]]:
    with psycopg.connect(as_role(ledger["base"], "rcm")) as c:
        return c.execute("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = %s AND c.relkind IN ('r', 'v') ORDER BY 1", (ledger["schema"],)).fetchall()


def statement(action: str, table: sql.Composable, column: str) -> sql.Composable:
    """A statement that needs exactly the `action` privilege on the table (it touches no row)."""
    return {
        "SELECT": sql.SQL("SELECT count(*) FROM {}"),
        "INSERT": sql.SQL("INSERT INTO {} DEFAULT VALUES"),
        "UPDATE": sql.SQL("UPDATE {} SET {} = NULL WHERE false"),
        "DELETE": sql.SQL("DELETE FROM {} WHERE false"),
        "TRUNCATE": sql.SQL("TRUNCATE {}"),
    }[action].format(table, sql.Identifier(column))


def refused(connection: psycopg.Connection, query: sql.Composable) -> bool:
    """Whether PostgreSQL refuses the statement for want of a privilege (it is rolled back either way)."""
    try:
        with connection.transaction(force_rollback=True):
            connection.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    except psycopg.Error:  # allowed, then failed on the row (NOT NULL, a refusing trigger, ...)
        return False
    return False


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_every_table_and_statement_it_must_not_touch(ledger: dict[str, str], role: str):
    tables = relations(ledger)
    kinds = {kind_of(t, k) for t, k in tables}
    assert {"history", "phi", "tracking", "read model", "view"} <= kinds, tables
    wrong = []
    with connect(ledger, role) as c:
        for table, relkind in tables:
            kind, name = kind_of(table, relkind), sql.Identifier(ledger["schema"], table)
            first_column = c.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1",
                                     (f"{ledger['schema']}.{table}",)).fetchone()[0]
            actions = ("SELECT",) if relkind == "v" else ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            for action in actions:
                may = action in MAY[role].get(kind, set())
                if refused(c, statement(action, name, first_column)) == may:
                    wrong.append(f"{action} on {table} ({kind}): {'refused' if may else 'allowed'}")
    assert wrong == [], f"{role}: {wrong}"


@pytest.mark.parametrize("role", ROLES)
def test_no_role_but_the_owner_creates_tables_and_only_the_projector_temporary_ones(ledger: dict[str, str], role: str):
    with connect(ledger, role) as c:
        assert refused(c, sql.SQL("CREATE TABLE {} (a int)").format(sql.Identifier(ledger["schema"], "intruder")))
        assert refused(c, sql.SQL("CREATE TEMP TABLE scratch (a int)")) is not TEMP[role]
        # the events table's append lock is the writer's alone
        lock = sql.SQL("SELECT {}()").format(sql.Identifier(ledger["schema"], "rcm_events_lock"))
        assert refused(c, lock) is (role != "rcm_writer")


def test_the_app_runs_as_the_writer_the_projector_and_the_auditor(ledger: dict[str, str], tmp_path: Path):
    commands = tmp_path / "writer.jsonl"
    commands.write_text("\n".join(json.dumps(c) for c in [*lifecycle_to_submitted("W1"), payment("W1")]) + "\n")
    assert rcm("apply", str(commands), "--db", ledger["rcm_writer"]) == 0
    assert rcm("projections", "run", "--db", ledger["rcm_writer"]) != 0  # the writer writes no read model
    assert rcm("projections", "run", "--db", ledger["rcm_projector"]) == 0
    assert rcm("history", "W1", "--db", ledger["rcm_auditor"]) == 0
    with connect(ledger, "rcm_grafana") as c:
        status = dict(c.execute("SELECT claim_number, status FROM claim_status").fetchall())
        assert status == {"O1": "paid", "W1": "paid"}
        assert c.execute("SELECT claims_submitted FROM kpis").fetchone()[0] == 2


def test_a_role_that_is_not_the_owner_is_told_to_have_the_schema_set_up(ledger: dict[str, str], tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]):
    fresh = f"{as_role(ledger['base'], 'rcm_writer')}?schema=none_{uuid.uuid4().hex[:10]}"
    commands = tmp_path / "c.jsonl"
    commands.write_text(json.dumps(lifecycle_to_submitted("N1")[0]) + "\n")
    assert rcm("apply", str(commands), "--db", fresh) == 2
    assert "rcm db grant" in capsys.readouterr().err


def test_a_rebuild_by_the_owner_keeps_the_grants_on_the_new_tables(ledger: dict[str, str]):
    assert rcm("projections", "rebuild", "--db", ledger["rcm"]) == 0
    with connect(ledger, "rcm_grafana") as c:
        assert c.execute("SELECT count(*) FROM claim_status").fetchone()[0] >= 1
        assert c.execute("SELECT count(*) FROM kpis").fetchone()[0] == 1
        assert refused(c, sql.SQL("SELECT count(*) FROM rcm_events"))
    assert rcm("projections", "run", "--db", ledger["rcm_projector"]) == 0


def test_a_projector_meeting_a_table_of_changes_an_earlier_release_keyed_is_told_to_have_the_owner_open_it(
        ledger: dict[str, str], capsys: pytest.CaptureFixture[str]):
    """The tables of changes lost their primary key (a page appends its rows); the projector may not drop it, and
    would fail on a page's second row of a key: it is refused up front, naming the table, and runs once the owner
    has opened the views (`rcm db grant`), which drops the key."""
    with connect(ledger, "rcm") as c:  # the earlier release's layout
        c.execute("ALTER TABLE productivity ADD PRIMARY KEY (rendering_npi, day, person, activity, category, payer_id)")
        c.commit()
    capsys.readouterr()
    assert rcm("projections", "run", "--db", ledger["rcm_projector"]) == 2
    err = capsys.readouterr().err
    assert "productivity" in err and "rcm db grant" in err
    assert rcm("db", "grant", "--db", ledger["rcm"]) == 0
    assert rcm("projections", "run", "--db", ledger["rcm_projector"]) == 0
    with connect(ledger, "rcm") as c:
        assert c.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'productivity'::regclass AND "
                         "contype = 'p'").fetchone()[0] == 0


def test_db_grant_is_refused_for_sqlite_and_for_a_role_that_is_not_the_owner(ledger: dict[str, str], tmp_path: Path):
    assert rcm("db", "grant", "--db", f"sqlite:///{tmp_path / 'l.db'}") == 2
    assert rcm("db", "grant", "--db", ledger["rcm_projector"]) == 2


def test_a_new_sqlite_ledger_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path):
    from infra.bootstrap import open_ledger
    from infra.store.ledger import StoreLedger
    from domain.commands import COMMAND

    previous = os.umask(0o022)
    try:
        ledger: StoreLedger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
        ledger.execute([COMMAND.validate_python(c) for c in lifecycle_to_submitted("S1")])
        files = sorted(tmp_path.glob("ledger.db*"))
        assert {p.name for p in files} >= {"ledger.db", "ledger.db-wal"}
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}
    finally:
        os.umask(previous)
