"""Read models on real SQLite and PostgreSQL: equal to the oracle, exactly once, loud on unknown events."""
from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest

from domain.claim import Claim
from domain.ledger import PatientControlNumberIndex
from eventsourcing.persistence import StoredEvent
from infra.bootstrap import open_ledger, open_runner
from infra.ingest import ingest
from infra.simulator import demo_commands
from infra.verify import differences
from tests.conftest import at, cmd, code, denial, lifecycle_to_submitted, payment, view_tables
from domain.commands import COMMAND
from projections import reports
from projections.tables import DELTAS, DENIAL_STATS, DERIVED, SUMMARIES, provider_first
from projections.facts import HANDLERS, IGNORED, UnknownEvent

AS_OF = (date(2026, 8, 31), date(2026, 10, 15), date(2026, 11, 27))


@pytest.fixture
def demo_url(database_url):
    tally = ingest(database_url, demo_commands(4, 600, date(2026, 11, 27)), source="test", workers=1)
    assert not tally.rejected
    return database_url


def test_every_event_class_is_handled_or_ignored_explicitly():
    claim_events = {name for name, value in vars(Claim).items()
                    if isinstance(value, type) and issubclass(value, Claim.Event) and value is not Claim.Event}
    assert {name for name in claim_events if f"Claim.{name}" not in IGNORED} == set(HANDLERS)
    index_events = {f"PatientControlNumberIndex.{n}" for n, v in vars(PatientControlNumberIndex).items() if isinstance(v, type)
                    and issubclass(v, PatientControlNumberIndex.Event) and v is not PatientControlNumberIndex.Event}
    assert index_events <= IGNORED


def test_views_equal_the_oracle_after_the_demo(demo_url):
    runner = open_runner(demo_url)
    assert runner.catch_up() == runner.recorder.max_notification_id()
    assert differences(runner, AS_OF) == []
    kpis = reports.kpis(runner.views)
    assert 0.8 < kpis["clean_claim_rate"] <= 1 and 0.01 < kpis["initial_denial_rate"] < 0.35
    assert 10 < kpis["days_in_ar"] < 60 and 0.5 < kpis["net_collection_rate"] <= 1


def test_catching_up_in_small_pages_gives_the_same_tables(demo_url, tmp_path):
    big = open_runner(demo_url)
    big.catch_up()
    small = open_runner(demo_url, suffix="_small")
    small.page = 37
    small.catch_up()
    assert view_tables(small) == view_tables(big)


def test_a_crash_mid_page_leaves_the_views_at_the_previous_page(demo_url, monkeypatch):
    runner = open_runner(demo_url)
    runner.page = 500
    runner.catch_up(until=1000)
    before, position = view_tables(runner), runner.views.position()
    monkeypatch.setattr(runner.views.writer, "write_denials",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("power cut")))
    with pytest.raises(RuntimeError, match="power cut"):
        runner.catch_up()
    assert runner.views.position() == position and view_tables(runner) == before
    monkeypatch.undo()
    runner.catch_up()
    assert differences(runner, AS_OF) == []


def test_two_runners_never_count_twice(demo_url):
    """Two runners at once (a follower and `rcm report`'s catch-up, say), pages of different sizes: each waits
    the other out page by page; together they apply every event once."""
    first, second = open_runner(demo_url), open_runner(demo_url)
    first.page, second.page = 300, 170
    errors, applied = [], []

    def run(runner):
        try:
            applied.append(runner.catch_up())
        except Exception as e:  # noqa: BLE001 - any failure is the test's
            errors.append(e)

    threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sum(applied) == first.recorder.max_notification_id()
    assert differences(open_runner(demo_url), AS_OF) == []


