"""Cleaning finds injected anomalies and repairs them by each strategy; events are measured and overlaid;
overrides apply; AHT is forecast from handle-time totals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast import (
    CleaningOptions,
    Event,
    ForecastOptions,
    History,
    Override,
    QueueHistory,
    clean,
    forecast,
    opening_pattern,
    read_events,
    read_overrides,
)
from kefu.wfm.forecast.calendar import format_day
from kefu.wfm.tests.test_forecast_methods import START, expected_volume, synthetic_queue

SPIKE_DAY, OUTAGE_DAY, EVENT_DAY, CLOSED_DAY = 45, 50, 40, 60  # Thursday, Tuesday, Saturday, Friday
SPIKE_INTERVAL = (30, 25)  # a Wednesday, 12:30


def dirty_queue() -> tuple[QueueHistory, np.ndarray]:
    q = synthetic_queue(84, seed=21)
    x = q.offered.copy()
    original = x.copy()
    x[SPIKE_DAY] *= 3
    x[OUTAGE_DAY] = np.round(x[OUTAGE_DAY] * 0.1)
    x[SPIKE_INTERVAL] += 100  # about 9 standard deviations, yet only +5 % on the day
    x[EVENT_DAY] = np.round(x[EVENT_DAY] * 1.5)
    x[CLOSED_DAY] = 0
    open_day = q.open_day.copy()
    open_day[CLOSED_DAY] = False
    return replace(q, offered=x, open_day=open_day), original


def run_clean(repair: str, q: QueueHistory) -> tuple:  # type: ignore[type-arg]
    pattern = opening_pattern(q.offered, q.open_day, q.first_day)
    options = CleaningOptions(repair=repair, events={START + EVENT_DAY: "promo"})  # type: ignore[arg-type]
    return clean(q.offered, q.open_day, q.first_day, pattern, options), pattern


def test_injected_anomalies_are_found() -> None:
    q, _ = dirty_queue()
    cleaned, _ = run_clean("forecast", q)
    report = cleaned.report
    injected = {format_day(START + SPIKE_DAY), format_day(START + OUTAGE_DAY)}
    assert injected <= set(report.anomalous_days)
    assert len(report.anomalous_days) <= len(injected) + 1  # Poisson noise may throw up one 3.5-sigma day
    assert report.event_days == (format_day(START + EVENT_DAY),)
    assert report.closed_days_filled == (format_day(START + CLOSED_DAY),)
    assert cleaned.interval_replaced[SPIKE_INTERVAL]
    assert report.anomalous_intervals <= 3  # the spike, and at most a stray Poisson extreme
    assert report.event_lifts["promo"] == pytest.approx(1.5, abs=0.08)
    assert cleaned.day_replaced[[SPIKE_DAY, OUTAGE_DAY, EVENT_DAY, CLOSED_DAY]].all()
    assert cleaned.day_replaced.sum() == 2 + len(report.anomalous_days)


@pytest.mark.parametrize("repair", ["forecast", "average", "interpolate"])
def test_each_repair_restores_normal_volume(repair: str) -> None:
    q, original = dirty_queue()
    cleaned, _ = run_clean(repair, q)
    truth = expected_volume(84)
    for d in (SPIKE_DAY, OUTAGE_DAY, EVENT_DAY, CLOSED_DAY):
        assert cleaned.offered[d].sum() == pytest.approx(truth[d].sum(), rel=0.06)
    d, s = SPIKE_INTERVAL
    assert abs(cleaned.offered[d, s] - truth[d, s]) < 0.35 * truth[d, s]
    untouched = ~cleaned.day_replaced[:, None] & ~cleaned.interval_replaced
    assert np.array_equal(cleaned.offered[untouched], q.offered[untouched])
    assert np.allclose(original[SPIKE_DAY + 7], cleaned.offered[SPIKE_DAY + 7])


def test_repair_strategies_compute_what_they_say() -> None:
    q, _ = dirty_queue()
    x = q.offered
    d = SPIKE_DAY
    by = {r: run_clean(r, q)[0].offered for r in ("forecast", "average", "interpolate")}
    assert np.allclose(by["interpolate"][d], (x[d - 7] + x[d + 7]) / 2)
    assert np.allclose(by["average"][d], (x[d - 14] + x[d - 7] + x[d + 7] + x[d + 14]) / 4)
    neighbours = [x[d + k].sum() for k in (-21, -14, -7, 7, 14, 21)]
    assert by["forecast"][d].sum() == pytest.approx(np.median(neighbours))
    i, s = SPIKE_INTERVAL
    assert by["interpolate"][i, s] == pytest.approx((x[i, s - 1] + x[i, s + 1]) / 2)
    assert by["average"][i, s] == pytest.approx(np.mean([x[i + k, s] for k in (-14, -7, 7, 14)]))


def test_clean_history_is_left_alone() -> None:
    q = synthetic_queue(84, seed=8)
    cleaned, _ = run_clean("forecast", q)
    assert len(cleaned.report.anomalous_days) <= 1
    assert cleaned.report.anomalous_intervals <= 2


def base_history() -> History:
    return History(30, {"default": synthetic_queue(84, seed=31)})


def test_event_overlay_learnt_from_history_and_given_factor() -> None:
    q, _ = dirty_queue()
    history = History(30, {"default": q})
    options = ForecastOptions(horizon_days=7, method="wma")
    plain = forecast(history, options).queues[0]
    monday, saturday = START + 84, START + 89
    events = [Event(START + EVENT_DAY, "promo"), Event(saturday, "promo"), Event(monday, "launch", 1.2)]
    lifted = forecast(history, options, events=events).queues[0]
    assert lifted.offered[5].sum() == pytest.approx(
        plain.offered[5].sum() * lifted.cleaning.event_lifts["promo"]
    )
    assert lifted.offered[0].sum() == pytest.approx(plain.offered[0].sum() * 1.2)
    assert np.allclose(lifted.offered[1:5], plain.offered[1:5])
    closed = forecast(history, options, events=[Event(monday, "holiday", 0.0)]).queues[0]
    assert not closed.open[0].any()
    assert closed.open[1].any()
    with pytest.raises(PlanningInputError, match="no factor and no past occurrence"):
        forecast(history, options, events=[Event(monday, "mystery")])


def test_overrides_apply_and_are_checked() -> None:
    history = base_history()
    options = ForecastOptions(horizon_days=7, method="ma")
    plain = forecast(history, options).queues[0]
    monday = START + 84
    overrides = [
        Override(monday, factor=2.0),
        Override(monday + 1, offered=1000.0),
        Override(monday + 2, minute_of_day=9 * 60, offered=77.0),
        Override(monday + 2, minute_of_day=7 * 60, offered=5.0),  # before opening: opens that interval
    ]
    q = forecast(history, options, overrides=overrides).queues[0]
    assert q.offered[0].sum() == pytest.approx(2 * plain.offered[0].sum())
    assert q.offered[1][q.open[1]].sum() == pytest.approx(1000.0)
    assert np.allclose(q.offered[1] / 1000, plain.offered[1] / plain.offered[1].sum())
    assert q.offered[2, 18] == 77.0
    assert q.open[2, 14]
    assert q.offered[2, 14] == 5.0
    assert not plain.open[2, 14]
    with pytest.raises(PlanningInputError, match="outside the forecast horizon") as caught:
        forecast(history, options, overrides=[Override(monday + 9, offered=1.0, row=7)])
    assert caught.value.row == 7
    with pytest.raises(PlanningInputError, match="closed in the forecast"):
        forecast(history, options, overrides=[Override(monday, minute_of_day=6 * 60, factor=2.0)])
    with pytest.raises(PlanningInputError, match="queue 'nope' is not in the history"):
        forecast(history, options, overrides=[Override(monday, factor=2.0, queue="nope")])
    with pytest.raises(PlanningInputError, match="exactly one of offered or factor"):
        Override(monday, factor=2.0, offered=3.0)


def test_events_and_overrides_files(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("date,name,factor\n2024-03-25,launch,1.3\n2024-03-30,promo,\n")
    events = read_events(tmp_path / "events.csv")
    assert events[0].factor == 1.3
    assert events[1].factor is None
    assert events[1].row == 3
    (tmp_path / "bad_events.csv").write_text("date,factor\n2024-03-25,1.3\n2024-03-26,-1\n")
    with pytest.raises(PlanningInputError, match="negative") as caught:
        read_events(tmp_path / "bad_events.csv")
    assert (caught.value.row, caught.value.field) == (3, "factor")
    (tmp_path / "o.csv").write_text(
        "date,interval_start,queue,offered,factor\n2024-03-25,,,,1.5\n,2024-03-26T09:00,default,40,\n"
    )
    overrides = read_overrides(tmp_path / "o.csv")
    assert overrides[0].minute_of_day is None
    assert overrides[0].factor == 1.5
    assert overrides[1].minute_of_day == 540
    assert overrides[1].offered == 40
    assert overrides[1].queue == "default"
    (tmp_path / "o2.csv").write_text("date,offered,factor\n2024-03-25,4,2\n")
    with pytest.raises(PlanningInputError, match="exactly one") as caught:
        read_overrides(tmp_path / "o2.csv")
    assert caught.value.row == 2
    (tmp_path / "o3.csv").write_text("when,offered\n2024-03-25,4\n")
    with pytest.raises(PlanningInputError, match="give date or interval_start"):
        read_overrides(tmp_path / "o3.csv")


def with_handle_times(q: QueueHistory, *, growth_per_week: float = 0.0) -> QueueHistory:
    """Handled = offered; AHT 300 s before 13:00 and 240 s after, optionally growing week by week."""
    slots = np.arange(q.offered.shape[1])
    aht = np.where(slots < 26, 300.0, 240.0)[None, :] * (1 + growth_per_week * np.arange(q.days)[:, None] / 7)
    return replace(q, handled=q.offered.copy(), handle_seconds=q.offered * aht)


def test_aht_profile_is_forecast() -> None:
    q = with_handle_times(synthetic_queue(84, seed=5))
    result = forecast(History(30, {"default": q}), ForecastOptions(horizon_days=7, method="ma"))
    f = result.queues[0]
    assert result.has_aht
    assert f.aht_seconds is not None
    morning, afternoon = f.aht_seconds[0, 16:26], f.aht_seconds[0, 27:40]
    assert np.allclose(morning, 300, atol=2)
    assert np.allclose(afternoon, 240, atol=2)
    rows = result.rows()
    assert rows[0].aht_seconds == pytest.approx(300, abs=2)


def test_aht_trend_option_extends_a_rising_aht() -> None:
    q = with_handle_times(synthetic_queue(84, seed=5), growth_per_week=0.01)
    history = History(30, {"default": q})
    flat = forecast(history, ForecastOptions(horizon_days=14, method="ma")).queues[0]
    trended = forecast(history, ForecastOptions(horizon_days=14, method="ma", aht_trend=True)).queues[0]
    assert flat.aht_seconds is not None
    assert trended.aht_seconds is not None
    # Last week's AHT is 300 × (1 + 0.01 × 11.4); the 8-week profile lags it, the trend catches up.
    truth_next_week = 300 * (1 + 0.01 * (84 + 3) / 7)
    assert trended.aht_seconds[3, 20] == pytest.approx(truth_next_week, rel=0.01)
    assert flat.aht_seconds[3, 20] < truth_next_week * 0.97
    assert trended.aht_seconds[10, 20] > trended.aht_seconds[3, 20]
