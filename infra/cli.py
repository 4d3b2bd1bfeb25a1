"""The `rcm` command line: parse, call the ledger, map errors to exit codes (0 ok, 2 rejected input, 1 failure)."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from consumers.relay import PAGE
from domain.lifecycle import Status
from domain.commands import COMMAND, command_schema
from domain.contract import TOPIC, ClaimEventMessage
from domain.errors import LedgerError
from domain.ledger import Ledger
from infra import present
from infra.bootstrap import DatabaseUnreachable, appends_wake, open_ledger, open_relay, open_runner
from infra.ingest import Tally, ingest, ingest_labelled, tally_of
from infra.jsonl import count_lines, read_objects
from infra.gc_tuning import tune_for_bulk_work
from infra.simulator import demo_commands
from infra.verify import differences
from projections import reports
from projections.runner import IncompleteViews
from projections.tables import VIEW_NAMES

OK, FAILURE, REJECTED = 0, 1, 2
out = Console(width=None if sys.stdout.isatty() else 180)
err = Console(stderr=True, soft_wrap=True)


class InputRejected(Exception):
    """Bad input from the user: reported plainly, exit code 2."""


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


def describe_validation(error: ValidationError, command_type: Any) -> str:
    parts = []
    for e in error.errors():
        loc = [str(x) for x in e["loc"]]
        if loc and loc[0] == command_type:
            loc = loc[1:]
        if e["type"] == "union_tag_invalid":
            parts.append(f"field type: unknown command {command_type!r}; expected one of {e['ctx']['expected_tags']}")
        elif e["type"] == "union_tag_not_found":
            parts.append("field type: missing; every line names its command in \"type\"")
        else:
            reason = e["msg"].removeprefix("Value error, ")
            parts.append(f"field {'.'.join(loc) or '(line)'}: {reason}")
    return "; ".join(parts)


def parse_lines(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, command or None, error) for every non-blank line of a JSON-lines file."""
    for number, raw, error in read_objects(path):
        if raw is None:
            yield number, None, error
            continue
        try:
            yield number, COMMAND.validate_python(raw), None
        except ValidationError as e:
            yield number, None, describe_validation(e, raw.get("type"))


