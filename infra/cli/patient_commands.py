"""Billing the patient: statement cycles (one PDF per patient with a balance), and payment plans (agree one over
some claims' patient balance, show where it stands, cancel it, and the plans with missed installments)."""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from domain import commands as c
from domain.payment_plan import PaymentPlan
from infra import present
from infra import statements
from infra.bootstrap import open_ledger, open_runner
from infra.cli.addresses import read_addresses
from infra.cli.arguments import AddCommand, InputRejected, iso_date, today, whole_number
from infra.cli.terminal import OK, err, print_result


def plan_rows(ledger: Any, plan: PaymentPlan, day: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    paid, rows = ledger.plan_standing(plan, day)
    head = {"plan": plan.name, "status": plan.status, "agreed": plan.agreed_at.date(), "balance": plan.balance,
            "paid_since": paid, "left": max(plan.balance - paid, Decimal("0.00")),
            "claims": [k["claim_number"] for k in plan.claims],
            "missed": sum(1 for r in rows if r.status == "missed") if plan.status == "active" else 0}
    return head, [{"installment": r.installment.number, "due": r.installment.due, "amount": r.installment.amount,
                   "status": r.status if plan.status == "active" else "cancelled", "short": r.short} for r in rows]


def cmd_plan(args: argparse.Namespace) -> int:
    return {"create": create, "show": show, "cancel": cancel, "missed": missed}[args.action](args)


def create(args: argparse.Namespace) -> int:
    if not args.claim or not args.first_due:
        raise InputRejected("rcm plan create PATIENT_KEY needs --claim (one or more) and --first-due")
    try:
        cmd = c.AgreePaymentPlan(patient_key=args.patient_key, first_due=args.first_due,
                                 claims=[{"claim_number": n, "billing_npi": args.npi} for n in args.claim],
                                 installments=args.installments, amount=args.amount,
                                 every_months=args.every_months, actor=args.settings.actor)
    except ValidationError as e:
        first = e.errors()[0]
        raise InputRejected(f"rcm plan create: {'.'.join(map(str, first['loc'])) or 'plan'}: {first['msg']}") from None
    ledger = open_ledger(args.settings)
    plan, new = ledger.agree_plan(cmd)
    if not new:
        err.print(f"plan {plan.name} was agreed already on {plan.agreed_at.date()}: nothing appended", markup=False)
    return print_plan(args, ledger, plan, today())


def show(args: argparse.Namespace) -> int:
    ledger = open_ledger(args.settings)
    plans = ledger.plans(args.patient_key)
    if not plans:
        raise InputRejected(f"patient {args.patient_key} has no payment plan")
    day = args.as_of or today()
    if args.json:
        print_result(True, [dict(zip(("plan", "installments"), plan_rows(ledger, p, day))) for p in plans], "")
        return OK
    for plan in plans:
        print_plan(args, ledger, plan, day)
    return OK


def print_plan(args: argparse.Namespace, ledger: Any, plan: PaymentPlan, day: date) -> int:
    head, rows = plan_rows(ledger, plan, day)
    money = present.money
    title = (f"payment plan {plan.name} ({head['status']}): {money(head['balance'])} over {len(rows)} installments, "
             f"{money(head['paid_since'])} paid, {money(head['left'])} left, as of {day}")
    print_result(args.json, {"plan": head, "installments": rows},
                 present.rows_table(title, rows))
    return OK


def cancel(args: argparse.Namespace) -> int:
    if not args.plan_number or not args.reason:
        raise InputRejected("rcm plan cancel PATIENT_KEY PLAN_NUMBER --reason TEXT")
    ledger = open_ledger(args.settings)
    plan = ledger.cancel_plan(args.patient_key, args.plan_number, args.reason)
    err.print(f"plan {plan.name} cancelled", markup=False)
    return OK


def missed(args: argparse.Namespace) -> int:
    ledger, day = open_ledger(args.settings), args.as_of or today()
    rows = []
    for plan in ledger.all_plans():
        head, installments = plan_rows(ledger, plan, day)
        late = [r for r in installments if r["status"] == "missed"]
        if late:
            rows.append({"plan": plan.name, "missed": len(late), "oldest_due": late[0]["due"],
                         "days_late": (day - late[0]["due"]).days, "short": late[-1]["short"], "left": head["left"]})
    rows.sort(key=lambda r: (r["oldest_due"], r["plan"]))
    print_result(args.json, rows, present.rows_table(f"payment plans with missed installments, as of {day}",
                                                     rows))
    return OK


def cmd_statements(args: argparse.Namespace) -> int:
    runner = open_runner(args.settings)
    runner.catch_up()
    ledger = open_ledger(args.settings, source="statement-cycle")
    if args.addresses:
        address_of = read_addresses(Path(args.addresses)).get
    else:  # the encrypted PHI store: what the 837s said, or `rcm phi import`
        from infra.phi import open_phi_store

        address_of = statements.phi_addresses(open_phi_store(ledger))
    result = statements.run_cycle(ledger, statements.candidates(runner.views), args.cycle, Path(args.out),
                                  address_of, practice=args.practice)
    rows = [{"patient": s.patient_key, "claims": len(s.claims), "balance": s.balance, "dunning_level": s.dunning_level,
             "file": str(f)} for s, f in zip(result.statements, result.files)]
    for skip in result.skipped:
        err.print(f"not billed: claim {skip['claim']} ({skip['status']}): {skip['reason']}", markup=False)
    title = (f"statement cycle {args.cycle}: {len(rows)} statements, "
             f"{present.money(sum((s.balance for s in result.statements), Decimal('0.00')))} due, "
             f"{result.billed} PatientBilled recorded")
    print_result(args.json, {"cycle": args.cycle, "statements": rows, "billed": result.billed,
                             "skipped": result.skipped}, present.rows_table(title, rows))
    return OK


def register(command: AddCommand) -> None:
    p = command("statements", "patient statements: one PDF per patient with a balance, each claim billed")
    p.add_argument("action", choices=("run",))
    p.add_argument("--cycle", type=iso_date, required=True, help="the statement date (billing and dunning)")
    p.add_argument("--out", required=True, help="the folder the PDFs are written to")
    p.add_argument("--addresses", help="CSV of mailing addresses read for this run only (patient_key,name,line1,"
                                       "line2,city,state,postal_code); default: the encrypted PHI store")
    p.add_argument("--practice", default="Your provider", help="the name printed at the top")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_statements)
    p = command("plan", "patients' payment plans: create, show, cancel, and those with missed installments")
    p.add_argument("action", choices=("create", "show", "cancel", "missed"))
    p.add_argument("patient_key", nargs="?", help="the patient's pseudonymous key (create, show, cancel)")
    p.add_argument("plan_number", nargs="?", help="cancel: which of the patient's plans (1, 2, ...)")
    p.add_argument("--claim", action="append", help="create: a claim number whose patient balance the plan covers")
    p.add_argument("--npi", help="create: the billing NPI, when NPIs share claim numbers")
    p.add_argument("--first-due", type=iso_date, help="create: the first installment's due date")
    p.add_argument("--installments", type=whole_number("installments", 1, 60), help="create: how many")
    p.add_argument("--amount", type=money_argument, help="create: each installment's amount")
    p.add_argument("--every-months", type=whole_number("months", 1, 12), default=1)
    p.add_argument("--reason", help="cancel: why")
    p.add_argument("--as-of", type=iso_date, help="show, missed: the day to judge installments on (default today)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_plan)


def money_argument(text: str) -> Decimal:
    try:
        return c.parse_money(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None

