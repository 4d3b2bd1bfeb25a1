"""`rcm projections verify`: the views against the oracle, recomputed from every event in the store."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from projections import oracle
from projections.facts import COLUMNS, DATES
from projections.intervals import DAILY, INTERVAL_COLUMNS
from projections.runner import Runner
from projections.tables import ALL_PROVIDERS, PERSON_DAYS, SUMMARIES


def all_events(runner: Runner) -> list[tuple[int, Any]]:
    """Every stored event as the domain decodes it (not as the runner's plain decoder does: the oracle checks
    that too)."""
    events, start = [], 1
    while page := runner.recorder.select_notifications(start=start, limit=10_000):
        events += [(n.id, runner.mapper.to_domain_event(n)) for n in page]
        start = page[-1].id + 1
    return events


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in COLUMNS:
        value = row[name]
        if isinstance(value, str) and name in DATES:
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
    found += summary_differences(views, expected) + all_providers_differences(views)
    for as_of in as_of_dates:
        found += daily_differences(views, events, as_of) + as_of_differences(views, events, as_of)
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
    carcs: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in views.query(f"SELECT * FROM {views.t['denial_carcs']}"):
        for metric in ("remittances", "cents", "denied_claims"):
            carcs[(row["payer_id"], row["carc_group"], row["carc"])][metric] += int(row[metric])
    want_carcs = oracle.carc_totals(events)
    for key in sorted(set(want_carcs) | set(carcs)):
        for metric in ("remittances", "cents", "denied_claims"):
            want, got = want_carcs.get(key, {}).get(metric, 0), carcs.get(key, {}).get(metric, 0)
            if want != got:
                found.append(f"denial CARC {'-'.join(key)}.{metric}: view {got}, oracle {want}")
    cash: dict[tuple[Any, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in views.query(f"SELECT * FROM {views.t['cash_daily']}"):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        for metric in oracle.CASH:
            cash[(day, row["payer_id"])][metric] += int(row[metric])
    want_cash = oracle.cash_by_day(events)
    for key in sorted(set(want_cash) | set(cash)):
        for metric in oracle.CASH:
            want, got = want_cash.get(key, {}).get(metric, 0), cash.get(key, {}).get(metric, 0)
            if want != got:
                found.append(f"cash {key[0]} {key[1]}.{metric}: view {got}, oracle {want}")
    found += activity_differences(views, events)
    return found + remittance_differences(views, events) + productivity_differences(views, events)


def remittance_differences(views: Any, events: list[tuple[int, Any]]) -> list[str]:
    """Payments recorded by command per payer, trace and day (what deposits are matched with) against the oracle."""
    got = {}
    for row in views.query(f"SELECT * FROM {views.t['remittance_claims']}"):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        got[(row["payer_id"], row["trace"], day)] = {"claims": int(row["claims"]), "paid_cents": int(row["paid_cents"])}
    want = oracle.remittances_by_trace(events)
    return [f"remittance_claims {key}: view {got.get(key)}, oracle {want.get(key)}"
            for key in sorted(set(got) | set(want), key=str) if got.get(key) != want.get(key)]


def activity_differences(views: Any, events: list[tuple[int, Any]]) -> list[str]:
    """The day's work per day, payer and activity against the oracle's count of the events."""
    got = {(row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"]), row["payer_id"],
            row["activity"]): {"events": int(row["events"]), "cents": int(row["cents"])}
           for row in views.query(f"SELECT * FROM {views.t['day_activity']}") if row["events"] or row["cents"]}
    want = oracle.activity_by_day(events)
    return [f"day activity {key[0]} {key[1]} {key[2]}: view {got.get(key)}, oracle {want.get(key)}"
            for key in sorted(set(want) | set(got)) if want.get(key) != got.get(key)]


def productivity_differences(views: Any, events: list[tuple[int, Any]]) -> list[str]:
    """Who did what per day, against the oracle's count of every event's actor."""
    keys = ("day", "person", "activity", "category", "payer_id", "rendering_npi")
    got = {}
    for row in views.query(f"SELECT {', '.join(keys)}, sum(tasks) AS tasks, sum(cents) AS cents, sum(lag_days) AS "
                           f"lag_days, sum(lag_n) AS lag_n FROM {views.t['productivity']} GROUP BY {', '.join(keys)}"):
        key = tuple(date.fromisoformat(row[k]) if k == "day" and isinstance(row[k], str) else row[k] for k in keys)
        metrics = {m: int(row[m]) for m in ("tasks", "cents", "lag_days", "lag_n") if int(row[m])}
        if metrics:
            got[key] = metrics
    want = {k: v for k, v in oracle.productivity(events).items() if v}
    return [f"productivity {key}: view {got.get(key)}, oracle {want.get(key)}"
            for key in sorted(set(got) | set(want), key=str) if got.get(key) != want.get(key)]


SUMMARY_KEYS = {"status_summary": ("status", "payer_id", "rendering_npi", "dos_month"),
                "dos_summary": ("dos", "payer_id", "rendering_npi"),
                "kpi_counters": ("dos_month", "payer_id", "rendering_npi"), "payment_lags": ("payer_id", "lag_days")}


def summary_differences(views: Any, claims: dict[str, dict[str, Any]]) -> list[str]:
    """The pre-summed tables against sums over the oracle's claims."""
    want = oracle_summaries(claims)
    found = []
    for table, keys in SUMMARY_KEYS.items():
        got = {}
        for row in views.query(f"SELECT * FROM {views.t[table]}"):
            key = tuple(date.fromisoformat(row[k]) if k in ("dos", "dos_month") and isinstance(row[k], str) else row[k]
                        for k in keys)
            metrics = {k: int(v) for k, v in row.items() if k not in keys and int(v)}
            if metrics:
                got[key] = metrics
        found += compare(table, got, want[table])
    return found


