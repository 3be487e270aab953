"""Cleaning interval history: find anomalous days and intervals, set known events aside, repair the gaps.

An anomaly is judged against a seasonal baseline (the same weekday up to three weeks either side) with
robust median/MAD z-scores, so one outage or one promotion does not distort the scale it is measured by.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.forecast.calendar import format_day, weekday

Repair = Literal["forecast", "average", "interpolate"]
REPAIRS: tuple[Repair, ...] = ("forecast", "average", "interpolate")
_OFFSETS = np.array([-21, -14, -7, 7, 14, 21], dtype=np.int64)
_NEAR = np.array([1, 2, 3, 4])  # positions of ±7 and ±14 in _OFFSETS
_MAD_TO_SIGMA = 1.4826
_MIN_LOG_SCALE = 0.02  # a 2 % day-to-day spread is the least we believe, even in very regular data
_MIN_INTERVAL_DEVIATION = 2.0  # calls: smaller interval deviations are never anomalies


@dataclass(frozen=True)
class CleaningOptions:
    """Thresholds (robust z-scores) and the repair strategy; `events` maps day numbers to event names."""

    repair: Repair = "forecast"
    day_threshold: float = 3.5
    interval_threshold: float = 6.0
    events: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning found and repaired. Event lifts are observed volume / baseline (1.0 = no effect)."""

    repair: str
    anomalous_days: tuple[str, ...]
    anomalous_intervals: int
    closed_days_filled: tuple[str, ...]
    event_days: tuple[str, ...]
    event_lifts: dict[str, float]


@dataclass(frozen=True)
class Cleaned:
    """Cleaned volume (same shape as the input) with the masks of what was replaced."""

    offered: NDArray[np.float64]
    day_replaced: NDArray[np.bool_]
    interval_replaced: NDArray[np.bool_]
    report: CleaningReport


