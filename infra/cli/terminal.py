"""What the commands write to: the output and error consoles, progress bars, exit codes, one JSON-or-table printer."""
from __future__ import annotations

import sys
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from infra import present

OK, FAILURE, REJECTED = 0, 1, 2
out = Console(width=None if sys.stdout.isatty() else 180)
err = Console(stderr=True, soft_wrap=True)


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


def print_result(as_json: bool, data: Any, table: RenderableType) -> None:
    """--json: the data as JSON (money and dates as strings); otherwise the table for people."""
    if as_json:
        out.print_json(data=present.jsonable(data))
    else:
        out.print(table)
