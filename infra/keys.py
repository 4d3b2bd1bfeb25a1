"""The master key: where it comes from, the keys derived from it, and how a ledger recognises it.

One 32-byte secret, kept outside the database: `RCM_MASTER_KEY` (base64), else the file `RCM_MASTER_KEY_FILE`,
else `$XDG_CONFIG_HOME/rcm/master.key` (`~/.config/rcm/master.key`). Nothing stores the key itself; a ledger
stores only its fingerprint, so that a wrong key is named before anything is decrypted or written. Purposes
(wrapping patients' data keys, keying the patient pseudonym) each get their own key, derived with HKDF-SHA256,
so that no derived key reveals another or the master key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
ENV_KEY, ENV_FILE = "RCM_MASTER_KEY", "RCM_MASTER_KEY_FILE"


class MasterKeyError(Exception):
    """No usable master key: missing, malformed, readable by others, or not the one this ledger was sealed with."""


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "rcm" / "master.key"


@dataclass(frozen=True)
class MasterKey:
    secret: bytes
    source: str  # where it was read from, for messages (never the key itself)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise MasterKeyError(f"master key from {self.source}: {len(self.secret)} bytes, want {KEY_BYTES}")

    def __repr__(self) -> str:  # a key never reaches a log or a traceback
        return f"MasterKey(source={self.source!r}, fingerprint={self.fingerprint})"

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose ("phi-wrap", "patient-pseudonym", ...)."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                    info=f"rcm-ledger/{purpose}".encode()).derive(self.secret)

    @property
    def fingerprint(self) -> str:
        """What a ledger records to recognise its key: 16 hex digits of a keyed hash, which reveals nothing."""
        return hmac.new(self.derive("fingerprint"), b"rcm-ledger master key", hashlib.sha256).hexdigest()[:16]

    def pseudonym(self, text: str) -> str:
        """A keyed, unbrowsable stand-in for an identifier (HMAC-SHA256): the same text gives the same value
        under the same key, and without the key a member id cannot be tried against it."""
        return hmac.new(self.derive("patient-pseudonym"), text.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def generate(cls, source: str = "generated") -> MasterKey:
        return cls(os.urandom(KEY_BYTES), source)

    def write(self, path: Path) -> None:
        """Writes the key as base64 to a new file readable by its owner only; an existing file is never replaced."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(self.secret).decode() + "\n")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, create: bool = False) -> MasterKey:
        """The configured key. With `create`, and no key configured anywhere, a new one is generated into the
        default file (0600); the caller decides when that is right (a ledger that has sealed nothing yet)."""
        env = os.environ if env is None else env
        if env.get(ENV_KEY):
            return cls(decoded(env[ENV_KEY], f"${ENV_KEY}"), f"${ENV_KEY}")
        path = Path(env[ENV_FILE]) if env.get(ENV_FILE) else default_key_file(env)
        if not path.exists():
            if create and not env.get(ENV_FILE):
                key = cls.generate(str(path))
                key.write(path)
                return key
            raise MasterKeyError(f"no master key: {path} does not exist (set {ENV_KEY} or {ENV_FILE})")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise MasterKeyError(f"master key file {path} is readable by others (mode {mode:04o}): chmod 600 it")
        return cls(decoded(path.read_text().strip(), str(path)), str(path))


def decoded(text: str, source: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"master key from {source} is not base64 text") from None
