"""Productivity from the events' actors (issue 15 item 3), on both back ends: a small hand-computed set of events
gives the figures of the view, the report and `rcm report productivity`, and the view equals the oracle."""
from __future__ import annotations

import json
import os
import subprocess
from datetime import date, timedelta
from decimal import Decimal

from domain.commands import COMMAND
from infra.bootstrap import open_ledger, open_runner
from infra.verify import differences
from domain.lifecycle import ACTIVITY
from projections import productivity
from projections.facts import HANDLERS
from tests.conftest import ROOT, at, cmd, code, denial, payment

RCM = [str(ROOT / ".venv/bin/python"), "-m", "infra.cli"]


def sent(claim: str, coder: str, day: float = 0) -> list[dict]:
    """Coded by `coder`, scrubbed, submitted by biller:ben the next day, accepted the day after."""
    return [code(claim, actor=coder, effective_at=at(day)), cmd("scrub_claim", claim, effective_at=at(day, 1)),
            cmd("submit_claim", claim, effective_at=at(day + 1), actor="biller:ben"),
            cmd("accept_claim", claim, effective_at=at(day + 2), actor="clearinghouse")]


def practice_day(url: str) -> None:
    """C1: coded by ana, denied for authorization (CARC 197), remitted on day 12 and posted on day 14 (lag 2),
    appealed. C2: coded by ana, paid $60.00, remitted on day 13, posted on day 14 (lag 1). C3: coded by bo,
    recoded by ana, denied for missing data (CARC 16), posted with no remittance date of its own."""
    commands = [
        *sent("C1", "coder:ana"), *sent("C2", "coder:ana"), *sent("C3", "coder:bo", day=1),
        denial("C1", carc="197", actor="poster:pat", remitted_on="2026-03-14"),
        cmd("appeal_denial", "C1", level=1, reason="authorization on file", effective_at=at(20), actor="appeals:al"),
        payment("C2", actor="poster:pat", remitted_on="2026-03-15"),
        denial("C3", carc="16", icn="ICN3", actor="poster:pat", remark_codes=["M51"]),
        cmd("recode_claim", "C3", diagnoses=["I10"], lines=[{"procedure": "99213", "charge": "100.00",
                                                             "service_date": "2026-03-01"}],
            effective_at=at(16), actor="coder:ana"),
    ]
    outcomes = open_ledger(url).execute([COMMAND.validate_python(c) for c in commands])
    assert [str(o.error) for o in outcomes if o.error] == []


def recorded_lag(url: str, claim: str) -> int:
    """The posting lag of a remittance without a date of its own: effective time to recorded time, whole days."""
    ledger = open_ledger(url)
    claim_id = ledger.find(claim).id
    denied = [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(start=None, limit=999)
              if n.originator_id == claim_id and n.topic.endswith("Claim.Denied")][-1]
    return (denied.timestamp - denied.effective_at) // timedelta(days=1)


def test_productivity_of_a_hand_computed_day(database_url):
    practice_day(database_url)
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner) == []
    people = {r["person"]: r for r in productivity.productivity(runner.views)}
    ana, bo, ben, pat, al = (people[p] for p in ("coder:ana", "coder:bo", "biller:ben", "poster:pat", "appeals:al"))
    # ana coded C1 and C2 on 2026-03-02 and recoded C3; bo coded C3 on 2026-03-03
    assert (ana["charts_coded"], ana["charts_per_day"], ana["recoded"], ana["days"]) == (2, Decimal("2.0"), 1, 2)
    assert (bo["charts_coded"], bo["charts_per_day"], bo["days"]) == (1, Decimal("1.0"), 1)
    # a denial counts against whoever had last coded the claim then: C1's is ana's; C3's is bo's (ana recoded it after)
    assert (ana["denials_on_coding"], bo["denials_on_coding"]) == (1, 1)
    assert (ben["claims_submitted"], ben["charges_submitted"], ben["role"]) == (3, Decimal("300.00"), "biller")
    lag = Decimal(2 + 1 + recorded_lag(database_url, "C3")) / 3
    assert (pat["remittances_posted"], pat["payments_posted"]) == (3, Decimal("60.00"))
    assert pat["posting_lag_days"] == lag.quantize(Decimal("0.1"))
    assert al["appeals_filed"] == 1 and people["clearinghouse"]["role"] == "system"
    assert productivity.denials_by_coder(runner.views) == [
        {"coder": "coder:ana", "root_cause": "authorization", "denials": 1, "denied_dollars": Decimal("100.00")},
        {"coder": "coder:bo", "root_cause": "missing data", "denials": 1, "denied_dollars": Decimal("100.00")}]
    by_day = productivity.productivity(runner.views, date(2026, 3, 3), date(2026, 3, 3), by="day")
    assert [(r["day"], r["person"], r["charts_coded"], r["claims_submitted"]) for r in by_day] == [
        ("2026-03-03", "biller:ben", 0, 2), ("2026-03-03", "coder:bo", 1, 0),
        ("2026-03-03", "rcm", 0, 0)]  # C3's scrub, by the ledger's default actor


def test_every_claim_event_is_some_work():
    assert set(ACTIVITY) == set(HANDLERS)


def rcm(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RCM, *args, "--db", db], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_rcm_report_productivity(database_url):
    practice_day(database_url)
    done = rcm("report", "productivity", "--from", "2026-03-02", "--to", "2026-03-02", "--json", db=database_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    coded = {r["person"]: r["charts_coded"] for r in report["rows"] if r["charts_coded"]}
    assert coded == {"coder:ana": 2} and report["by"] == "person" and report["from"] == "2026-03-02"
    table = rcm("report", "productivity", "--by", "day", db=database_url)
    assert table.returncode == 0 and "Productivity by day" in table.stdout and "coder:bo" in table.stdout
    for args, reason in ((("productivity", "--from", "2026-03-05", "--to", "2026-03-01"),
                          "--from 2026-03-05 is after --to 2026-03-01"),
                         (("productivity", "--as-of", "2026-03-05"), "--as-of is not supported"),
                         (("productivity", "--by", "payer"), "--by payer is not supported"),
                         (("aging", "--from", "2026-03-01"), "rcm report aging: --from is not supported")):
        refused = rcm("report", *args, db=database_url)
        assert refused.returncode == 2 and reason in refused.stderr, (args, refused.stderr)
