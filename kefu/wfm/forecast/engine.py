"""The forecasting pipeline per queue: opening hours → cleaning → daily method → interval shares → event
overlays → overrides → AHT, with rolling-origin backtests that choose the method automatically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast.aht import aht_profile, aht_trend_factor, horizon_aht
from kefu.wfm.forecast.backtest import (
    DEFAULT_TOLERANCE,
    Accuracy,
    accuracy,
    rolling_origins,
    seasonal_naive,
)
from kefu.wfm.forecast.calendar import MINUTES_PER_DAY, format_day, opening_pattern, weekday
from kefu.wfm.forecast.cleaning import REPAIRS, CleaningOptions, CleaningReport, Repair, clean
from kefu.wfm.forecast.events import Event, Override, check_factor
from kefu.wfm.forecast.io import ForecastRow, History, QueueHistory
from kefu.wfm.forecast.methods import METHODS, DailyHistory, Method, forecast_daily, interval_profile

MethodChoice = Literal["auto", "ratio", "ma", "wma", "regression", "ets"]
SEASONAL_NAIVE = "seasonal_naive"
SHORT_DAYS = 31
MEDIUM_DAYS = 92
MAX_HORIZON_DAYS = 3 * 366
BACKTEST_MAX_DAYS = 28
LONG_METHODS: tuple[Method, ...] = ("ratio", "regression", "ets")
FALLBACK_METHOD: Method = "wma"


@dataclass(frozen=True)
class ForecastOptions:
    """How to forecast. `growth` is a yearly fraction for the ratio method; `tolerance` the hit-rate band
    (fraction of actual); `backtest_origins` the number of weekly rolling origins; thresholds are robust
    z-scores for anomaly detection."""

    horizon_days: int
    method: MethodChoice = "auto"
    repair: Repair = "forecast"
    growth: float = 0.0
    tolerance: float = DEFAULT_TOLERANCE
    backtest_origins: int = 4
    aht_trend: bool = False
    day_threshold: float = 3.5
    interval_threshold: float = 6.0

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_days <= MAX_HORIZON_DAYS:
            raise PlanningInputError(
                f"must be between 1 and {MAX_HORIZON_DAYS} days, got {self.horizon_days}",
                field="horizon_days",
            )
        if self.method != "auto" and self.method not in METHODS:
            raise PlanningInputError(f"unknown method '{self.method}'", field="method")
        if self.repair not in REPAIRS:
            raise PlanningInputError(f"unknown repair '{self.repair}'", field="repair")
        if not 0 < self.tolerance < 1:
            raise PlanningInputError(
                f"must be a fraction between 0 and 1, got {self.tolerance}", field="tolerance"
            )
        if not -1 < self.growth < 10:
            raise PlanningInputError(f"must be a yearly fraction above -1, got {self.growth}", field="growth")

    @property
    def horizon_class(self) -> str:
        """short (≤ 31 days: schedules), medium (≤ 92 days: hiring, shift mix) or long (budget)."""
        if self.horizon_days <= SHORT_DAYS:
            return "short"
        return "medium" if self.horizon_days <= MEDIUM_DAYS else "long"


@dataclass(frozen=True)
class QueueForecast:
    """One queue's forecast: calls offered and AHT (seconds) per horizon day × interval, and its open mask."""

    queue: str
    method: str
    first_day: int
    offered: NDArray[np.float64]
    open: NDArray[np.bool_]
    aht_seconds: NDArray[np.float64] | None
    backtest: dict[str, Accuracy]
    cleaning: CleaningReport
    backtest_pairs: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(repr=False)


@dataclass(frozen=True)
class Forecast:
    """Forecasts of every queue in a history, and the backtest pooled over queues (method → accuracy)."""

    interval_minutes: int
    options: ForecastOptions
    queues: tuple[QueueForecast, ...]
    backtest: dict[str, Accuracy]

    @property
    def method(self) -> str:
        """The method used, or 'per-queue' when automatic choice differed between queues."""
        methods = {q.method for q in self.queues}
        return methods.pop() if len(methods) == 1 else "per-queue"

    @property
    def has_aht(self) -> bool:
        return any(q.aht_seconds is not None for q in self.queues)

    def rows(self) -> list[ForecastRow]:
        """Open intervals of the horizon, queue by queue in time order."""
        out: list[ForecastRow] = []
        for q in self.queues:
            day_index, slot = np.nonzero(q.open)
            starts = (q.first_day + day_index) * MINUTES_PER_DAY + slot * self.interval_minutes
            values = q.offered[day_index, slot]
            aht = q.aht_seconds[day_index, slot] if q.aht_seconds is not None else None
            for k in range(starts.size):
                out.append(
                    ForecastRow(
                        int(starts[k]), q.queue, float(values[k]), None if aht is None else float(aht[k])
                    )
                )
        return out


