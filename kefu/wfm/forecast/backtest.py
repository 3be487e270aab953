"""Forecast accuracy measures and the rolling-origin schedule used to backtest methods on history.

Percentages are fractions: a WAPE of 0.12 is 12 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DEFAULT_TOLERANCE = 0.10
MIN_TRAINING_DAYS = 21


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of a forecast against what happened, over `intervals` intervals.

    percent_deviation = (Σ forecast − Σ actual) / Σ actual (signed, a fraction); mae = mean |forecast −
    actual| in calls per interval; wape = Σ |forecast − actual| / Σ actual; hit_rate = share (0..1) of the
    intervals with calls where |forecast − actual| ≤ tolerance × actual (a relative error is undefined for an
    interval without calls, so those are left out); r2 = 1 − Σ (actual − forecast)² / Σ (actual − mean)².
    A measure that is undefined (e.g. no calls at all) is NaN.
    """

    percent_deviation: float
    mae: float
    wape: float
    hit_rate: float
    r2: float
    intervals: int
    tolerance: float = DEFAULT_TOLERANCE

    def as_dict(self) -> dict[str, float | int | None]:
        """The measures with NaN as None, ready for JSON."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 6)

        return {
            "wape": clean(self.wape),
            "mae": clean(self.mae),
            "percent_deviation": clean(self.percent_deviation),
            "hit_rate": clean(self.hit_rate),
            "r2": clean(self.r2),
            "intervals": self.intervals,
        }


def accuracy(
    forecast: NDArray[np.float64], actual: NDArray[np.float64], *, tolerance: float = DEFAULT_TOLERANCE
) -> Accuracy:
    """Accuracy measures (see `Accuracy`) of forecast calls against actual calls, interval by interval.

    `tolerance` is the hit-rate band as a fraction of the actual (0.10 = within ±10 %).
    """
    f = np.asarray(forecast, dtype=float).ravel()
    a = np.asarray(actual, dtype=float).ravel()
    if f.shape != a.shape:
        raise ValueError(f"forecast has {f.size} values but actual has {a.size}")
    n = int(a.size)
    if n == 0:
        return Accuracy(math.nan, math.nan, math.nan, math.nan, math.nan, 0, tolerance)
    error = f - a
    total = float(a.sum())
    absolute = float(np.abs(error).sum())
    with_calls = a > 0
    ss_tot = float(((a - a.mean()) ** 2).sum())
    return Accuracy(
        percent_deviation=float(error.sum()) / total if total > 0 else math.nan,
        mae=absolute / n,
        wape=absolute / total if total > 0 else math.nan,
        hit_rate=(
            float((np.abs(error[with_calls]) <= tolerance * a[with_calls] + 1e-12).mean())
            if with_calls.any()
            else math.nan
        ),
        r2=1.0 - float((error**2).sum()) / ss_tot if ss_tot > 0 else math.nan,
        intervals=n,
        tolerance=tolerance,
    )


def rolling_origins(
    history_days: int,
    horizon_days: int,
    count: int,
    *,
    step_days: int = 7,
    min_training_days: int = MIN_TRAINING_DAYS,
) -> list[int]:
    """Training lengths (days) for rolling-origin backtests: the latest origin leaves exactly
    `horizon_days` of history to test on, each earlier one `step_days` before it; origins with less than
    `min_training_days` of training are dropped. Returned oldest first."""
    cuts = [history_days - horizon_days - step_days * k for k in range(count)]
    return sorted(cut for cut in cuts if cut >= min_training_days)


def seasonal_naive(offered: NDArray[np.float64], horizon_days: int) -> NDArray[np.float64]:
    """Same interval on the same weekday of the last week of history, repeated; shape (days, intervals)."""
    last_week = offered[-7:]
    return np.asarray(last_week[np.arange(horizon_days) % 7])
