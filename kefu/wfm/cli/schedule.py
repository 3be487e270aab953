"""`kefu wfm schedule`: shifts and breaks for named agents over a week's required-staff curve (HiGHS MILP),
written as a schedule CSV and a coverage CSV, with a summary of coverage, cost and the solver's gap."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kefu.wfm.cli._common import add_json_flag, emit, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.schedule import (
    coverage_rows,
    expected_service_level,
    read_agents,
    read_requirements,
    read_shifts,
    schedule_rows,
    solve_schedule,
    summary,
    write_csv,
)
from kefu.wfm.schedule.model import parse_clock
from kefu.wfm.schedule.report import SCHEDULE_COLUMNS

LABELS = {
    "under_coverage_agent_intervals": "Under-coverage (agent-intervals)",
    "under_coverage_weighted": "Under-coverage, tier-weighted (1st short ×1, 2nd ×1.5, …)",
    "deepest_shortfall_agents": "Most agents short in one interval",
    "over_coverage_agent_intervals": "Over-coverage (agent-intervals)",
    "required_agent_intervals": "Required (agent-intervals)",
    "paid_agent_hours": "Paid agent-hours",
    "cost": "Cost",
    "shifts": "Shifts scheduled",
    "agents": "Agents",
    "agents_scheduled": "Agents with shifts",
    "interval_minutes": "Interval (minutes)",
    "staff_column": "Staff column covered",
    "status": "Status",
    "objective": "Objective (weight × tier-weighted under + cost)",
    "lower_bound": "Lower bound",
    "lp_bound": "LP relaxation bound",
    "mip_gap": "MIP gap (fraction)",
    "under_weight": "Weight of the first agent short (per interval)",
    "exact_model": "Whole model solved",
    "time_limit_hit": "Time limit hit",
    "contract_hours_shortfall": "Contract hours short",
    "solve_seconds": "Solve seconds",
    "expected_service_level": "Expected service level (calls-weighted)",
    "intervals_below_required": "Intervals below requirement",
    "schedule_file": "Schedule file",
    "coverage_file": "Coverage file",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="optimal shifts and breaks for named agents (HiGHS MILP)",
        description="Lay shift templates over the required-staff curve and give them to named agents: least "
        "under-coverage first (each further agent short in one interval weighs more, so shortfalls spread), "
        "then least cost. Writes the schedule CSV (--out) and "
        "<out stem>.coverage.csv next to it.",
    )
    parser.add_argument(
        "--requirements",
        required=True,
        type=Path,
        help="CSV: interval_start, required or scheduled [, queue, calls, aht_seconds, within_seconds]",
    )
    parser.add_argument(
        "--shifts",
        required=True,
        type=Path,
        help="CSV: name, start, length_hours, days, break_minutes, break_window, meal_minutes, "
        "meal_window, cost_per_hour",
    )
    parser.add_argument(
        "--agents",
        required=True,
        type=Path,
        help="CSV: agent_id, name, contract_hours_min, contract_hours_max, days_off_per_week or "
        "max_days, available_days, earliest_start, latest_end, skills, min_rest_hours",
    )
    parser.add_argument("--out", required=True, type=Path, help="schedule CSV to write")
    parser.add_argument(
        "--staff-column",
        choices=("required", "scheduled"),
        default=None,
        help="requirement column to cover (default: scheduled when present, else required)",
    )
    parser.add_argument(
        "--time-limit",
        type=number("--time-limit", minimum=0, strict_minimum=True),
        default=60.0,
        help="seconds for the whole solve (default 60)",
    )
    parser.add_argument(
        "--mip-gap",
        type=number("--mip-gap", minimum=0, maximum=0.5),
        default=1e-3,
        help="relative gap (fraction) at which the solver may stop (default 0.001)",
    )
    parser.add_argument(
        "--within",
        type=number("--within", minimum=0),
        default=20.0,
        help="service-level answer time in seconds when the file has no within_seconds (20)",
    )
    parser.add_argument(
        "--shrinkage",
        type=number("--shrinkage", minimum=0, maximum=0.99),
        default=0.0,
        help="fraction of scheduled agents off the phone for reasons the schedule does not model, "
        "used only for the expected service level (default 0)",
    )
    parser.add_argument(
        "--late-after",
        default="20:00",
        help="a shift ending after this time of day counts as late for fairness (default 20:00)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    late_after = parse_clock(args.late_after, field_name="--late-after", row=None)
    requirements = read_requirements(args.requirements, staff_column=args.staff_column)
    shifts = read_shifts(args.shifts)
    agents = read_agents(args.agents, horizon_days=requirements.days)
    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise PlanningInputError("must name a .csv file", field="--out")
    schedule = solve_schedule(
        requirements,
        shifts,
        agents,
        time_limit=float(args.time_limit),
        mip_gap=float(args.mip_gap),
        late_after=late_after,
    )
    service_level = expected_service_level(
        schedule, within_seconds=float(args.within), shrinkage=float(args.shrinkage)
    )
    coverage_path = out.with_name(f"{out.stem}.coverage.csv")
    rows = schedule_rows(schedule)
    columns = [c for c in SCHEDULE_COLUMNS if c != "queue" or len(requirements.queues) > 1]
    write_csv(out, rows, columns)
    cover = coverage_rows(schedule, service_level)
    write_csv(coverage_path, cover, list(cover[0].keys()) if cover else ["interval_start"])
    result = summary(schedule, service_level)
    result["schedule_file"] = str(out)
    result["coverage_file"] = str(coverage_path)
    emit(result, as_json=args.json, labels=LABELS)
    return 0
