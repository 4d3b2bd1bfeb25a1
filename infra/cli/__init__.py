"""The `rcm` command line: parse, call the command, map errors to exit codes (0 ok, 2 rejected input, 1 failure)."""
from __future__ import annotations

import os
import sys

from pydantic import ValidationError

from domain.errors import LedgerError
from infra import present
from infra.bootstrap import DatabaseUnreachable, NotSetUp
from infra.cli.arguments import InputRejected
from infra.cli.ledger_commands import describe_validation
from infra.cli.parser import parser
from infra.cli.terminal import FAILURE, REJECTED, err
from infra.keys import MasterKeyError
from infra.settings import Settings
from infra.store.chain import UnchainedEvents
from infra.store.checkpoint import CheckpointError
from projections.runner import IncompleteViews
from projections.schema import ViewsNotSetUp


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "db"):  # the composition root's one Settings, loaded here and passed on
            args.settings = Settings.load(args.db)
        return args.run(args)
    except ValidationError as e:  # settings (the database URL, RCM_ACTOR): commands are reported by line
        err.print(present.shown(f"rejected: {describe_validation(e, None)}"))
        return REJECTED
    except (LedgerError, InputRejected, IncompleteViews, ViewsNotSetUp, DatabaseUnreachable,
            NotSetUp, MasterKeyError, UnchainedEvents, CheckpointError) as e:
        err.print(present.shown(f"rejected: {e}"))
        return REJECTED
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return FAILURE
    except Exception as e:  # noqa: BLE001 - the last line of defence: say what failed, exit 1
        if type(e).__name__ == "BrokerUnavailable":  # the broker's absence is a fact to report, not a crash
            err.print(f"Kafka unavailable: {e}", markup=False, highlight=False)
            return FAILURE
        err.print(f"unexpected failure: {type(e).__name__}: {e}", markup=False, highlight=False)
        if os.environ.get("RCM_DEBUG"):
            raise
        return FAILURE


def run() -> None:
    sys.exit(main())
