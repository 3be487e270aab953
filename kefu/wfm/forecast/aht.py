"""Average handle time forecasts: a weekday × interval profile of handled-call-weighted AHT, with an
optional recent trend."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.forecast.calendar import recent_same_weekdays, weekday

AHT_WEEKS = 8
TREND_WEEKS = 12
PRIOR_CALLS = 10.0  # thin intervals borrow this many calls' worth of the weekday's AHT
TREND_LIMITS = (0.75, 1.33)  # a trend never moves AHT by more than this factor


def aht_profile(
    handled: NDArray[np.float64],
    handle_seconds: NDArray[np.float64],
    first_day: int,
    *,
    weeks: int = AHT_WEEKS,
) -> NDArray[np.float64]:
    """AHT in seconds per weekday (Monday = 0) and interval, shape (7, intervals).

    Σ handle seconds / Σ handled calls over the last `weeks` same weekdays, shrunk towards the weekday's
    whole-day AHT by `PRIOR_CALLS` calls so that an interval with two calls does not swing the plan. A weekday
    without handled calls takes the AHT of all recent days; NaN only when nothing was ever handled.
    """
    last = first_day + handled.shape[0] - 1
    recent = slice(max(0, handled.shape[0] - 7 * weeks), None)
    overall_calls = handled[recent].sum()
    overall = handle_seconds[recent].sum() / overall_calls if overall_calls > 0 else np.nan
    result = np.full((7, handled.shape[1]), overall)
    for w in range(7):
        rows = recent_same_weekdays(last, first_day, w, weeks) - first_day
        calls = handled[rows].sum(axis=0)
        seconds = handle_seconds[rows].sum(axis=0)
        day_calls = calls.sum()
        day_aht = seconds.sum() / day_calls if day_calls > 0 else overall
        result[w] = (seconds + PRIOR_CALLS * day_aht) / (calls + PRIOR_CALLS)
    return result


def aht_trend_factor(
    handled: NDArray[np.float64],
    handle_seconds: NDArray[np.float64],
    targets_ahead: NDArray[np.int64],
    *,
    weeks: int = TREND_WEEKS,
) -> NDArray[np.float64]:
    """Multiplier on the AHT profile for days `targets_ahead` (1 = the day after history) from a linear
    trend of weekly AHT over the last `weeks` whole weeks, relative to the profile's own window; clipped to
    `TREND_LIMITS`. 1.0 when there is too little data for a trend."""
    full_weeks = min(weeks, handled.shape[0] // 7)
    if full_weeks < 4:
        return np.ones(targets_ahead.size)
    span = full_weeks * 7
    calls = handled[-span:].sum(axis=1).reshape(full_weeks, 7).sum(axis=1)
    seconds = handle_seconds[-span:].sum(axis=1).reshape(full_weeks, 7).sum(axis=1)
    usable = calls > 0
    if usable.sum() < 4:
        return np.ones(targets_ahead.size)
    week_aht = seconds[usable] / calls[usable]
    x = np.arange(full_weeks, dtype=float)[usable] - (full_weeks - 1)  # 0 = the last week
    slope, intercept = np.polyfit(x, week_aht, 1, w=np.sqrt(calls[usable]))
    window = min(AHT_WEEKS, full_weeks)
    reference = seconds[-window:].sum() / max(calls[-window:].sum(), 1e-12)
    # The last week's centre is 3 days before the day after history.
    weeks_ahead = (targets_ahead.astype(float) + 3.0) / 7.0
    factor = (intercept + slope * weeks_ahead) / reference if reference > 0 else np.ones(targets_ahead.size)
    return np.clip(factor, *TREND_LIMITS)


def horizon_aht(
    profile: NDArray[np.float64], target_days: NDArray[np.int64], factor: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """AHT in seconds per horizon day × interval: the weekday's profile times an optional trend factor."""
    result = profile[weekday(target_days)]
    return result if factor is None else result * factor[:, None]
