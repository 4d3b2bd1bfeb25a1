"""`rcm apply` and `rcm import` on hostile or huge input: a bad line is refused by its number, memory stays flat."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from infra.simulator import demo_command_chunks
from infra.x12 import samples
from tests.conftest import code
from tests.e2e.test_cli import RCM, ROOT, rcm, snapshot

HOSTILE_LINES = {
    "not UTF-8": (b'{"type": "code_claim", "claim_number": "C\xff\xfe"}', "not UTF-8 text: byte 0xff"),
    "binary garbage": (bytes(range(256)).replace(b"\n", b""), "not UTF-8 text"),
    "NUL bytes": (b"\x00\x01\x02{}", "binary data"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
    "moderately deep nesting": (b'{"type": "code_claim", "x": ' + b"[" * 200 + b"]" * 200 + b"}", "nested deeper than"),
    "30-digit charge": (json.dumps(code("C7", charge=123456789012345678901234567890)).encode(),
                        "field lines.0.charge: the 30-digit number"),
    "12-digit charge": (json.dumps(code("C7", charge=123456789012)).encode(),
                        "field lines.0.charge: '123456789012' is too large"),
    "30-digit pointer": (json.dumps(code("C7", lines=[{"procedure": "99213", "charge": "1.00", "pointers": [10**29],
                                                       "service_date": "2026-03-01"}])).encode(),
                         "field lines.0.pointers.0: the 30-digit number"),
    "5000-digit number": (b'{"type": "scrub_claim", "level": ' + b"9" * 5000 + b"}", "field level: the 5000-digit"),
    "a line of megabytes": (b'{"type": "' + b"x" * (2 << 20) + b'"}', "longer than"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_LINES))
def test_a_hostile_line_is_refused_by_number_and_the_others_applied(database_url, tmp_path, case):
    line, words = HOSTILE_LINES[case]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(json.dumps(code("C1")).encode() + b"\n" + line + b"\n" + json.dumps(code("C2")).encode() + b"\n")
    done = rcm("apply", str(path), "--json", db=database_url)
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert len(report["problems"]) == 1 and report["problems"][0].startswith("line 2: ")
    assert words in report["problems"][0]
    assert report["applied"] == 2 and report["lines"] == 3
    assert len({row[1] for row in snapshot(database_url)}) == 4  # two claims and their claim-number index entries


def test_a_file_without_line_breaks_is_one_refused_line(tmp_path):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(os.urandom(3 << 20).replace(b"\n", b" "))
    done = rcm("apply", str(path), "--json", db=f"sqlite:///{tmp_path / 'ledger.db'}")
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["problems"] == [f"line 1: longer than {1 << 20} bytes: not a command (binary data?)"]


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.stderr[-2000:])
"""


def peak_rss_mb(*args: str, db: str) -> float:
    """The largest resident set of `rcm ARGS` and its worker processes, measured from a fresh process."""
    env = {**os.environ, "RCM_CLAIM_CACHE": "500"}  # the bounded claim cache is the one thing allowed to grow
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *RCM, *args, "--db", db], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    code_, kilobytes, stderr = done.stdout.split(" ", 2)
    assert code_ == "0", stderr
    return int(kilobytes) / 1024


def demo_file(path: Path, claims: int) -> Path:
    with path.open("w") as out:
        for chunk in demo_command_chunks(3, claims, date(2026, 11, 27), 500):
            out.writelines(command.model_dump_json(exclude_defaults=True) + "\n" for command in chunk)
    return path


def test_apply_memory_does_not_grow_with_the_file(tmp_path):
    small, large = demo_file(tmp_path / "small.jsonl", 1500), demo_file(tmp_path / "large.jsonl", 6000)
    small_peak = peak_rss_mb("apply", str(small), "--workers", "2", db=f"sqlite:///{tmp_path / 'small.db'}")
    large_peak = peak_rss_mb("apply", str(large), "--workers", "2", db=f"sqlite:///{tmp_path / 'large.db'}")
    assert large_peak - small_peak < 20, (small_peak, large_peak)  # the whole file held grew it by ~100 MB


def remittance_file(path: Path, transactions: int, claims_each: int = 200) -> Path:
    remits = samples.random_remits(transactions * claims_each, seed=8)
    with path.open("w") as out:
        for k in range(transactions):
            out.write(samples.remittance(remits[k * claims_each:(k + 1) * claims_each], trace=f"T{k}",
                                         payee_npi="1234567893", control=k + 1))
    return path


def test_import_memory_does_not_grow_with_the_file(tmp_path):
    small, large = remittance_file(tmp_path / "small.835", 8), remittance_file(tmp_path / "large.835", 32)
    small_peak = peak_rss_mb("import", str(small), "--no-validate", "--json", db=f"sqlite:///{tmp_path / 's.db'}")
    large_peak = peak_rss_mb("import", str(large), "--no-validate", "--json", db=f"sqlite:///{tmp_path / 'l.db'}")
    assert large_peak - small_peak < 20, (small_peak, large_peak)  # every claim's result kept grew it by ~300 MB
