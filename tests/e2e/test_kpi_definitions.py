"""The KPI definitions of the README, checked on a small practice computed by hand: the projection, the oracle and
`rcm report kpis` (practice and --by payer|provider) agree with the hand-computed figures, on both back ends."""
from __future__ import annotations

import json

import pytest

from domain.commands import COMMAND
from infra.bootstrap import open_ledger, open_runner
from infra.verify import all_events, differences
from projections import oracle, reports
from tests.conftest import NPI, at, cmd, code, denial, lifecycle_to_submitted, payment
from tests.e2e.test_cli import rcm

PROVIDER_B = "1111111112"


def practice() -> list[dict]:
    """K1 BCBS, provider A: $100; paid 60, CO-45 20 (contractual), PR-2 20; the patient pays the 20.
    K2 BCBS, provider A: $200 in two lines; line 1 ($120) paid 90 with CO-42 30 (contractual: fee schedule),
       line 2 ($80) denied CO-97 (bundling: a denial, not a contractual allowance).
    K3 UHC, provider B: $150, denied CO-50 (medical necessity).
    K4 UHC, provider B: $50, submitted, not adjudicated yet."""
    uhc = dict(payer_id="UHC", rendering_npi=PROVIDER_B)
    k2_lines = [{"procedure": "99214", "charge": "120.00", "service_date": "2026-03-01"},
                {"procedure": "36415", "charge": "80.00", "service_date": "2026-03-01"}]
    return [
        *lifecycle_to_submitted("K1"), payment("K1"),
        cmd("bill_patient", "K1", effective_at=at(16)),
        cmd("record_patient_payment", "K1", amount="20.00", effective_at=at(20)),
        *lifecycle_to_submitted("K2", lines=k2_lines),
        cmd("record_payment", "K2", payer_claim_control_number="ICN-K2", charge="200.00", paid="90.00",
            patient_responsibility="0.00", effective_at=at(14),
            adjustments=[{"group": "CO", "carc": "42", "amount": "30.00", "line": 1},
                         {"group": "CO", "carc": "97", "amount": "80.00", "line": 2}],
            line_paid=[{"line": 1, "paid": "90.00"}, {"line": 2, "paid": "0.00"}]),
        *lifecycle_to_submitted("K3", charge="150.00", **uhc), denial("K3", charge="150.00", carc="50"),
        *lifecycle_to_submitted("K4", charge="50.00", **uhc),
    ]


# Net collection rate = payments / (charges - contractual allowances), over the adjudicated claims K1, K2, K3
# (K4 is not adjudicated: it enters neither side).
#   payments:    K1 60 + 20 (patient) = 80;  K2 90;  K3 0                       -> 170
#   charges:     K1 100;  K2 200;  K3 150                                        -> 450
#   contractual: K1 CO-45 20;  K2 CO-42 30 (CO-97's 80 is a denial, not taken off);  K3 none -> 50
#   practice: 170 / (450 - 50) = 170 / 400 = 0.425
#   BCBS (provider A): (80 + 90) / (100 - 20 + 200 - 30) = 170 / 250 = 0.68;  UHC (provider B): 0 / 150 = 0
# Initial denial rate: K3 of the three adjudicated = 1/3; BCBS 0/2, UHC 1/1.
# First-pass resolution: K1 and K2 were paid on their first submission (K2 partly) = 2/3.
EXPECTED_NCR = {"all": 0.425, "BCBS": 0.68, "UHC": 0.0, NPI: 0.68, PROVIDER_B: 0.0}


@pytest.fixture
def practice_url(database_url):
    ledger = open_ledger(database_url)
    outcomes = ledger.execute([COMMAND.validate_python(body) for body in practice()])
    assert [o.result for o in outcomes] == ["applied"] * len(outcomes), [str(o.error) for o in outcomes]
    return database_url


def test_net_collection_rate_takes_off_contractual_allowances_only(practice_url):
    runner = open_runner(practice_url)
    runner.catch_up()
    assert differences(runner) == []
    # the projection
    kpis = reports.kpis(runner.views)
    assert kpis["net_collection_rate"] == EXPECTED_NCR["all"]
    assert kpis["initial_denial_rate"] == round(1 / 3, 4) and kpis["first_pass_resolution_rate"] == round(2 / 3, 4)
    # the oracle, from the raw histories
    claims = oracle.claim_rows(all_events(runner)).values()
    assert oracle.net_collection_rate(claims) == EXPECTED_NCR["all"]
    assert {c["claim_number"]: c["contractual"] for c in claims} == {"K1": 2000, "K2": 3000, "K3": 0, "K4": 0}
    # the command
    assert json.loads(rcm("report", "kpis", "--json", db=practice_url).stdout)["net_collection_rate"] == 0.425


def test_kpis_by_payer_and_by_provider_give_one_row_per_group(practice_url):
    for by, groups in (("payer", ("BCBS", "UHC")), ("provider", (NPI, PROVIDER_B))):
        done = rcm("report", "kpis", "--by", by, "--json", db=practice_url)
        assert done.returncode == 0, done.stderr
        rows = {row["group"]: row for row in json.loads(done.stdout)["rows"]}
        assert set(rows) == set(groups)
        first, second = groups
        assert rows[first]["net_collection_rate"] == EXPECTED_NCR[first]
        assert rows[second]["net_collection_rate"] == EXPECTED_NCR[second]
        assert (rows[first]["initial_denial_rate"], rows[second]["initial_denial_rate"]) == (0.0, 1.0)
        assert (rows[first]["first_pass_resolution_rate"], rows[second]["first_pass_resolution_rate"]) == (1.0, 0.0)
        assert (rows[first]["claims_submitted"], rows[second]["claims_submitted"]) == (2, 2)
        assert (rows[first]["payment_lag_days"], rows[second]["payment_lag_days"]) == (13.0, 13.0)
        for kpi in ("days_in_ar", "ar_over_90_share"):
            assert kpi in rows[first]
        table = rcm("report", "kpis", "--by", by, db=practice_url).stdout
        assert all(group in table for group in groups) and "net collection rate" in table


@pytest.mark.parametrize(("report", "option"), [("denials", ["--by", "provider"]), ("kpis", ["--aging-from", "dos"]),
                                                ("status", ["--aging-from", "submission"]),
                                                ("denials", ["--aging-from", "dos"])])
def test_an_option_a_report_does_not_take_is_refused(practice_url, report, option):
    done = rcm("report", report, *option, db=practice_url)
    assert done.returncode == 2 and option[0] in done.stderr + done.stdout
