"""A disk cache of the billable ICD-10-CM code set, so a short `rcm` run does not parse the whole code tree."""
from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

from domain.codes import billable_from_library, use_billable_codes


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "rcm" / f"icd10cm-billable-{version('simple-icd-10-cm')}.txt"


def load_cached() -> frozenset[str]:
    path = cache_path()
    try:
        return frozenset(path.read_text().split())
    except OSError:
        codes = billable_from_library()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text("\n".join(sorted(codes)))
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs the parse next time
        return codes


def install() -> None:
    use_billable_codes(load_cached)
