"""Code lists the read models and statements quote: CARC and RARC descriptions (source and licence in SOURCE.md)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def code_list(name: str) -> dict[str, str]:
    """`carc` or `rarc`: code -> description, as published (the 2012 lists: newer codes are missing)."""
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