def all_providers_differences(views: Any) -> list[str]:
    """Each "<name>_all" table against its table summed over the providers."""
    found = []
    for twin, (keys, metrics) in ALL_PROVIDERS.items():
        names = [k for k, _ in keys]
        sums = ", ".join(f"sum({m}) AS {m}" for m in metrics)
        summed = views.query(f"SELECT {', '.join(names)}, {sums} FROM {views.t[twin[:-4]]} GROUP BY {', '.join(names)}")
        want = {tuple(str(r[k]) for k in names): {m: int(r[m]) for m in metrics} for r in summed}
        got = {tuple(str(r[k]) for k in names): {m: int(r[m]) for m in metrics}
               for r in views.query(f"SELECT * FROM {views.t[twin]}")}
        got = {key: nonzero for key, values in got.items() if (nonzero := {m: v for m, v in values.items() if v})}
        found += compare(twin, got, want)
    pivot = ", ".join(f"{sql} AS {m}" for m, sql in PERSON_DAYS.items())
    want = {(str(r["day"]), r["person"]): {m: int(r[m]) for m in PERSON_DAYS} for r in views.query(
        f"SELECT day, person, {pivot} FROM {views.t['productivity']} GROUP BY day, person")}
    got = {(str(r["day"]), r["person"]): nonzero for r in views.query(f"SELECT * FROM {views.t['person_days']}")
           if (nonzero := {m: int(r[m]) for m in PERSON_DAYS if int(r[m])})}
    return found + compare("person_days", got, want)


def compare(table: str, got: dict[tuple[Any, ...], dict[str, int]],
            want: dict[tuple[Any, ...], dict[str, int]]) -> list[str]:
    expected = {key: {k: v for k, v in m.items() if v} for key, m in want.items()}
    expected = {key: m for key, m in expected.items() if m}
    return [f"{table} {key}: view {got.get(key)}, oracle {expected.get(key)}"
            for key in sorted(set(got) | set(expected), key=str) if got.get(key) != expected.get(key)]


def oracle_summaries(claims: dict[str, dict[str, Any]]) -> dict[str, dict[tuple[Any, ...], dict[str, int]]]:
    """What status_summary, dos_summary, kpi_counters and payment_lags hold, summed over the oracle's claims."""
    want: dict[str, dict[tuple[Any, ...], dict[str, int]]] = {name: {} for name in SUMMARY_KEYS}

    def add(table: str, key: tuple[Any, ...], **metrics: int) -> None:
        row = want[table].setdefault(key, defaultdict(int))
        for name, value in metrics.items():
            row[name] += value

    for c in claims.values():
        kpi_key = (c["dos"].replace(day=1), c["payer_id"], c["rendering_npi"])
        money = dict(billed=c["billed"], payer_balance=c["payer_balance"], patient_balance=c["patient_balance"])
        add("status_summary", (c["status"], c["payer_id"], c["rendering_npi"], c["dos"].replace(day=1)), claims=1,
            **money)
        if c["payment_lag_days"] is not None:  # every claim the payer answered, voided or not
            add("payment_lags", (c["payer_id"], c["payment_lag_days"]), claims=1)
        if c["status"] == "voided":
            continue
        owed = (c["payer_balance"], c["patient_balance"])
        add("dos_summary", (c["dos"], c["payer_id"], c["rendering_npi"]), claims=1, **money,
            open_balance=sum(b for b in owed if b > 0), credit_balance=sum(-b for b in owed if b < 0))
        add("kpi_counters", kpi_key, coded=int(c["coded_on"] is not None), paid=int(c["payer_paid"] > 0),
            scrubbed=int(c["coded_on"] is not None and c["status"] not in ("coded", "scrub_failed")))
        if c["submissions"]:
            add("kpi_counters", kpi_key, submitted=1, clean=int(c["clean"]), rejected=int(c["rejections"] > 0),
                days_to_bill_n=1, days_to_bill_sum=(c["first_submitted_on"] - c["dos"]).days)
        if c["adjudications"]:
            add("kpi_counters", kpi_key, adjudicated=1, initially_denied=int(c["initially_denied"]),
                adjudicated_billed=c["billed"], denied_billed=c["billed"] * int(c["initially_denied"]),
                first_pass=int(c["first_pass_resolved"]),
                collected=c["payer_paid"] + c["patient_paid"], net=c["billed"] - c["contractual"])
            if c["payment_lag_days"] is not None:  # a claim opened from a remittance may have no known submission
                add("kpi_counters", kpi_key, lag_n=1, lag_sum=c["payment_lag_days"])
    return want