def test_a_runner_whose_page_overlaps_one_written_meanwhile_drops_it_instead_of_counting_twice(database_url):
    """Two runners' pages need not line up (a live follower's page ends wherever the log did). The second
    runner reads two rejections, the first writes the first of them meanwhile: the second's page must not be
    written; it goes on from there. (Rejections change no balance, so the A/R log's keys cannot catch it.)"""
    ledger = open_ledger(database_url)
    execute = lambda *bodies: ledger.execute([COMMAND.validate_python(b) for b in bodies])  # noqa: E731
    execute(*lifecycle_to_submitted("C1"), *lifecycle_to_submitted("C2"))
    first, second = open_runner(database_url), open_runner(database_url)
    first.catch_up()
    second.catch_up()
    head = ledger.recorder.max_notification_id()
    execute(cmd("reject_claim", "C1", stage="277CA", code="A7", reason="invalid", effective_at=at(3)),
            cmd("reject_claim", "C2", stage="277CA", code="A7", reason="invalid", effective_at=at(3)))
    read = second.read_page

    def read_then_let_the_other_runner_write(*args, **kwargs):
        page = read(*args, **kwargs)
        first.catch_up(until=head + 1)
        return page

    second.read_page = read_then_let_the_other_runner_write
    assert second.catch_up() == 1  # its page of two was dropped; then it applied the one the first left
    assert second.views.position() == head + 2
    assert differences(open_runner(database_url)) == []


def test_a_late_837_that_moves_the_date_of_service_keeps_aging_as_of_past_dates_exact(database_url):
    """The 837 of a claim opened from its 835, imported after the patient was billed, dates the service 9 days
    earlier: the A/R moves to the new date of service from the day the ledger learns it, not from the 837's day
    (when the patient owed nothing yet)."""
    ledger = open_ledger(database_url)
    bodies = [cmd("open_from_remittance", "E1", payer_id="BCBS", payer_class="commercial", patient_key="pk",
                  total_charge="100.00", service_date="2026-03-01", origin="835 trace T1", effective_at=at(20)),
              payment("E1", effective_at=at(20)), cmd("bill_patient", "E1", effective_at=at(30)),
              code("E1", lines=[{"procedure": "99213", "charge": "100.00", "service_date": "2026-02-20"}],
                   effective_at=at(1))]
    assert [o.result for o in ledger.execute([COMMAND.validate_python(b) for b in bodies])] == ["applied"] * 4
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, (date(2026, 3, 5), date(2026, 3, 25), date(2026, 4, 30))) == []
    assert runner.views.query(f"SELECT dos FROM {runner.views.t['claim_status']}")[0]["dos"] in (
        "2026-02-20", date(2026, 2, 20))


def test_claims_opened_from_835s_count_in_the_kpis_once_their_837s_arrive(database_url):
    """Two claims opened from remittances (one paid, one denied), then their 837s: each gets its submission
    date, counts as submitted, and the paid one as resolved on first pass; the views equal the oracle, also
    as of a date between the 835 and the 837's import."""
    ledger = open_ledger(database_url)
    execute = lambda *bodies: ledger.execute([COMMAND.validate_python(b) for b in bodies])  # noqa: E731
    for number in ("O1", "O2"):
        execute(cmd("open_from_remittance", number, payer_id="BCBS", payer_class="commercial", patient_key="pk",
                    total_charge="100.00", service_date="2026-03-01", origin="835 trace T1", effective_at=at(20)))
    execute(payment("O1", effective_at=at(20)), denial("O2", effective_at=at(20)))
    runner = open_runner(database_url)
    runner.catch_up()
    assert reports.kpis(runner.views)["claims_submitted"] in (0, None)
    for number in ("O1", "O2"):
        outcomes = execute(code(number, effective_at=at(2)),
                           cmd("submit_claim", number, already_sent=True, effective_at=at(2)))
        assert [o.result for o in outcomes] == ["applied", "applied"], [str(o.error) for o in outcomes]
    execute(cmd("appeal_denial", "O2", level=1, reason="necessary", effective_at=at(40)))
    runner.catch_up()
    assert differences(runner, (date(2026, 3, 25), date(2026, 5, 1))) == []
    kpis = reports.kpis(runner.views)
    assert kpis["claims_submitted"] == 2 and kpis["first_pass_resolution_rate"] == 0.5
    assert kpis["payment_lag_days"] == 18  # sent on day 2, adjudicated on day 20


