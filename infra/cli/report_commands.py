"""The reports: claim status, A/R aging, denials, KPIs and the end of the day from the views, the claims worklist,
and the journal the Kafka consumer keeps."""
from __future__ import annotations

import argparse
import csv
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from domain.lifecycle import Status
from infra import present
from infra.bootstrap import open_runner
from infra.cli.arguments import AddCommand, InputRejected, iso_date, report_date, today, whole_number
from infra.cli.deposit_commands import print_deposits
from infra.cli.terminal import OK, err, print_result
from projections import productivity, reports

# the options each report takes beyond --as-of, --json and --db; any other is refused, never ignored
REPORT_OPTIONS = {"status": {"by": ("payer", "provider")}, "kpis": {"by": ("payer", "provider")},
                  "denials": {"by": ("payer",)}, "deposits": {}, "productivity": {"by": ("person", "day")},
                  "aging": {"by": ("payer", "provider"),
                            "aging_from": ("dos", "submission", "responsibility", "activity")}}


SCORECARD = ["group", "initial_denial_rate", "first_pass_resolution_rate", "payment_lag_days", "days_in_ar",
             "net_collection_rate", "ar_over_90_share", "claims_adjudicated", "ar_total"]


def cmd_report(args: argparse.Namespace) -> int:
    if args.report == "day":
        return print_day(args)
    if args.date or args.pdf:
        raise InputRejected(f"rcm report {args.report}: --date and --pdf are for `rcm report day`")
    refuse_options_not_taken(args)
    if args.as_of:
        report_date(args.as_of)
    runner = open_runner(args.settings)
    runner.catch_up()
    if args.report == "productivity":
        return print_productivity(args, runner.views)
    views, as_of = runner.views, report_date(args.as_of) if args.as_of else today()
    if args.report == "deposits":
        return print_deposits(args, views)
    return print_report(args, views, as_of)


def refuse_options_not_taken(args: argparse.Namespace) -> None:
    takes = REPORT_OPTIONS[args.report]
    refuse_dates_not_taken(args)
    if args.month_ends is not None and (args.report != "kpis" or args.by):
        raise InputRejected(f"rcm report {args.report}: --month-ends is for `rcm report kpis` over the practice "
                            f"(no --by)")
    for option in ("by", "aging_from"):
        value = getattr(args, option)
        if value is not None and value not in takes.get(option, ()):
            flag = "--" + option.replace("_", "-")
            refusal = (f"it takes {flag} {' or '.join(takes[option])}" if option in takes
                       else f"it takes no {flag}")
            raise InputRejected(f"rcm report {args.report}: {flag} {value} is not supported: {refusal}"
                                + (" (denial statistics are kept per payer)" if args.report == "denials" else ""))


def refuse_dates_not_taken(args: argparse.Namespace) -> None:
    """Deposits and productivity cover a span of days (--from, --to); the other reports are as of one date."""
    if args.report in ("deposits", "productivity"):
        if args.as_of:
            raise InputRejected(f"rcm report {args.report}: --as-of is not supported: it takes --from and --to")
        if args.start and args.end and args.start > args.end:
            raise InputRejected(f"rcm report {args.report}: --from {args.start} is after --to {args.end}")
        return
    for flag, value in (("--from", args.start), ("--to", args.end)):
        if value is not None:
            raise InputRejected(f"rcm report {args.report}: {flag} is not supported: it takes --as-of "
                                "(only deposits and productivity take --from and --to)")


def print_productivity(args: argparse.Namespace, views: Any) -> int:
    by = args.by or "person"
    rows = productivity.productivity(views, args.start, args.end, by)
    denials = productivity.denials_by_coder(views, args.start, args.end)
    span = f"{args.start or 'the first day'} to {args.end or 'the last day'}"
    columns = (["day"] if by == "day" else []) + productivity.COLUMNS
    print_result(args.json, {"report": "productivity", "from": args.start, "to": args.end, "by": by, "rows": rows,
                             "denials_by_coder": denials},
                 Group(present.rows_table(f"Productivity by {by}, {span} (events' actors)", rows, columns),
                       present.rows_table(f"Denials by coder and root cause, {span}", denials)))
    return OK


def print_report(args: argparse.Namespace, views: Any, as_of: date) -> int:
    dated = f" as of {as_of}" if args.as_of else ""
    if args.report == "denials":
        return print_denials(args, views, as_of, dated)
    past = as_of if args.as_of else None  # as of a past day: the history cut there (projections/intervals.py)
    if args.report == "kpis" and args.by:
        data: Any = reports.scorecard(views, args.by, as_of, cut=past is not None)
        table: Table = present.rows_table(f"KPIs by {args.by}{dated} (--json for every KPI)", data, SCORECARD)
    elif args.report == "kpis" and args.month_ends:
        data = reports.month_end_kpis(views, as_of, args.month_ends)
        table = present.rows_table(f"KPIs at each month-end before {as_of:%B %Y} (the history cut there)", data,
                                   ["month_end", *SCORECARD[1:]])
    elif args.report == "kpis":
        data = reports.kpis(views, past)
        table = present.kpi_table(data)
        if args.as_of:
            data = {"as_of": as_of, **data}
            table.title = f"{table.title}{dated}"
    elif args.report == "status":
        data = reports.status(views, args.by, past)
        table = present.rows_table(f"Claims by status{dated}", data)
    else:
        start = args.aging_from or "dos"
        data = reports.aging(views, as_of, args.by, start)
        table = present.aging_table(f"A/R aging as of {as_of} (from {start})", data)
    print_result(args.json, {"report": args.report, "as_of": as_of, "rows": data} if isinstance(data, list)
                 else {"report": args.report, **data}, table)
    return OK


