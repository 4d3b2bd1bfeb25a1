"""`rcm dashboards`: offline HTML snapshots of the Grafana dashboards, or publish them to a Grafana server."""
from __future__ import annotations

import argparse
import os
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from infra import present
from infra.bootstrap import open_runner
from infra.cli.arguments import AddCommand, InputRejected, iso_date
from infra.cli.terminal import FAILURE, OK, out, print_result


def cmd_dashboards(args: argparse.Namespace) -> int:
    settings = args.settings
    return take_snapshots(args, settings) if args.action == "snapshot" else publish_dashboards(args, settings)


def take_snapshots(args: argparse.Namespace, settings: Any) -> int:
    from infra.grafana.dashboards import DashboardError
    from infra.grafana.snapshot import snapshot

    if not args.out:
        raise InputRejected("dashboards snapshot needs --out DIR")
    start, end = pack_range(args.start, args.end)
    chosen = {k: v for k, v in (("payer", args.payer), ("provider", args.provider)) if v}
    try:
        pages = list(snapshot(settings, Path(args.out), catch_up=lambda: open_runner(settings.database_url).catch_up(),
                              start=start, end=end, chosen=chosen or None))
    except DashboardError as error:
        raise InputRejected(str(error)) from None
    for path, run in pages:
        failed = [r for r in run.results if r.error]
        out.print(f"{path}: {len(run.results)} panels" + (f", {len(failed)} failed: {failed[0].error}"
                                                          if failed else ""), markup=False, highlight=False)
    return FAILURE if any(r.error for _, run in pages for r in run.results) else OK


def pack_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """--from and --to as whole days in UTC (the dashboards' time zone): from the first day's start to the end of
    the last; one alone keeps the dashboards' own other end."""
    if first and last and first > last:
        raise InputRejected(f"--from {first} is after --to {last}")
    start = datetime.combine(first, time.min, timezone.utc) if first else None
    end = datetime.combine(last, time.max, timezone.utc) if last else None
    if start and not end:
        end = datetime.now(timezone.utc)
    if end and not start:
        raise InputRejected("--to needs --from (the range's start)")
    return start, end


def publish_dashboards(args: argparse.Namespace, settings: Any) -> int:
    from infra.grafana.publish import PublishError, publish

    if not args.grafana_url:
        raise InputRejected("dashboards publish needs --grafana-url URL")
    try:
        report = publish(args.grafana_url, args.token or os.environ.get("GRAFANA_TOKEN"), settings,
                         folder_title=args.folder)
    except PublishError as error:
        raise InputRejected(str(error)) from None
    print_result(args.json, report, present.rows_table(f"published to {args.grafana_url}", report))
    return OK


def register(command: AddCommand) -> None:
    p = command("dashboards", "Grafana dashboards: offline HTML snapshots, or publish to a Grafana server")
    p.add_argument("action", choices=("snapshot", "publish"))
    p.add_argument("--out", help="snapshot: directory for one HTML page per dashboard")
    p.add_argument("--from", dest="start", type=iso_date,
                   help="snapshot: first day of the range (e.g. a month-end pack)")
    p.add_argument("--to", dest="end", type=iso_date, help="snapshot: last day of the range, inclusive")
    p.add_argument("--payer", action="append", help="snapshot: only this payer (repeat for several)")
    p.add_argument("--provider", action="append", help="snapshot: only this rendering NPI (repeat for several)")
    p.add_argument("--grafana-url", help="publish: e.g. http://localhost:3000")
    p.add_argument("--token", help="publish: a service account token (or env GRAFANA_TOKEN)")
    p.add_argument("--folder", default="Revenue cycle", help="publish: folder title (uid rcm)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_dashboards)