def test_facts_kept_in_memory_are_not_trusted_after_another_runner_wrote(database_url):
    """A follower keeps the facts it wrote; `rcm report` catches the same views up meanwhile; the follower's
    next page must read what that run wrote, not its own older copy."""
    ledger = open_ledger(database_url)
    execute = lambda *bodies: ledger.execute([COMMAND.validate_python(b) for b in bodies])  # noqa: E731
    follower, other = open_runner(database_url), open_runner(database_url)
    execute(*lifecycle_to_submitted("C1"), *lifecycle_to_submitted("C2"))
    follower.catch_up()
    execute(payment("C1"), payment("C2"))
    other.catch_up()
    execute(cmd("bill_patient", "C1", effective_at=at(20)), cmd("bill_patient", "C2", effective_at=at(20)))
    follower.catch_up()
    assert differences(open_runner(database_url)) == []


def test_facts_kept_in_memory_give_the_same_tables_when_the_cache_overflows(demo_url):
    full = open_runner(demo_url)
    full.catch_up()
    small = open_runner(demo_url, suffix="_small")
    small.views.keep_facts(7)
    small.page = 50
    small.catch_up()
    assert view_tables(small) == view_tables(full)


def test_an_unknown_event_type_stops_the_runner_loudly(database_url):
    ledger = open_ledger(database_url)
    ledger.recorder.insert_events([StoredEvent(originator_id=__import__("uuid").uuid4(), originator_version=1,
                                               topic="domain.claim:Claim.Teleported", state=b"{}")])
    with pytest.raises(UnknownEvent, match="Teleported"):
        open_runner(database_url).catch_up()


def test_rebuild_switches_to_fresh_tables_with_the_same_content(demo_url):
    live = open_runner(demo_url)
    live.catch_up()
    before = view_tables(live)
    fresh = open_runner(demo_url, suffix="_next")
    fresh.catch_up()
    live.views.replace_with(fresh.views)
    after = open_runner(demo_url)
    assert view_tables(after) == before and after.views.position() == live.recorder.max_notification_id()
    assert reports.kpis(after.views)["claims_submitted"] > 0


def test_payment_lags_a_release_adds_are_counted_from_the_claims_not_rebuilt(demo_url):
    """payment_lags, added by a release to views kept all along, is counted from claim_status when the views open
    (no `rcm projections rebuild`): the views stay complete, equal to the oracle, and keep it from then on."""
    runner = open_runner(demo_url)
    runner.catch_up()
    with runner.views.transaction() as c:
        c.execute(f"DROP TABLE {runner.views.t['payment_lags']}")
    again = open_runner(demo_url)
    assert again.views.incomplete == []
    assert again.views.query(f"SELECT sum(claims) AS n FROM {again.views.t['payment_lags']}")[0]["n"] > 0
    assert differences(again) == []
    ledger = open_ledger(demo_url)
    assert all(o.result == "applied" for o in ledger.execute([COMMAND.validate_python(c) for c in [
        *lifecycle_to_submitted(claim="LAG-1"), payment("LAG-1", icn="LAG-ICN1")]]))
    again.catch_up()
    assert differences(again) == []


def test_following_makes_new_events_visible(database_url):
    runner = open_runner(database_url)
    stop = threading.Event()
    thread = threading.Thread(target=runner.follow, args=(stop, 0.02))
    thread.start()
    try:
        ingest(database_url, demo_commands(6, 40, date(2026, 11, 27)), source="test", workers=1)
        head = runner.recorder.max_notification_id()
        from projections.runner import wait_until_caught_up
        assert wait_until_caught_up(runner, head, timeout=20)
    finally:
        stop.set()
        thread.join()
    assert differences(runner) == []


