"""The ledger's commands: apply a file of lifecycle commands, print their schema, show a claim or its history, demo."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from domain.commands import COMMAND, command_schema
from domain.contract import TOPIC, ClaimEventMessage
from domain.ledger import Ledger
from infra import present
from infra.bootstrap import open_ledger, open_runner
from infra.cli.arguments import AddCommand, InputRejected, iso_date, parse_as_of, today, whole_number
from infra.cli.terminal import FAILURE, OK, REJECTED, err, out, print_result, progress
from infra.gc_tuning import tune_for_bulk_work
from infra.ingest import Tally, ingest, ingest_labelled, tally_of
from infra.jsonl import count_lines, read_objects
from infra.demo_bank import demo_bank_file
from infra.simulator import demo_addresses, demo_commands
from infra.settings import Settings
from infra.store.chain import ChainStore
from projections import reports


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

    tally = apply_commands(args, path, commands, problems)
    for r in tally.rejected:
        field = f" field {r.field}:" if r.field else ""
        problems.append(f"line {r.label}: {r.kind}:{field} {r.error}")
    rejected = bool(problems)
    written = Tally() if args.all_or_nothing and rejected else tally
    summary = {"file": str(path), "lines": lines, "applied": written.applied, "events": written.events,
               "already_applied": written.duplicate, "rejected": len(problems),
               "all_or_nothing": args.all_or_nothing, "problems": sorted(problems, key=line_number)}
    if not args.json:
        for problem in summary["problems"]:
            err.print(problem, markup=False, highlight=False)
        if args.all_or_nothing and rejected:
            err.print("--all-or-nothing: nothing was written", markup=False)
    print_result(args.json, summary, apply_table(path, summary))
    return REJECTED if rejected else OK


def apply_commands(args: argparse.Namespace, path: Path, commands: Any, problems: list[str]) -> Tally:
    source = f"file:{path.name}"
    if args.all_or_nothing:
        valid = list(commands())
        return Tally() if problems else apply_all_or_nothing(args.settings, source, valid)
    with progress() as bar:
        total = count_lines(path)
        task = bar.add_task(f"applying {path.name}", total=total)
        return ingest_labelled(args.settings, commands(), source=source, workers=args.workers,
                               progress=lambda n: bar.advance(task, n), expected=total)


def apply_table(path: Path, summary: dict[str, Any]) -> Table:
    table = Table(title=f"rcm apply {path.name}")
    for col in ("lines", "applied", "events", "already applied", "rejected"):
        table.add_column(col, justify="right")
    table.add_row(*(str(summary[k]) for k in ("lines", "applied", "events", "already_applied", "rejected")))
    return table


def apply_all_or_nothing(url: Settings | str | None, source: str, labelled: list[tuple[int, Any]]) -> Tally:
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
    ledger = open_ledger(args.settings)
    return ledger, ledger.find(args.claim_number, args.npi)


def cmd_show(args: argparse.Namespace) -> int:
    _, claim = find(args)
    state = present.claim_state(claim)
    print_result(args.json, state, present.claim_table(state))
    return OK


def cmd_history(args: argparse.Namespace) -> int:
    ledger, claim = find(args)
    as_of = parse_as_of(args.as_of) if args.as_of else None
    if args.version and args.version > claim.version:
        raise InputRejected(f"--version {args.version}: claim {args.claim_number} has {claim.version} events "
                            f"(versions 1 to {claim.version})")
    rows = present.history_rows(ledger.replay(claim, as_of=as_of, version=args.version))
    chain = ChainStore.of(ledger.recorder)
    hashes = chain.claim_hashes(claim.id) if chain else {}
    for row in rows:  # the event's claim hash: its content and the claim's whole history before it
        row["hash"] = hashes[row["version"]].hex() if row["version"] in hashes else None
    if (as_of or args.version) and not rows:
        raise InputRejected(f"claim {args.claim_number} was not yet recorded at {args.as_of or args.version}")
    print_result(args.json, {"claim_number": claim.claim_number, "claim_id": str(claim.id), "as_of": args.as_of,
                             "version": args.version, "events": rows},
                 present.history_table(claim.claim_number, rows))
    if not args.json and (as_of or args.version):
        out.print(f"State as of {args.as_of or f'version {args.version}'}: {rows[-1]['status_after']}, "
                  f"payer balance {rows[-1]['payer_balance_after']}, "
                  f"patient balance {rows[-1]['patient_balance_after']}")
    return OK


def typed_rcm() -> str:
    """This program as the user can type it again from the current directory: `rcm` when that is what PATH finds,
    else the path it was started by (`.venv/bin/rcm`), or `python -m infra.cli` when started as a module."""
    started = Path(sys.argv[0])
    if started.name == "__main__.py" and started.parent.name == "cli":
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
        tally = ingest(args.settings, commands, source="demo", workers=args.workers,
                       progress=lambda n: bar.advance(task, n))
    seconds = time.perf_counter() - started
    sealed = seal_demo_addresses(args, commands)
    runner = open_runner(args.settings)
    runner.catch_up()
    summary = present.jsonable(reports.ledger_summary(runner.views))
    kpis = reports.kpis(runner.views)
    bank_text, deposits = demo_bank_file(args.seed, until, reports.recorded_remittances(runner.views))
    args.bank_file = args.bank_file or bank_file_beside(args.settings)
    Path(args.bank_file).write_text(bank_text, encoding="utf-8")
    report = {"seed": args.seed, "until": until.isoformat(), "simulated_claims": simulated, "commands": len(commands),
              "events_appended": tally.events, "already_applied": tally.duplicate,
              "rejected": len(tally.rejected), "seconds": round(seconds, 2), **summary, "kpis": present.jsonable(kpis),
              "bank_file": {"path": args.bank_file, "deposits": deposits}, "addresses_sealed": sealed}
    for rejection in tally.rejected[:20]:
        err.print(f"simulator command refused: {rejection.error}", markup=False)
    if args.json:
        out.print_json(data=report)
    else:
        print_demo(args, report, seconds, summary, kpis, reports.aging(runner.views, until))
    return FAILURE if tally.rejected else OK


def seal_demo_addresses(args: argparse.Namespace, commands: list[Any]) -> int:
    """The simulated patients' made-up mailing addresses, sealed into the PHI store (for `rcm statements run`)."""
    from infra.phi import Sealing, open_phi_store

    keys = [cmd.patient_key for cmd in commands if cmd.type == "code_claim"]
    store = open_phi_store(open_ledger(args.settings, source="demo"))
    records = [Sealing(f"demographics:demo:{key}", "demographics", {"kind": "demo", "guarantor": address}, [key])
               for key, address in demo_addresses(args.seed, keys).items()]
    return sum(1 for sealed in store.seal_many(records) if sealed)