def cut_claims(events: list[tuple[int, Any]], as_of: date) -> dict[str, dict[str, Any]]:
    """The oracle's claims of the history cut at `as_of` (business time): a claim whose first event is effective
    later did not exist then."""
    claims = {}
    for claim_id, history in oracle.histories(events).items():
        cut = [(s, e) for s, e in history if e.effective_at.date() <= as_of]
        if cut and type(cut[0][1]).__name__ in ("Coded", "Opened"):
            claims[claim_id] = oracle.claim_row(claim_id, cut)
    return claims


def as_of_differences(views: Any, events: list[tuple[int, Any]], as_of: date) -> list[str]:
    """The intervals open at `as_of` and the daily tables summed up to it (per provider and for all) against the
    oracle over the history cut there."""
    claims = cut_claims(events, as_of)
    day = as_of.isoformat() if views.dialect == "sqlite" else as_of
    found = []
    got_open = {r["claim_id"]: r for r in views.query(
        f"SELECT * FROM {views.t['claim_intervals']} WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        [day, day])}
    for claim_id in sorted(set(claims) | set(got_open)):
        want, got = claims.get(claim_id), got_open.get(claim_id)
        if want is None or got is None:
            found.append(f"claim_intervals as of {as_of}: claim {claim_id} is {'missing' if got is None else 'unexpected'}")
            continue
        for name in INTERVAL_COLUMNS:
            value = date.fromisoformat(got[name]) if name == "dos" and isinstance(got[name], str) else got[name]
            if value != want[name]:
                found.append(f"claim_intervals as of {as_of} {want['claim_number']}.{name}: view {value!r}, "
                             f"oracle {want[name]!r}")
    want_sums = oracle_summaries(claims)
    for live, daily in DAILY.items():
        keys = SUMMARY_KEYS[live]
        metrics = [m for m in SUMMARIES[daily][1]]
        rest = [k for k in keys if k != "rendering_npi"]
        sums = ", ".join(f"sum({m}) AS {m}" for m in metrics)
        for provider_rows in (False, True):
            table = views.t[daily if provider_rows else f"{daily}_all"]
            group = keys if provider_rows else rest
            got = {}
            for row in views.query(f"SELECT {', '.join(group)}, {sums} FROM {table} WHERE day <= ? "
                                   f"GROUP BY {', '.join(group)}", [day]):
                key = tuple(date.fromisoformat(row[k]) if k in ("dos", "dos_month") and isinstance(row[k], str)
                            else row[k] for k in group)
                values = {m: int(row[m]) for m in metrics if int(row[m])}
                if values:
                    got[key] = values
            want: dict[tuple[Any, ...], dict[str, int]] = {}
            for key, values in want_sums[live].items():
                short = key if provider_rows else tuple(v for k, v in zip(keys, key) if k != "rendering_npi")
                row = want.setdefault(short, {})
                for m, v in values.items():
                    row[m] = row.get(m, 0) + v
            label = f"{daily}{'' if provider_rows else ' (all providers)'} as of {as_of}"
            found += compare(label, got, want)
    return found


def daily_differences(views: Any, events: list[tuple[int, Any]], as_of: date) -> list[str]:
    """A/R moves summed up to a date against the oracle's balances of the history cut at that date."""
    want: dict[tuple[Any, ...], int] = defaultdict(int)
    for claim_id, history in oracle.histories(events).items():
        cut = [(s, e) for s, e in history if e.effective_at.date() <= as_of]
        if not cut or type(cut[0][1]).__name__ not in ("Coded", "Opened"):
            continue
        row = oracle.claim_row(claim_id, cut)
        for responsibility in ("payer", "patient"):
            if row[f"{responsibility}_balance"]:
                want[(row["dos"], row["payer_id"], row["rendering_npi"], responsibility)] += \
                    row[f"{responsibility}_balance"]
    got = {}
    for r in views.query(f"SELECT dos, payer_id, rendering_npi, responsibility, sum(delta_cents) AS balance "
                         f"FROM {views.t['ar_daily']} WHERE effective_on <= ? "
                         f"GROUP BY dos, payer_id, rendering_npi, responsibility",
                         [as_of.isoformat() if views.dialect == "sqlite" else as_of]):
        if int(r["balance"]):
            dos = date.fromisoformat(r["dos"]) if isinstance(r["dos"], str) else r["dos"]
            got[(dos, r["payer_id"], r["rendering_npi"], r["responsibility"])] = int(r["balance"])
    want = {k: v for k, v in want.items() if v}
    return [f"ar_daily as of {as_of} {key}: view {got.get(key, 0)}, oracle {want.get(key, 0)}"
            for key in sorted(set(got) | set(want), key=str) if got.get(key, 0) != want.get(key, 0)]
