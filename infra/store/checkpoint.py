"""Signed checkpoints of the chain's head (Ed25519): what an auditor keeps elsewhere to prove the log still extends it.

A checkpoint is JSON: format, notification_id, log_hash (hex), events, created_at, public_key (hex, raw 32 bytes)
and signature (hex) over the other fields as compact JSON with sorted keys (UTF-8).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from infra.store.chain_verify import Head

FORMAT = "rcm-audit-checkpoint/1"
ENV_FILE, ENV_KEY = "RCM_AUDIT_SIGNING_KEY_FILE", "RCM_AUDIT_SIGNING_KEY"


class CheckpointError(Exception):
    """A missing or unusable key, or a checkpoint file that cannot be trusted: reported plainly, exit 2."""


def keygen(path: Path) -> str:
    """A new private key in a new file readable by its owner only (never replacing one); its public key in hex."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CheckpointError(f"--out {path}: exists; a signing key is never replaced (choose another file)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return public_hex(key.public_key())


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def signing_key(path: str | None, env: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    env = os.environ if env is None else env
    if path or env.get(ENV_FILE):
        source = f"--key {path}" if path else f"{ENV_FILE}={env[ENV_FILE]}"
        try:
            text = Path(path or env[ENV_FILE]).read_bytes()
        except OSError as e:
            raise CheckpointError(f"{source}: cannot read the signing key: {e.strerror}") from None
    elif env.get(ENV_KEY):
        source, text = ENV_KEY, env[ENV_KEY].encode()
    else:
        raise CheckpointError(f"no signing key: pass --key FILE, or set {ENV_FILE} or {ENV_KEY} "
                              "(`rcm audit keygen --out FILE` makes one)")
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{source}: not an unencrypted Ed25519 private key in PEM (as `rcm audit keygen` writes)")
    return key


def signed(body: Mapping[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in body.items() if k != "signature"}, sort_keys=True,
                      separators=(",", ":")).encode()


def checkpoint(head: Head, events: int, key: Ed25519PrivateKey) -> dict[str, Any]:
    body: dict[str, Any] = {"format": FORMAT, "notification_id": head.notification_id,
                            "log_hash": head.log_hash.hex(), "events": events,
                            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "public_key": public_hex(key.public_key())}
    return {**body, "signature": key.sign(signed(body)).hex()}


def checked(path: Path, public_key: str | None) -> tuple[Head, dict[str, Any]]:
    """The head a checkpoint file signed, once its signature holds (under `public_key` when one is pinned)."""
    try:
        body = json.loads(path.read_text())
        if body.get("format") != FORMAT:
            raise ValueError(f"format {body.get('format')!r}, want {FORMAT!r}")
        head = Head(int(body["notification_id"]), bytes.fromhex(body["log_hash"]))
        embedded = bytes.fromhex(body["public_key"])
        signature = bytes.fromhex(body["signature"])
    except OSError as e:
        raise CheckpointError(f"--against {path}: cannot read it: {e.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"--against {path}: not a checkpoint: {type(e).__name__}: {e}") from None
    pinned = bytes.fromhex(pinned_key(public_key)) if public_key else embedded
    if pinned != embedded:
        raise CheckpointError(f"--against {path}: signed by key {embedded.hex()}, not by the pinned {pinned.hex()}")
    try:
        Ed25519PublicKey.from_public_bytes(pinned).verify(signature, signed(body))
    except (InvalidSignature, ValueError):
        raise CheckpointError(f"--against {path}: the signature does not hold: the checkpoint was altered or "
                              "forged") from None
    return head, body


def pinned_key(text: str) -> str:
    """--public-key: the hex `rcm audit keygen` printed, or a file holding it."""
    candidate = Path(text).read_text().strip() if Path(text).is_file() else text.strip()
    try:
        if len(bytes.fromhex(candidate)) == 32:
            return candidate
    except ValueError:
        pass
    raise CheckpointError(f"--public-key {text!r}: want the 64 hex digits `rcm audit keygen` printed (or a file "
                          "holding them)")
