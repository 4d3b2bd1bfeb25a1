"""The `rcm` argument tree: every subcommand takes --db; each command group adds its own subcommands."""
from __future__ import annotations

import argparse

from infra.cli import audit_commands, db_commands, deposit_commands, grafana_commands, kafka_commands
from infra.cli import ledger_commands, patient_commands, phi_commands, projections_commands, report_commands
from infra.cli import worklist_commands, x12_commands

GROUPS = (ledger_commands, projections_commands, report_commands, worklist_commands, x12_commands, phi_commands,
          patient_commands, kafka_commands, grafana_commands, db_commands, deposit_commands, audit_commands)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rcm", description="Event-sourced revenue cycle ledger")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--db", help="sqlite:///PATH (default ./rcm-ledger.db), postgresql://..., or memory: "
                                    "(env RCM_DATABASE_URL)")
        return p

    for group in GROUPS:
        group.register(command)
    return top
