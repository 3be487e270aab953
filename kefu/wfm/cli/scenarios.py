"""`kefu wfm scenarios`: cost and service level of high / medium / low scenarios over a forecast, what
self-service saves, and (`--marginal`) the service level each added agent buys in one interval."""

from __future__ import annotations

import argparse
import csv
import itertools
import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from kefu.wfm.cli._common import add_json_flag, emit
from kefu.wfm.cli.simulate import checked, checked_number
from kefu.wfm.cost import CostRates, ServicePolicy, Workload, marginal_curve
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast.calendar import infer_interval_minutes
from kefu.wfm.scenarios import (
    DEFAULT_MIN_AGENTS,
    Scenario,
    ScenarioResult,
    deflection_effect,
    parse_scenario,
    run_scenarios,
)

DEFAULT_SCENARIOS = ("low:0.7", "medium:0.8", "high:0.9")

ROWS = {
    "target_service_level": "target service level",
    "budget_agent_hours_month": "budget, paid agent-hours / month",
    "budget_month": "budget / month",
    "within_seconds": "answer time Y (s)",
    "volume_factor": "forecast volume ×",
    "deflection": "self-service deflection",
    "offered_calls_month": "calls offered / month",
    "agent_hours_month": "agent-hours on phones / month",
    "paid_agent_hours_month": "paid agent-hours / month",
    "peak_agents": "peak agents on phones",
    "peak_seats": "seats",
    "trunks": "trunks",
    "people_cost_month": "people / month",
    "seat_cost_month": "seats / month",
    "trunk_cost_month": "trunks / month",
    "overhead_month": "overhead / month",
    "cost_month": "total / month",
    "cost_year": "total / year",
    "min_agents": "minimum agents per interval",
    "service_level": "service level (call-weighted)",
    "lowest_interval_service_level": "lowest interval service level",
    "asa_seconds": "ASA (s)",
    "abandon_rate": "abandonment rate",
    "occupancy": "occupancy",
}
_FRACTIONS = {"target_service_level", "deflection", "service_level", "lowest_interval_service_level",
              "abandon_rate", "occupancy"}
WORST_SHOWN = 5  # intervals listed per budget scenario in the text report
_MONEY = {"budget_month", "people_cost_month", "seat_cost_month", "trunk_cost_month", "overhead_month",
          "cost_month", "cost_year"}


