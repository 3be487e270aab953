"""`kefu wfm trunks`: trunk lines for a blocking target with Erlang B (ICMI step 5)."""

from __future__ import annotations

import argparse
from typing import Any

from kefu.wfm.cli._common import add_json_flag, emit, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.queueing import erlang_b, trunk_load, trunks_required

LABELS = {"trunks": "trunks", "blocking": "blocking (share of calls refused)",
          "load_erlangs": "load (Erlangs)"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "trunks",
        help="trunk lines for a blocking target (Erlang B)",
        description="Fewest trunks whose Erlang B blocking is at most --blocking. Give the trunk load in "
                    "Erlangs (--load), or --calls, --talk and --asa (seconds) with --interval-seconds: a "
                    "line is held while the caller waits and talks, not during after-call work.",
    )
    parser.add_argument("--load", type=number("--load", minimum=0), help="trunk load, Erlangs")
    parser.add_argument("--calls", type=number("--calls", minimum=0), help="calls offered in the interval")
    parser.add_argument("--talk", type=number("--talk", minimum=0), help="mean talk time, seconds")
    parser.add_argument("--asa", type=number("--asa", minimum=0), help="mean wait in queue, seconds")
    parser.add_argument("--interval-seconds",
                        type=number("--interval-seconds", minimum=0, strict_minimum=True), default=1800.0,
                        help="interval length in seconds (default 1800)")
    parser.add_argument("--blocking", required=True,
                        type=number("--blocking", minimum=0, maximum=1, strict_minimum=True),
                        help="largest acceptable share of calls refused, fraction (e.g. 0.01)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.blocking >= 1.0:
        raise PlanningInputError("must be below 1", field="--blocking")
    by_calls = args.calls is not None or args.talk is not None
    if args.load is not None and by_calls:
        raise PlanningInputError("give either --load, or --calls with --talk and --asa, not both",
                                 field="--load")
    if args.load is not None:
        load = float(args.load)
    elif args.calls is not None and args.talk is not None:
        load = float(trunk_load(calls=args.calls, interval_seconds=args.interval_seconds,
                                talk_seconds=args.talk, asa_seconds=args.asa or 0.0))
    else:
        raise PlanningInputError("give the trunk load (--load, Erlangs) or --calls with --talk and --asa",
                                 field="--load")
    trunks = int(trunks_required(load, args.blocking))
    result: dict[str, Any] = {"trunks": trunks, "blocking": float(erlang_b(trunks, load))}
    if args.json:
        emit(result, as_json=True)
    else:
        emit({**result, "load_erlangs": load}, as_json=False, labels=LABELS)
    return 0