def cmd_apply(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InputRejected(f"{path}: no such file")
    tune_for_bulk_work()
    problems: list[str] = []
    lines = 0

    def commands() -> Iterator[tuple[int, Any]]:  # streamed: bad lines noted, good ones handed on
        nonlocal lines
        for number, command, error in parse_lines(path):
            lines += 1
            if error:
                problems.append(f"line {number}: {error}")
            else:
                yield number, command

    source = f"file:{path.name}"
    if args.all_or_nothing:
        valid = list(commands())
        tally = Tally() if problems else apply_all_or_nothing(args.db, source, valid)
    else:
        with progress() as bar:
            total = count_lines(path)
            task = bar.add_task(f"applying {path.name}", total=total)
            tally = ingest_labelled(args.db, commands(), source=source, workers=args.workers,
                                    progress=lambda n: bar.advance(task, n), expected=total)
    for r in tally.rejected:
        field = f" field {r.field}:" if r.field else ""
        problems.append(f"line {r.label}: {r.kind}:{field} {r.error}")
    rejected = bool(problems)
    written = Tally() if args.all_or_nothing and rejected else tally
    summary = {"file": str(path), "lines": lines, "applied": written.applied, "events": written.events,
               "already_applied": written.duplicate, "rejected": len(problems),
               "all_or_nothing": args.all_or_nothing, "problems": sorted(problems, key=line_number)}
    if args.json:
        out.print_json(data=summary)
    else:
        for problem in summary["problems"]:
            err.print(problem, markup=False, highlight=False)
        if args.all_or_nothing and rejected:
            err.print("--all-or-nothing: nothing was written", markup=False)
        table = Table(title=f"rcm apply {path.name}")
        for col in ("lines", "applied", "events", "already applied", "rejected"):
            table.add_column(col, justify="right")
        table.add_row(*(str(summary[k]) for k in ("lines", "applied", "events", "already_applied", "rejected")))
        out.print(table)
    return REJECTED if rejected else OK


def apply_all_or_nothing(url: str | None, source: str, labelled: list[tuple[int, Any]]) -> Tally:
    """One transaction for the whole file: written only if every line is accepted."""
    outcomes = open_ledger(url, source=source).execute([cmd for _, cmd in labelled], all_or_nothing=True)
    return tally_of([number for number, _ in labelled], outcomes)


def line_number(problem: str) -> int:
    return int(problem.split(":", 1)[0].removeprefix("line "))


def cmd_schema(args: argparse.Namespace) -> int:
    schema = ClaimEventMessage.model_json_schema() if args.message else command_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return OK


def find(args: argparse.Namespace) -> tuple[Ledger, Any]:
    ledger = open_ledger(args.db)
    return ledger, ledger.find(args.claim_number, args.npi)


def cmd_show(args: argparse.Namespace) -> int:
    _, claim = find(args)
    state = present.claim_state(claim)
    if args.json:
        out.print_json(data=state)
    else:
        out.print(present.claim_table(state))
    return OK


def parse_as_of(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.max.time(), timezone.utc)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputRejected(f"--as-of {text!r}: use an ISO date (2026-03-03) or a time with its zone "
                            "(2026-03-03T17:00:00-05:00)") from None
    if moment.tzinfo is None:
        raise InputRejected(f"--as-of {text!r} has no time zone: add one, e.g. {text}+00:00")
    return moment


def cmd_history(args: argparse.Namespace) -> int:
    ledger, claim = find(args)
    as_of = parse_as_of(args.as_of) if args.as_of else None
    if args.version and args.version > claim.version:
        raise InputRejected(f"--version {args.version}: claim {args.claim_number} has {claim.version} events "
                            f"(versions 1 to {claim.version})")
    rows = present.history_rows(ledger.replay(claim, as_of=as_of, version=args.version))
    if (as_of or args.version) and not rows:
        raise InputRejected(f"claim {args.claim_number} was not yet recorded at {args.as_of or args.version}")
    if args.json:
        out.print_json(data={"claim_number": claim.claim_number, "claim_id": str(claim.id),
                             "as_of": args.as_of, "version": args.version, "events": rows})
    else:
        out.print(present.history_table(claim.claim_number, rows))
        if as_of or args.version:
            out.print(f"State as of {args.as_of or f'version {args.version}'}: {rows[-1]['status_after']}, "
                      f"payer balance {rows[-1]['payer_balance_after']}, "
                      f"patient balance {rows[-1]['patient_balance_after']}")
    return OK


def typed_rcm() -> str:
    """This program as the user can type it again from the current directory: `rcm` when that is what PATH finds,
    else the path it was started by (`.venv/bin/rcm`), or `python -m infra.cli` when started as a module."""
    started = Path(sys.argv[0])
    if started.name == "cli.py":
        return shlex.join([typed_path(Path(sys.executable)), "-m", "infra.cli"])
    on_path = shutil.which("rcm")
    if on_path and started.exists() and Path(on_path).samefile(started):
        return "rcm"
    return shlex.quote(typed_path(started))


def typed_path(path: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return str(absolute)
    return str(relative) if relative.parent != Path(".") else f"./{relative}"


def cmd_demo(args: argparse.Namespace) -> int:
    until = args.until or today()
    tune_for_bulk_work()
    started = time.perf_counter()
    commands = demo_commands(args.seed, args.claims, until)
    simulated = len({cmd.claim_number for cmd in commands})
    with progress() as bar:
        task = bar.add_task(f"simulating {simulated} claims", total=len(commands))
        tally = ingest(args.db, commands, source="demo", workers=args.workers,
                       progress=lambda n: bar.advance(task, n))
    seconds = time.perf_counter() - started
    counts = {"duplicate": tally.duplicate, "rejected": len(tally.rejected)}
    appended = tally.events
    problems = [r.error for r in tally.rejected]
    runner = open_runner(args.db)
    runner.catch_up()
    summary = present.jsonable(reports.ledger_summary(runner.views))
    kpis = reports.kpis(runner.views)
    report = {"seed": args.seed, "until": until.isoformat(), "simulated_claims": simulated, "commands": len(commands),
              "events_appended": appended, "already_applied": counts["duplicate"],
              "rejected": counts["rejected"], "seconds": round(seconds, 2), **summary, "kpis": present.jsonable(kpis)}
    for problem in problems[:20]:
        err.print(f"simulator command refused: {problem}", markup=False)
    if args.json:
        out.print_json(data=report)
    else:
        history = shlex.join([*shlex.split(typed_rcm()), "history"])
        out.print(f"Simulated {simulated} claims up to {until}: {len(commands)} commands, "
                  f"{appended} events appended, {counts['duplicate']} already in the ledger ({seconds:.1f}s)")
        for table in present.summary_tables(summary, history=history):
            out.print(table)
        out.print(present.kpi_table(kpis))
        out.print(present.aging_table(f"A/R aging as of {until} (from date of service)",
                                      reports.aging(runner.views, until)))
        denied = summary["examples"].get("denied") or summary["examples"].get("appealed") or []
        if denied:
            db = ["--db", args.db] if args.db else []
            out.print(f"Try: {history} {shlex.join([denied[0], *db])}", markup=False, highlight=False)
    return FAILURE if problems else OK


def cmd_projections(args: argparse.Namespace) -> int:
    if args.action == "rebuild":
        return rebuild(args)
    runner = open_runner(args.db)
    if args.action == "run":
        lag = runner.lag()
        with progress() as bar:
            task = bar.add_task("projecting", total=lag.events)
            done = runner.catch_up(lambda n: bar.advance(task, n))
        err.print(f"projected {done} events; position {runner.views.position()}", markup=False)
        if args.follow:
            wake = appends_wake(runner, args.db)
            how = "woken by PostgreSQL's notifications" if wake else "polling every 0.2 s"
            err.print(f"following the ledger, {how} (Ctrl-C to stop)", markup=False)
            stop = threading.Event()
            try:
                runner.follow(stop, poll_seconds=2.0 if wake else 0.2, wait=wake,
                              progress=lambda n: err.print(f"+{n} events", markup=False))
            except KeyboardInterrupt:
                stop.set()
        return OK
    if args.action == "status":
        lag = runner.lag()
        rows = [{"projection": name, "position": lag.position, "head": lag.head, "lag_events": lag.events,
                 "lag_seconds": lag.seconds} for name in VIEW_NAMES]
        out.print_json(data=rows) if args.json else out.print(present.rows_table("Projections", rows))
        return OK
    as_of = args.as_of or [today()]
    problems = differences(runner, tuple(as_of))
    for problem in problems[:50]:
        err.print(problem, markup=False)
    verdict = "identical to the oracle" if not problems else f"{len(problems)} difference(s) from the oracle"
    out.print(f"projections verify: {verdict} (position {runner.views.position()}, A/R as of "
              f"{', '.join(map(str, as_of))})")
    return OK if not problems else FAILURE


def rebuild(args: argparse.Namespace) -> int:
    """Fresh tables beside the live ones, caught up, then switched in one transaction."""
    fresh = open_runner(args.db, suffix="_next")
    build_from_scratch(fresh, "rebuilding")
    live = open_runner(args.db)
    live.views.replace_with(fresh.views)
    live.catch_up()  # whatever was appended during the switch
    together = "" if args.name == "all" else f" ({args.name} is folded with the others in one pass)"
    out.print(f"rebuilt {', '.join(VIEW_NAMES)}{together} at position {live.views.position()}")
    return OK


# the options each report takes beyond --as-of, --json and --db; any other is refused, never ignored
REPORT_OPTIONS = {"status": {"by": ("payer", "provider")}, "kpis": {"by": ("payer", "provider")},
                  "denials": {"by": ("payer",)},
                  "aging": {"by": ("payer", "provider"),
                            "aging_from": ("dos", "submission", "responsibility", "activity")}}


SCORECARD = ["group", "initial_denial_rate", "first_pass_resolution_rate", "payment_lag_days", "days_in_ar",
             "net_collection_rate", "ar_over_90_share", "claims_adjudicated", "ar_total"]


def cmd_report(args: argparse.Namespace) -> int:
    takes = REPORT_OPTIONS[args.report]
    for option in ("by", "aging_from"):
        value = getattr(args, option)
        if value is not None and value not in takes.get(option, ()):
            flag = "--" + option.replace("_", "-")
            refusal = (f"it takes {flag} {' or '.join(takes[option])}" if option in takes
                       else f"it takes no {flag}")
            raise InputRejected(f"rcm report {args.report}: {flag} {value} is not supported: {refusal}"
                                + (" (denial statistics are kept per payer)" if args.report == "denials" else ""))
    if args.as_of:
        report_date(args.as_of)
    runner = open_runner(args.db)
    runner.catch_up()
    views, as_of = runner.views, report_date(args.as_of) if args.as_of else today()
    if args.as_of and args.report in ("status", "kpis"):
        with views_as_of(args.db, as_of) as past:
            return print_report(args, past, as_of)
    return print_report(args, views, as_of)


def report_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise InputRejected(f"--as-of {text!r}: not a date (YYYY-MM-DD): {e}") from e


@contextmanager
def views_as_of(database_url: str | None, day: date) -> Iterator[Any]:
    """Status and KPIs as of a past date: the views rebuilt from the history cut at that date, in tables of
    this run's own (dropped afterwards, or by the next run on this host if this one is killed). Denials and
    aging are kept by day and read as of a date directly."""
    runner = open_runner(database_url, suffix=f"{AS_OF_TABLES}{os.getpid()}", until_day=day)
    for suffix in runner.views.suffixes(AS_OF_TABLES):
        if not alive(int(suffix.rsplit("_", 1)[1])):
            stale = open_runner(database_url, suffix=suffix)  # (held: the runner keeps its store open)
            stale.views.drop()
    try:
        build_from_scratch(runner, f"replaying the ledger as of {day}")
        yield runner.views
    finally:
        runner.views.drop()


# this host's as-of tables (another host's, on a shared PostgreSQL, are not this host's to judge)
AS_OF_TABLES = f"_asof_{hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]}_"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_from_scratch(runner: Any, label: str) -> None:
    """Empties a runner's own tables (whatever an interrupted run left) and catches them up to the head now."""
    runner.views.drop()
    runner.views.create()
    head = runner.recorder.max_notification_id() or 0
    with progress() as bar:
        task = bar.add_task(label, total=head)
        runner.catch_up(lambda n: bar.advance(task, n), until=head)


def print_report(args: argparse.Namespace, views: Any, as_of: date) -> int:
    dated = f" as of {as_of}" if args.as_of else ""
    if args.report == "kpis" and args.by:
        data = reports.scorecard(views, args.by, as_of)
        table = present.rows_table(f"KPIs by {args.by}{dated} (--json for every KPI)", data, SCORECARD)
    elif args.report == "kpis":
        data: Any = reports.kpis(views, as_of if args.as_of else None)
        table = present.kpi_table(data)
        if args.as_of:
            data = {"as_of": as_of, **data}
            table.title = f"{table.title}{dated}"
    elif args.report == "status":
        data = reports.status(views, args.by)
        table = present.rows_table(f"Claims by status{dated}", data)
    elif args.report == "denials":
        until = as_of if args.as_of else None
        data = reports.denials(views, args.by or "payer", until)
        reasons = reports.denial_reasons(views, until=until)
        table = present.rows_table(f"Denials by payer and category (rejections apart){dated}", data)
        if args.json:
            out.print_json(data=present.jsonable({"report": "denials", "as_of": as_of, "rows": data,
                                                  "by_carc": reasons}))
            return OK
        out.print(table)
        table = present.rows_table(f"Top denial reasons (CARC) by dollars{dated}", reasons)
    else:
        start = args.aging_from or "dos"
        data = reports.aging(views, as_of, args.by, start)
        table = present.aging_table(f"A/R aging as of {as_of} (from {start})", data)
    if args.json:
        out.print_json(data=present.jsonable({"report": args.report, "as_of": as_of, "rows": data}
                                             if isinstance(data, list) else {"report": args.report, **data}))
    else:
        out.print(table)
    return OK


def cmd_claims(args: argparse.Namespace) -> int:
    runner = open_runner(args.db)
    runner.catch_up()
    if args.payer and args.payer not in (known := reports.payers(runner.views)):
        raise InputRejected(f"--payer {args.payer!r}: no such payer in the ledger (payers: "
                            f"{', '.join(known[:20]) or 'none yet'}{', ...' if len(known) > 20 else ''})")
    rows = reports.worklist(runner.views, today(), args.status, args.payer, args.older_than, args.limit)
    if args.json:
        out.print_json(data=present.jsonable(rows))
    else:
        out.print(present.rows_table(f"Worklist ({len(rows)} claims, oldest date of service first)", rows))
    return OK


def cmd_relay(args: argparse.Namespace) -> int:
    relay = open_relay(args.db, args.bootstrap_servers, args.topic, args.name, page=args.page)
    stop = threading.Event()
    started = time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task(f"relaying to {args.bootstrap_servers}", total=None)
            published = relay.run(stop, follow=args.follow, progress=lambda n: bar.advance(task, n),
                                  log=lambda text: err.print(f"relay: {text}", markup=False, highlight=False))
    except KeyboardInterrupt:
        stop.set()
        return OK
    finally:
        relay.close()
    seconds = time.perf_counter() - started
    err.print(f"published {published} claim events to {args.topic} in {seconds:.1f} s "
              f"({published / seconds:,.0f} events/s)", markup=False)
    return OK


def cmd_import(args: argparse.Namespace) -> int:
    from infra.x12.importer import Importer

    importer = Importer(open_ledger(args.db, source="x12"), strict=args.strict, dry_run=args.dry_run,
                        validate=not args.no_validate, per_transaction=args.per_transaction)
    report, refused = present.ImportReport(out, args.json), False

    def each(result: Any, t: Any) -> None:
        nonlocal refused
        report.transaction(result, t)
        for item in t.refused:
            refused = True
            err.print(present.shown(f"refused: {t.kind} {t.control} claim {item['claim']}: {item['reason']}"))
    with progress() as bar:
        task = bar.add_task("importing", total=len(args.files))
        for path in args.files:
            bar.update(task, description=f"importing {Path(path).name}")
            r = importer.import_file(path, each=each)  # written as it goes, not kept
            report.file(r)
            if r.error:
                err.print(present.shown(f"rejected: {r.error}; nothing from this file was written"))
            elif r.held:
                err.print(present.shown(f"held: {r.path}: a transaction is quarantined (see `rcm quarantine`)"))
            refused = refused or bool(r.error or r.held)
            bar.advance(task)
    report.close()
    return REJECTED if refused else OK


def cmd_quarantine(args: argparse.Namespace) -> int:
    from infra.x12.importer import quarantine_rows, retry_quarantined

    ledger = open_ledger(args.db, source="x12")
    if args.action == "retry":
        results = retry_quarantined(ledger, args.key)
        rows = [{"kind": t.kind, "transaction": t.control, "status": t.status, "reason": t.reason,
                 "events": t.events} for t in results]
        if args.json:
            out.print_json(data=rows)
        else:
            out.print(present.rows_table("quarantine retry", rows))
        return OK
    rows = quarantine_rows(ledger)
    if args.json:
        out.print_json(data=rows)
    else:
        out.print(present.rows_table(f"held X12 items ({len(rows)})", rows,
                                     ["state", "kind", "claim", "reason", "source", "key"]))
    return OK


def cmd_export(args: argparse.Namespace) -> int:
    from infra.x12.export837 import Envelope, export_837p, load_providers

    try:
        providers = load_providers(args.providers)
    except (OSError, ValueError) as error:
        raise InputRejected(f"--providers {args.providers}: {error}") from None
    runner = open_runner(args.db)
    runner.catch_up()
    candidates = [(r["billing_npi"], r["claim_number"]) for r in runner.views.query(
        f"SELECT billing_npi, claim_number FROM {runner.views.t['claim_status']} WHERE status = 'ready' "
        f"ORDER BY dos, claim_number")]
    env = Envelope(sender_id=args.sender_id, receiver_id=args.receiver_id, usage="T" if args.test else "P")
    result = export_837p(runner.ledger,  # type: ignore[attr-defined]
                         candidates, args.out, providers, env, limit=args.limit)
    summary = {"file": args.out if result.claims else None, "interchange": result.interchange,
               "claims": result.claims, "skipped": result.skipped}
    if args.json:
        out.print_json(data=summary)
    else:
        for s_ in result.skipped:
            err.print(present.shown(f"not exported: {s_['claim']}: {s_['reason']}"))
        if result.claims:
            out.print(f"wrote {args.out}: interchange {result.interchange}, {len(result.claims)} claims submitted")
        else:
            out.print("no claim ready for submission (scrubbed and passed): nothing written")
    return OK


def cmd_dashboards(args: argparse.Namespace) -> int:
    from infra.grafana.dashboards import DashboardError
    from infra.grafana.snapshot import snapshot
    from infra.settings import Settings

    settings = Settings.load(args.db)

    if args.action == "snapshot":
        if not args.out:
            raise InputRejected("dashboards snapshot needs --out DIR")
        try:
            pages = list(snapshot(settings, Path(args.out),
                                  catch_up=lambda: open_runner(settings.database_url).catch_up()))
        except DashboardError as error:
            raise InputRejected(str(error)) from None
        for path, run in pages:
            failed = [r for r in run.results if r.error]
            out.print(f"{path}: {len(run.results)} panels" + (f", {len(failed)} failed: {failed[0].error}"
                                                              if failed else ""), markup=False, highlight=False)
        return FAILURE if any(r.error for _, run in pages for r in run.results) else OK
    from infra.grafana.publish import READER_PASSWORD, PublishError, publish

    if not args.grafana_url:
        raise InputRejected("dashboards publish needs --grafana-url URL")
    try:
        report = publish(args.grafana_url, args.token or os.environ.get("GRAFANA_TOKEN"), settings,
                         folder_title=args.folder,
                         reader_password=os.environ.get("RCM_GRAFANA_PASSWORD", READER_PASSWORD))
    except PublishError as error:
        raise InputRejected(str(error)) from None
    if args.json:
        out.print_json(data=report)
    else:
        out.print(present.rows_table(f"published to {args.grafana_url}", report))
    return OK


def cmd_consume(args: argparse.Namespace) -> int:
    from infra.bootstrap import open_consumer

    runner = open_consumer(args.name, args.db, args.bootstrap_servers, args.topic, args.group,
                           log=lambda text: err.print(f"{args.name}: {text}", markup=False, highlight=False))
    stop = threading.Event()
    try:
        with progress() as bar:
            task = bar.add_task(f"consuming {args.topic} into {args.name}", total=None)
            counts = runner.run(stop, follow=args.follow, idle_seconds=args.idle,
                                progress=lambda n: bar.advance(task, n))
    except KeyboardInterrupt:
        stop.set()
        return OK
    finally:
        runner.close()
    err.print(f"{args.name}: {counts['applied']} messages applied, {counts['dead_lettered']} sent to "
              f"{runner.dead_letter_topic}; partitions {runner.assigned}", markup=False)
    return OK


def cmd_worklist(args: argparse.Namespace) -> int:
    from infra.bootstrap import open_consumer_database
    from infra.kafka.consumer_stores import worklist_rows

    with open_consumer_database(args.db) as db:
        rows = [{**r, "at_stake": reports.dollars(r.pop("at_stake_cents"))} for r in worklist_rows(db, args.all)]
    if args.json:
        out.print_json(data=present.jsonable(rows))
    else:
        out.print(present.rows_table(f"Denial work queue ({len(rows)}), oldest appeal deadline first", rows,
                                     ["deadline", "priority", "claim_number", "payer_id", "category", "carcs",
                                      "at_stake", "denied_on", "appeal_level", "state"]))
    return OK


def cmd_journal(args: argparse.Namespace) -> int:
    import csv

    from infra.bootstrap import open_consumer_database
    from infra.kafka.consumer_stores import journal_rows

    with open_consumer_database(args.db) as db:
        rows = journal_rows(db, args.start, args.end)
    lines = [{"day": str(r["day"]), "payer": r["payer_id"], "account": r["account"],
              "debit": reports.dollars(r["debit_cents"]), "credit": reports.dollars(r["credit_cents"])} for r in rows]
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["day", "payer", "account", "debit", "credit"])
            writer.writeheader()
            writer.writerows(lines)
        err.print(f"wrote {len(lines)} journal lines to {args.csv}", markup=False)
    elif args.json:
        out.print_json(data=present.jsonable(lines))
    else:
        out.print(present.rows_table("General ledger journal (debits = credits per day and payer)", lines))
    return OK


def today() -> date:
    return datetime.now(timezone.utc).date()


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD): {e}") from None