def bank_file_beside(settings: Settings) -> str:
    """Where the demo's bank file goes unless told: beside a SQLite ledger (rcm-ledger.db -> rcm-ledger.bai), else
    rcm-demo-bank.bai in the current directory."""
    if settings.backend == "sqlite":
        return str(Path(settings.eventsourcing_env()["SQLITE_DBNAME"]).with_suffix(".bai"))
    return "rcm-demo-bank.bai"


def print_demo(args: argparse.Namespace, report: dict[str, Any], seconds: float, summary: dict[str, Any],
               kpis: dict[str, Any], aging: list[dict[str, Any]]) -> None:
    history = shlex.join([*shlex.split(typed_rcm()), "history"])
    out.print(f"Simulated {report['simulated_claims']} claims up to {report['until']}: {report['commands']} commands, "
              f"{report['events_appended']} events appended, {report['already_applied']} already in the ledger "
              f"({seconds:.1f}s)")
    for table in present.summary_tables(summary, history=history):
        out.print(table)
    out.print(present.kpi_table(kpis))
    out.print(present.aging_table(f"A/R aging as of {report['until']} (from date of service)", aging))
    denied = summary["examples"].get("denied") or summary["examples"].get("appealed") or []
    db = ["--db", args.db] if args.db else []
    if denied:
        out.print(f"Try: {history} {shlex.join([denied[0], *db])}", markup=False, highlight=False)
    rcm, bank = shlex.split(typed_rcm()), report["bank_file"]
    out.print(f"Wrote the bank's BAI2 file of the payers' EFTs, {bank['path']} ({bank['deposits']} deposits, made from "
              f"the payments the ledger recorded: the demo writes no 835 files). Reconcile it: "
              f"{shlex.join([*rcm, 'deposits', 'import', bank['path'], *db])} && "
              f"{shlex.join([*rcm, 'report', 'deposits', *db])}", markup=False, highlight=False)


def register(command: AddCommand) -> None:
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
    p.add_argument("--bank-file", help="where to write the bank's BAI2 file of the payers' EFTs (default: beside a "
                   "SQLite ledger, rcm-ledger.db -> rcm-ledger.bai; else ./rcm-demo-bank.bai)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_demo)
