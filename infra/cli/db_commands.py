"""`rcm db grant`: the owner creates whatever of the ledger's tables and read models are missing in the schema, then
grants each role its privileges on every table there (README "Using PostgreSQL"; infra/store/grants.py)."""
from __future__ import annotations

import argparse

from infra import present
from infra.bootstrap import grant_roles
from infra.cli.arguments import AddCommand, InputRejected
from infra.cli.terminal import OK, print_result
from infra.store.grants import MissingRoles, NotOwner


def cmd_db(args: argparse.Namespace) -> int:
    if args.settings.backend != "postgresql":
        raise InputRejected(f"db grant: roles and grants are PostgreSQL's; --db {args.settings.database_url!r} is not "
                            f"a postgresql:// URL (a SQLite ledger is one file, created 0600)")
    try:
        report = grant_roles(args.settings)
    except (MissingRoles, NotOwner) as e:
        raise InputRejected(f"db grant: {e}") from None
    schema = args.settings.postgres_schema or "public"
    print_result(args.json, report, present.rows_table(f"privileges in schema {schema}", report))
    return OK


def register(command: AddCommand) -> None:
    p = command("db", "PostgreSQL roles: grant each role its privileges on the ledger's tables (run as the owner)")
    p.add_argument("action", choices=("grant",))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_db)
