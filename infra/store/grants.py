"""Least privilege on PostgreSQL (README "Using PostgreSQL"): what each of the ledger's roles may do to each table
of a ledger's schema, classified by the tables' contract names, and the one path that grants it (`rcm db grant`,
run by the owner after the tables exist; a rebuild of the read models, run by the owner, grants its new tables).

Every grant run first revokes what these roles (and PUBLIC) held on the schema's tables, so a table ends with
exactly what its kind allows, whatever an earlier release granted. Tables absent from the schema (the hash chain
or the PHI store before they are created) are simply not there to grant on."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from projections.schema import READER

OWNER = "rcm"
WRITER, PROJECTOR, AUDITOR = "rcm_writer", "rcm_projector", "rcm_auditor"
ROLES = (WRITER, PROJECTOR, READER, AUDITOR)
EVENTS, CHAIN, TRACKING, PHI_PREFIX = "rcm_events", "rcm_chain", "rcm_tracking", "rcm_phi_"
LOCK_SUFFIX = "_lock"  # `<table>_lock()`: takes the table's append lock for those who may insert (recorders.py)
WRITES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# kind of table -> role -> privileges; a role not named has none. Views are read-only whatever their kind says.
PRIVILEGES: dict[str, dict[str, tuple[str, ...]]] = {
    # the history: appended, never changed (h1's trigger refuses UPDATE and DELETE even to the owner)
    "history": {WRITER: ("SELECT", "INSERT"), PROJECTOR: ("SELECT",), AUDITOR: ("SELECT",)},
    "phi": {WRITER: WRITES},
    "tracking": {PROJECTOR: WRITES},
    "read model": {PROJECTOR: WRITES, READER: ("SELECT",)},
}


def kind(table: str) -> str:
    """A table's kind by the contract's names (SESSION 6): everything not named is a read model."""
    if table in (EVENTS, CHAIN):
        return "history"
    if table.startswith(PHI_PREFIX):
        return "phi"
    if table == TRACKING:
        return "tracking"
    return "read model"


def allowed(table: str, role: str, is_view: bool = False) -> tuple[str, ...]:
    privileges = PRIVILEGES[kind(table)].get(role, ())
    return tuple(p for p in privileges if p == "SELECT") if is_view else privileges


def relations(c: Any, schema: str) -> list[tuple[str, bool]]:
    """(name, is a view) of every table and view in the schema."""
    c.execute("SELECT c.relname AS name, c.relkind IN ('v', 'm') AS is_view FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
              " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1", (schema,))
    return [(row[0], row[1]) for row in rows(c)]


def sequences(c: Any, schema: str) -> list[tuple[str, str]]:
    """(sequence, table) of the sequences that number a table's rows (bigserial and identity columns)."""
    c.execute("SELECT s.relname AS sequence, t.relname AS owner FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace"
              " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') JOIN pg_class t ON t.oid = d.refobjid"
              " WHERE n.nspname = %s AND s.relkind = 'S' ORDER BY 1", (schema,))
    return [(row[0], row[1]) for row in rows(c)]


def rows(c: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]


def missing_roles(c: Any) -> list[str]:
    c.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES),))
    present = {row[0] for row in rows(c)}
    return [role for role in ROLES if role not in present]


class MissingRoles(Exception):
    """The cluster lacks the ledger's roles (infra/postgres.sh creates them)."""


class NotOwner(Exception):
    """Only the tables' owner may grant on them."""


def grant(c: Any, schema: str, only: Iterable[str] | None = None, strict: bool = True) -> list[dict[str, str]]:
    """Grants each role what its tables' kinds allow in `schema` (all its tables, or those named in `only`);
    returns one row per table: its kind and each role's privileges. A cluster without all the roles is refused
    (`strict`) or granted for the roles it has."""
    absent = missing_roles(c)
    if absent and strict:
        raise MissingRoles(f"roles {', '.join(absent)} do not exist in this cluster: infra/postgres.sh start creates "
                           f"them (or create them as in README \"Using PostgreSQL\")")
    roles = [role for role in ROLES if role not in absent]
    if not roles:
        return []
    wanted = None if only is None else set(only)
    everyone = sql.SQL(", ").join([sql.SQL("PUBLIC"), *map(sql.Identifier, roles)])
    c.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
        sql.Identifier(schema), sql.SQL(", ").join(map(sql.Identifier, roles))))
    report = []
    for table, is_view in relations(c, schema):
        if wanted is not None and table not in wanted:
            continue
        name = sql.Identifier(schema, table)
        c.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(name, everyone))
        row = {"table": table, "kind": kind(table)}
        for role in roles:
            privileges = allowed(table, role, is_view)
            if privileges:
                c.execute(sql.SQL("GRANT {} ON {} TO {}").format(
                    sql.SQL(", ").join(map(sql.SQL, privileges)), name, sql.Identifier(role)))
            row[role] = ", ".join(privileges) or "-"
        report.append(row)
    for sequence, table in sequences(c, schema):
        if wanted is not None and table not in wanted:
            continue
        name = sql.Identifier(schema, sequence)
        c.execute(sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(name, everyone))
        inserters = [role for role in roles if "INSERT" in allowed(table, role)]
        if inserters:
            c.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                name, sql.SQL(", ").join(map(sql.Identifier, inserters))))
    for function, table in lock_functions(c, schema):
        if wanted is not None and table not in wanted:
            continue
        name = sql.SQL("{}()").format(sql.Identifier(schema, function))
        c.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM {}").format(name, everyone))
        inserters = [role for role in roles if "INSERT" in allowed(table, role)]
        if inserters:
            c.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                name, sql.SQL(", ").join(map(sql.Identifier, inserters))))
    return report


def lock_functions(c: Any, schema: str) -> list[tuple[str, str]]:
    """(function, table) of the schema's `<table>_lock()` functions."""
    c.execute("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s"
              " AND p.proname LIKE %s AND p.pronargs = 0", (schema, f"%{LOCK_SUFFIX}"))
    return [(row[0], row[0][:-len(LOCK_SUFFIX)]) for row in rows(c)]


def grant_if_roles(c: Any, schema: str, only: Iterable[str]) -> None:
    """`grant` on the relations named, for those of the ledger's roles the cluster has."""
    grant(c, schema, only, strict=False)
