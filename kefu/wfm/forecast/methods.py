"""Daily-volume forecasting methods and the interval-share profiles that spread a day over its intervals.

Every method forecasts calls per day from the cleaned daily totals; intervals then get the day's total ×
the weekday's interval share. Forecasting days first and shapes second is both sound (the day-level series
is smooth enough for trend and seasonality models) and fast.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.forecast.calendar import month, recent_same_weekdays, weekday

Method = Literal["ratio", "ma", "wma", "regression", "ets"]
METHODS: tuple[Method, ...] = ("ratio", "ma", "wma", "regression", "ets")
MA_WEEKS = 4
WMA_WEEKS = 6
LEVEL_WEEKS = 8
REGRESSION_WEEKS = 26
ETS_WEEKS = 52
PROFILE_WEEKS = 8


@dataclass(frozen=True)
class DailyHistory:
    """Cleaned calls per day from `first_day` (days since 1970-01-01); `open_weekday[w]`, Monday = 0."""

    first_day: int
    totals: NDArray[np.float64]
    open_weekday: NDArray[np.bool_]

    @property
    def last_day(self) -> int:
        return self.first_day + self.totals.size - 1

    def horizon(self, days: int) -> NDArray[np.int64]:
        return self.last_day + 1 + np.arange(days, dtype=np.int64)


def forecast_daily(
    method: Method, history: DailyHistory, horizon_days: int, *, growth: float = 0.0
) -> NDArray[np.float64]:
    """Calls per day for the `horizon_days` days after the history (≥ 0; closed weekdays get 0).

    `growth` is the expected yearly volume growth as a fraction (0.05 = +5 % a year); only the ratio
    method takes it, the others estimate level and trend from the data.
    """
    if method == "ma":
        result = _moving_average(history, horizon_days, np.ones(MA_WEEKS))
    elif method == "wma":
        result = _moving_average(history, horizon_days, np.arange(WMA_WEEKS, 0, -1, dtype=float))
    elif method == "ratio":
        result = _ratio(history, horizon_days, growth)
    elif method == "regression":
        result = _regression(history, horizon_days)
    elif method == "ets":
        result = _ets(history, horizon_days)
    else:
        raise ValueError(f"unknown method {method!r}")
    closed = ~history.open_weekday[weekday(history.horizon(horizon_days))]
    return np.where(closed, 0.0, np.maximum(result, 0.0))


def _moving_average(
    history: DailyHistory, horizon_days: int, weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per weekday, the (weighted) mean of its most recent occurrences; weights[0] is the latest week."""
    by_weekday = np.zeros(7)
    for w in range(7):
        days = recent_same_weekdays(history.last_day, history.first_day, w, weights.size)
        if days.size:
            used = weights[: days.size]
            by_weekday[w] = float(np.dot(history.totals[days - history.first_day], used) / used.sum())
    return by_weekday[weekday(history.horizon(horizon_days))]