def test_a_follower_on_postgresql_is_woken_by_the_append_not_the_poll(database_url):
    """PostgreSQL: every insert NOTIFYs; a follower polling only every 60 s still shows a new claim at once.
    SQLite has no notifications: there is no wake, and the follower polls."""
    from infra.bootstrap import appends_wake
    from projections.runner import wait_until_caught_up

    runner = open_runner(database_url)
    wake = appends_wake(runner, database_url)
    if database_url.startswith("sqlite"):
        assert wake is None
        return
    ledger = open_ledger(database_url)
    ledger.execute([COMMAND.validate_python(code("W0"))])
    stop, waiting = threading.Event(), threading.Event()

    def observed_wake(seconds: float) -> None:
        waiting.set()
        wake(seconds)

    thread = threading.Thread(target=runner.follow, args=(stop, 60.0), kwargs={"wait": observed_wake})
    thread.start()
    try:
        assert wait_until_caught_up(runner, ledger.recorder.max_notification_id(), timeout=60)
        assert waiting.wait(timeout=60)  # the follower is waiting: only an append or its 60 s poll ends the wait
        started = time.monotonic()
        ledger.execute([COMMAND.validate_python(code("W1"))])
        assert wait_until_caught_up(runner, ledger.recorder.max_notification_id(), timeout=30)
        assert time.monotonic() - started < 30, "caught up by the 60 s poll, not woken by the append"
    finally:
        stop.set()
        ledger.execute([COMMAND.validate_python(code("W2"))])  # wakes it to see the stop
        thread.join(timeout=30)
    assert not thread.is_alive() and differences(runner) == []


def test_reports_as_of_a_past_date_equal_the_oracle_over_the_history_cut_there(demo_url):
    """Status, KPIs and denials as of D are queries over the live views (the daily tables and intervals of
    projections/intervals.py, no replay); each equals the oracle over each claim's events effective by D."""
    from collections import Counter

    from infra.verify import cut_claims
    from projections import oracle

    runner = open_runner(demo_url)
    runner.catch_up()
    events = [(n.id, runner.mapper.to_domain_event(n))
              for n in runner.recorder.select_notifications(start=None, limit=10**9)]
    for day in AS_OF[:2]:
        cut = [(s, e) for s, e in events if not hasattr(e, "effective_at") or e.effective_at.date() <= day]
        claims = cut_claims(events, day)
        expected_status = Counter(row["status"] for row in claims.values())
        assert {r["status"]: r["claims"] for r in reports.status(runner.views, as_of=day)} == dict(expected_status)
        by_payer = Counter((row["payer_id"], row["status"]) for row in claims.values())
        assert {(r["group"], r["status"]): r["claims"] for r in reports.status(runner.views, "payer", day)} == \
            dict(by_payer)
        by_provider = Counter((row["rendering_npi"], row["status"]) for row in claims.values())
        assert {(r["group"], r["status"]): r["claims"] for r in reports.status(runner.views, "provider", day)} == \
            dict(by_provider)
        past_kpis = reports.kpis(runner.views, day)
        assert past_kpis["claims_submitted"] == sum(1 for row in claims.values() if row["submissions"])
        assert past_kpis["claims_adjudicated"] == sum(1 for row in claims.values() if row["adjudications"])
        assert past_kpis["ar_total"] == sum(
            (Decimal(max(row["payer_balance"], 0) + max(row["patient_balance"], 0)) / 100
             for row in claims.values() if row["status"] != "voided"), Decimal("0")).quantize(Decimal("0.01"))
        denied = {}
        for r in reports.denials(runner.views, "payer", until=day):
            t = denied.setdefault(r["group"], Counter())
            t.update(adjudicated=r["adjudicated"], denied=r["denied"], rejected=r["rejected"],
                     appealed=r["appealed"], decided=r["decided"], overturned=r["overturned"])
        names = ("adjudicated", "denied", "rejected", "appealed", "decided", "overturned")
        def nonzero(totals: dict) -> dict:
            return {p: c for p, t in totals.items() if any((c := {n: t.get(n, 0) for n in names}).values())}
        assert nonzero(denied) == nonzero(oracle.denial_totals(cut)), day
    # as of a day after every event, the history cut there is the whole ledger: the same as the live views
    later = date(2030, 1, 1)
    assert reports.status(runner.views, as_of=later) == reports.status(runner.views)
    assert reports.scorecard(runner.views, "payer", later, cut=True) == reports.scorecard(runner.views, "payer", later)


