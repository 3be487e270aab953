"""`kefu wfm simulate`: simulate a queue interval by interval and print every KPI with its confidence
interval, beside the Erlang C (or, with patience, Erlang A) value where one exists."""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kefu.wfm.cli._common import add_json_flag, emit, number
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.simulation import (
    ArrivalTrace,
    Distribution,
    Exponential,
    Lognormal,
    SimulationPlan,
    SkillGroup,
    simulate,
)
from kefu.wfm.simulation.check import analytic_values

T = TypeVar("T")

# Limits that keep a run to seconds and a few hundred MB; anything beyond them is a typing slip, not a plan.
MAX_AGENTS = 100_000
MAX_CALLS_PER_INTERVAL = 1_000_000
MAX_INTERVALS = 10_000
MAX_REPLICATIONS = 10_000
MAX_INTERVAL_SECONDS = 86_400.0  # one day
MAX_SIMULATED_CALLS = 20_000_000  # expected calls over all intervals × replications


def _num(name: str, **limits: Any) -> Callable[[str], float]:
    return checked_number(name, **limits)

LABELS = {
    "offered": "offered (calls)",
    "answered": "answered (calls)",
    "abandoned": "abandoned (calls)",
    "answer_rate": "answer rate",
    "abandon_rate": "abandonment rate",
    "service_level_1": "SL 1 (ans≤Y + aband≤Y) / (ans + aband)",
    "service_level_2": "SL 2 ans≤Y / ans",
    "service_level_3": "SL 3 ans≤Y / (ans + aband)",
    "service_level_4": "SL 4 ans≤Y / (ans + aband>Y)",
    "asa_seconds": "ASA (s)",
    "average_abandon_seconds": "average abandon time (s)",
    "aht_seconds": "AHT (s)",
    "occupancy": "occupancy",
    "max_wait_seconds": "longest wait, answered (s)",
    "wait_p90_seconds": "90th percentile wait, answered (s)",
    "overflowed": "overflowed (calls)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate a queue and report every KPI with confidence intervals",
        description="Discrete-event simulation of one queue over one or more intervals (Poisson arrivals "
                    "or a trace, exponential or lognormal handle times, optional exponential patience). "
                    "Per-interval values may be given as comma-separated lists, one value per interval.")
    parser.add_argument("--calls", type=_per_interval("calls", minimum=0.0, maximum=MAX_CALLS_PER_INTERVAL),
                        help="expected calls per interval (Poisson), or a comma list per interval")
    parser.add_argument("--trace", type=Path,
                        help="CSV with arrival_seconds (from the start of the first interval) and optional "
                             "handle_seconds, instead of --calls")
    parser.add_argument("--interval-seconds",
                        type=_num("interval_seconds", minimum=1, maximum=MAX_INTERVAL_SECONDS),
                        default=1800.0, help="interval length in seconds, 1 to 86400 (default 1800)")
    parser.add_argument("--aht", type=_num("aht", minimum=0, strict_minimum=True),
                        help="average handle time in seconds")
    parser.add_argument("--talk", type=_num("talk", minimum=0, strict_minimum=True),
                        help="talk seconds")
    parser.add_argument("--acw", type=_num("acw", minimum=0), help="after-call work seconds")
    parser.add_argument("--agents", type=_per_interval("agents", minimum=1.0, integer=True, maximum=MAX_AGENTS),
                        required=True,
                        help="agents logged in (at least 1), or a comma list per interval")
    parser.add_argument("--patience", type=_num("patience", minimum=0, strict_minimum=True),
                        help="callers' mean patience in seconds (exponential); without it nobody abandons")
    parser.add_argument("--within", type=_num("within", minimum=0), default=20.0,
                        help="service-level answer time Y in seconds (default 20)")
    parser.add_argument("--replications",
                        type=_num("replications", minimum=2, maximum=MAX_REPLICATIONS, integer=True),
                        default=30, help="independent runs, at least 2 for a confidence interval (default 30)")
    parser.add_argument("--intervals", type=_num("intervals", minimum=1, maximum=MAX_INTERVALS, integer=True),
                        help="intervals to simulate (default: the length of the lists, or 1)")
    parser.add_argument("--warmup-intervals", type=_num("warmup_intervals", minimum=0, integer=True),
                        default=0, help="leading intervals not counted (for steady-state checks; default 0)")
    parser.add_argument("--seed", type=_num("seed", minimum=0, integer=True), default=1,
                        help="random seed; the same seed gives the same numbers (default 1)")
    parser.add_argument("--handle-dist", choices=("exponential", "lognormal"), default="exponential",
                        help="handle-time distribution (default exponential, as Erlang assumes)")
    parser.add_argument("--handle-cv", type=_num("handle_cv", minimum=0, strict_minimum=True, maximum=100),
                        help="lognormal coefficient of variation, std / mean (default 1.0; with "
                             "--handle-dist lognormal only)")
    parser.add_argument("--confidence", type=_num("confidence", minimum=0.5, maximum=0.999),
                        default=0.95, help="confidence level of the intervals, a fraction (default 0.95)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type=` that keeps the reason of a `PlanningInputError` (argparse would replace a
    ValueError's message with a generic "invalid value")."""

    def wrapped(text: str) -> T:
        try:
            return parse(text)
        except PlanningInputError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    return wrapped


def checked_number(name: str, **limits: Any) -> Callable[[str], float]:
    """`_common.number` that keeps its reason inside argparse."""
    return checked(number(name, **limits))


def _per_interval(name: str, *, minimum: float, maximum: float, integer: bool = False
                  ) -> Callable[[str], list[float]]:
    one = number(name, minimum=minimum, maximum=maximum, integer=integer)

    def parse(text: str) -> list[float]:
        return [one(part.strip()) for part in text.split(",")]

    return checked(parse)


def read_trace(path: Path) -> ArrivalTrace:
    """Arrival times (and optional handle times) from a CSV with a header row; rows are numbered as in the
    file (the header is row 1)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "arrival_seconds" not in header:
            raise PlanningInputError(f"{path}: missing column arrival_seconds", field="arrival_seconds",
                                     row=1)
        reader.fieldnames = header
        has_handle = "handle_seconds" in header
        arrivals: list[float] = []
        handles: list[float] = []
        for row_number, row in enumerate(reader, start=2):
            arrivals.append(_cell(row, "arrival_seconds", row_number, minimum=0.0, strict=False))
            if has_handle:
                handles.append(_cell(row, "handle_seconds", row_number, minimum=0.0, strict=True))
    if not arrivals:
        raise PlanningInputError(f"{path}: no calls in the trace", field="arrival_seconds", row=2)
    return ArrivalTrace(arrivals, handles if has_handle else None)


def _cell(row: dict[str, str | None], name: str, row_number: int, *, minimum: float, strict: bool) -> float:
    text = (row.get(name) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise PlanningInputError(f"'{text}' is not a number", field=name, row=row_number) from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise PlanningInputError(f"must be {'>' if strict else '≥'} {minimum:g} seconds, got '{text}'",
                                 field=name, row=row_number)
    return value


def _handle(args: argparse.Namespace) -> tuple[Distribution, float]:
    if args.aht is not None and (args.talk is not None or args.acw is not None):
        raise PlanningInputError("give either --aht or --talk with --acw, not both", field="--aht")
    if args.aht is not None:
        aht = float(args.aht)
    elif args.talk is not None:
        aht = float(args.talk) + float(args.acw or 0.0)
    else:
        raise PlanningInputError("give the handle time: --aht S, or --talk S and --acw S", field="--aht")
    if args.handle_cv is not None and args.handle_dist != "lognormal":
        raise PlanningInputError("applies to --handle-dist lognormal only (exponential handle times have a "
                                 "coefficient of variation of 1)", field="--handle-cv")
    cv = args.handle_cv if args.handle_cv is not None else 1.0
    dist: Distribution = Lognormal(aht, cv) if args.handle_dist == "lognormal" else Exponential(aht)
    return dist, aht


def _check_lengths(args: argparse.Namespace) -> None:
    """Per-interval lists must agree with each other and with --intervals; calls must be offered somewhere;
    the run must stay within MAX_SIMULATED_CALLS."""
    lengths = {"--agents": len(args.agents)}
    if args.calls is not None:
        lengths["--calls"] = len(args.calls)
        if args.calls and max(args.calls) <= 0:
            raise PlanningInputError("no calls to simulate: every interval has 0 expected calls",
                                     field="--calls")
    lists = {flag: n for flag, n in lengths.items() if n > 1}
    if len(set(lists.values())) > 1:
        (flag_a, n_a), (flag_b, n_b) = lists.items()
        raise PlanningInputError(f"has {n_b} values but {flag_a} has {n_a}: give one value, or one per "
                                 "interval", field=flag_b)
    if args.intervals is not None and lists and set(lists.values()) != {int(args.intervals)}:
        flag, n = next(iter(lists.items()))
        raise PlanningInputError(f"is {int(args.intervals)} but {flag} has {n} values", field="--intervals")
    if args.calls is not None:
        intervals = int(args.intervals) if args.intervals is not None else max(lengths.values())
        per_run = sum(args.calls) * (intervals if len(args.calls) == 1 else 1)
        total = per_run * int(args.replications)
        if total > MAX_SIMULATED_CALLS:
            raise PlanningInputError(
                f"{per_run:,.0f} expected calls × {int(args.replications)} replications = {total:,.0f} calls "
                f"to simulate, more than {MAX_SIMULATED_CALLS:,}; give fewer replications, intervals or calls",
                field="--replications")


def run(args: argparse.Namespace) -> int:
    handle, aht = _handle(args)
    if (args.calls is None) == (args.trace is None):
        raise PlanningInputError("give either --calls or --trace", field="--calls")
    _check_lengths(args)
    trace = read_trace(args.trace) if args.trace is not None else None
    if trace is not None and trace.arrival_seconds.size * int(args.replications) > MAX_SIMULATED_CALLS:
        raise PlanningInputError(f"{trace.arrival_seconds.size:,} calls in the trace × "
                                 f"{int(args.replications)} replications is more than "
                                 f"{MAX_SIMULATED_CALLS:,} calls to simulate", field="--replications")
    patience = Exponential(args.patience, field_name="patience") if args.patience is not None else None
    group = SkillGroup("queue", agents=args.agents, handle=handle, calls=args.calls, trace=trace,
                       patience=patience)
    plan = SimulationPlan(interval_seconds=args.interval_seconds, groups=[group],
                          intervals=int(args.intervals) if args.intervals is not None else None)
    if plan.intervals > MAX_INTERVALS:
        raise PlanningInputError(f"the trace spans {plan.intervals:,} intervals of {args.interval_seconds:g} s, "
                                 f"more than {MAX_INTERVALS:,}: give longer intervals", field="--interval-seconds")
    if args.warmup_intervals >= plan.intervals:
        raise PlanningInputError(f"must be fewer than the {plan.intervals} intervals simulated",
                                 field="--warmup-intervals")
    result = simulate(plan, within_seconds=args.within, replications=int(args.replications),
                      seed=int(args.seed), warmup_seconds=args.warmup_intervals * args.interval_seconds,
                      confidence=args.confidence)

    analytic: dict[str, float] = {}
    model = None
    steady = trace is None and len(set(args.calls)) == 1 and len(set(args.agents)) == 1
    if steady and args.agents[0] > 0 and args.calls[0] > 0:
        model = "erlang_a" if args.patience is not None else "erlang_c"
        analytic = analytic_values(calls=args.calls[0], interval_seconds=args.interval_seconds,
                                   aht_seconds=aht, agents=int(args.agents[0]), within_seconds=args.within,
                                   patience_seconds=args.patience)
        if model == "erlang_c":
            # without abandonment the four formulas coincide, so Erlang C stands beside each of them
            for k in ("service_level_1", "service_level_2", "service_level_4"):
                analytic[k] = analytic["service_level_3"]
            analytic["abandon_rate"] = 0.0
    kpis = result.overall.as_dict()
    rows: dict[str, Any] = {}
    for name, est in kpis.items():
        if name == "overflowed":
            continue
        rows[name] = {**est, "analytic": analytic.get(name)}
    out: dict[str, Any] = {
        "intervals": plan.intervals,
        "interval_seconds": plan.interval_seconds,
        "warmup_intervals": int(args.warmup_intervals),
        "replications": result.replications,
        "confidence": result.confidence,
        "seed": result.seed,
        "within_seconds": result.within_seconds,
        "aht_seconds": aht,
        "handle_distribution": args.handle_dist,
        "patience_seconds": args.patience,
        "analytic_model": model,
        "kpis": rows,
    }
    if args.json:
        emit(out, as_json=True)
        return 0
    _print_table(out)
    return 0


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "—"
    if name in ("offered", "answered", "abandoned"):
        return f"{value:.1f}"
    if name.endswith("_seconds"):
        return f"{value:.1f}"
    return f"{value:.2%}"


def _print_table(out: dict[str, Any]) -> None:
    level = f"{out['confidence']:.0%}"
    model = {"erlang_c": "Erlang C", "erlang_a": "Erlang A", None: "analytic"}[out["analytic_model"]]
    print(f"{out['intervals']} interval(s) of {out['interval_seconds']:g} s, "
          f"{out['replications']} replications, seed {out['seed']}, "
          f"service level within {out['within_seconds']:g} s"
          + (f", first {out['warmup_intervals']} interval(s) not counted" if out["warmup_intervals"] else ""))
    width = max(len(v) for v in LABELS.values())
    print(f"{'KPI':<{width}}  {'mean':>10}  {level + ' interval':>21}  {model:>10}")
    for name, row in out["kpis"].items():
        ci = (f"{_fmt(row['low'], name)} – {_fmt(row['high'], name)}" if row["low"] is not None else "—")
        print(f"{LABELS[name]:<{width}}  {_fmt(row['mean'], name):>10}  {ci:>21}  "
              f"{_fmt(row['analytic'], name):>10}")
    if out["analytic_model"] is not None and out["warmup_intervals"] == 0:
        print("note: each run starts with an empty queue; use --intervals and --warmup-intervals to compare "
              "with the steady-state Erlang values")


__all__ = ["LABELS", "checked", "checked_number", "read_trace", "register", "run"]
