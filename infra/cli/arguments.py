"""The values the commands take from the user, checked: dates, times with zones, bounded whole numbers."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime, timezone


class InputRejected(Exception):
    """Bad input from the user: reported plainly, exit code 2."""


def today() -> date:
    return datetime.now(timezone.utc).date()


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD): {e}") from None


def whole_number(what: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{text} is not a number of {what} from {low} to {high}")
        return number
    return parse


def parse_as_of(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.max.time(), timezone.utc)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputRejected(f"--as-of {text!r}: use an ISO date (2026-03-03) or a time with its zone "
                            "(2026-03-03T17:00:00-05:00)") from None
    if moment.tzinfo is None:
        raise InputRejected(f"--as-of {text!r} has no time zone: add one, e.g. {text}+00:00")
    return moment


def report_date(text: str, flag: str = "--as-of") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise InputRejected(f"{flag} {text!r}: not a date (YYYY-MM-DD): {e}") from e


# how a command group adds a subcommand: name and help in, its parser (with --db already) out
AddCommand = Callable[[str, str], argparse.ArgumentParser]