def test_a_nul_stored_before_the_boundary_refused_it_does_not_stop_the_projections(database_url):
    """PostgreSQL text cannot hold NUL: a payer id recorded with one (before commands refused control characters)
    is projected with U+FFFD in its place instead of failing every page from then on."""
    ledger = open_ledger(database_url)
    spiked = COMMAND.validate_python(code()).model_copy(update={"payer_id": "BC\x00BS"})
    assert [o.result for o in ledger.execute([spiked])] == ["applied"]
    ledger.execute([COMMAND.validate_python(c) for c in lifecycle_to_submitted(claim="C2")])
    runner = open_runner(database_url)
    assert runner.catch_up() == runner.recorder.max_notification_id()
    rows = runner.views.query(f"SELECT claim_number, payer_id FROM {runner.views.t['claim_status']} "
                              "ORDER BY claim_number")
    assert [(r["claim_number"], r["payer_id"]) for r in rows] == [("C1", "BC\ufffdBS"), ("C2", "BCBS")]


def test_a_sum_over_providers_a_release_adds_is_summed_from_its_table_not_rebuilt(demo_url):
    """An `<name>_all` table a newer release adds beside a per-provider table the views kept all along is filled by
    summing that table (no `rcm projections rebuild`); the views stay complete and equal to the oracle."""
    runner = open_runner(demo_url)
    runner.catch_up()
    views = runner.views
    for name in ("productivity", "status_daily"):
        views.query(f"SELECT 1 AS x FROM {views.t[name + '_all']} LIMIT 1")
        with views.transaction() as c:
            c.execute(f"DROP VIEW IF EXISTS {views.prefix}{name}_by_provider")
            c.execute(f"DROP TABLE {views.t[name + '_all']}")
    again = open_runner(demo_url)
    assert again.views.incomplete == []
    assert again.views.query(f"SELECT count(*) AS n FROM {again.views.t['productivity_all']}")[0]["n"] > 0
    assert differences(again, (date(2026, 10, 1),)) == []


def primary_keys(views, table: str) -> int:
    if views.dialect == "sqlite":
        return views.query(f"SELECT count(*) AS n FROM pragma_table_info('{table}') WHERE pk > 0")[0]["n"]
    return views.query("SELECT count(*) AS n FROM pg_constraint WHERE conrelid = to_regclass(?) AND contype = 'p'",
                       [table])[0]["n"]


def test_tables_of_changes_an_earlier_release_kept_with_a_primary_key_lose_it_and_keep_their_rows(demo_url):
    """The tables of changes (tables.DELTAS) had a primary key, one row per key; a page now appends its rows. Opening
    views an earlier release made drops the key and keeps the rows (no rebuild), and they keep agreeing with the
    oracle as pages append rows of keys already there. (PostgreSQL: claim_intervals gets room on its pages too.)"""
    runner = open_runner(demo_url)
    runner.catch_up()
    views = runner.views

    def summed(v, name):
        keys, metrics = SUMMARIES.get(name, DENIAL_STATS)
        names = ", ".join(k for k, _ in keys)
        return sorted(tuple(str(x) for x in r.values()) for r in v.query(
            f"SELECT {names}, {', '.join(f'sum({m}) AS {m}' for m in metrics)} FROM {v.t[name]} GROUP BY {names}"))
    kept = {name: summed(views, name) for name in DELTAS}
    with views.transaction() as c:  # the earlier release's layout: one row per key, under a primary key
        for view in (*views.schema.by_provider_views(), views.tables.kpis):
            c.execute(f"DROP VIEW IF EXISTS {view}")
        for name in DELTAS:
            keys, metrics = SUMMARIES.get(name, DENIAL_STATS)
            names = ", ".join(k for k, _ in keys)
            made = views.schema.summary_statement(name) if name in SUMMARIES else views.schema.denial_stats_statement()
            c.execute(f"ALTER TABLE {views.t[name]} RENAME TO {views.tables.bare[name]}_rows")
            c.execute(f"{made[:-1]}, PRIMARY KEY ({', '.join(provider_first([k for k, _ in keys]))}))")
            c.execute(f"INSERT INTO {views.t[name]} SELECT {names}, {', '.join(f'sum({m})' for m in metrics)} "
                      f"FROM {views.t[name]}_rows GROUP BY {names}")
            c.execute(f"DROP TABLE {views.t[name]}_rows")
        if views.dialect == "postgresql":  # and its intervals' heap pages filled up
            c.execute(f"ALTER TABLE {views.t['claim_intervals']} RESET (fillfactor)")
    assert all(primary_keys(views, views.t[name]) for name in DELTAS)
    again = open_runner(demo_url)
    assert again.views.incomplete == []
    for name in DELTAS:
        assert primary_keys(again.views, again.views.t[name]) == 0, f"{name} still has a primary key"
        assert summed(again.views, name) == kept[name]
    if views.dialect == "postgresql":  # room left on the pages written from now on (closing an interval: HOT)
        assert again.views.query("SELECT reloptions FROM pg_class WHERE oid = to_regclass(?)",
                                 [again.views.t["claim_intervals"]])[0]["reloptions"] == ["fillfactor=85"]
    assert differences(again, (date(2026, 11, 15),)) == []
    ledger = open_ledger(demo_url)
    assert all(o.result == "applied" for o in ledger.execute([COMMAND.validate_python(c) for c in [
        *lifecycle_to_submitted(claim="DELTA-1"), payment("DELTA-1", icn="DELTA-ICN1")]]))
    again.catch_up()
    assert differences(again, (date(2026, 11, 15),)) == []


