"""The relay's reader as a program of its own (`python -m infra.kafka.reader_process PAGE_SIZE`): it opens the
store named by the settings the relay sends first, then serves the relay's requests for pages over its pipes."""
from __future__ import annotations

import ctypes
import select
import signal
import sys
import traceback
from typing import Any, BinaryIO

from consumers.relay import Pages
from domain.ledger import Ledger
from infra import icd_cache
from infra.gc_tuning import tune_for_bulk_work
from infra.kafka.relay_reader import LedgerPages, read_frame, write_frame
from infra.settings import Settings


def open_store(settings: Settings) -> Ledger:
    """The ledger to read, without creating its tables: the relay created them before starting this program."""
    icd_cache.install()
    return Ledger(env={**settings.eventsourcing_env(), "CREATE_TABLE": "n"}, actor=settings.actor, source="relay")


def die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the relay ends this too
    except (OSError, AttributeError):
        pass


def main(size: int) -> None:
    """The settings first, then for each request (number, start, poll_seconds) read from stdin, pages from
    `start` on, each tagged with the request's number, to stdout; None once each time it has caught up. A new
    request abandons the current one; end of input ends the program."""
    die_with_parent()
    tune_for_bulk_work()
    requests, out = sys.stdin.buffer, sys.stdout.buffer
    settings: Settings | None = read_frame(requests)
    request = read_frame(requests)
    try:
        if settings is None:
            return
        pages = LedgerPages(open_store(settings), size)
        while request is not None:
            request = serve(request, pages, requests, out)
    except BaseException:  # noqa: BLE001 - handed to the parent, which stops and says so
        write_frame(out, (request[0] if request else 0, traceback.format_exc()))


def serve(request: tuple[int, int, float], pages: Pages, requests: BinaryIO, out: BinaryIO) -> Any:
    """Serves one request until a newer one arrives (returned), or the input ends (None)."""
    number, start, poll_seconds = request
    said_caught_up = False
    for page in pages(start, poll_seconds):
        if page is None:
            if said_caught_up:
                if select.select([requests], [], [], poll_seconds)[0]:
                    return read_frame(requests)
                continue
            said_caught_up = True
        else:
            said_caught_up = False
            page = page._replace(messages=[tuple(m) for m in page.messages])  # plain tuples pickle 3x faster
        write_frame(out, (number, page))
        if select.select([requests], [], [], 0)[0]:
            return read_frame(requests)
    raise AssertionError("a page source never ends")


if __name__ == "__main__":
    main(int(sys.argv[1]))
