"""PRODUCT §2.9 KPIs from simulated calls, per replication, and their confidence intervals across
replications.

Service level is given by all four formulas (Y = `within_seconds`; "within" means a wait ≤ Y):
1. (answered within Y + abandoned within Y) / (answered + abandoned)
2. answered within Y / answered
3. answered within Y / (answered + abandoned)
4. answered within Y / (answered + abandoned after Y)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import stats

from kefu.wfm.simulation.engine import ABANDONED, ANSWERED, CallLog
from kefu.wfm.simulation.model import FloatArray

KPI_NAMES = (
    "offered", "answered", "abandoned", "answer_rate", "abandon_rate",
    "service_level_1", "service_level_2", "service_level_3", "service_level_4",
    "asa_seconds", "average_abandon_seconds", "aht_seconds", "occupancy",
    "max_wait_seconds", "wait_p90_seconds", "overflowed",
)


@dataclass(frozen=True)
class Estimate:
    """Mean over replications with its two-sided confidence interval (t-distribution).

    `low`/`high` are NaN when fewer than two replications give the value (e.g. ASA with nothing answered).
    """

    mean: float
    low: float
    high: float
    replications: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, float | int | None]:
        def clean(x: float) -> float | None:
            return x if math.isfinite(x) else None
        return {"mean": clean(self.mean), "low": clean(self.low), "high": clean(self.high),
                "replications": self.replications}


@dataclass(frozen=True)
class Kpis:
    """Every KPI as an `Estimate`. Counts are calls per run (offered arriving after the warm-up);
    rates and service levels are fractions 0..1; times are seconds; occupancy = handling time /
    (available + handling) time of the agents logged in after the warm-up; waits are of answered calls;
    `overflowed` counts calls answered by another group than their own."""

    offered: Estimate
    answered: Estimate
    abandoned: Estimate
    answer_rate: Estimate
    abandon_rate: Estimate
    service_level_1: Estimate
    service_level_2: Estimate
    service_level_3: Estimate
    service_level_4: Estimate
    asa_seconds: Estimate
    average_abandon_seconds: Estimate
    aht_seconds: Estimate
    occupancy: Estimate
    max_wait_seconds: Estimate
    wait_p90_seconds: Estimate
    overflowed: Estimate

    def as_dict(self) -> dict[str, dict[str, float | int | None]]:
        return {f.name: getattr(self, f.name).as_dict() for f in fields(self)}


def estimate(values: FloatArray, confidence: float) -> Estimate:
    """Mean and t-interval of independent replication values, ignoring undefined (NaN) ones."""
    finite = values[np.isfinite(values)]
    m = finite.size
    if m == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(finite.mean())
    if m < 2:
        return Estimate(mean, math.nan, math.nan, m)
    half = float(stats.t.ppf((1 + confidence) / 2, m - 1) * finite.std(ddof=1) / math.sqrt(m))
    return Estimate(mean, mean - half, mean + half, m)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def replication_values(logs: list[CallLog], *, n_groups: int, within_seconds: float,
                       window: tuple[float, float], logged_in: FloatArray) -> dict[str, FloatArray]:
    """KPI values with shape (replications, groups + 1); the last column is all groups together.

    `logged_in[g]` is group g's scheduled agent-seconds inside the measured window (overtime is added from
    each log).
    """
    reps = len(logs)
    size = reps * n_groups
    rep = np.concatenate([np.full(log.group.size, r, dtype=np.int64) for r, log in enumerate(logs)])
    group = np.concatenate([log.group for log in logs])
    arrival = np.concatenate([log.arrival for log in logs])
    handle = np.concatenate([log.handle for log in logs])
    wait = np.concatenate([log.wait for log in logs])
    outcome = np.concatenate([log.outcome for log in logs])
    served_by = np.concatenate([log.served_by for log in logs])

    counted = arrival >= window[0]
    key = rep * n_groups + group
    answered = counted & (outcome == ANSWERED)
    abandoned = counted & (outcome == ABANDONED)
    quick = wait <= within_seconds

    def total(mask: np.ndarray, weights: FloatArray | None = None) -> FloatArray:
        w = mask.astype(np.float64) if weights is None else np.where(mask, weights, 0.0)
        per = np.bincount(key, weights=w, minlength=size).reshape(reps, n_groups)
        return np.concatenate([per, per.sum(axis=1, keepdims=True)], axis=1)

    offered = total(counted)
    n_ans = total(answered)
    n_ab = total(abandoned)
    ans_quick = total(answered & quick)
    ab_quick = total(abandoned & quick)
    ab_late = n_ab - ab_quick

    # handling time inside the window, credited to the group whose agent answered
    start = arrival + np.where(outcome == ANSWERED, wait, 0.0)
    end = start + handle
    busy_part = np.clip(np.minimum(end, window[1]) - np.maximum(start, window[0]), 0.0, None)
    served = outcome == ANSWERED
    busy_key = rep * n_groups + np.where(served, served_by, 0)
    busy = np.bincount(busy_key, weights=np.where(served, busy_part, 0.0),
                       minlength=size).reshape(reps, n_groups)
    logged = logged_in[None, :] + np.stack([log.overtime for log in logs])
    busy = np.concatenate([busy, busy.sum(axis=1, keepdims=True)], axis=1)
    logged = np.concatenate([logged, logged.sum(axis=1, keepdims=True)], axis=1)

    max_wait = np.full((reps, n_groups + 1), np.nan)
    p90_wait = np.full((reps, n_groups + 1), np.nan)
    for r in range(reps):
        in_rep = answered & (rep == r)
        for g in range(n_groups + 1):
            sel = in_rep if g == n_groups else in_rep & (group == g)
            w = wait[sel]
            if w.size:
                max_wait[r, g] = w.max()
                p90_wait[r, g] = np.quantile(w, 0.9)

    return {
        "offered": offered,
        "answered": n_ans,
        "abandoned": n_ab,
        "answer_rate": _ratio(n_ans, offered),
        "abandon_rate": _ratio(n_ab, offered),
        "service_level_1": _ratio(ans_quick + ab_quick, n_ans + n_ab),
        "service_level_2": _ratio(ans_quick, n_ans),
        "service_level_3": _ratio(ans_quick, n_ans + n_ab),
        "service_level_4": _ratio(ans_quick, n_ans + ab_late),
        "asa_seconds": _ratio(total(answered, wait), n_ans),
        "average_abandon_seconds": _ratio(total(abandoned, wait), n_ab),
        "aht_seconds": _ratio(total(answered, handle), n_ans),
        "occupancy": _ratio(busy.astype(np.float64), logged.astype(np.float64)),
        "max_wait_seconds": max_wait,
        "wait_p90_seconds": p90_wait,
        "overflowed": total(answered & (served_by != group)),
    }


def summarise(values: dict[str, FloatArray], column: int, confidence: float) -> Kpis:
    """The `Kpis` of one column (a group, or the last column for all groups) of `replication_values`."""
    return Kpis(**{name: estimate(values[name][:, column], confidence) for name in KPI_NAMES})
