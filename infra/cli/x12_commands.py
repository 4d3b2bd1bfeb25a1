"""X12 at the edge: import 837/999/277CA/835 files, list or retry what was quarantined, export ready claims as 837P."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra import present
from infra.bootstrap import open_ledger, open_patient_keys, open_runner
from infra.cli.arguments import AddCommand, InputRejected
from infra.cli.terminal import OK, REJECTED, err, out, print_result, progress
from projections import reports


def cmd_import(args: argparse.Namespace) -> int:
    from infra.x12.importer import Importer

    patient_keys = open_patient_keys()  # before the ledger: an unusable master key writes nothing
    importer = Importer(open_ledger(args.settings, source="x12"), patient_keys, strict=args.strict,
                        dry_run=args.dry_run, validate=not args.no_validate, per_transaction=args.per_transaction)
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

    ledger = open_ledger(args.settings, source="x12")
    if args.action == "show":
        return show_held(ledger, args.key)
    if args.action == "retry":
        patient_keys = open_patient_keys()  # before the ledger: an unusable master key writes nothing
        results = retry_quarantined(open_ledger(args.settings, source="x12"), patient_keys, args.key)
        rows = [{"kind": t.kind, "transaction": t.control, "status": t.status, "reason": t.reason,
                 "events": t.events} for t in results]
        print_result(args.json, rows, present.rows_table("quarantine retry", rows))
        return OK
    rows = quarantine_rows(open_ledger(args.settings, source="x12"))
    print_result(args.json, rows, present.rows_table(f"held X12 items ({len(rows)})", rows,
                                                     ["state", "kind", "claim", "reason", "source", "key"]))
    return OK


def cmd_export(args: argparse.Namespace) -> int:
    from infra.x12.export837 import Envelope, export_837p, load_providers

    try:
        providers = load_providers(args.providers)
    except (OSError, ValueError) as error:
        raise InputRejected(f"--providers {args.providers}: {error}") from None
    runner = open_runner(args.settings)
    runner.catch_up()
    env = Envelope(sender_id=args.sender_id, receiver_id=args.receiver_id, usage="T" if args.test else "P")
    result = export_837p(runner.ledger,  # type: ignore[attr-defined]
                         reports.ready_claims(runner.views), args.out, providers, env, limit=args.limit)
    summary = {"file": args.out if result.claims else None, "interchange": result.interchange,
               "claims": result.claims, "skipped": result.skipped}
    if args.json:
        out.print_json(data=summary)
        return OK
    for skipped in result.skipped:
        err.print(present.shown(f"not exported: {skipped['claim']}: {skipped['reason']}"))
    if result.claims:
        out.print(f"wrote {args.out}: interchange {result.interchange}, {len(result.claims)} claims submitted")
    else:
        out.print("no claim ready for submission (scrubbed and passed): nothing written")
    return OK


def show_held(ledger: Any, key: str | None) -> int:
    """The held text of one intake, read back (decrypted) from the PHI store."""
    from infra.phi import PhiUnreadable, open_phi_store
    from infra.x12.importer import held_text, intakes

    if key is None:
        raise InputRejected("quarantine show: name the intake (its key from `rcm quarantine list`)")
    phi = open_phi_store(ledger)
    found = [i for i in intakes(ledger) if i.key == key]
    if not found:
        raise InputRejected(f"quarantine show {key!r}: no quarantined intake or intake with open items has this key")
    intake = found[0]
    held = intake.quarantines if intake.status == "quarantined" else [intake.posted]
    for each in held:
        try:
            out.print(present.shown(held_text(phi, each)), soft_wrap=True)
        except PhiUnreadable as error:
            raise InputRejected(f"quarantine show {key!r}: {error}") from None
    return OK


def register(command: AddCommand) -> None:
    p = command("import", "import X12 5010 files: 837P/837I claims, 999 and 277CA acknowledgments, 835 remittances")
    p.add_argument("files", nargs="+")
    p.add_argument("--dry-run", action="store_true", help="check and map everything, write nothing")
    p.add_argument("--strict", action="store_true",
                   help="keep remittances for claims the ledger never saw as unmatched items instead of opening them")
    p.add_argument("--no-validate", action="store_true",
                   help="skip pyx12 validation (it is advisory; slow on big files)")
    p.add_argument("--per-transaction", action="store_true",
                   help="write each transaction on its own: one quarantined does not hold back the rest of its file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_import)
    p = command("quarantine", "remittances held whole (they do not balance) and items that could not be posted")
    p.add_argument("action", nargs="?", choices=("list", "show", "retry"), default="list")
    p.add_argument("key", nargs="?", help="show: this intake's held X12 text; retry: only this intake (its key "
                                          "from the list)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_quarantine)
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
