"""The master key at the command line: an unusable one is refused (exit 2) before anything is written, none at all
creates the default key file (zero set-up), and `rcm phi rekey` migrates a ledger of unkeyed patient keys once."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.test_cli import RCM, X12, rcm, snapshot
from tests.integration.test_patient_keys import CLAIMS, FILES, keys_of, legacy_ledger

ERA = str(X12 / "kputnam+stupidedi/multiple-claims-single-check.edi")


def rcm_keyed(tmp_path: Path, *args: str, db: str, **key: str) -> subprocess.CompletedProcess[str]:
    """rcm with only the given master key settings (none of the test run's) and its own config directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("RCM_MASTER_KEY", "RCM_MASTER_KEY_FILE")}
    env.update(COLUMNS="200", XDG_CONFIG_HOME=str(tmp_path / "config"), **key)
    return subprocess.run([*RCM, *args, "--db", db], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("key, says", [
    ({"RCM_MASTER_KEY_FILE": "/nonexistent/master.key"}, "no master key: /nonexistent/master.key does not exist"),
    ({"RCM_MASTER_KEY": "not base64!"}, "master key from $RCM_MASTER_KEY is not base64 text"),
    ({"RCM_MASTER_KEY": "c2hvcnQ="}, "5 bytes, want 32"),
])
def test_an_unusable_master_key_is_refused_before_anything_is_written(tmp_path: Path, key: dict, says: str):
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert rcm("import", ERA, "--no-validate", db=db).returncode == 0
    before = snapshot(db)
    for command in (["import", ERA, "--no-validate"], ["phi", "rekey", ERA], ["quarantine", "retry"]):
        done = rcm_keyed(tmp_path, *command, db=db, **key)
        assert done.returncode == 2, done.stdout + done.stderr
        assert says in done.stderr and "rejected:" in done.stderr
    assert snapshot(db) == before
    fresh = tmp_path / "fresh.db"
    assert rcm_keyed(tmp_path, "import", ERA, db=f"sqlite:///{fresh}", **key).returncode == 2
    assert not fresh.exists(), "no ledger file was created"


def test_a_key_file_others_can_read_is_refused(tmp_path: Path):
    path = tmp_path / "master.key"
    path.write_text(os.environ["RCM_MASTER_KEY"] + "\n")
    path.chmod(0o644)
    done = rcm_keyed(tmp_path, "import", ERA, db=f"sqlite:///{tmp_path / 'l.db'}", RCM_MASTER_KEY_FILE=str(path))
    assert done.returncode == 2 and "readable by others (mode 0644): chmod 600 it" in done.stderr


def test_with_no_key_configured_the_default_key_file_is_created(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = rcm_keyed(tmp_path, "import", ERA, "--no-validate", db=db)
    assert done.returncode == 0, done.stdout + done.stderr
    key_file = tmp_path / "config" / "rcm" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = rcm_keyed(tmp_path, "import", ERA, "--no-validate", db=db)  # the same key, read back: nothing new
    assert again.returncode == 0 and "already imported" in again.stdout


def test_phi_rekey_migrates_a_legacy_ledger_once(database_url: str):
    legacy = keys_of(legacy_ledger(database_url, FILES))
    dry = rcm("phi", "rekey", *FILES, "--dry-run", "--json", db=database_url)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert sum(row["rekeyed"] for row in json.loads(dry.stdout)) == CLAIMS
    assert keys_of(legacy_ledger(database_url, [])) == legacy, "the dry run wrote nothing"
    done = rcm("phi", "rekey", *FILES, db=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "patient keys" in done.stdout and "rekeyed" in done.stdout
    keyed = keys_of(legacy_ledger(database_url, []))
    assert set(keyed) == set(legacy) and all(k.startswith("pk-") for k in keyed.values())
    again = json.loads(rcm("phi", "rekey", *FILES, "--json", db=database_url).stdout)
    assert [row["rekeyed"] for row in again] == [0] * len(FILES)
    assert sum(row["already keyed"] for row in again) == CLAIMS
    broken = rcm("phi", "rekey", str(ROOT / "README.md"), db=database_url)
    assert broken.returncode == 2 and "no claim of this file was rekeyed" in broken.stderr
