"""`rcm projections`: run (and follow), status, verify against the oracle, rebuild."""
from __future__ import annotations

import argparse
import threading
from typing import Any

from infra import present
from infra.bootstrap import appends_wake, open_runner
from infra.cli.arguments import AddCommand, iso_date, today
from infra.cli.audit_commands import chain_allows_rebuild
from infra.cli.terminal import FAILURE, OK, REJECTED, err, out, print_result, progress
from infra.verify import differences
from projections.tables import VIEW_NAMES


def cmd_projections(args: argparse.Namespace) -> int:
    if args.action == "rebuild":
        return rebuild(args)
    runner = open_runner(args.settings)
    if args.action == "run":
        return run(args, runner)
    if args.action == "status":
        lag = runner.lag()
        rows = [{"projection": name, "position": lag.position, "head": lag.head, "lag_events": lag.events,
                 "lag_seconds": lag.seconds} for name in VIEW_NAMES]
        print_result(args.json, rows, present.rows_table("Projections", rows))
        return OK
    as_of = args.as_of or [today()]
    problems = differences(runner, tuple(as_of))
    for problem in problems[:50]:
        err.print(problem, markup=False)
    verdict = "identical to the oracle" if not problems else f"{len(problems)} difference(s) from the oracle"
    out.print(f"projections verify: {verdict} (position {runner.views.position()}, A/R as of "
              f"{', '.join(map(str, as_of))})")
    return OK if not problems else FAILURE


def run(args: argparse.Namespace, runner: Any) -> int:
    lag = runner.lag()
    with progress() as bar:
        task = bar.add_task("projecting", total=lag.events)
        done = runner.catch_up(lambda n: bar.advance(task, n))
    err.print(f"projected {done} events; position {runner.views.position()}", markup=False)
    if args.follow:
        wake = appends_wake(runner, args.settings)
        how = "woken by PostgreSQL's notifications" if wake else "polling every 0.2 s"
        err.print(f"following the ledger, {how} (Ctrl-C to stop)", markup=False)
        stop = threading.Event()
        try:
            runner.follow(stop, poll_seconds=2.0 if wake else 0.2, wait=wake,
                          progress=lambda n: err.print(f"+{n} events", markup=False))
        except KeyboardInterrupt:
            stop.set()
    return OK


def rebuild(args: argparse.Namespace) -> int:
    """Fresh tables beside the live ones, caught up, then switched in one transaction (from an intact log only)."""
    if not chain_allows_rebuild(args.settings, getattr(args, "accept_broken_chain", False)):
        return REJECTED
    fresh = open_runner(args.settings, suffix="_next")
    build_from_scratch(fresh, "rebuilding")
    live = open_runner(args.settings)
    live.views.replace_with(fresh.views)
    live.catch_up()  # whatever was appended during the switch
    together = "" if args.name == "all" else f" ({args.name} is folded with the others in one pass)"
    out.print(f"rebuilt {', '.join(VIEW_NAMES)}{together} at position {live.views.position()}")
    return OK


def build_from_scratch(runner: Any, label: str) -> None:
    """Empties a runner's own tables (whatever an interrupted run left) and catches them up to the head now."""
    runner.views.drop()
    runner.views.create()
    head = runner.recorder.max_notification_id() or 0
    with progress() as bar:
        task = bar.add_task(label, total=head)
        runner.catch_up(lambda n: bar.advance(task, n), until=head)


def register(command: AddCommand) -> None:
    p = command("projections", "run, inspect, verify or rebuild the read models")
    p.add_argument("action", choices=("run", "status", "verify", "rebuild"))
    p.add_argument("name", nargs="?", choices=(*VIEW_NAMES, "all"), default="all",
                   help="rebuild: the view to rebuild (the three are one unit of work and rebuilt together)")
    p.add_argument("--follow", action="store_true", help="run: keep following the ledger")
    p.add_argument("--as-of", action="append", type=iso_date,
                   help="verify: also check A/R as of this date (repeatable)")
    p.add_argument("--accept-broken-chain", action="store_true",
                   help="rebuild: even when `rcm audit verify` finds the hash chain broken")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_projections)
