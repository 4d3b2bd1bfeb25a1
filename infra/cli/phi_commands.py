"""`rcm phi`: what the PHI store holds about a patient (decrypted for the screen), and forgetting a patient."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra import present
from infra.bootstrap import open_ledger, open_patient_keys
from infra.cli.addresses import read_addresses
from infra.cli.arguments import AddCommand, InputRejected
from infra.cli.terminal import OK, REJECTED, err, out, print_result, progress

PERSON_FIELDS = ("last", "first", "middle", "suffix", "member_id", "birth_date", "sex", "address", "city", "state",
                 "postal_code")


def open_store(args: argparse.Namespace) -> Any:
    from infra.phi import open_phi_store

    return open_phi_store(open_ledger(args.settings, source="phi"))


def known(store: Any, patient: str) -> None:
    if not store.knows(patient):
        raise InputRejected(f"patient key {patient!r}: the PHI store holds nothing about it (the key is the claim's "
                            f"patient key, as `rcm claim` and the reports show it)")


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per person a record names (a held X12 text is one row: its source and size, not the text)."""
    rows = []
    for record in records:
        base = {"record": record["record"], "kind": record["kind"], "sealed at": record["sealed_at"]}
        data = record.get("data")
        if data is None:
            rows.append({**base, "who": "", "details": record["unreadable"]})
        elif record["kind"] == "x12":
            rows.append({**base, "who": "", "details": f"held X12 text from {data['source']}, "
                                                       f"{len(data['text'])} characters"})
        else:
            for role in ("subscriber", "patient"):
                if data.get(role):
                    details = ", ".join(f"{f} {data[role][f]}" for f in PERSON_FIELDS[4:] if data[role].get(f))
                    who = " ".join(data[role][f] for f in PERSON_FIELDS[:4] if data[role].get(f))
                    rows.append({**base, "who": f"{role} {who} (claim {data['claim']})", "details": details})
    return rows


def cmd_phi(args: argparse.Namespace) -> int:
    if args.action == "rekey":
        return cmd_phi_rekey(args)
    if args.action == "import":
        return cmd_phi_import(args)
    if len(args.targets) != 1:
        raise InputRejected(f"rcm phi {args.action} takes one PATIENT_KEY, not {len(args.targets)}")
    args.patient = args.targets[0]
    store = open_store(args)
    known(store, args.patient)
    if args.action == "forget":
        if not args.yes:
            raise InputRejected(f"`rcm phi forget {args.patient}` destroys that patient's data key for good (the "
                                f"PHI can never be read again): add --yes to confirm")
        done = store.forget(args.patient)
        if args.json:
            out.print_json(data=done)
        else:
            out.print(present.shown(
                f"forgot patient {done['patient']} at {done['forgotten_at']}: data key destroyed, with the keys of "
                f"{done['records']} record(s) naming them; their PHI can no longer be read. The claims' money history "
                f"and the reports are unchanged."), soft_wrap=True)
        return OK
    state = store.patient(args.patient) or {}
    records = store.records_of(args.patient)
    data = {"patient": args.patient, "created_at": state.get("created_at"), "forgotten_at": state.get("forgotten_at"),
            "records": records}
    title = f"PHI of patient {args.patient}" + (f" (forgotten {state['forgotten_at']})"
                                                 if state.get("forgotten_at") else "")
    print_result(args.json, data, present.rows_table(title, rows_of(records),
                                                     ["kind", "who", "details", "sealed at", "record"]))
    return OK


def cmd_phi_import(args: argparse.Namespace) -> int:
    """Mailing addresses (patient_key,name,line1,line2,city,state,postal_code) sealed into the PHI store, one record
    per patient (a later import replaces it); a file with a bad line is refused whole, nothing sealed."""
    from infra.phi import Sealing

    rows = {}
    for path in args.targets:
        rows |= read_addresses(Path(path), complete=True)
    store = open_store(args)
    sealed = store.seal_many([
        Sealing(f"demographics:csv:{key}", "demographics",
                {"kind": "csv", "guarantor": {k: v for k, v in row.items() if k != "patient_key"}}, [key])
        for key, row in sorted(rows.items())])
    skipped = [key for key, record in zip(sorted(rows), sealed) if not record]
    for key in skipped:
        err.print(present.shown(f"not sealed: patient {key} was forgotten (nothing about them is kept again)"))
    out.print(present.shown(f"sealed the mailing addresses of {len(rows) - len(skipped)} patient(s) in the PHI "
                            f"store"), soft_wrap=True)
    return OK


def cmd_phi_rekey(args: argparse.Namespace) -> int:
    from infra.x12.rekey import STATES, Rekeying

    patient_keys = open_patient_keys()  # before the ledger: an unusable master key writes nothing
    rekeying = Rekeying(open_ledger(args.settings, source="x12"), patient_keys, dry_run=args.dry_run)
    rows, rejected = [], False
    with progress() as bar:
        task = bar.add_task("rekeying", total=len(args.targets))
        for path in args.targets:
            bar.update(task, description=f"rekeying {Path(path).name}")
            result = rekeying.rekey_file(path)
            rows.append(result.as_row())
            if result.error:
                rejected = True
                err.print(present.shown(f"rejected: {result.error}; no claim of this file was rekeyed"))
            bar.advance(task)
    title = "patient keys (dry run: nothing written)" if args.dry_run else "patient keys"
    print_result(args.json, rows, present.rows_table(title, rows, ["file", *STATES, "error"]))
    return REJECTED if rejected else OK



def register(command: AddCommand) -> None:
    p = command("phi", "the encrypted PHI store: show what it holds about a patient, forget the patient "
                       "(crypto-shredding), or rekey claims recorded under the unkeyed member-id hash")
    p.add_argument("action", choices=("show", "forget", "rekey", "import"))
    p.add_argument("targets", nargs="+", metavar="PATIENT_KEY|FILE",
                   help="show, forget: the claim's patient key; rekey: the 837 and 835 files the claims were imported "
                        "from (their member ids); import: CSV files of mailing addresses (patient_key,name,line1,"
                        "line2,city,state,postal_code)")
    p.add_argument("--yes", action="store_true", help="forget: confirm that the patient's PHI is destroyed for good")
    p.add_argument("--dry-run", action="store_true", help="rekey: count what would be rekeyed, write nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_phi)
