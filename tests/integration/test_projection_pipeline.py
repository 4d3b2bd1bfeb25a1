"""A catch-up on PostgreSQL writes each page while it folds the next one (projections/pipeline.py): the overlap is
real, and a failure on either side leaves the views at the last page committed, with no facts kept past it."""
from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest

from infra.bootstrap import open_runner
from infra.ingest import ingest
from infra.simulator import demo_commands
from infra.verify import differences
from tests.conftest import require_postgres, view_tables


@pytest.fixture
def demo_url() -> str:
    url = f"{require_postgres()}?schema=t_{uuid.uuid4().hex[:12]}"
    tally = ingest(url, demo_commands(5, 300, date(2026, 11, 27)), source="test", workers=1)
    assert not tally.rejected
    return url


def paged(url: str, suffix: str = "") -> object:
    runner = open_runner(url, suffix=suffix)
    runner.page = 300
    return runner


def test_the_next_page_is_folded_while_a_page_is_written(demo_url, monkeypatch):
    runner = paged(demo_url)
    writer = runner.views.writer
    write, fold = writer.write, writer.fold
    next_page_folded, folds, first_write_saw_it = threading.Event(), [], []

    def counted_fold(*args, **kwargs):
        folded = fold(*args, **kwargs)
        folds.append(folded.last)
        if len(folds) == 2:
            next_page_folded.set()
        return folded

    def first_write_waits_for_the_next_fold(folded, *args):
        if not first_write_saw_it:  # (one page after the other, this would wait the 10 s out)
            first_write_saw_it.append(next_page_folded.wait(10))
        write(folded, *args)

    monkeypatch.setattr(writer, "fold", counted_fold)
    monkeypatch.setattr(writer, "write", first_write_waits_for_the_next_fold)
    assert runner.catch_up() == runner.recorder.max_notification_id()
    assert first_write_saw_it == [True] and len(folds) > 2
    assert differences(runner) == []


def test_a_page_that_fails_to_commit_leaves_the_views_before_it_and_no_facts_kept(demo_url, monkeypatch):
    """The third page fails in the writing thread after the fourth was folded onto the cached facts: the views
    stay at the second page, the cache is forgotten, and the catch-up run again ends as a fresh one."""
    runner = paged(demo_url)
    writer, written = runner.views.writer, []
    write = writer.write

    def third_fails(folded, *args):
        written.append(folded.last)
        if len(written) == 3:
            raise RuntimeError("connection lost")
        write(folded, *args)

    monkeypatch.setattr(writer, "write", third_fails)
    with pytest.raises(RuntimeError, match="connection lost"):
        runner.catch_up()
    assert runner.views.position() == written[1] and writer.cache.facts == {}
    monkeypatch.undo()
    runner.catch_up()
    fresh = paged(demo_url, "_fresh")
    fresh.catch_up()
    assert view_tables(runner) == view_tables(fresh)
    assert differences(runner) == []


def test_a_page_that_fails_to_fold_lets_the_page_being_written_commit_and_keeps_no_facts(demo_url, monkeypatch):
    """The third page fails after its fold changed the cached facts, while the second is being written: the
    second commits, the cache is forgotten, and the catch-up run again ends as a fresh one."""
    runner = paged(demo_url)
    writer, folds = runner.views.writer, []
    fold = writer.fold

    def third_fails_once_folded(*args, **kwargs):
        folded = fold(*args, **kwargs)
        folds.append(folded.last)
        if len(folds) == 3:
            raise MemoryError("out of memory")
        return folded

    monkeypatch.setattr(writer, "fold", third_fails_once_folded)
    with pytest.raises(MemoryError):
        runner.catch_up()
    assert runner.views.position() == folds[1] and writer.cache.facts == {}
    monkeypatch.undo()
    runner.catch_up()
    fresh = paged(demo_url, "_fresh")
    fresh.catch_up()
    assert view_tables(runner) == view_tables(fresh)
    assert differences(runner) == []
