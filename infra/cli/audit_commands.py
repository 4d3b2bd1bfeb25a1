"""`rcm audit`: verify the hash chain (also against a signed checkpoint), sign checkpoints, make a key, upgrade."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from infra.bootstrap import open_ledger
from infra.cli.arguments import AddCommand, InputRejected
from infra.cli.terminal import OK, REJECTED, err, out, print_result, progress
from infra.settings import Settings
from infra.store.chain import ChainStore
from infra.store.chain_verify import Break, Head, Verdict, verify
from infra.store.checkpoint import checked, checkpoint, keygen, signing_key


def cmd_audit(args: argparse.Namespace) -> int:
    if args.action == "keygen":
        public = keygen(Path(required(args.out, "keygen")))
        out.print(f"wrote the private key to {args.out} (mode 0600; keep it away from the database)\n"
                  f"public key: {public}", markup=False)
        return OK
    store = chain_store(args.settings)
    if args.action == "upgrade":
        with progress() as bar:
            task = bar.add_task("chaining", total=None)
            chained = store.upgrade(lambda n: bar.advance(task, n))
        out.print(f"chained {chained} event(s) written before the chain; the append-only guards are installed",
                  markup=False)
        return OK
    if args.action == "checkpoint":
        return write_checkpoint(args, store)
    against = checked(Path(args.against), args.public_key) if args.against else None
    verdict = walked(store, against[0] if against else None)
    report(args.json, verdict, against[1] if against else None, pinned=bool(args.public_key))
    return OK if verdict.broken is None else REJECTED


def chain_store(settings: Settings) -> ChainStore:
    ledger = open_ledger(settings, source="audit")
    store = ChainStore.of(ledger.recorder)
    if store is None:
        raise InputRejected(f"{settings.database_url}: the hash chain lives in SQLite or PostgreSQL")
    store.ledger = ledger  # the ledger closes its store when it is collected
    return store


def walked(store: ChainStore, against: Head | None = None) -> Verdict:
    with progress() as bar:
        task = bar.add_task("verifying the hash chain", total=None)
        return verify(store, lambda n: bar.advance(task, n), against)


def broken_text(broken: Break) -> str:
    where = f"notification {broken.notification_id}" if broken.notification_id else "the log's end"
    claim = f"claim {broken.claim}" if broken.claim else f"originator {broken.originator_id}"
    return f"chain broken at {where}: {claim} version {broken.version}: {broken.problem}: {broken.detail}"


def report(as_json: bool, verdict: Verdict, checkpoint_body: dict[str, Any] | None, pinned: bool) -> None:
    head = {"notification_id": verdict.head.notification_id, "log_hash": verdict.head.log_hash.hex()}
    data: dict[str, Any] = {"intact": verdict.broken is None, "events": verdict.events, "head": head}
    if checkpoint_body:
        shown = ("notification_id", "log_hash", "created_at", "public_key")
        data["checkpoint"] = {**{k: checkpoint_body[k] for k in shown}, "signer_pinned": pinned}
    if verdict.broken is not None:
        b = verdict.broken
        data["break"] = {"notification_id": b.notification_id, "claim": b.claim or None,
                         "originator_id": str(b.originator_id), "version": b.version, "problem": b.problem,
                         "detail": b.detail}
    if as_json:
        print_result(True, data, "")
    elif verdict.broken is not None:
        err.print(broken_text(verdict.broken), markup=False, highlight=False)
    else:
        out.print(f"chain intact: {verdict.events} events, head notification {head['notification_id']}, "
                  f"log hash {head['log_hash']}", markup=False)
        if checkpoint_body:
            out.print(f"extends the checkpoint of {checkpoint_body['created_at']} (notification "
                      f"{checkpoint_body['notification_id']})", markup=False)
    if checkpoint_body and not pinned and not as_json:
        err.print("note: the signer is the key inside the checkpoint; pass --public-key to pin the one you trust",
                  markup=False)


def write_checkpoint(args: argparse.Namespace, store: ChainStore) -> int:
    target = Path(required(args.out, "checkpoint"))
    key = signing_key(args.key)
    verdict = walked(store)
    if verdict.broken is not None:
        err.print(f"not signed: {broken_text(verdict.broken)}", markup=False, highlight=False)
        return REJECTED
    body = checkpoint(verdict.head, verdict.events, key)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(json.dumps(body, indent=2) + "\n")
    temporary.replace(target)
    out.print(f"checkpoint of notification {body['notification_id']} ({body['events']} events) signed by "
              f"{body['public_key']} written to {target}", markup=False)
    return OK


def required(value: str | None, action: str) -> str:
    if not value:
        raise InputRejected(f"rcm audit {action} needs --out FILE")
    return value


def chain_allows_rebuild(settings: Settings, accept: bool) -> bool:
    """Before a rebuild: False (after naming the break) when the chain is broken and the user did not accept it."""
    verdict = walked(chain_store(settings))
    if verdict.broken is None:
        return True
    err.print(broken_text(verdict.broken), markup=False, highlight=False)
    if accept:
        err.print("--accept-broken-chain: rebuilding from the log as it is", markup=False)
        return True
    err.print("not rebuilt: the views would replay a tampered log (`rcm audit verify` for details; "
              "--accept-broken-chain to rebuild anyway)", markup=False)
    return False


def register(command: AddCommand) -> None:
    p = command("audit", "verify the tamper-evident hash chain, sign checkpoints of it, upgrade an old ledger")
    p.add_argument("action", choices=("verify", "checkpoint", "keygen", "upgrade"))
    p.add_argument("--json", action="store_true", help="verify: the verdict as JSON")
    p.add_argument("--against", metavar="FILE", help="verify: also prove the log extends this signed checkpoint")
    p.add_argument("--public-key", metavar="KEY", help="verify --against: the signer's public key (hex, or a file)")
    p.add_argument("--out", metavar="FILE", help="checkpoint, keygen: the file to write")
    p.add_argument("--key", metavar="FILE", help="checkpoint: the Ed25519 private key (else env "
                                                 "RCM_AUDIT_SIGNING_KEY_FILE or RCM_AUDIT_SIGNING_KEY)")
    p.set_defaults(run=cmd_audit)