@dataclass(frozen=True)
class _Prepared:
    first_day: int
    pattern: NDArray[np.bool_]
    cleaned: NDArray[np.float64]
    daily: DailyHistory
    profile: NDArray[np.float64]
    report: CleaningReport


def _prepare(qh: QueueHistory, events: Sequence[Event], options: ForecastOptions) -> _Prepared:
    pattern = opening_pattern(qh.offered, qh.open_day, qh.first_day)
    if not pattern.any():
        raise PlanningInputError(
            f"queue '{qh.queue}' has no calls in its recent weeks: nothing to forecast", field="offered"
        )
    known = {e.day: e.name for e in events if qh.first_day <= e.day <= qh.last_day}
    cleaned = clean(
        qh.offered,
        qh.open_day,
        qh.first_day,
        pattern,
        CleaningOptions(
            repair=options.repair,
            day_threshold=options.day_threshold,
            interval_threshold=options.interval_threshold,
            events=known,
        ),
    )
    daily = DailyHistory(
        qh.first_day, cleaned.offered.sum(axis=1), np.asarray(pattern.any(axis=1), dtype=bool)
    )
    profile = interval_profile(cleaned.offered, qh.first_day, pattern)
    return _Prepared(qh.first_day, pattern, cleaned.offered, daily, profile, cleaned.report)


def _event_factors(
    prep: _Prepared, events: Sequence[Event], horizon_days: int, *, strict: bool
) -> NDArray[np.float64]:
    """Multiplier per horizon day from future events (given factor, else the lift learnt from history)."""
    factors = np.ones(horizon_days)
    start = prep.daily.last_day + 1
    for event in events:
        offset = event.day - start
        if not 0 <= offset < horizon_days:
            continue
        if event.factor is not None:
            factors[offset] *= check_factor(event.factor, field="factor", row=event.row)
        elif event.name in prep.report.event_lifts:
            factors[offset] *= prep.report.event_lifts[event.name]
        elif strict:
            raise PlanningInputError(
                f"event '{event.name}' on {format_day(event.day)} has no factor and no past occurrence "
                "in the history to learn one from",
                field="factor",
                row=event.row,
            )
    return factors


