"""Deposit reconciliation: `rcm deposits import FILE.bai` (the bank's BAI2 file) and `rcm report deposits`, which
matches each deposit with the 835 that explains it (projections/deposits.py)."""
from __future__ import annotations

import argparse
from typing import Any

from rich.console import Group

from infra import present
from infra.bootstrap import open_ledger
from infra.cli.arguments import AddCommand, InputRejected
from infra.cli.terminal import OK, print_result
from projections import reports

COLUMNS = ["deposit_date", "amount", "trace", "payer", "posted_on", "status", "difference", "posting_lag_days"]


def cmd_import(args: argparse.Namespace) -> int:
    from infra.bai2_deposits import Bai2Refused, import_deposits

    ledger = open_ledger(args.settings, source="bai2")
    results = []
    for path in args.files:
        try:
            results.append(import_deposits(ledger, path).summary())
        except Bai2Refused as error:
            raise InputRejected(f"{error}; nothing from this file was written") from None
    print_result(args.json, results, present.rows_table("BAI2 deposits imported", results))
    return OK


def print_deposits(args: argparse.Namespace, views: Any) -> int:
    """`rcm report deposits [--from D] [--to D] [--json]`."""
    if args.start and args.end and args.start > args.end:
        raise InputRejected(f"--from {args.start} is after --to {args.end}")
    data = reports.deposits(views, args.start, args.end)
    by_status = [{"status": status, **figures} for status, figures in data["by_status"].items()]
    lag = data["posting_lag_days"]
    span = f" {args.start or '...'} to {args.end or '...'}" if args.start or args.end else ""
    print_result(args.json, {"report": "deposits", "from": args.start, "to": args.end, **data},
                 Group(present.rows_table(f"Deposits and 835s{span}", data["rows"], COLUMNS),
                       present.rows_table(f"By status (average posting lag: "
                                          f"{'n/a' if lag is None else f'{lag} days'}, deposit to posting)",
                                          by_status)))
    return OK


def register(command: AddCommand) -> None:
    p = command("deposits", "bank deposits: import the bank's BAI2 file (then `rcm report deposits`)")
    p.add_argument("action", choices=("import",), help="import: record the credits of BAI2 files as deposits "
                   "(re-importing appends nothing; a file whose totals do not add up is refused whole)")
    p.add_argument("files", nargs="+", metavar="FILE.bai")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_import)
