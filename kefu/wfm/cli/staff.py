"""`kefu wfm staff`: agents needed for one interval (Erlang C, or Erlang A with `--patience`), or with
`--agents` what a given number of agents achieves."""

from __future__ import annotations

import argparse
import math
from typing import Any

from kefu.wfm.cli._common import add_json_flag, emit, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.plan import DEFAULT_WITHIN_SECONDS
from kefu.wfm.queueing import evaluate, staff_intervals, trunk_load

LABELS = {
    "agents": "agents",
    "service_level": "service level (answered within Y / offered)",
    "asa_seconds": "ASA, mean wait of answered calls (s)",
    "occupancy": "occupancy",
    "traffic_erlangs": "traffic (Erlangs)",
    "trunk_load_erlangs": "trunk load (Erlangs)",
    "prob_wait": "probability of waiting",
    "abandon_rate": "abandonment rate (abandoned / offered)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "staff",
        help="agents for a service-level, ASA or abandonment target in one interval",
        description="Fewest agents for one interval with Erlang C (or Erlang A when --patience is given), or "
                    "with --agents what that many agents achieve. Handle time is --talk plus --acw, or --aht "
                    "(talk and after-call work in one figure; --aht cannot be combined with --talk/--acw). "
                    "Fractions are 0..1 (0.8 = 80 %); times are seconds.",
    )
    parser.add_argument("--calls", required=True, type=number("--calls", minimum=0),
                        help="calls offered in the interval")
    parser.add_argument("--interval-seconds",
                        type=number("--interval-seconds", minimum=0, strict_minimum=True), default=1800.0,
                        help="interval length in seconds (default 1800)")
    parser.add_argument("--talk", type=number("--talk", minimum=0), help="mean talk time, seconds")
    parser.add_argument("--acw", type=number("--acw", minimum=0), help="mean after-call work, seconds")
    parser.add_argument("--aht", type=number("--aht", minimum=0, strict_minimum=True),
                        help="mean handle time, seconds (talk with no separate ACW)")
    parser.add_argument("--sl", type=number("--sl", minimum=0, maximum=1, strict_minimum=True),
                        help="service-level target, fraction answered within --within (e.g. 0.8)")
    parser.add_argument("--within", type=number("--within", minimum=0),
                        help="answer time Y of the service level, seconds (reported at "
                             f"{DEFAULT_WITHIN_SECONDS:g} s when no --sl target is given)")
    parser.add_argument("--asa", type=number("--asa", minimum=0, strict_minimum=True),
                        help="target mean wait of answered calls, seconds")
    parser.add_argument("--abandon", type=number("--abandon", minimum=0, maximum=1, strict_minimum=True),
                        help="target abandonment rate, fraction of offered (needs --patience)")
    parser.add_argument("--patience", type=number("--patience", minimum=0, strict_minimum=True),
                        help="callers' mean patience, seconds: model abandonment (Erlang A)")
    parser.add_argument("--max-occupancy", type=number("--max-occupancy", minimum=0, maximum=1,
                                                       strict_minimum=True),
                        help="cap on occupancy, fraction (e.g. 0.9)")
    parser.add_argument("--agents", type=number("--agents", minimum=0, integer=True),
                        help="evaluate this many agents instead of solving")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def handle_times(args: argparse.Namespace) -> tuple[float, float]:
    """(talk, acw) in seconds from --talk/--acw or --aht, refusing a mix of both."""
    if args.aht is not None:
        if args.talk is not None or args.acw is not None:
            raise PlanningInputError("give either --aht, or --talk with --acw, not both (--aht is talk and "
                                     "after-call work in one figure)", field="--aht")
        return float(args.aht), 0.0
    if args.talk is None:
        raise PlanningInputError("give the handle time: --talk (with --acw) or --aht", field="--talk")
    talk, acw = float(args.talk), float(args.acw or 0.0)
    if talk + acw <= 0.0:
        raise PlanningInputError("talk plus after-call work must be more than 0 seconds", field="--talk")
    return talk, acw


def run(args: argparse.Namespace) -> int:
    talk, acw = handle_times(args)
    aht = talk + acw
    if args.sl is not None and args.sl >= 1.0:
        raise PlanningInputError("must be below 1: no queue answers every call within Y seconds",
                                 field="--sl")
    if args.sl is not None and args.within is None:
        raise PlanningInputError("a service-level target needs --within (answer time Y in seconds)",
                                 field="--within")
    if args.abandon is not None and args.patience is None:
        raise PlanningInputError("an abandonment target needs --patience (callers' mean patience, seconds)",
                                 field="--abandon")
    if args.abandon is not None and args.abandon >= 1.0:
        raise PlanningInputError("must be below 1", field="--abandon")
    within = float(args.within) if args.within is not None else DEFAULT_WITHIN_SECONDS
    if args.agents is None:
        if args.sl is None and args.asa is None and args.abandon is None and args.max_occupancy is None:
            raise PlanningInputError("give a target (--sl with --within, --asa or --abandon) or --agents",
                                     field="--sl")
        # Solved and measured in one pass (service level at `within`, the target's Y when one is set).
        m = staff_intervals(
            calls=args.calls, interval_seconds=args.interval_seconds, aht_seconds=aht,
            service_level=args.sl, within_seconds=within, asa_seconds=args.asa, abandon_rate=args.abandon,
            patience_seconds=args.patience, max_occupancy=args.max_occupancy,
        )
    else:
        m = evaluate(agents=int(args.agents), calls=args.calls, interval_seconds=args.interval_seconds,
                     aht_seconds=aht, within_seconds=within, patience_seconds=args.patience)
    agents = int(m.agents)
    asa = float(m.asa_seconds)
    trunk_erlangs = float(trunk_load(calls=args.calls, interval_seconds=args.interval_seconds,
                                     talk_seconds=talk, asa_seconds=asa)) if math.isfinite(asa) else math.inf
    result: dict[str, Any] = {
        "agents": agents,
        "service_level": float(m.service_level),
        "asa_seconds": asa,
        "occupancy": float(m.occupancy),
        "traffic_erlangs": float(m.traffic_erlangs),
        "trunk_load_erlangs": trunk_erlangs,
        "prob_wait": float(m.prob_wait),
    }
    if m.abandon_rate is not None:
        result["abandon_rate"] = float(m.abandon_rate)
    if args.json:
        # JSON has no infinity: an unbounded wait (agents ≤ traffic without abandonment) is null
        emit({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()},
             as_json=True)
        return 0
    shown = {k: ("unbounded" if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in result.items()}
    model = f"Erlang A (patience {args.patience:g} s)" if args.patience is not None else "Erlang C"
    print(f"{'evaluated' if args.agents is not None else 'solved'} with {model}; service level at "
          f"{within:g} s")
    emit(shown, as_json=False, labels=LABELS)
    if not math.isfinite(asa):
        print(f"note: {agents} agents cannot keep up with {float(m.traffic_erlangs):.2f} Erlangs; "
              "without abandonment the queue grows without bound")
    return 0
