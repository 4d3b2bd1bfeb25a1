"""`rcm worklist`: the biller's worklists from the ledger's read models (follow-up, denials, timely-filing,
unbilled), and `consumed`, the denial work queue the Kafka consumer keeps (`rcm consume worklist`)."""
from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from domain.deadlines import FILING_WARNING_DAYS
from infra import present
from infra.bootstrap import open_runner
from infra.cli.arguments import AddCommand, InputRejected, today
from infra.cli.report_commands import require_payer
from infra.cli.terminal import OK, print_result
from projections import reports, worklists

COLUMNS = {
    "follow-up": ["claim_number", "payer_id", "status", "dos", "waiting_since", "days_waiting", "follow_up_after",
                  "days_past_due", "balance"],
    "denials": ["appeal_deadline", "days_left", "overdue", "next_level", "level_name", "claim_number", "payer_id",
                "category", "carcs", "at_stake", "balance", "denied_on"],
    "timely-filing": ["file_by", "days_left", "overdue", "claim_number", "payer_id", "payer_class", "status", "dos",
                      "balance"],
    "unbilled": ["claim_number", "payer_id", "payer_class", "status", "dos", "coded_on", "days_since_service",
                 "balance"],
}
TITLES = {
    "follow-up": "Follow-up: no payer answer N days after submission (N per payer), most past due first",
    "denials": "Open denials, earliest appeal deadline first (the deadline the ledger recorded)",
    "timely-filing": f"Not yet accepted, within {FILING_WARNING_DAYS} days of the timely-filing limit or past it",
    "unbilled": "Coded or scrubbed, not yet submitted, oldest date of service first",
}


def amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of money (e.g. 250 or 250.00)") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value > 99_999_999:
        raise argparse.ArgumentTypeError(f"{text} is not an amount from 0 to 99999999 with at most 2 decimal places")
    return value


def cmd_worklist(args: argparse.Namespace) -> int:
    if args.list == "consumed":
        return print_consumed(args)
    if args.list == "missed-installments":  # payment plans: a patient's list, not a claim's
        from infra.cli.patient_commands import missed

        if args.payer or args.min_balance is not None or args.all:
            raise InputRejected("rcm worklist missed-installments takes no --payer, --min-balance or --all (plans are "
                                "a patient's, across payers)")
        args.as_of = None
        return missed(args)
    if args.all:
        raise InputRejected(f"rcm worklist {args.list}: --all is for `rcm worklist consumed` (the Kafka queue)")
    runner = open_runner(args.settings)
    runner.catch_up()
    if args.payer:
        require_payer(runner.views, args.payer)
    rows = worklists.worklist(runner.views, args.list, today(), args.payer, args.min_balance)
    total = present.money(sum((r["balance"] for r in rows), Decimal("0.00")))
    print_result(args.json, {"worklist": args.list, "as_of": today(), "claims": len(rows), "rows": rows},
                 present.rows_table(f"{TITLES[args.list]} ({len(rows)} claims, {total})", rows, COLUMNS[args.list]))
    return OK


def print_consumed(args: argparse.Namespace) -> int:
    from infra.bootstrap import open_consumer_database
    from infra.kafka.consumer_stores import worklist_rows

    if args.payer or args.min_balance is not None:
        raise InputRejected("rcm worklist consumed: --payer and --min-balance are for the ledger's worklists")
    with open_consumer_database(args.settings) as db:
        rows = [{**r, "at_stake": reports.dollars(r.pop("at_stake_cents"))} for r in worklist_rows(db, args.all)]
    print_result(args.json, rows,
                 present.rows_table(f"Denial work queue ({len(rows)}), oldest appeal deadline first", rows,
                                    ["deadline", "priority", "claim_number", "payer_id", "category", "carcs",
                                     "at_stake", "denied_on", "appeal_level", "state"]))
    return OK


def register(command: AddCommand) -> None:
    p = command("worklist", "the biller's worklists from the ledger (follow-up, denials, timely-filing, unbilled, "
                            "missed-installments of payment plans), or `consumed`: the denial work queue kept by "
                            "`rcm consume worklist`")
    p.add_argument("list", choices=(*worklists.NAMES, "missed-installments", "consumed"))
    p.add_argument("--payer", help="a payer id in the ledger")
    p.add_argument("--min-balance", type=amount, metavar="AMOUNT", help="only claims whose payer balance is at least")
    p.add_argument("--all", action="store_true", help="consumed only: closed items too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_worklist)
