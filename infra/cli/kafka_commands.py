"""Kafka: relay the ledger's events to the topic, run a consumer (worklist, journal, or the projections)."""
from __future__ import annotations

import argparse
import os
import threading
import time

from consumers.relay import PAGE
from domain.contract import TOPIC
from infra.bootstrap import open_relay
from infra.cli.arguments import AddCommand
from infra.cli.terminal import OK, err, progress


def cmd_relay(args: argparse.Namespace) -> int:
    relay = open_relay(args.settings, args.bootstrap_servers, args.topic, args.name, page=args.page)
    stop = threading.Event()
    started = time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task(f"relaying to {args.bootstrap_servers}", total=None)
            published = relay.run(stop, follow=args.follow, progress=lambda n: bar.advance(task, n),
                                  log=lambda text: err.print(f"relay: {text}", markup=False, highlight=False))
    except KeyboardInterrupt:
        stop.set()
        return OK
    finally:
        relay.close()
    seconds = time.perf_counter() - started
    err.print(f"published {published} claim events to {args.topic} in {seconds:.1f} s "
              f"({published / seconds:,.0f} events/s)", markup=False)
    return OK


def cmd_consume(args: argparse.Namespace) -> int:
    from infra.bootstrap import open_consumer

    runner = open_consumer(args.name, args.settings, args.bootstrap_servers, args.topic, args.group,
                           log=lambda text: err.print(f"{args.name}: {text}", markup=False, highlight=False))
    stop = threading.Event()
    try:
        with progress() as bar:
            task = bar.add_task(f"consuming {args.topic} into {args.name}", total=None)
            counts = runner.run(stop, follow=args.follow, idle_seconds=args.idle,
                                progress=lambda n: bar.advance(task, n))
    except KeyboardInterrupt:
        stop.set()
        return OK
    finally:
        runner.close()
    err.print(f"{args.name}: {counts['applied']} messages applied, {counts['dead_lettered']} sent to "
              f"{runner.dead_letter_topic}; partitions {runner.assigned}", markup=False)
    return OK


def register(command: AddCommand) -> None:
    p = command("relay", "publish the ledger's events to Kafka, exactly once and in order per claim")
    p.add_argument("--follow", action="store_true")
    p.add_argument("--bootstrap-servers", default=os.environ.get("RCM_KAFKA", "127.0.0.1:9092"))
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--name", default="rcm-relay", help="the relay's identity: transactional id and checkpoint key")
    p.add_argument("--page", type=int, default=PAGE, metavar="N",
                   help=f"events per Kafka transaction (default {PAGE}; smaller pages show up sooner, "
                        "larger go faster)")
    p.set_defaults(run=cmd_relay)
    p = command("consume", "run a Kafka consumer: results and offsets in one database transaction")
    p.add_argument("name", choices=("worklist", "journal", "projections"),
                   help="projections: the read models fed from Kafka (scale-out mode) instead of the store")
    p.add_argument("--follow", action="store_true", help="keep consuming (otherwise stop when the topic is idle)")
    p.add_argument("--idle", type=float, default=5.0, help="without --follow: stop after this many quiet seconds")
    p.add_argument("--bootstrap-servers", default=os.environ.get("RCM_KAFKA", "127.0.0.1:9092"))
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--group", help="consumer group (default rcm-NAME); instances in one group split the partitions")
    p.set_defaults(run=cmd_consume)
