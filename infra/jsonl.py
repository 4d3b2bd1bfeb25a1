"""JSON-lines files read safely: one object per line, streamed, every bad line a reason instead of a crash.

A line that is not UTF-8, is longer than any command, nests deeper than any command or holds an integer no
store can keep is refused by its number; the lines around it are read as usual. Memory stays bounded by one
line whatever the file's size (a file without line breaks is read in chunks and refused as one long line).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 1 << 20  # a command with hundreds of service lines is a few dozen KB
MAX_DEPTH = 16  # a command nests 4 deep (command, lines, line, modifiers)
MAX_INTEGER = 2**63 - 1  # what the stores' 64-bit integers (and the JSON encoder) hold


class Oversized(str):
    """An integer literal too large to keep; reported with the field it sits in."""


def integer(text: str) -> int | Oversized:
    digits = text.lstrip("-")
    if len(digits) > 19 or abs(int(text)) > MAX_INTEGER:
        return Oversized(text)
    return int(text)


def read_objects(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, JSON object or None, reason it was refused) for every non-blank line."""
    with path.open("rb") as stream:
        for number, line in enumerate(bounded_lines(stream), start=1):
            if line is None:
                yield number, None, f"longer than {MAX_LINE_BYTES} bytes: not a command (binary data?)"
                continue
            if line.strip():
                raw, error = read_object(line)
                yield number, raw, error


def bounded_lines(stream: Any) -> Iterator[bytes | None]:
    """The file's lines; None for a line longer than MAX_LINE_BYTES (its rest is skipped, never kept)."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def read_object(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 text: byte 0x{line[error.start]:02x} at column {error.start + 1}"
    if "\x00" in text:
        return None, "binary data (a NUL byte), not a JSON object"
    try:
        raw = json.loads(text, parse_int=integer)
    except json.JSONDecodeError as e:
        return None, f"malformed JSON at column {e.colno}: {e.msg}"
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_DEPTH} levels"
    if not isinstance(raw, dict):
        return None, "a line must be one JSON object"
    return (None, problem) if (problem := out_of_bounds(raw, "", 1)) else (raw, None)


def out_of_bounds(value: Any, where: str, depth: int) -> str | None:
    """The first part of a parsed line no command can hold: too deep a nesting, or too large an integer."""
    if depth > MAX_DEPTH:
        return f"JSON nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, Oversized):
        return (f"field {where}: the {len(value.lstrip('-'))}-digit number {value[:12]}... is out of range "
                f"(integers up to {MAX_INTEGER}; money as \"125.00\")")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        if problem := out_of_bounds(child, f"{where}.{key}" if where else str(key), depth + 1):
            return problem
    return None


def count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