def print_denials(args: argparse.Namespace, views: Any, as_of: date, dated: str) -> int:
    until = as_of if args.as_of else None
    data = reports.denials(views, args.by or "payer", until)
    reasons = reports.denial_reasons(views, until=until)
    print_result(args.json, {"report": "denials", "as_of": as_of, "rows": data, "by_carc": reasons},
                 Group(present.rows_table(f"Denials by payer and category (rejections apart){dated}", data),
                       present.rows_table(f"Top denial reasons (CARC) by dollars{dated}", reasons)))
    return OK


def print_day(args: argparse.Namespace) -> int:
    for option in ("as_of", "by", "aging_from", "month_ends"):
        if getattr(args, option) is not None:
            flag = "--" + option.replace("_", "-")
            raise InputRejected(f"rcm report day: it takes no {flag} (--date D gives the day, default today)")
    on = report_date(args.date, "--date") if args.date else today()
    runner = open_runner(args.settings)
    runner.catch_up()
    report = reports.day(runner.views, on)
    if args.pdf:
        from infra.day_pdf import write_day_pdf

        write_day_pdf(report, Path(args.pdf))
        err.print(f"wrote the end-of-day report for {on} to {args.pdf}", markup=False)
    print_result(args.json, report, Group(*map(present.section_table, present.day_sections(report))))
    return OK


def require_payer(views: Any, payer: str) -> None:
    if payer not in (known := reports.payers(views)):
        raise InputRejected(f"--payer {payer!r}: no such payer in the ledger (payers: "
                            f"{', '.join(known[:20]) or 'none yet'}{', ...' if len(known) > 20 else ''})")


def cmd_claims(args: argparse.Namespace) -> int:
    runner = open_runner(args.settings)
    runner.catch_up()
    if args.payer:
        require_payer(runner.views, args.payer)
    rows = reports.worklist(runner.views, today(), args.status, args.payer, args.older_than, args.limit)
    print_result(args.json, rows, present.rows_table(f"Worklist ({len(rows)} claims, oldest date of service first)",
                                                     rows))
    return OK


JOURNAL_COLUMNS = ["day", "payer", "account", "debit", "credit"]


def cmd_journal(args: argparse.Namespace) -> int:
    from infra.bootstrap import open_consumer_database
    from infra.kafka.consumer_stores import journal_rows

    with open_consumer_database(args.settings) as db:
        rows = journal_rows(db, args.start, args.end)
    lines = [{"day": str(r["day"]), "payer": r["payer_id"], "account": r["account"],
              "debit": reports.dollars(r["debit_cents"]), "credit": reports.dollars(r["credit_cents"])} for r in rows]
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=JOURNAL_COLUMNS)
            writer.writeheader()
            writer.writerows(lines)
        err.print(f"wrote {len(lines)} journal lines to {args.csv}", markup=False)
    else:
        print_result(args.json, lines,
                     present.rows_table("General ledger journal (debits = credits per day and payer)", lines))
    return OK


def register(command: AddCommand) -> None:
    p = command("report", "claim status, A/R aging, denials, KPIs, deposits, productivity or the end of a day from "
                          "the read models")
    p.add_argument("report", choices=("status", "aging", "denials", "kpis", "day", "deposits", "productivity"))
    p.add_argument("--as-of", help="as of the end of this date (default today), in business time: the history cut "
                   "there, read from the views' daily records and intervals")
    p.add_argument("--by", choices=("payer", "provider", "person", "day"),
                   help="payer or provider; productivity: person (default) or day")
    p.add_argument("--from", dest="start", type=iso_date,
                   help="deposits and productivity only: from this day (default: the first)")
    p.add_argument("--to", dest="end", type=iso_date,
                   help="deposits and productivity only: to this day, included (default: the last)")
    p.add_argument("--aging-from", choices=("dos", "submission", "responsibility", "activity"),
                   help="aging only: what the age counts from (default dos)")
    p.add_argument("--month-ends", type=whole_number("months", 1, 120), nargs="?", const=12, default=None,
                   help="kpis only: the KPIs as of each of the last N month-ends (default 12) before --as-of's month")
    p.add_argument("--date", help="day only: the day to report (YYYY-MM-DD, default today)")
    p.add_argument("--pdf", metavar="FILE", help="day only: also write the report as a one-page PDF")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_report)
    p = command("claims", "a worklist of open claims")
    p.add_argument("--status", choices=Status.ALL, metavar="STATUS", help=f"one of {', '.join(Status.ALL)}")
    p.add_argument("--payer", help="a payer id in the ledger")
    p.add_argument("--older-than", type=whole_number("days", 0, 36500), help="days since the date of service")
    p.add_argument("--limit", type=whole_number("claims", 1, 10**6), default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_claims)
    p = command("journal", "the daily cash and adjustment journal kept by `rcm consume journal`")
    p.add_argument("--from", dest="start", type=iso_date)
    p.add_argument("--to", dest="end", type=iso_date)
    p.add_argument("--csv", help="write the lines to this CSV file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_journal)