def _num(name: str, **limits: Any) -> Any:
    return checked_number(name, **limits)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scenarios", help="cost and service level of budget scenarios over a forecast; marginal SL curve",
        description="For each scenario (a service-level target, an agent-hour budget or a money budget), the "
                    "staff Erlang C (or Erlang A with --patience) requires per forecast interval, what it "
                    "costs "
                    "a month and a year, and the call-weighted service level it buys. With --marginal: the "
                    "service level each added agent buys in one interval.")
    parser.add_argument("--forecast", type=Path,
                        help="CSV or .xlsx with interval_start, offered and optional queue, aht_seconds "
                             "(as written by `kefu wfm forecast`)")
    parser.add_argument("--interval-seconds", type=_num("interval_seconds", minimum=0, strict_minimum=True),
                        help="interval length in seconds (default: inferred from the forecast; 1800 with "
                             "--marginal)")
    parser.add_argument("--aht", type=_num("aht", minimum=0, strict_minimum=True),
                        help="handle time in seconds for rows without aht_seconds (or with --marginal)")
    parser.add_argument("--acw", type=_num("acw", minimum=0), default=0.0,
                        help="part of the handle time that is after-call work, seconds (holds no trunk)")
    parser.add_argument("--within", type=_num("within", minimum=0), default=20.0,
                        help="service-level answer time Y in seconds (default 20)")
    parser.add_argument("--scenario", action="append", type=checked(parse_scenario),
                        help="NAME:TARGET or NAME:key=value,… with keys sl, within, volume, deflection, "
                             "budget_hours, budget (repeat; default low:0.7 medium:0.8 high:0.9)")
    parser.add_argument("--cost-per-hour", type=_num("cost_per_hour", minimum=0), default=0.0,
                        help="loaded cost of a paid agent-hour (wage + benefits)")
    parser.add_argument("--seat-cost-month", type=_num("seat_cost_month", minimum=0), default=0.0,
                        help="cost of a seat per month")
    parser.add_argument("--seats-per-agent", type=_num("seats_per_agent", minimum=0, strict_minimum=True),
                        default=1.0, help="seats per agent scheduled at the peak (default 1.0)")
    parser.add_argument("--trunk-cost-month", type=_num("trunk_cost_month", minimum=0), default=0.0,
                        help="cost of a trunk line per month")
    parser.add_argument("--blocking", type=_num("blocking", minimum=0, strict_minimum=True, maximum=1),
                        default=0.01, help="trunk blocking target, a fraction (default 0.01)")
    parser.add_argument("--overhead", type=_num("overhead", minimum=0, maximum=10), default=0.0,
                        help="overhead as a fraction of people + seats + trunks (0.15 = 15 %%)")
    parser.add_argument("--overhead-fixed-month", type=_num("overhead_fixed_month", minimum=0), default=0.0,
                        help="fixed overhead per month")
    parser.add_argument("--shrinkage", type=_num("shrinkage", minimum=0, maximum=0.95), default=0.0,
                        help="fraction of paid time off the phones (default 0)")
    parser.add_argument("--patience", type=_num("patience", minimum=0, strict_minimum=True),
                        help="callers' mean patience in seconds: staff with Erlang A instead of Erlang C")
    parser.add_argument("--min-agents", type=_num("min_agents", minimum=0, maximum=10_000, integer=True),
                        default=DEFAULT_MIN_AGENTS,
                        help="agents every interval with calls keeps, whatever the budget (default 1; "
                             "0 lets a budget leave an open line to nobody)")
    parser.add_argument("--deflection", type=_num("deflection", minimum=0, maximum=0.99),
                        help="also show what self-service deflecting this fraction of contacts saves")
    parser.add_argument("--marginal", action="store_true",
                        help="print the marginal service-level curve of one interval (--calls, --aht)")
    parser.add_argument("--calls", type=_num("calls", minimum=0, strict_minimum=True),
                        help="calls in the interval, for --marginal")
    parser.add_argument("--min-gain", type=_num("min_gain", minimum=0, strict_minimum=True, maximum=1),
                        default=0.001, help="--marginal stops below this gain per agent (default 0.001)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.marginal:
        return _marginal(args)
    if args.forecast is None:
        raise PlanningInputError("give --forecast FILE (or --marginal with --calls and --aht)",
                                 field="forecast")
    workload, info, labels = read_workload(args.forecast, aht_seconds=args.aht,
                                           interval_seconds=args.interval_seconds)
    policy = ServicePolicy(within_seconds=args.within, patience_seconds=args.patience,
                           shrinkage=args.shrinkage, blocking=args.blocking, acw_seconds=args.acw)
    rates = CostRates(cost_per_agent_hour=args.cost_per_hour, seat_cost_month=args.seat_cost_month,
                      trunk_cost_month=args.trunk_cost_month, overhead_share=args.overhead,
                      overhead_fixed_month=args.overhead_fixed_month, seats_per_agent=args.seats_per_agent)
    scenarios: list[Scenario] = args.scenario or [parse_scenario(s) for s in DEFAULT_SCENARIOS]
    min_agents = int(args.min_agents)
    results = run_scenarios(workload, scenarios, policy, rates, min_agents=min_agents)
    out: dict[str, Any] = {
        "forecast": info,
        "model": "erlang_a" if args.patience is not None else "erlang_c",
        "shrinkage": args.shrinkage,
        "patience_seconds": args.patience,
        "min_agents": min_agents,
        "scenarios": [{**r.as_dict(), "intervals": _intervals(r, labels)} for r in results],
    }
    if args.deflection is not None:
        out["deflection"] = [deflection_effect(workload, s, args.deflection, policy, rates,
                                               min_agents=min_agents).as_dict()
                             for s in scenarios]
    if args.json:
        emit(out, as_json=True)
        return 0
    _print_scenarios(out)
    return 0


def _marginal(args: argparse.Namespace) -> int:
    if args.calls is None or args.aht is None:
        raise PlanningInputError("--marginal needs --calls and --aht", field="calls" if args.calls is None
                                 else "aht")
    interval = args.interval_seconds if args.interval_seconds is not None else 1800.0
    curve = marginal_curve(calls=args.calls, interval_seconds=interval, aht_seconds=args.aht,
                           within_seconds=args.within, patience_seconds=args.patience, min_gain=args.min_gain)
    points = []
    for i, n in enumerate(curve.agents.tolist()):
        point: dict[str, Any] = {
            "agents": n,
            "service_level": float(curve.service_level[i]),
            "gain": float(curve.gain[i]),
            "asa_seconds": float(curve.asa_seconds[i]),
            "occupancy": float(curve.occupancy[i]),
        }
        if curve.abandon_rate is not None:
            point["abandon_rate"] = float(curve.abandon_rate[i])
        points.append(point)
    out = {"calls": args.calls, "interval_seconds": interval, "aht_seconds": args.aht,
           "within_seconds": args.within, "patience_seconds": args.patience,
           "traffic_erlangs": curve.traffic_erlangs, "curve": points}
    if args.json:
        emit(out, as_json=True)
        return 0
    model = "Erlang A" if args.patience is not None else "Erlang C"
    print(f"{args.calls:g} calls in {interval:g} s at {args.aht:g} s AHT = "
          f"{curve.traffic_erlangs:.2f} Erlangs; "
          f"service level within {args.within:g} s ({model})")
    header = f"{'agents':>6}  {'SL':>7}  {'gain':>7}  {'ASA (s)':>8}  {'occupancy':>9}"
    print(header + ("  abandoned" if curve.abandon_rate is not None else ""))
    for p in points:
        line = (f"{p['agents']:>6}  {p['service_level']:>7.2%}  {p['gain']:>+7.2%}  "
                f"{p['asa_seconds']:>8.1f}  "
                f"{p['occupancy']:>9.1%}")
        if "abandon_rate" in p:
            line += f"  {p['abandon_rate']:>9.2%}"
        print(line)
    return 0


def _intervals(result: ScenarioResult, labels: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One entry per forecast row: interval start, queue, calls, agents and service level (None without
    calls)."""
    entries = []
    for (start, queue), calls, agents, level in zip(labels, result.calls.tolist(),
                                                     result.outcome.agents.tolist(),
                                                     result.service_levels.tolist(), strict=True):
        entries.append({"interval_start": start, "queue": queue, "calls": calls, "agents": agents,
                        "service_level": None if math.isnan(level) else level})
    return entries


def _print_worst(scenario: dict[str, Any]) -> None:
    """The budget scenario's weakest intervals, so a figure is never quoted without seeing how it is spread."""
    busy = [i for i in scenario["intervals"] if i["service_level"] is not None]
    if not busy:
        return
    worst = sorted(busy, key=lambda i: (i["service_level"], i["interval_start"]))[:WORST_SHOWN]
    below = sum(1 for i in busy if i["service_level"] < 0.5)
    agents = [i["agents"] for i in busy]
    print(f"'{scenario['name']}': agents per interval {min(agents)}–{max(agents)} (at least "
          f"{scenario['min_agents']} wherever calls come), {below} of {len(busy)} intervals below 50 % "
          f"service level; weakest:")
    queues = {i["queue"] for i in busy}
    for i in worst:
        where = f" {i['queue']}" if len(queues) > 1 else ""
        noun = "agent " if i["agents"] == 1 else "agents"
        print(f"  {i['interval_start']}{where}  {i['calls']:>7.1f} calls  {i['agents']:>4} {noun}  "
              f"service level {i['service_level']:.1%}")


def _print_scenarios(out: dict[str, Any]) -> None:
    f = out["forecast"]
    print(f"forecast: {f['rows']} rows, {f['queues']} queue(s), {f['days']} day(s) of "
          f"{f['interval_seconds']:g}-s "
          f"intervals, {f['calls']:.0f} calls; staffing by {out['model'].replace('_', ' ').title()}, "
          f"shrinkage {out['shrinkage']:.0%}; month = 365.25/12 days")
    scenarios = out["scenarios"]
    names = [s["name"] for s in scenarios]
    width = max(len(v) for v in ROWS.values())
    col = max(12, *(len(n) for n in names))
    print(f"{'':<{width}}" + "".join(f"  {n:>{col}}" for n in names))
    for key, label in ROWS.items():
        values = [s[key] for s in scenarios]
        if all(v is None for v in values):
            continue
        if key in ("volume_factor", "deflection", "min_agents") and all(v == values[0] for v in values):
            continue
        print(f"{label:<{width}}" + "".join(f"  {_fmt(key, v):>{col}}" for v in values))
    for scenario in scenarios:
        if scenario["target_service_level"] is None:
            _print_worst(scenario)
    for d in out.get("deflection", []):
        print(f"self-service deflecting {d['deflection']:.0%} in '{d['name']}': saves "
              f"{d['peak_agents_saved']} "
              f"peak agents, {d['paid_agent_hours_month_saved']:,.0f} paid agent-hours and "
              f"{d['cost_month_saved']:,.0f} a month ({d['cost_year_saved']:,.0f} a year); service level "
              f"{d['service_level_before']:.1%} → {d['service_level_after']:.1%}")


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in _FRACTIONS:
        return f"{value:.1%}"
    if key in _MONEY:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:,.1f}" if key != "volume_factor" else f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------------------------- forecast


def read_workload(path: Path, *, aht_seconds: float | None,
                  interval_seconds: float | None) -> tuple[Workload, dict[str, Any], list[tuple[str, str]]]:
    """Read a forecast (CSV or .xlsx): interval_start (ISO 8601), offered, optional queue and aht_seconds.
    Returns the workload, a summary of the file and each row's (interval start, queue) as written.

    Rows are numbered as in the file (the header is row 1). The interval length is, unless given, the most
    common gap between consecutive intervals of one queue on one day (as `kefu wfm plan` infers it); the
    plan covers the calendar days from the first to the last date.
    """
    header, rows = _read_table(path)
    for required in ("interval_start", "offered"):
        if required not in header:
            raise PlanningInputError(f"{path}: missing column {required}", field=required, row=1)
    if not rows:
        raise PlanningInputError(f"{path}: no forecast rows", field="offered", row=2)
    starts: list[datetime] = []
    queues: list[str] = []
    calls: list[float] = []
    ahts: list[float] = []
    for number, row in rows:
        text = row.get("interval_start", "").strip()
        try:
            starts.append(datetime.fromisoformat(text))
        except ValueError:
            raise PlanningInputError(f"'{text}' is not an ISO 8601 time", field="interval_start",
                                     row=number) from None
        queues.append(row.get("queue", "").strip())
        calls.append(_number(row.get("offered", ""), "offered", number, strict=False))
        raw_aht = row.get("aht_seconds", "").strip()
        if raw_aht:
            ahts.append(_number(raw_aht, "aht_seconds", number, strict=True))
        elif aht_seconds is not None:
            ahts.append(aht_seconds)
        else:
            raise PlanningInputError("no handle time: give aht_seconds in the file or --aht",
                                     field="aht_seconds", row=number)
    seen: dict[tuple[str, datetime], int] = {}
    for (number, _), queue, start in zip(rows, queues, starts, strict=True):
        if (queue, start) in seen:
            raise PlanningInputError(f"interval {start.isoformat()} of queue '{queue or 'default'}' "
                                     f"repeats row {seen[(queue, start)]}", field="interval_start",
                                     row=number)
        seen[(queue, start)] = number
    moments = sorted(set(starts))
    if interval_seconds is None:
        interval_seconds = 60.0 * _infer_minutes(rows, queues, starts)
    else:
        for a, b in itertools.pairwise(moments):
            if (b - a).total_seconds() < interval_seconds:
                raise PlanningInputError(f"intervals starting {a.isoformat()} and {b.isoformat()} overlap",
                                         field="interval_start")
    slot_of = {m: i for i, m in enumerate(moments)}
    first: date = moments[0].date()
    last: date = moments[-1].date()
    days = (last - first).days + 1
    workload = Workload(calls=np.array(calls), aht_seconds=np.array(ahts), interval_seconds=interval_seconds,
                        days=days, slot=np.array([slot_of[s] for s in starts]))
    info = {"rows": len(rows), "queues": len(set(queues)), "days": days, "interval_seconds": interval_seconds,
            "first_interval": moments[0].isoformat(), "last_interval": moments[-1].isoformat(),
            "calls": float(np.sum(calls))}
    labels = [(start.isoformat(timespec="minutes"), queue or "default") for start, queue in zip(starts, queues,
                                                                                               strict=True)]
    return workload, info, labels


def _infer_minutes(rows: list[tuple[int, dict[str, str]]], queues: list[str], starts: list[datetime]) -> int:
    """The forecast's interval length in minutes, inferred as for `kefu wfm plan`."""
    for (number, _), start in zip(rows, starts, strict=True):
        if start.second or start.microsecond:
            raise PlanningInputError(f"'{start.isoformat()}' does not start on a whole minute",
                                     field="interval_start", row=number)
    epoch = datetime(1970, 1, 1)  # noqa: DTZ001 - forecast times are local wall-clock times
    minute = np.array([(s.replace(tzinfo=None) - epoch) // timedelta(minutes=1) for s in starts], dtype=np.int64)
    names = sorted(set(queues))
    queue_index = np.array([names.index(q) for q in queues], dtype=np.int64)
    order = np.lexsort((minute, queue_index))
    numbers = np.array([number for number, _ in rows], dtype=np.int64)
    return infer_interval_minutes(minute[order], queue_index[order], numbers[order], flag="--interval-seconds")


def _number(text: str, field: str, row: int, *, strict: bool) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise PlanningInputError(f"'{text.strip()}' is not a number", field=field, row=row) from None
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise PlanningInputError(f"must be {'> 0' if strict else '≥ 0'}, got {text.strip()}", field=field,
                                 row=row)
    return value


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (lower case) and rows as text cells with their row number in the file."""
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        values = [["" if c is None else (c.isoformat() if isinstance(c, datetime) else str(c)) for c in r]
                  for r in book.worksheets[0].iter_rows(values_only=True)]
    else:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            values = list(csv.reader(handle))
    if not values:
        raise PlanningInputError(f"{path}: empty file", field="interval_start", row=1)
    header = [h.strip().lower() for h in values[0]]
    rows = [(i, {h: (r[j] if j < len(r) else "") for j, h in enumerate(header)})
            for i, r in enumerate(values[1:], start=2) if any(cell.strip() for cell in r)]
    return header, rows
