"""`kefu wfm plan`: required agents and scheduled staff for every interval of a forecast file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kefu.wfm.cli._common import add_json_flag, emit, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.plan import StaffingTargets, plan_staff, read_forecast, write_plan
from kefu.wfm.shrinkage import read_shrinkage_file, total_shrinkage

LABELS = {
    "intervals": "intervals",
    "interval_minutes": "interval length (minutes)",
    "offered": "calls offered",
    "required_agent_hours": "agent-hours on the phones",
    "scheduled_agent_hours": "agent-hours scheduled",
    "peak_required_agents": "peak agents required",
    "peak_interval_start": "peak interval",
    "peak_scheduled_agents": "peak agents scheduled",
    "shrinkage": "shrinkage",
    "service_level": "service level (call-weighted)",
    "asa_seconds": "ASA, s (call-weighted)",
    "occupancy": "occupancy (call-weighted)",
    "abandon_rate": "abandonment rate (call-weighted)",
    "peak_trunks": "peak trunks",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="required and scheduled staff per interval of a forecast",
        description="Reads a forecast (CSV or .xlsx: interval_start, queue, offered[, aht_seconds]) and "
                    "writes a CSV with the agents required on the phones (Erlang C, or Erlang A with "
                    "--patience) and the staff to schedule after shrinkage, per interval, with the service "
                    "level, ASA, occupancy and probability of waiting they give. Fractions are 0..1; times "
                    "are seconds.",
    )
    parser.add_argument("--forecast", required=True, help="forecast file, as written by `kefu wfm forecast`")
    parser.add_argument("--out", required=True, help="plan CSV to write ('-' for standard output)")
    parser.add_argument("--sl", type=number("--sl", minimum=0, maximum=1, strict_minimum=True),
                        help="service-level target, fraction answered within --within")
    parser.add_argument("--within", type=number("--within", minimum=0), help="answer time Y, seconds")
    parser.add_argument("--asa", type=number("--asa", minimum=0, strict_minimum=True),
                        help="target mean wait of answered calls, seconds")
    parser.add_argument("--abandon", type=number("--abandon", minimum=0, maximum=1, strict_minimum=True),
                        help="target abandonment rate, fraction (needs --patience)")
    parser.add_argument("--patience", type=number("--patience", minimum=0, strict_minimum=True),
                        help="callers' mean patience, seconds (Erlang A)")
    parser.add_argument("--max-occupancy", type=number("--max-occupancy", minimum=0, maximum=1,
                                                       strict_minimum=True), help="occupancy cap, fraction")
    parser.add_argument("--shrinkage", type=number("--shrinkage", minimum=0, maximum=1),
                        help="total shrinkage, fraction of paid time (default 0)")
    parser.add_argument("--shrinkage-file",
                        help="shrinkage by category: CSV (category,fraction) or JSON {category: fraction}")
    parser.add_argument("--aht", type=number("--aht", minimum=0, strict_minimum=True),
                        help="handle time in seconds for intervals (or a file) without aht_seconds")
    parser.add_argument("--interval-minutes", type=number("--interval-minutes", minimum=1, integer=True),
                        help="interval length (5, 6, 10, 15, 30 or 60), when it cannot be inferred (default: "
                             "the most common gap between consecutive intervals of a day)")
    parser.add_argument("--trunk-blocking", type=number("--trunk-blocking", minimum=0, maximum=1,
                                                        strict_minimum=True),
                        help="also size trunks per interval for this blocking (Erlang B), fraction")
    parser.add_argument("--acw", type=number("--acw", minimum=0), default=0.0,
                        help="after-call work inside the AHT, seconds: trunks are not held during it")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.sl is not None and args.sl >= 1.0:
        raise PlanningInputError("must be below 1: no queue answers every call within Y seconds",
                                 field="--sl")
    if args.shrinkage is not None and args.shrinkage_file is not None:
        raise PlanningInputError("give --shrinkage or --shrinkage-file, not both", field="--shrinkage")
    categories: dict[str, float] = {}
    if args.shrinkage_file is not None:
        categories = read_shrinkage_file(args.shrinkage_file)
        shrinkage = total_shrinkage(categories)
    else:
        shrinkage = total_shrinkage({"total": args.shrinkage or 0.0})
    targets = StaffingTargets(service_level=args.sl, within_seconds=args.within, asa_seconds=args.asa,
                              abandon_rate=args.abandon, patience_seconds=args.patience,
                              max_occupancy=args.max_occupancy)
    forecast = read_forecast(args.forecast, interval_minutes=args.interval_minutes)
    plan = plan_staff(forecast, targets, shrinkage=shrinkage, aht_seconds=args.aht,
                      trunk_blocking=args.trunk_blocking, acw_seconds=args.acw)
    to_stdout = args.out == "-"
    write_plan(sys.stdout if to_stdout else args.out, plan)
    if to_stdout:
        return 0
    summary: dict[str, Any] = {**plan.summary(), "out": args.out}
    if categories:
        summary["shrinkage_categories"] = categories
    if args.json:
        emit(summary, as_json=True)
        return 0
    print(f"wrote {args.out}: {summary['intervals']} intervals, model "
          f"{'Erlang A' if args.patience is not None else 'Erlang C'}")
    emit({k: v for k, v in summary.items() if k in LABELS}, as_json=False, labels=LABELS)
    for name, value in categories.items():
        print(f"  shrinkage {name}: {value:.4f}")
    for note in plan.notes:
        print(f"note: {note}")
    return 0