def whole_number(what: str, low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{text} is not a number of {what} from {low} to {high}")
        return number
    return parse


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rcm", description="Event-sourced revenue cycle ledger")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--db", help="sqlite:///PATH (default ./rcm-ledger.db), postgresql://..., or memory: "
                                    "(env RCM_DATABASE_URL)")
        return p

    p = command("apply", "apply lifecycle commands from a JSON-lines file")
    p.add_argument("file")
    p.add_argument("--all-or-nothing", action="store_true", help="write nothing if any line is rejected")
    p.add_argument("--workers", type=int, help="ingest processes for large files (default: one per core, at most 4)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_apply)
    p = command("schema", "print the JSON Schema of the lifecycle commands (or of the published message)")
    p.add_argument("--message", action="store_true", help=f"the Kafka message contract ({TOPIC})")
    p.set_defaults(run=cmd_schema)
    for name, run, help_text in (("show", cmd_show, "a claim's current state"),
                                 ("history", cmd_history, "a claim's events, with state after each (auditor view)")):
        p = command(name, help_text)
        p.add_argument("claim_number")
        p.add_argument("--npi", help="billing NPI, when several providers use the claim number")
        p.add_argument("--json", action="store_true")
        if name == "history":
            when = p.add_mutually_exclusive_group()
            when.add_argument("--as-of", help="what the ledger knew at this time (ISO, with zone)")
            when.add_argument("--version", type=whole_number("events", 1, 10**9),
                              help="state up to this event version")
        p.set_defaults(run=run)
    p = command("demo", "simulate a practice's claims through their whole lifecycle into the ledger")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--claims", type=int, default=5000)
    p.add_argument("--until", type=iso_date, help="the simulation's today (default: today, UTC)")
    p.add_argument("--workers", type=int, help="ingest processes (default: one per core, at most 4)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_demo)
    p = command("projections", "run, inspect, verify or rebuild the read models")
    p.add_argument("action", choices=("run", "status", "verify", "rebuild"))
    p.add_argument("name", nargs="?", choices=(*VIEW_NAMES, "all"), default="all",
                   help="rebuild: the view to rebuild (the three are one unit of work and rebuilt together)")
    p.add_argument("--follow", action="store_true", help="run: keep following the ledger")
    p.add_argument("--as-of", action="append", type=iso_date,
                   help="verify: also check A/R as of this date (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_projections)
    p = command("report", "claim status, A/R aging, denials or KPIs from the read models")
    p.add_argument("report", choices=("status", "aging", "denials", "kpis"))
    p.add_argument("--as-of", help="as of the end of this date (default today): aging and denials from the views' "
                   "daily records; status and KPIs by replaying the ledger up to that date")
    p.add_argument("--by", choices=("payer", "provider"))
    p.add_argument("--aging-from", choices=("dos", "submission", "responsibility", "activity"),
                   help="aging only: what the age counts from (default dos)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_report)
    p = command("relay", "publish the ledger's events to Kafka, exactly once and in order per claim")
    p.add_argument("--follow", action="store_true")
    p.add_argument("--bootstrap-servers", default=os.environ.get("RCM_KAFKA", "127.0.0.1:9092"))
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--name", default="rcm-relay", help="the relay's identity: transactional id and checkpoint key")
    p.add_argument("--page", type=int, default=PAGE, metavar="N",
                   help=f"events per Kafka transaction (default {PAGE}; smaller pages show up sooner, larger go faster)")
    p.set_defaults(run=cmd_relay)
    p = command("import", "import X12 5010 files: 837P/837I claims, 999 and 277CA acknowledgments, 835 remittances")
    p.add_argument("files", nargs="+")
    p.add_argument("--dry-run", action="store_true", help="check and map everything, write nothing")
    p.add_argument("--strict", action="store_true",
                   help="keep remittances for claims the ledger never saw as unmatched items instead of opening them")
    p.add_argument("--no-validate", action="store_true", help="skip pyx12 validation (it is advisory; slow on big files)")
    p.add_argument("--per-transaction", action="store_true",
                   help="write each transaction on its own: one quarantined does not hold back the rest of its file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_import)
    p = command("export", "write claims that passed scrub as an X12 837P and record their submission")
    p.add_argument("format", choices=("837p",))
    p.add_argument("--claims", choices=("ready",), default="ready", help="which claims (those that passed scrub)")
    p.add_argument("--out", required=True)
    p.add_argument("--providers", help="JSON: billing NPI -> name, address, city, state, zip (9 digits), tin")
    p.add_argument("--sender-id", default="RCMLEDGER")
    p.add_argument("--receiver-id", default="CLEARINGHOUSE")
    p.add_argument("--test", action="store_true", help="mark the interchange as test data (ISA15 T)")
    p.add_argument("--limit", type=int, default=5000, help="claims per file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_export)
    p = command("dashboards", "Grafana dashboards: offline HTML snapshots, or publish to a Grafana server")
    p.add_argument("action", choices=("snapshot", "publish"))
    p.add_argument("--out", help="snapshot: directory for one HTML page per dashboard")
    p.add_argument("--grafana-url", help="publish: e.g. http://localhost:3000")
    p.add_argument("--token", help="publish: a service account token (or env GRAFANA_TOKEN)")
    p.add_argument("--folder", default="Revenue cycle", help="publish: folder title (uid rcm)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_dashboards)
    p = command("quarantine", "remittances held whole (they do not balance) and items that could not be posted")
    p.add_argument("action", nargs="?", choices=("list", "retry"), default="list")
    p.add_argument("key", nargs="?", help="retry: only this intake (its key from the list)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_quarantine)
    p = command("consume", "run a Kafka consumer: results and offsets in one database transaction")
    p.add_argument("name", choices=("worklist", "journal", "projections"),
                   help="projections: the read models fed from Kafka (scale-out mode) instead of the store")
    p.add_argument("--follow", action="store_true", help="keep consuming (otherwise stop when the topic is idle)")
    p.add_argument("--idle", type=float, default=5.0, help="without --follow: stop after this many quiet seconds")
    p.add_argument("--bootstrap-servers", default=os.environ.get("RCM_KAFKA", "127.0.0.1:9092"))
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--group", help="consumer group (default rcm-NAME); instances in one group split the partitions")
    p.set_defaults(run=cmd_consume)
    p = command("worklist", "the denial work queue kept by `rcm consume worklist`, oldest appeal deadline first")
    p.add_argument("--all", action="store_true", help="closed items too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_worklist)
    p = command("journal", "the daily cash and adjustment journal kept by `rcm consume journal`")
    p.add_argument("--from", dest="start", type=iso_date)
    p.add_argument("--to", dest="end", type=iso_date)
    p.add_argument("--csv", help="write the lines to this CSV file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_journal)
    p = command("claims", "a worklist of open claims")
    p.add_argument("--status", choices=Status.ALL, metavar="STATUS", help=f"one of {', '.join(Status.ALL)}")
    p.add_argument("--payer", help="a payer id in the ledger")
    p.add_argument("--older-than", type=whole_number("days", 0, 36500), help="days since the date of service")
    p.add_argument("--limit", type=whole_number("claims", 1, 10**6), default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_claims)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except ValidationError as e:  # settings (the database URL, RCM_ACTOR): commands are reported by line
        err.print(present.shown(f"rejected: {describe_validation(e, None)}"))
        return REJECTED
    except (LedgerError, InputRejected, IncompleteViews, DatabaseUnreachable) as e:
        err.print(present.shown(f"rejected: {e}"))
        return REJECTED
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return FAILURE
    except Exception as e:  # noqa: BLE001 - the last line of defence: say what failed, exit 1
        if type(e).__name__ == "BrokerUnavailable":  # the broker's absence is a fact to report, not a crash
            err.print(f"Kafka unavailable: {e}", markup=False, highlight=False)
            return FAILURE
        err.print(f"unexpected failure: {type(e).__name__}: {e}", markup=False, highlight=False)
        if os.environ.get("RCM_DEBUG"):
            raise
        return FAILURE


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