def test_per_provider_daily_tables_an_earlier_release_kept_become_views_of_the_intervals(demo_url):
    """status_daily and dos_daily per provider were tables; they are views of claim_intervals now. Opening views an
    earlier release made drops those tables (no rebuild: the intervals hold the same facts), and the views agree
    with the oracle as of past dates, by provider and over all, and keep agreeing as the ledger grows."""
    runner = open_runner(demo_url)
    runner.catch_up()
    views = runner.views
    columns = {name: [k for k, _ in SUMMARIES[name][0]] + list(SUMMARIES[name][1]) for name in DERIVED}
    kept = {name: sorted(tuple(r.values()) for r in views.query(
        f"SELECT {', '.join(columns[name][:-len(SUMMARIES[name][1])])}, "
        f"{', '.join(f'sum({m}) AS {m}' for m in SUMMARIES[name][1])} FROM {views.t[name]} "
        f"GROUP BY {', '.join(columns[name][:-len(SUMMARIES[name][1])])}")) for name in DERIVED}
    with views.transaction() as c:  # the earlier release's layout: a table of the same rows, summed per key
        for name in DERIVED:
            c.execute(f"DROP VIEW IF EXISTS {views.prefix}{name}_by_provider")
            c.execute(f"CREATE TABLE {views.t[name]}_old AS SELECT * FROM {views.t[name]}")
            c.execute(f"DROP VIEW {views.t[name]}")
            c.execute(f"ALTER TABLE {views.t[name]}_old RENAME TO {views.tables.bare[name]}")
    again = open_runner(demo_url)
    assert again.views.incomplete == []
    for name in DERIVED:
        kind = again.views.schema.kind(again.views.t[name])
        assert kind == "VIEW", f"{name} is still a {kind}"
        assert sorted(tuple(r.values()) for r in again.views.query(
            f"SELECT {', '.join(columns[name][:-len(SUMMARIES[name][1])])}, "
            f"{', '.join(f'sum({m}) AS {m}' for m in SUMMARIES[name][1])} FROM {again.views.t[name]} "
            f"GROUP BY {', '.join(columns[name][:-len(SUMMARIES[name][1])])}")) == kept[name]
    assert differences(again, (date(2026, 10, 1), date(2026, 11, 15))) == []
    ledger = open_ledger(demo_url)
    assert all(o.result == "applied" for o in ledger.execute([COMMAND.validate_python(c) for c in [
        *lifecycle_to_submitted(claim="DERIVED-1"), payment("DERIVED-1", icn="DERIVED-ICN1")]]))
    again.catch_up()
    assert differences(again, (date(2026, 11, 15),)) == []
