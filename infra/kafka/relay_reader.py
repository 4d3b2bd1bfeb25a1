"""The relay's page sources: pages read and encoded by a child program while the relay publishes (so decoding the
store and kafka-python's send each get a core), or in this process from a ledger it owns; and the frames the
child and the relay exchange.
"""
from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from consumers.relay import PAGE, Page, read_pages
from domain.ledger import Ledger
from infra.kafka.message_encoder import MessageEncoder
from infra.settings import Settings


class LedgerPages:
    """Pages read and encoded in this process, from a ledger this source owns and closes."""

    def __init__(self, ledger: Ledger, size: int = PAGE) -> None:
        self.ledger = ledger
        self.pages = read_pages(ledger.recorder, MessageEncoder.for_ledger(ledger), size)

    def __call__(self, start: int, poll_seconds: float) -> Iterator[Page | None]:
        return self.pages(start, poll_seconds)

    def close(self) -> None:
        self.ledger.close()


class ReaderProcess:
    """Pages read and encoded by a child program while this process publishes. The child only reads; the relay
    still commits every page with its position, in order, so nothing about exactly-once changes.

    The child starts as soon as the relay is built (it loads while the producer connects), lives as long as the
    relay, and dies with it, even on kill -9 (parent-death signal, and end of file on its input). It is told
    where to read from; pages of an earlier request are recognised by their number and dropped."""

    def __init__(self, settings: Settings, size: int = PAGE) -> None:
        self.child = subprocess.Popen([sys.executable, "-m", "infra.kafka.reader_process", str(size)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=os.getcwd())
        write_frame(self.child.stdin, settings)  # type: ignore[arg-type]  # the store it reads, its first input
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=3)
        self.request = 0
        threading.Thread(target=self.receive, daemon=True, name="rcm-relay-reader").start()

    def receive(self) -> None:
        assert self.child.stdout is not None
        while (frame := read_frame(self.child.stdout)) is not None:
            self.pages.put(frame)
        self.pages.put((None, EOFError()))

    def __call__(self, start: int, poll_seconds: float) -> Iterator[Page | None]:
        self.request += 1
        request = self.request
        write_frame(self.child.stdin, (request, start, poll_seconds))  # type: ignore[arg-type]
        caught_up = False
        while True:
            try:
                number, page = self.pages.get(timeout=0.2)
            except queue.Empty:
                if caught_up:
                    yield None
                continue
            if isinstance(page, EOFError):
                self.pages.put((None, page))
                raise RuntimeError(f"the relay's reader process ended (exit code {self.child.wait()})")
            if isinstance(page, str):
                raise RuntimeError(f"the relay's reader failed:\n{page}")
            if number != request:
                continue  # read for an earlier request
            caught_up = page is None
            yield page

    def close(self) -> None:
        self.child.kill()
        self.child.wait()


def write_frame(stream: BinaryIO, item: Any) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        return None
    return pickle.loads(stream.read(struct.unpack("<Q", head)[0]))