def _nan_quietly(func: str, values: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN on purpose
        result: NDArray[np.float64] = getattr(np, func)(values, axis=axis)
    return result


def _neighbours(values: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Stack of same-weekday neighbours (±7, ±14, ±21 days): shape (days, 6, …), NaN where not usable."""
    days = values.shape[0]
    out = np.full((days, _OFFSETS.size, *values.shape[1:]), np.nan)
    for j, offset in enumerate(_OFFSETS):
        target = np.arange(days) + offset
        ok = (target >= 0) & (target < days)
        ok[ok] &= valid[target[ok]]
        out[ok, j] = values[target[ok]]
    return out


def _robust_z(values: NDArray[np.float64], min_scale: float) -> NDArray[np.float64]:
    """(value − median) / (1.4826 × MAD) over the finite entries; NaN stays NaN."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full_like(values, np.nan)
    center = float(np.median(finite))
    scale = max(_MAD_TO_SIGMA * float(np.median(np.abs(finite - center))), min_scale)
    return (values - center) / scale


def clean(
    offered: NDArray[np.float64],
    open_day: NDArray[np.bool_],
    first_day: int,
    open_pattern: NDArray[np.bool_],
    options: CleaningOptions | None = None,
) -> Cleaned:
    """Detect anomalies in a (days × intervals) volume grid and repair them, plus closed days and events.

    Day totals are compared with the median of the same weekday up to three weeks either side: a day whose
    log ratio to that baseline has a robust z-score above `day_threshold` is anomalous. Within normal days an
    interval is anomalous when its standardised residual, (calls − expected) / √(expected + 1) with expected
    = day total × the neighbours' interval share, has a robust z-score above `interval_threshold`. Days
    without rows on open weekdays (holidays, outages) and known event days are repaired too, so that they do
    not bias the methods; event lifts are measured first and kept for overlaying future occurrences.
    """
    options = options or CleaningOptions()
    days = offered.shape[0]
    day_numbers = first_day + np.arange(days)
    weekdays = weekday(day_numbers)
    open_weekday: NDArray[np.bool_] = np.asarray(open_pattern.any(axis=1), dtype=bool)
    regular = open_weekday[weekdays]
    event = np.zeros(days, dtype=bool)
    for day in options.events:
        if first_day <= day < first_day + days:
            event[day - first_day] = True
    totals = offered.sum(axis=1)

    # Pass 1: flag days against a baseline of regular open neighbours; pass 2 re-baselines without them.
    usable = open_day & regular & ~event
    baseline = _nan_quietly("nanmedian", _neighbours(totals, usable), axis=1)
    score = _robust_z(np.where(usable, np.log((totals + 1.0) / (baseline + 1.0)), np.nan), _MIN_LOG_SCALE)
    day_flag = usable & (np.abs(np.nan_to_num(score)) > options.day_threshold)
    clean_day = usable & ~day_flag
    baseline = _nan_quietly("nanmedian", _neighbours(totals, clean_day), axis=1)
    profile = _profiles(offered, totals, clean_day, weekdays, open_pattern)
    weekday_level = np.array(
        [
            totals[clean_day & (weekdays == w)].mean() if (clean_day & (weekdays == w)).any() else 0.0
            for w in range(7)
        ]
    )
    baseline = np.where(np.isfinite(baseline), baseline, weekday_level[weekdays])

    lifts: dict[str, list[float]] = {}
    for day, name in options.events.items():
        d = day - first_day
        if 0 <= d < days and regular[d] and baseline[d] > 0:
            lifts.setdefault(name, []).append(float(totals[d] / baseline[d]) if open_day[d] else 0.0)

    # Interval anomalies on clean days only (a flagged day is replaced whole).
    expected = profile * totals[:, None]
    residual = (offered - expected) / np.sqrt(expected + 1.0)
    considered = clean_day[:, None] & open_pattern[weekdays]
    z = _robust_z(np.where(considered, residual, np.nan), 1.0)  # at least Poisson spread
    interval_flag = (
        considered
        & (np.abs(np.nan_to_num(z)) > options.interval_threshold)
        & (np.abs(offered - expected) >= _MIN_INTERVAL_DEVIATION)
    )

    replace_day = regular & (~open_day | day_flag | event)
    cleaned = offered.copy()
    cleaned[replace_day] = _repair_days(
        offered, clean_day, baseline, profile, np.flatnonzero(replace_day), options.repair
    )
    if interval_flag.any():
        _repair_intervals(cleaned, interval_flag, clean_day, profile, totals, options.repair)
    cleaned = np.where(open_pattern[weekdays], cleaned, offered)  # closed hours keep what they had

    report = CleaningReport(
        repair=options.repair,
        anomalous_days=tuple(format_day(int(d)) for d in day_numbers[day_flag]),
        anomalous_intervals=int(interval_flag.sum()),
        closed_days_filled=tuple(format_day(int(d)) for d in day_numbers[regular & ~open_day & ~event]),
        event_days=tuple(format_day(int(d)) for d in day_numbers[event]),
        event_lifts={name: float(np.mean(values)) for name, values in lifts.items()},
    )
    return Cleaned(cleaned, replace_day, interval_flag, report)


def _profiles(
    offered: NDArray[np.float64],
    totals: NDArray[np.float64],
    clean_day: NDArray[np.bool_],
    weekdays: NDArray[np.int64],
    open_pattern: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Each day's expected interval shares (rows sum to 1) from its clean same-weekday neighbours."""
    sums = np.nansum(_neighbours(offered, clean_day), axis=1)
    profile = sums / np.maximum(sums.sum(axis=1, keepdims=True), 1e-12)
    fallback = np.zeros((7, offered.shape[1]))
    for w in range(7):
        rows = clean_day & (weekdays == w)
        if rows.any() and totals[rows].sum() > 0:
            fallback[w] = offered[rows].sum(axis=0) / totals[rows].sum()
        elif open_pattern[w].any():
            fallback[w] = open_pattern[w] / open_pattern[w].sum()
    empty = sums.sum(axis=1) <= 0
    profile[empty] = fallback[weekdays[empty]]
    return np.asarray(profile, dtype=float)


def _repair_days(
    offered: NDArray[np.float64],
    clean_day: NDArray[np.bool_],
    baseline: NDArray[np.float64],
    profile: NDArray[np.float64],
    targets: NDArray[np.int64],
    repair: Repair,
) -> NDArray[np.float64]:
    """Replacement rows for whole days: forecast fill, average of neighbours, or interpolation."""
    forecast_fill = baseline[targets, None] * profile[targets]
    if repair == "forecast" or targets.size == 0:
        return forecast_fill
    if repair == "average":
        near = _neighbours(offered, clean_day)[targets][:, _NEAR]
        averaged = _nan_quietly("nanmean", near, axis=1)
        return np.where(np.isfinite(averaged), averaged, forecast_fill)
    rows = forecast_fill.copy()
    days = offered.shape[0]
    for k, d in enumerate(targets):
        before = next((p for p in range(d - 7, -1, -7) if clean_day[p]), None)
        after = next((n for n in range(d + 7, days, 7) if clean_day[n]), None)
        if before is not None and after is not None:
            weight = (d - before) / (after - before)
            rows[k] = offered[before] + weight * (offered[after] - offered[before])
        elif before is not None or after is not None:
            rows[k] = offered[before if before is not None else after]
    return rows


def _repair_intervals(
    cleaned: NDArray[np.float64],
    flag: NDArray[np.bool_],
    clean_day: NDArray[np.bool_],
    profile: NDArray[np.float64],
    totals: NDArray[np.float64],
    repair: Repair,
) -> None:
    """Replace flagged intervals in place, on days that are otherwise normal."""
    rows = np.flatnonzero(flag.any(axis=1))
    if repair == "forecast":
        for d in rows:
            bad = flag[d]
            kept_share = 1.0 - profile[d, bad].sum()
            kept_total = cleaned[d, ~bad].sum()
            day_total = kept_total / kept_share if kept_share > 1e-9 else totals[d]
            cleaned[d, bad] = profile[d, bad] * day_total
    elif repair == "average":
        near = _neighbours(cleaned, clean_day)[:, _NEAR]
        averaged = _nan_quietly("nanmean", near, axis=1)
        fallback = profile * totals[:, None]
        fill = np.where(np.isfinite(averaged), averaged, fallback)
        cleaned[flag] = fill[flag]
    else:
        slots = np.arange(cleaned.shape[1])
        for d in rows:
            bad = flag[d]
            if (~bad).sum() >= 1:
                cleaned[d, bad] = np.interp(slots[bad], slots[~bad], cleaned[d, ~bad])
