"""The master key: read from env or a 0600 file, created only when asked, never shown, derived per purpose."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from infra.keys import MasterKey, MasterKeyError


def test_env_key_is_read_and_purposes_differ() -> None:
    secret = bytes(range(32))
    key = MasterKey.load({"RCM_MASTER_KEY": base64.b64encode(secret).decode()})
    assert key.secret == secret
    assert key.derive("phi-wrap") != key.derive("patient-pseudonym")
    assert len(key.derive("phi-wrap")) == 32
    assert secret.hex() not in repr(key) and key.fingerprint in repr(key)


def test_pseudonym_is_keyed_and_stable() -> None:
    a, b = MasterKey(b"a" * 32, "t"), MasterKey(b"b" * 32, "t")
    assert a.pseudonym("BCBS|M123") == a.pseudonym("BCBS|M123")
    assert a.pseudonym("BCBS|M123") != b.pseudonym("BCBS|M123")
    assert a.fingerprint != b.fingerprint


def test_missing_file_is_an_error_unless_creation_is_asked(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(MasterKeyError, match="does not exist"):
        MasterKey.load(env)
    created = MasterKey.load(env, create=True)
    path = tmp_path / "rcm" / "master.key"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert MasterKey.load(env).secret == created.secret


def test_named_file_is_never_created_and_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "k"
    with pytest.raises(MasterKeyError, match="does not exist"):
        MasterKey.load({"RCM_MASTER_KEY_FILE": str(path)}, create=True)
    path.write_text(base64.b64encode(b"k" * 32).decode())
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="readable by others"):
        MasterKey.load({"RCM_MASTER_KEY_FILE": str(path)})
    path.chmod(0o600)
    assert MasterKey.load({"RCM_MASTER_KEY_FILE": str(path)}).secret == b"k" * 32


def test_malformed_keys_are_named() -> None:
    with pytest.raises(MasterKeyError, match="not base64"):
        MasterKey.load({"RCM_MASTER_KEY": "not base64 !!"})
    with pytest.raises(MasterKeyError, match="16 bytes, want 32"):
        MasterKey.load({"RCM_MASTER_KEY": base64.b64encode(b"x" * 16).decode()})
