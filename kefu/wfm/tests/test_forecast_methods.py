"""Forecasting methods: known seasonality is recovered, accuracy measures match hand computation, and the
whole pipeline beats seasonal-naive on synthetic series with known day-of-week and intra-day profiles."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from kefu.wfm.forecast import (
    METHODS,
    SEASONAL_NAIVE,
    DailyHistory,
    ForecastOptions,
    History,
    QueueHistory,
    accuracy,
    forecast,
    forecast_daily,
    interval_profile,
    rolling_origins,
    seasonal_naive,
)
from kefu.wfm.forecast.calendar import epoch_day, opening_pattern, weekday
from kefu.wfm.forecast.calendar import month as month_of
from kefu.wfm.forecast.methods import weekday_index

# Monday … Sunday; Sunday closed.
DOW = np.array([1.3, 1.1, 1.0, 1.0, 0.9, 0.7, 0.0])
START = epoch_day(date(2024, 1, 1))  # a Monday


def intraday_shape(per_day: int = 48, open_slot: int = 16, close_slot: int = 40) -> NDArray[np.float64]:
    """A two-peak day (late morning and mid-afternoon) over 08:00–20:00 in 30-minute intervals."""
    x = np.arange(per_day, dtype=float)
    shape = np.exp(-((x - 22) ** 2) / 10) + 0.8 * np.exp(-((x - 31) ** 2) / 14) + 0.15
    shape[:open_slot] = 0
    shape[close_slot:] = 0
    return np.asarray(shape / shape.sum(), dtype=float)


def expected_volume(
    days: int, *, level: float = 2000.0, trend_per_week: float = 0.0, first_day: int = START
) -> NDArray[np.float64]:
    """Expected calls per (day, 30-minute interval): level × (1 + trend) × weekday index × interval share."""
    day_numbers = first_day + np.arange(days)
    totals = level * (1 + trend_per_week * np.arange(days) / 7) * DOW[weekday(day_numbers)]
    return np.asarray(totals[:, None] * intraday_shape()[None, :], dtype=float)


def synthetic_queue(
    days: int, *, seed: int = 1, level: float = 2000.0, trend_per_week: float = 0.0, name: str = "default"
) -> QueueHistory:
    rng = np.random.default_rng(seed)
    volume = rng.poisson(expected_volume(days, level=level, trend_per_week=trend_per_week)).astype(float)
    open_day = DOW[weekday(START + np.arange(days))] > 0
    return QueueHistory(name, START, volume, open_day, None, None)


def synthetic_history(days: int = 84, **kwargs: float) -> History:
    return History(30, {"default": synthetic_queue(days, **kwargs)})  # type: ignore[arg-type]


def test_weekday_index_and_interval_shares_are_recovered() -> None:
    q = synthetic_queue(84, seed=3)
    pattern = opening_pattern(q.offered, q.open_day, q.first_day)
    daily = DailyHistory(q.first_day, q.offered.sum(axis=1), np.asarray(pattern.any(axis=1), dtype=bool))
    index, level = weekday_index(daily)
    truth = DOW / DOW.mean()
    assert np.allclose(index, truth, atol=0.03)
    assert level == pytest.approx(2000 * DOW.mean(), rel=0.02)
    profile = interval_profile(q.offered, q.first_day, pattern)
    shape = intraday_shape()
    for w in range(6):
        assert np.abs(profile[w] - shape).max() < 0.008  # peak share is about 0.1
        assert np.abs(profile[w] - shape).mean() < 0.0015
        assert profile[w].sum() == pytest.approx(1.0)
    assert not profile[6].any()
    assert np.array_equal(pattern[0], shape > 0)
    assert not pattern[6].any()


@pytest.mark.parametrize("method", METHODS)
def test_each_method_forecasts_flat_seasonal_series_closely(method: str) -> None:
    q = synthetic_queue(126, seed=5)
    pattern = opening_pattern(q.offered, q.open_day, q.first_day)
    daily = DailyHistory(q.first_day, q.offered.sum(axis=1), np.asarray(pattern.any(axis=1), dtype=bool))
    result = forecast_daily(method, daily, 14)  # type: ignore[arg-type]
    truth = 2000 * DOW[weekday(daily.horizon(14))]
    assert result[truth == 0].sum() == 0  # closed Sundays stay closed
    assert np.abs(result - truth).sum() / truth.sum() < 0.04


@pytest.mark.parametrize("method", ["regression", "ets"])
def test_trend_methods_follow_a_trend_that_flat_methods_miss(method: str) -> None:
    q = synthetic_queue(182, seed=7, trend_per_week=0.02)
    daily = DailyHistory(q.first_day, q.offered.sum(axis=1), DOW > 0)
    truth = expected_volume(182 + 28, trend_per_week=0.02)[182:].sum(axis=1)

    def wape(name: str) -> float:
        result = forecast_daily(name, daily, 28)  # type: ignore[arg-type]
        return float(np.abs(result - truth).sum() / truth.sum())

    assert wape(method) < 0.03
    assert wape(method) < wape("ma")


def test_ratio_method_uses_month_shares_and_growth_with_a_year_of_history() -> None:
    first = epoch_day(date(2023, 11, 13))  # a Monday; history ends 2024-11-14
    day_numbers = first + np.arange(365 + 3)
    months = day_numbers.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12 + 1
    month_factor = np.where(months == 12, 1.5, 1.0)  # December is busy
    totals = 1000 * DOW[weekday(day_numbers)] * month_factor
    daily = DailyHistory(first, totals, DOW > 0)
    # Forecast into December: last December's share lifts it, whatever its weekday mix; growth on top.
    horizon = epoch_day(date(2024, 12, 9)) - daily.last_day - 1
    flat = forecast_daily("ratio", daily, horizon)
    grown = forecast_daily("ratio", daily, horizon, growth=0.10)
    targets = daily.horizon(horizon)
    december = month_of(targets) == 12
    assert np.allclose(flat[december], 1500 * DOW[weekday(targets[december])], rtol=1e-6)
    assert np.allclose(flat[~december], 1000 * DOW[weekday(targets[~december])], rtol=1e-6)
    ahead = (targets - daily.last_day) / 365
    assert np.allclose(grown, flat * 1.10**ahead, rtol=1e-9)


def test_accuracy_matches_hand_computation() -> None:
    f = np.array([10.0, 12.0, 0.0, 5.0])
    a = np.array([8.0, 12.0, 2.0, 0.0])
    m = accuracy(f, a, tolerance=0.10)
    assert m.mae == pytest.approx(9 / 4)
    assert m.wape == pytest.approx(9 / 22)
    assert m.percent_deviation == pytest.approx(5 / 22)
    assert m.hit_rate == pytest.approx(1 / 3)  # only 12 vs 12 is within ±10 %; the zero-actual is left out
    assert m.r2 == pytest.approx(1 - 33 / 91)
    assert m.intervals == 4
    wide = accuracy(f, a, tolerance=0.25)
    assert wide.hit_rate == pytest.approx(2 / 3)  # 10 vs 8 is exactly 25 % off


def test_accuracy_edge_cases() -> None:
    perfect = accuracy(np.array([3.0, 4.0]), np.array([3.0, 4.0]))
    assert (perfect.wape, perfect.mae, perfect.hit_rate, perfect.r2) == (0, 0, 1, 1)
    empty = accuracy(np.zeros(3), np.zeros(3))
    assert math.isnan(empty.wape)
    assert math.isnan(empty.r2)
    assert empty.mae == 0
    assert empty.as_dict()["wape"] is None
    with pytest.raises(ValueError, match="values"):
        accuracy(np.zeros(2), np.zeros(3))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_subnormal=False), min_size=1, max_size=50), st.floats(0.5, 1.5))
def test_wape_scales_and_bias_is_exact(actual: list[float], factor: float) -> None:
    a = np.array(actual)
    m = accuracy(a * factor, a)
    if a.sum() > 1e-6:
        assert m.percent_deviation == pytest.approx(factor - 1, abs=1e-9)
        assert m.wape == pytest.approx(abs(factor - 1), abs=1e-9)
    assert m.mae == pytest.approx(abs(factor - 1) * a.mean(), abs=1e-6)


def test_rolling_origins_and_seasonal_naive() -> None:
    assert rolling_origins(100, 7, 4) == [72, 79, 86, 93]
    assert rolling_origins(40, 7, 4) == [26, 33]  # earlier origins would train on under three weeks
    grid = np.arange(10 * 2, dtype=float).reshape(10, 2)
    naive = seasonal_naive(grid, 9)
    assert np.array_equal(naive[0], grid[3])
    assert np.array_equal(naive[7], grid[3])
    assert np.array_equal(naive[6], grid[9])


def test_auto_forecast_beats_seasonal_naive_and_matches_truth() -> None:
    history = synthetic_history(84, seed=11)
    result = forecast(history, ForecastOptions(horizon_days=14))
    q = result.queues[0]
    assert q.method in METHODS
    assert result.backtest[q.method].wape < result.backtest[SEASONAL_NAIVE].wape
    truth = expected_volume(84 + 14)[84:]
    assert np.abs(q.offered - truth).sum() / truth.sum() < 0.04
    assert np.array_equal(q.open, truth > 0)  # opening hours and the closed Sunday are learnt
    assert q.aht_seconds is None
    assert not result.has_aht
    rows = result.rows()
    assert len(rows) == int((truth > 0).sum())
    assert rows[0].start_minute == (START + 84) * 1440 + 8 * 60


def test_explicit_method_is_used_and_backtested_alone() -> None:
    result = forecast(synthetic_history(63, seed=2), ForecastOptions(horizon_days=7, method="ma"))
    assert result.method == "ma"
    assert set(result.backtest) == {"ma", SEASONAL_NAIVE}


def test_long_horizon_uses_year_capable_methods() -> None:
    result = forecast(synthetic_history(70, seed=4), ForecastOptions(horizon_days=120))
    assert result.options.horizon_class == "long"
    assert result.method in ("ratio", "regression", "ets")
    assert result.queues[0].offered.shape == (120, 48)


def test_short_history_has_no_backtest_and_falls_back() -> None:
    result = forecast(synthetic_history(14, seed=4), ForecastOptions(horizon_days=7))
    assert result.backtest == {}
    assert result.method == "wma"
    assert result.queues[0].offered[result.queues[0].open].sum() > 0