def weekday_index(history: DailyHistory, weeks: int = LEVEL_WEEKS) -> tuple[NDArray[np.float64], float]:
    """Day-of-week index (mean 1 over the 7 weekdays; 0 when closed) and the mean calls per day, from the
    last `weeks` whole weeks. Each day is divided by the mean of its own 7-day block before averaging per
    weekday, so a level change inside the window (a busy month starting) does not tilt the index."""
    span = min(weeks * 7, history.totals.size // 7 * 7)
    recent = history.totals[-span:]
    level = float(recent.mean())
    blocks = recent.reshape(-1, 7)
    block_mean = blocks.mean(axis=1)
    busy = block_mean > 0
    first_weekday = int(weekday(history.last_day - span + 1))
    if not busy.any():
        flat = np.where(history.open_weekday, 7.0 / max(int(history.open_weekday.sum()), 1), 0.0)
        return flat, level
    by_position = (blocks[busy] / block_mean[busy, None]).mean(axis=0)
    index = np.roll(by_position, first_weekday)  # position 0 of a block is `first_weekday`
    return np.where(history.open_weekday, index, 0.0), level


def _ratio(history: DailyHistory, horizon_days: int, growth: float) -> NDArray[np.float64]:
    """Ratio decomposition: annual total × growth → month share → day-of-week index → (intervals later).

    With a full year of history the annual total and month shares come from the last 365 days; with less,
    the month shares are unknown and the annual total is the recent daily level × 365.
    """
    index, level = weekday_index(history)
    targets = history.horizon(horizon_days)
    ahead_years = (targets - history.last_day) / 365.0
    if history.totals.size < 365:
        return level * (1.0 + growth) ** ahead_years * index[weekday(targets)]
    year = history.totals[-365:]
    year_days = history.last_day - 364 + np.arange(365)
    annual = float(year.sum())
    year_months = month(year_days)
    share = np.array([year[year_months == m].sum() / annual if annual > 0 else 1 / 12 for m in range(1, 13)])
    # A month's share is spread over its days by weekday index, so a month with an extra closed Sunday
    # next year still gets the same calls per open day: share / Σ index of that month's days last year.
    index_days = np.array([index[weekday(year_days[year_months == m])].sum() for m in range(1, 13)])
    target_month = month(targets)
    per_index_day = annual * share / np.maximum(index_days, 1e-12)
    return np.asarray(
        per_index_day[target_month - 1] * (1.0 + growth) ** ahead_years * index[weekday(targets)]
    )


def _regression(history: DailyHistory, horizon_days: int) -> NDArray[np.float64]:
    """Least squares on calendar features of open days: intercept, linear trend and weekday dummies."""
    span = min(REGRESSION_WEEKS * 7, history.totals.size)
    days = history.last_day - span + 1 + np.arange(span)
    y = history.totals[-span:]
    keep = history.open_weekday[weekday(days)]
    targets = history.horizon(horizon_days)

    def design(d: NDArray[np.int64]) -> NDArray[np.float64]:
        columns = [np.ones(d.size), (d - history.last_day) / 7.0]
        open_days = np.flatnonzero(history.open_weekday)
        columns += [(weekday(d) == w).astype(float) for w in open_days[1:]]
        return np.column_stack(columns)

    coef, *_ = np.linalg.lstsq(design(days[keep]), y[keep], rcond=None)
    return np.asarray(design(targets) @ coef)


def _ets(history: DailyHistory, horizon_days: int) -> NDArray[np.float64]:
    """Holt-Winters (statsmodels ExponentialSmoothing): damped additive trend, weekly seasonality
    (multiplicative when every day has calls, additive otherwise), fitted on up to the last 52 weeks."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    span = min(ETS_WEEKS * 7, history.totals.size)
    y = history.totals[-span:]
    if span < 21:
        return _moving_average(history, horizon_days, np.arange(WMA_WEEKS, 0, -1, dtype=float))
    seasonal = "mul" if bool((y > 0).all()) else "add"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model = ExponentialSmoothing(
            y,
            trend="add",
            damped_trend=True,
            seasonal=seasonal,
            seasonal_periods=7,
            initialization_method="estimated",
        )
        fitted = model.fit()
        result = np.asarray(fitted.forecast(horizon_days), dtype=float)
    if not np.all(np.isfinite(result)):
        return _moving_average(history, horizon_days, np.arange(WMA_WEEKS, 0, -1, dtype=float))
    return result


def interval_profile(
    cleaned: NDArray[np.float64],
    first_day: int,
    open_pattern: NDArray[np.bool_],
    *,
    weeks: int = PROFILE_WEEKS,
) -> NDArray[np.float64]:
    """Share of a day's calls in each interval per weekday, shape (7, intervals); rows of open weekdays
    sum to 1 over their open intervals. Ratio of sums over the last `weeks` same weekdays."""
    last = first_day + cleaned.shape[0] - 1
    profile = np.zeros((7, cleaned.shape[1]))
    for w in range(7):
        if not open_pattern[w].any():
            continue
        days = recent_same_weekdays(last, first_day, w, weeks)
        sums = cleaned[days - first_day].sum(axis=0) * open_pattern[w]
        total = sums.sum()
        profile[w] = sums / total if total > 0 else open_pattern[w] / open_pattern[w].sum()
    return profile
