"""`rcm projections verify`: the views against the oracle, recomputed from every event in the store."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from projections import oracle
from projections.facts import COLUMNS
from projections.runner import Runner


def all_events(runner: Runner) -> list[tuple[int, Any]]:
    events, start = [], 1
    while page := runner.recorder.select_notifications(start=start, limit=10_000):
        events += [(n.id, runner.decode(n)) for n in page]
        start = page[-1].id + 1
    return events


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in COLUMNS:
        value = row[name]
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and name.endswith(("on", "dos", "since")):
            value = date.fromisoformat(value)
        out[name] = bool(value) if name in ("clean", "initially_denied", "first_pass_resolved") else value
    return out


def differences(runner: Runner, as_of_dates: tuple[date, ...] = ()) -> list[str]:
    """Every way the views differ from the oracle; empty when they are identical."""
    views = runner.views
    events = [(s, e) for s, e in all_events(runner) if s <= views.position()]
    found: list[str] = []
    expected = oracle.claim_rows(events)
    actual = {r["claim_id"]: normalise(r) for r in views.query(f"SELECT * FROM {views.t['claim_status']}")}
    for claim_id in sorted(set(expected) | set(actual)):
        want, got = expected.get(claim_id), actual.get(claim_id)
        if want is None or got is None:
            found.append(f"claim_status: claim {claim_id} is {'missing' if got is None else 'unexpected'}")
            continue
        for name in COLUMNS:
            if want[name] != got[name]:
                found.append(f"claim_status {want['claim_number']}.{name}: view {got[name]!r}, oracle {want[name]!r}")
    for as_of in as_of_dates:
        want_open = oracle.balances_as_of(events, as_of)
        got_open = {(r["claim_id"], r["responsibility"]): int(r["balance"]) for r in views.query(
            f"SELECT claim_id, responsibility, sum(delta_cents) AS balance FROM {views.t['ar_log']} "
            f"WHERE effective_on <= ? GROUP BY claim_id, responsibility HAVING sum(delta_cents) <> 0",
            [as_of.isoformat() if views.dialect == "sqlite" else as_of])}
        for key in sorted(set(want_open) | set(got_open)):
            if want_open.get(key, 0) != got_open.get(key, 0):
                found.append(f"ar as of {as_of} {key}: view {got_open.get(key, 0)}, oracle {want_open.get(key, 0)}")
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in views.query(f"SELECT * FROM {views.t['denial_stats']}"):
        for metric in ("adjudicated", "denied", "denied_cents", "rejected", "appealed", "decided", "overturned"):
            stats[row["payer_id"]][metric] += int(row[metric])
    want_stats = oracle.denial_totals(events)
    for payer in sorted(set(want_stats) | set(stats)):
        for metric in ("adjudicated", "denied", "denied_cents", "rejected", "appealed", "decided", "overturned"):
            want, got = want_stats.get(payer, {}).get(metric, 0), stats.get(payer, {}).get(metric, 0)
            if want != got:
                found.append(f"denials {payer}.{metric}: view {got}, oracle {want}")
    return found
