"""`kefu wfm forecast`: forecast calls offered (and AHT) per interval from history, with a backtest report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kefu.wfm.cli._common import add_json_flag, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast import (
    METHODS,
    REPAIRS,
    SEASONAL_NAIVE,
    Forecast,
    ForecastOptions,
    forecast,
    read_events,
    read_history,
    read_overrides,
    write_forecast,
)
from kefu.wfm.forecast.calendar import ALLOWED_INTERVAL_MINUTES, format_day
from kefu.wfm.forecast.engine import MAX_HORIZON_DAYS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "forecast",
        help="forecast calls offered and AHT per interval from interval history",
        description="Reads interval history (CSV or .xlsx: interval_start, offered[, queue, answered, "
        "abandoned, "
        "talk_seconds, acw_seconds] — talk and ACW are total seconds per interval), cleans it, "
        "backtests the methods and writes the forecast for the days after the history.",
    )
    parser.add_argument("--history", required=True, help="interval history file (.csv or .xlsx)")
    parser.add_argument(
        "--horizon-days",
        required=True,
        type=number("horizon-days", minimum=1, maximum=MAX_HORIZON_DAYS, integer=True),
        help="number of calendar days to forecast after the last day of history",
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=("auto", *METHODS),
        help="forecasting method; auto picks the lowest backtest WAPE (default)",
    )
    parser.add_argument("--events", help="events file: date[, name, factor, queue]")
    parser.add_argument(
        "--overrides", help="overrides file: date or interval_start[, queue], offered or factor"
    )
    parser.add_argument(
        "--repair",
        default="forecast",
        choices=REPAIRS,
        help="how anomalies, closed days and events are repaired in the history (default forecast)",
    )
    parser.add_argument(
        "--growth",
        default=0.0,
        type=number("growth", minimum=-0.99, maximum=10),
        help="expected yearly volume growth for the ratio method, as a fraction (0.05 = +5 %%)",
    )
    parser.add_argument(
        "--tolerance",
        default=0.10,
        type=number("tolerance", minimum=0.0, maximum=1.0, strict_minimum=True),
        help="hit-rate band as a fraction of actual calls (default 0.10 = ±10 %%)",
    )
    parser.add_argument(
        "--aht-trend", action="store_true", help="extend the recent trend of AHT into the horizon"
    )
    parser.add_argument(
        "--interval-minutes",
        type=number("interval-minutes", minimum=1, integer=True),
        help="interval length of the history (5, 6, 10, 15, 30 or 60), when it cannot be inferred from "
        "the rows (default: the most common gap between consecutive intervals of a day)",
    )
    parser.add_argument("--out", required=True, help="forecast file to write (.csv, or .xlsx)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = ForecastOptions(
        horizon_days=int(args.horizon_days),
        method=args.method,
        repair=args.repair,
        growth=float(args.growth),
        tolerance=float(args.tolerance),
        aht_trend=bool(args.aht_trend),
    )
    minutes = int(args.interval_minutes) if args.interval_minutes is not None else None
    if minutes is not None and minutes not in ALLOWED_INTERVAL_MINUTES:
        raise PlanningInputError(
            f"must be one of {', '.join(map(str, ALLOWED_INTERVAL_MINUTES))} minutes, got {minutes}",
            field="--interval-minutes",
        )
    history = read_history(args.history, interval_minutes=minutes)
    events = read_events(args.events) if args.events else []
    overrides = read_overrides(args.overrides) if args.overrides else []
    result = forecast(history, options, events=events, overrides=overrides)
    rows = result.rows()
    if not rows:
        raise PlanningInputError(
            "the horizon has no open interval (every day is closed)", field="horizon-days"
        )
    write_forecast(args.out, rows, with_aht=result.has_aht)
    report = build_report(result, rows=len(rows), out=args.out)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report)
    return 0


def build_report(result: Forecast, *, rows: int, out: str) -> dict[str, Any]:
    """The JSON report: method, interval_minutes, backtest (method → measures), rows, out, queues."""
    options = result.options
    return {
        "method": result.method,
        "interval_minutes": result.interval_minutes,
        "horizon_days": options.horizon_days,
        "horizon": options.horizon_class,
        "first_day": format_day(result.queues[0].first_day),
        "tolerance": options.tolerance,
        "backtest": {name: accuracy.as_dict() for name, accuracy in result.backtest.items()},
        "rows": rows,
        "out": out,
        "queues": {
            q.queue: {
                "method": q.method,
                "rows": int(q.open.sum()),
                "offered": round(float(q.offered[q.open].sum()), 3),
                "aht_seconds": (
                    round(
                        float(
                            (q.aht_seconds * q.offered)[q.open].sum() / max(q.offered[q.open].sum(), 1e-12)
                        ),
                        1,
                    )
                    if q.aht_seconds is not None
                    else None
                ),
                "anomalous_days": list(q.cleaning.anomalous_days),
                "anomalous_intervals": q.cleaning.anomalous_intervals,
                "closed_days_filled": list(q.cleaning.closed_days_filled),
                "event_lifts": {k: round(v, 4) for k, v in q.cleaning.event_lifts.items()},
            }
            for q in result.queues
        },
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"Forecast written to {report['out']}: {report['rows']} intervals of {report['interval_minutes']} "
        f"minutes, {report['horizon_days']} days from {report['first_day']} ({report['horizon']} term)."
    )
    for name, q in report["queues"].items():
        aht = f", AHT {q['aht_seconds']:.0f} s" if q["aht_seconds"] is not None else ""
        print(
            f"  queue {name}: method {q['method']}, {q['offered']:.0f} calls{aht}; cleaning repaired "
            f"{len(q['anomalous_days'])} anomalous day(s), {q['anomalous_intervals']} interval(s), "
            f"{len(q['closed_days_filled'])} closed day(s)"
        )
    backtest = report["backtest"]
    if not backtest:
        print("Backtest: history too short for a rolling-origin backtest (needs 3 weeks + the horizon).")
        return
    tolerance = round(report["tolerance"] * 100)
    print(f"Backtest (weekly rolling origins; WAPE = Σ|error| / Σ actual; hit = within ±{tolerance} %):")
    print(f"  {'method':<15}{'WAPE':>8}{'MAE':>9}{'bias':>8}{'hit':>7}{'R²':>7}")

    def pct(value: float | None) -> str:
        return "   n/a" if value is None else f"{value * 100:5.1f}%"

    for name, m in backtest.items():
        mark = " ←" if name == report["method"] else ("  (reference)" if name == SEASONAL_NAIVE else "")
        mae = "n/a" if m["mae"] is None else f"{m['mae']:.2f}"
        r2 = "n/a" if m["r2"] is None else f"{m['r2']:.3f}"
        print(
            f"  {name:<15}{pct(m['wape']):>8}{mae:>9}{pct(m['percent_deviation']):>8}{pct(m['hit_rate']):>7}"
            f"{r2:>7}{mark}"
        )