def _spread(
    prep: _Prepared, daily: NDArray[np.float64], factors: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Day totals × event factors spread over the weekday's interval shares; closed days and hours are off."""
    targets = prep.daily.horizon(daily.size)
    weekdays = weekday(targets)
    is_open = prep.pattern[weekdays] & (factors > 0)[:, None]
    return (daily * factors)[:, None] * prep.profile[weekdays], is_open


def _candidates(options: ForecastOptions) -> tuple[Method, ...]:
    if options.method != "auto":
        return (options.method,)
    return LONG_METHODS if options.horizon_class == "long" else METHODS


def _backtest(
    qh: QueueHistory, events: Sequence[Event], options: ForecastOptions, methods: Sequence[Method]
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Forecast/actual interval pairs per method, pooled over weekly rolling origins; seasonal naive too."""
    horizon = min(options.horizon_days, BACKTEST_MAX_DAYS)
    pairs: dict[str, tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]] = {
        name: ([], []) for name in (*methods, SEASONAL_NAIVE)
    }
    for cut in rolling_origins(qh.days, horizon, options.backtest_origins):
        train = qh.truncated(cut)
        if not train.open_day[-7:].any():
            continue
        prep = _prepare(train, events, options)
        actual = qh.offered[cut : cut + horizon]
        factors = _event_factors(prep, events, horizon, strict=False)
        candidates: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_]]] = {}
        for method in methods:
            daily = forecast_daily(method, prep.daily, horizon, growth=options.growth)
            candidates[method] = _spread(prep, daily, factors)
        naive = seasonal_naive(train.offered, horizon)
        candidates[SEASONAL_NAIVE] = (naive, np.ones_like(naive, dtype=bool))
        # Every method is scored on the same intervals: the learnt opening hours plus any with calls.
        scored = prep.pattern[weekday(prep.daily.horizon(horizon))] | (actual > 0)
        for name, (values, is_open) in candidates.items():
            shown = np.where(is_open, values, 0.0)
            pairs[name][0].append(shown[scored])
            pairs[name][1].append(actual[scored])
    return {name: (np.concatenate(f), np.concatenate(a)) for name, (f, a) in pairs.items() if f}


def forecast_queue(
    qh: QueueHistory,
    *,
    options: ForecastOptions,
    events: Sequence[Event] = (),
    overrides: Sequence[Override] = (),
) -> QueueForecast:
    """Forecast one queue (calls offered per interval and AHT) for the days after its history."""
    events = [e for e in events if e.queue in (None, qh.queue)]
    methods = _candidates(options)
    pairs = _backtest(qh, events, options, methods)
    scores = {name: accuracy(f, a, tolerance=options.tolerance) for name, (f, a) in pairs.items()}
    if options.method != "auto":
        chosen: Method = options.method
    else:
        ranked = [m for m in methods if m in scores and np.isfinite(scores[m].wape)]
        chosen = min(ranked, key=lambda m: scores[m].wape) if ranked else FALLBACK_METHOD
    prep = _prepare(qh, events, options)
    daily = forecast_daily(chosen, prep.daily, options.horizon_days, growth=options.growth)
    offered, is_open = _spread(prep, daily, _event_factors(prep, events, options.horizon_days, strict=True))
    offered, is_open = _apply_overrides(
        prep, offered, is_open, [o for o in overrides if o.queue in (None, qh.queue)]
    )
    aht = None
    if qh.handled is not None and qh.handle_seconds is not None and qh.handled.sum() > 0:
        targets = prep.daily.horizon(options.horizon_days)
        profile = aht_profile(qh.handled, qh.handle_seconds, qh.first_day)
        trend = (
            aht_trend_factor(qh.handled, qh.handle_seconds, targets - qh.last_day)
            if options.aht_trend
            else None
        )
        aht = horizon_aht(profile, targets, trend)
    return QueueForecast(
        qh.queue, chosen, prep.daily.last_day + 1, offered, is_open, aht, scores, prep.report, pairs
    )


def _apply_overrides(
    prep: _Prepared, offered: NDArray[np.float64], is_open: NDArray[np.bool_], overrides: Sequence[Override]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    offered, is_open = offered.copy(), is_open.copy()
    start = prep.daily.last_day + 1
    days, per_day = offered.shape
    minutes = MINUTES_PER_DAY // per_day
    for o in overrides:
        d = o.day - start
        if not 0 <= d < days:
            raise PlanningInputError(
                f"{format_day(o.day)} is outside the forecast horizon {format_day(start)} to "
                f"{format_day(start + days - 1)}",
                field="interval_start" if o.minute_of_day is not None else "date",
                row=o.row,
            )
        factor = None if o.factor is None else check_factor(o.factor, field="factor", row=o.row)
        if o.minute_of_day is None:
            if factor is not None:
                offered[d] *= factor
                continue
            assert o.offered is not None
            shape = np.where(is_open[d], offered[d], 0.0)
            if shape.sum() <= 0:
                shape = prep.profile[int(weekday(o.day))].copy()
                is_open[d] = prep.pattern[int(weekday(o.day))]
            if shape.sum() <= 0:
                raise PlanningInputError(
                    f"{format_day(o.day)} falls on a closed weekday: give interval_start "
                    "rows to open intervals",
                    field="date",
                    row=o.row,
                )
            offered[d] = o.offered * shape / shape.sum()
            continue
        if o.minute_of_day % minutes:
            raise PlanningInputError(
                f"not on the {minutes}-minute grid of the history", field="interval_start", row=o.row
            )
        slot = o.minute_of_day // minutes
        if factor is not None:
            if not is_open[d, slot]:
                raise PlanningInputError(
                    "that interval is closed in the forecast: give offered, not factor",
                    field="factor",
                    row=o.row,
                )
            offered[d, slot] *= factor
        else:
            assert o.offered is not None
            offered[d, slot] = o.offered
            is_open[d, slot] = True
    return offered, is_open


def forecast(
    history: History,
    options: ForecastOptions,
    *,
    events: Sequence[Event] = (),
    overrides: Sequence[Override] = (),
) -> Forecast:
    """Forecast every queue of `history` for `options.horizon_days` days after its last day.

    The horizon starts the day after the last day of the whole file, for every queue. Events and overrides
    naming a queue apply to that queue only; a queue name that is not in the history is an error.
    """
    items: list[Event | Override] = [*events, *overrides]
    for item in items:
        if item.queue is not None and item.queue not in history.queues:
            raise PlanningInputError(
                f"queue '{item.queue}' is not in the history", field="queue", row=item.row
            )
    results = []
    for qh in history.queues.values():
        if qh.last_day < history.last_day:  # a queue that stopped early: its missing days are closed
            qh = _extend(qh, history.last_day)
        results.append(forecast_queue(qh, options=options, events=events, overrides=overrides))
    pooled: dict[str, Accuracy] = {}
    names = dict.fromkeys(name for q in results for name in q.backtest_pairs)
    for name in names:
        parts = [q.backtest_pairs[name] for q in results if name in q.backtest_pairs]
        pooled[name] = accuracy(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            tolerance=options.tolerance,
        )
    return Forecast(history.interval_minutes, options, tuple(results), pooled)


def _extend(qh: QueueHistory, last_day: int) -> QueueHistory:
    extra = last_day - qh.last_day

    def grow(values: NDArray[np.float64] | None) -> NDArray[np.float64] | None:
        return None if values is None else np.vstack([values, np.zeros((extra, values.shape[1]))])

    offered = grow(qh.offered)
    assert offered is not None
    return QueueHistory(
        qh.queue,
        qh.first_day,
        offered,
        np.concatenate([qh.open_day, np.zeros(extra, bool)]),
        grow(qh.handled),
        grow(qh.handle_seconds),
    )
