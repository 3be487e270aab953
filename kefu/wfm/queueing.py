"""Exact queueing formulas for staffing: Erlang B (trunks), Erlang C (M/M/n) and Erlang A (M/M/n+M,
exponential patience), vectorised over intervals, stable up to 100,000 servers and 100,000 Erlangs.

Numerical approach: no factorials. Every formula is written with the regularised incomplete gamma functions
P(s, w) = gammainc(s, w), Q(s, w) = gammaincc(s, w) and the Poisson term g(s, w) = w**s e**-w / Γ(s + 1),
all in log space; where an incomplete gamma underflows (deep tails) the same ratio is summed as a short,
geometrically converging series instead.

Units everywhere: calls per interval, seconds, Erlangs, fractions 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from kefu.wfm.errors import PlanningInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "QueueMetrics",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "evaluate",
    "required_agents",
    "staff_intervals",
    "trunk_load",
    "trunks_required",
]

# Below this an incomplete gamma value is treated as underflowing and the series is used instead.
_TINY = 1e-280
_LOG_2PI = math.log(2.0 * math.pi)
# How many e-folds below the peak the ASA quadrature window reaches; e**-60 is far below double precision.
_WINDOW_NATS = 60.0
_QUAD_NODES = 96
# A staffing search never needs more than this many doublings of its step.
_MAX_GALLOP = 64


@dataclass(frozen=True)
class QueueMetrics:
    """What a number of agents achieves in an interval; fields broadcast over the inputs (0-d for scalars).

    - `agents`: agents on the phones (count).
    - `traffic_erlangs`: offered load = calls × AHT / interval length (Erlangs).
    - `prob_wait`: probability an arriving call finds every agent busy, P(wait > 0) (fraction).
    - `service_level`: calls answered within `within_seconds` / calls offered (fraction). Without patience
      (Erlang C) nobody abandons, so this is also answered within Y / answered. With patience (Erlang A) it
      is PRODUCT §2.9 formula 3, answered within Y / (answered + abandoned): a caller who hangs up is missed.
    - `asa_seconds`: average speed of answer, mean wait of the calls that are answered (seconds); `inf`
      when the queue is unstable (Erlang C with agents ≤ traffic) or nobody is answered.
    - `occupancy`: mean share of agents' time spent handling calls = carried load / agents (fraction).
    - `expected_queue_length`: mean number of callers waiting (calls); `inf` when unstable.
    - `abandon_rate`: abandoned / offered (fraction), only with patience (Erlang A), else None.
    """

    agents: IntArray
    traffic_erlangs: FloatArray
    prob_wait: FloatArray
    service_level: FloatArray
    asa_seconds: FloatArray
    occupancy: FloatArray
    expected_queue_length: FloatArray
    abandon_rate: FloatArray | None


# ----------------------------------------------------------------------------------------------------
# Validation


def _as_float(value: ArrayLike, field: str, *, minimum: float | None = None,
              strict: bool = False) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PlanningInputError("must be a number", field=field) from None
    bad = ~np.isfinite(array)
    if minimum is not None:
        bad |= (array <= minimum) if strict else (array < minimum)
    if bad.any():
        first = array.flat[int(np.flatnonzero(bad)[0])]
        where = f" (element {int(np.flatnonzero(bad)[0])})" if array.ndim else ""
        bound = ""
        if minimum is not None:
            bound = f" greater than {minimum:g}" if strict else f" at least {minimum:g}"
        raise PlanningInputError(f"must be a finite number{bound}, got {first!r}{where}", field=field)
    return array


def _as_count(value: ArrayLike, field: str) -> IntArray:
    array = _as_float(value, field, minimum=0.0)
    if (array != np.floor(array)).any():
        raise PlanningInputError("must be a whole number", field=field)
    return array.astype(np.int64)


def _as_fraction(value: ArrayLike, field: str) -> FloatArray:
    array = _as_float(value, field)
    if ((array <= 0.0) | (array >= 1.0)).any():
        raise PlanningInputError(
            "must be a fraction strictly between 0 and 1 (e.g. 0.8 for 80 %), "
            f"got {array.flat[int(np.flatnonzero((array <= 0) | (array >= 1))[0])]!r}",
            field=field,
        )
    return array


# ----------------------------------------------------------------------------------------------------
# Special-function building blocks (all elementwise on float arrays of one shape)


def _stirling_error(s: FloatArray) -> FloatArray:
    """log Γ(s+1) − (s log s − s + ½ log 2πs), accurate to ~1e-17 for s ≥ 10 (asymptotic series)."""
    inv = 1.0 / s
    inv2 = inv * inv
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188))))


def _deviance(s: FloatArray, w: FloatArray, log_w: FloatArray) -> FloatArray:
    """s log(s/w) + w − s ≥ 0 without cancellation when s ≈ w (Loader's bd0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        plain = s * (np.log(s) - log_w) + w - s
        near = np.abs(s - w) < 0.1 * (s + w)
        if near.any():
            sn, wn = s[near], w[near]
            v = (sn - wn) / (sn + wn)
            v2 = v * v
            term = 2.0 * sn * v
            total = (sn - wn) * v
            for j in range(1, 9):  # |v| < 0.053, so v^16 < 1e-20: eight terms are exact
                term = term * v2
                total = total + term / (2 * j + 1)
            plain[near] = total
    return plain


def _log_poisson(s: FloatArray, w: FloatArray, log_w: FloatArray) -> FloatArray:
    """log g(s, w) = s log w − w − log Γ(s+1) for real s ≥ 0 (the Poisson term), without cancellation."""
    out = np.empty_like(s)
    small = s < 10.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ss = s[small]
        # 0 · log 0 = 0 for the s = 0 term
        out[small] = np.where(ss == 0.0, 0.0, ss * log_w[small]) - w[small] - special.gammaln(ss + 1.0)
        big = ~small
        sb = s[big]
        out[big] = (-_stirling_error(sb) - 0.5 * (_LOG_2PI + np.log(sb))
                    - _deviance(sb, w[big], log_w[big]))
    return out


def _log_lower_gamma(s: FloatArray, w: FloatArray, log_w: FloatArray) -> FloatArray:
    """log P(s, w) (regularised lower incomplete gamma, s > 0), valid where P underflows.

    In the deep lower tail P(s, w) = g(s, w) · Σ_j w^j / ((s+1)…(s+j)), a series whose ratio w/(s+j) < 1.
    """
    p = special.gammainc(s, w)
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(p)
    tail = ~(p > _TINY)
    if tail.any():
        st, wt = s[tail], w[tail]
        out[tail] = _log_poisson(st, wt, log_w[tail]) + np.log(_ascending_series(st, wt))
    return out


def _ascending_series(s: FloatArray, w: FloatArray) -> FloatArray:
    """Σ_{j≥0} w^j / ((s+1)(s+2)…(s+j)) for w < s + 1 (converges geometrically)."""
    total = np.ones_like(s)
    term = np.ones_like(s)
    active = np.arange(s.size)
    j = 0
    while active.size:
        j += 1
        term[active] *= w[active] / (s[active] + j)
        total[active] += term[active]
        active = active[term[active] > 1e-17 * total[active]]
    return total


def _descending_series(n: FloatArray, a: FloatArray) -> FloatArray:
    """Σ_{j=0}^{n} n(n−1)…(n−j+1) / a^j (= 1 / Erlang B) for a > n; terminates or converges geometrically."""
    total = np.ones_like(n)
    term = np.ones_like(n)
    active = np.arange(n.size)
    j = 0
    while active.size:
        term[active] *= np.maximum(n[active] - j, 0.0) / a[active]
        total[active] += term[active]
        j += 1
        active = active[term[active] > 1e-17 * total[active]]
    return total


def _erlang_b_flat(n: FloatArray, a: FloatArray) -> FloatArray:
    """Erlang B on flat arrays: B = g(n, a) / Q(n+1, a) (Poisson term over Poisson CDF)."""
    out = np.ones_like(a)
    live = (a > 0.0) & (n > 0.0)
    out[a == 0.0] = 0.0  # no traffic, nothing blocked
    if not live.any():
        return out
    nl, al = n[live], a[live]
    log_a = np.log(al)
    log_g = _log_poisson(nl, al, log_a)
    q = special.gammaincc(nl + 1.0, al)
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    tail = ~(q > _TINY)  # offered load far above the servers: the Poisson CDF underflows
    result = np.exp(np.minimum(log_g - log_q, 0.0))
    if tail.any():
        result[tail] = 1.0 / _descending_series(nl[tail], al[tail])
    out[live] = result
    return out


def _erlang_c_from_b(n: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """C = B / (1 − ρ(1 − B)) written as n·B / (n − a + a·B), so ρ → 1 loses nothing; 1 when a ≥ n."""
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / ((n - a) + a * b)
    c = np.where(a >= n, 1.0, c)
    c = np.where(a == 0.0, np.where(n > 0, 0.0, 1.0), c)
    return np.clip(c, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------
# Public formulas


def erlang_b(servers: ArrayLike, load: ArrayLike) -> FloatArray:
    """Erlang B blocking probability (fraction 0..1) for `servers` trunks or agents, `load` Erlangs offered.

    B(n, a) = (aⁿ/n!) / Σ_{k≤n} aᵏ/k!; computed as a log-space ratio of the Poisson term to the Poisson CDF.
    B(0, a) = 1 for a > 0; B(n, 0) = 0.
    """
    n = _as_count(servers, "servers").astype(np.float64)
    a = _as_float(load, "load", minimum=0.0)
    n, a = np.broadcast_arrays(n, a)
    return _erlang_b_flat(n.ravel(), a.ravel()).reshape(n.shape)


def erlang_c(servers: ArrayLike, load: ArrayLike) -> FloatArray:
    """Erlang C probability that a call waits, P(wait > 0) (fraction), in M/M/n with `load` Erlangs offered.

    C = B / (1 − ρ(1 − B)) with ρ = load / servers; 1 when load ≥ servers (the queue grows without bound).
    """
    n = _as_count(servers, "servers").astype(np.float64)
    a = _as_float(load, "load", minimum=0.0)
    n, a = np.broadcast_arrays(n, a)
    nf, af = n.ravel(), a.ravel()
    return _erlang_c_from_b(nf, af, _erlang_b_flat(nf, af)).reshape(n.shape)


@dataclass(frozen=True)
class _Inputs:
    """Flat, broadcast inputs in per-second rates."""

    shape: tuple[int, ...]
    n: FloatArray  # agents
    calls: FloatArray
    lam: FloatArray  # arrivals per second
    aht: FloatArray  # seconds
    a: FloatArray  # offered load, Erlangs
    within: FloatArray  # seconds
    patience: FloatArray | None  # seconds (mean of the exponential patience)


def _prepare(agents: ArrayLike, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
             within_seconds: ArrayLike, patience_seconds: ArrayLike | None) -> _Inputs:
    n = _as_count(agents, "agents").astype(np.float64)
    c = _as_float(calls, "calls", minimum=0.0)
    t = _as_float(interval_seconds, "interval_seconds", minimum=0.0, strict=True)
    h = _as_float(aht_seconds, "aht_seconds", minimum=0.0, strict=True)
    w = _as_float(within_seconds, "within_seconds", minimum=0.0)
    parts = [n, c, t, h, w]
    if patience_seconds is not None:
        parts.append(_as_float(patience_seconds, "patience_seconds", minimum=0.0, strict=True))
    arrays = np.broadcast_arrays(*parts)
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in arrays]
    lam = flat[1] / flat[2]
    return _Inputs(shape=shape, n=flat[0], calls=flat[1], lam=lam, aht=flat[3], a=lam * flat[3],
                   within=flat[4], patience=flat[5] if patience_seconds is not None else None)


def _metrics_c(x: _Inputs) -> dict[str, FloatArray]:
    """Erlang C (no abandonment)."""
    return _metrics_c_from_b(x.n, x.a, _erlang_b_flat(x.n, x.a), x.aht, x.within)


def _metrics_c_from_b(n: FloatArray, a: FloatArray, b: FloatArray, aht: FloatArray,
                      within: FloatArray) -> dict[str, FloatArray]:
    """Erlang C metrics from a known Erlang B value `b` = B(n, a) (no special functions left to evaluate)."""
    c = _erlang_c_from_b(n, a, b)
    stable = n > a
    gap = np.where(stable, n - a, 1.0)  # placeholder where unstable; overwritten below
    sl = np.where(stable, 1.0 - c * np.exp(-gap * within / aht), 0.0)
    asa = np.where(stable, c * aht / gap, np.inf)
    lq = np.where(stable, c * a / gap, np.inf)
    occ = np.where(n > 0, np.minimum(a / np.maximum(n, 1.0), 1.0), np.where(a > 0, 1.0, 0.0))
    idle = a == 0.0
    sl = np.where(idle, 1.0, sl)
    asa = np.where(idle, 0.0, asa)
    lq = np.where(idle, 0.0, lq)
    c = np.where(idle, 0.0, c)
    return {"prob_wait": c, "service_level": np.clip(sl, 0.0, 1.0), "asa_seconds": asa, "occupancy": occ,
            "expected_queue_length": lq}


def _newton_root(f: Any, fprime: Any, start: FloatArray, iterations: int = 60) -> FloatArray:
    """Newton's method for a convex increasing f started right of the root (converges monotonically)."""
    v = start.copy()
    for _ in range(iterations):
        step = f(v) / fprime(v)
        v = v - step
        if np.all(np.abs(step) <= 1e-12 * np.maximum(np.abs(v), 1.0)):
            break
    return v


@cache
def _gauss_legendre(nodes: int) -> tuple[FloatArray, FloatArray]:
    points, weights = np.polynomial.legendre.leggauss(nodes)
    return points.astype(np.float64), weights.astype(np.float64)


def _window_average(k: FloatArray, ys: FloatArray, fn: Any) -> FloatArray:
    """Mean of fn(s) under the density ∝ exp(−k·s − y·e^(−s)) on s ≥ 0 (Gauss–Legendre over the mass window).

    For Erlang A, θ × (the wait a queued caller would have with infinite patience) has density
    ∝ exp(−x·s − y·e^(−s)) (the queue ahead drains at rate nμ + iθ; see docs/planning/queueing.md), and for
    the callers who are answered after queueing it is ∝ exp(−(x+1)·s − y·e^(−s)). Those means are ASA and the
    abandonment probability without cancellation.
    """
    with np.errstate(divide="ignore"):
        mode = np.maximum(np.log(ys) - np.log(k), 0.0)
    interior = mode > 0.0
    curvature = np.exp(np.log(ys) - mode)  # y·e^(−mode); equals k at an interior peak
    c = _WINDOW_NATS / k
    # Right end: interior peak: d − 1 + e^(−d) = c; boundary peak: k·d − y(1 − e^(−d)) = 60.
    right_interior = _newton_root(lambda d: d - 1.0 + np.exp(-d) - c, lambda d: 1.0 - np.exp(-d), c + 1.0)
    right_boundary = _newton_root(lambda d: k * d - ys * (-np.expm1(-d)) - _WINDOW_NATS,
                                  lambda d: k - ys * np.exp(-d), (_WINDOW_NATS + ys) / k)
    right = np.where(interior, right_interior, right_boundary)
    # Left end (interior peak only): e^u − 1 − u = c, started at √(2c) which lies right of the root.
    left = _newton_root(lambda u: np.expm1(u) - u - c, lambda u: np.expm1(u), np.sqrt(2.0 * c) + 1e-3)
    lo = np.where(interior, np.maximum(mode - left, 0.0), 0.0)
    hi = mode + right
    points, weights = _gauss_legendre(_QUAD_NODES)
    half = 0.5 * (hi - lo)
    s = (lo + half)[:, None] + half[:, None] * points[None, :]
    d = s - mode[:, None]
    # log density relative to the peak, arranged so large k and y do not cancel
    log_density = -(k - curvature)[:, None] * d - curvature[:, None] * (d + np.expm1(-d))
    mass = np.exp(log_density) * weights[None, :]
    result: FloatArray = (mass * fn(s)).sum(axis=1) / mass.sum(axis=1)
    return result


def _metrics_a(x: _Inputs, *, need_asa: bool = True) -> dict[str, FloatArray]:
    """Erlang A (M/M/n+M): exact stationary formulas via incomplete gamma functions.

    With μ = 1/AHT, θ = 1/patience, x = nμ/θ, y = λ/θ, ρ = y/x, B = Erlang B(n, λ/μ):
      1/S = g(x, y) / P(x, y)                                 (S: relative mass of the queueing states)
      P(wait > 0) = B / (B + (1 − B)/S)
      P(abandon)  = P(wait > 0) · (ρ − 1 + 1/S) / ρ
      P(answered within t) = 1 − P(wait > 0) + P(wait > 0)/ρ · [(1 − 1/S) − P(x+1, y·e^(−θt)) / P(x, y)]
    (Garnett, Mandelbaum & Reiman 2002; Mandelbaum & Zeltyn 2005.)
    """
    assert x.patience is not None
    n, a, lam = x.n, x.a, x.lam
    theta = 1.0 / x.patience
    mu = 1.0 / x.aht
    size = n.size
    prob_wait = np.ones(size)
    abandon = np.ones(size)
    sl = np.zeros(size)
    asa = np.full(size, np.inf)
    occ = np.zeros(size)
    queue = np.zeros(size)

    idle = a == 0.0
    prob_wait[idle] = 0.0
    abandon[idle] = 0.0
    sl[idle] = 1.0
    asa[idle] = 0.0
    # Zero agents and some calls: everyone waits and abandons; mean queue = λ · patience.
    none = (n == 0.0) & ~idle
    queue[none] = lam[none] * x.patience[none]
    occ[none] = 1.0

    live = ~idle & ~none
    if live.any():
        nl, al, laml, th, mul = n[live], a[live], lam[live], theta[live], mu[live]
        xs = nl * mul / th
        ys = laml / th
        rho = ys / xs
        log_y = np.log(ys)
        b = _erlang_b_flat(nl, al)
        log_p = _log_lower_gamma(xs, ys, log_y)
        inv_s = np.exp(np.minimum(_log_poisson(xs, ys, log_y) - log_p, 0.0))
        pw = b / (b + (1.0 - b) * inv_s)
        closed = rho - 1.0 + inv_s
        # Long patience: ρ − 1 + 1/S cancels; then use the same quantity as a mean, θ·E[wait | queued].
        shaky = np.abs(rho - 1.0) > 1e3 * np.abs(closed)
        if shaky.any():
            closed[shaky] = rho[shaky] * _window_average(xs[shaky], ys[shaky], lambda v: -np.expm1(-v))
        pab = np.clip(pw * closed / rho, 0.0, 1.0)
        log_yz = log_y - th * x.within[live]
        yz = np.exp(log_yz)
        tail = np.exp(_log_lower_gamma(xs + 1.0, yz, log_yz) - log_p)
        served_late_within = np.maximum((1.0 - inv_s) - tail, 0.0)
        sl_live = 1.0 - pw + pw / rho * served_late_within
        served_after_wait = pw * (1.0 - inv_s) / rho
        answered = 1.0 - pab
        if need_asa:
            wait_served = _window_average(xs + 1.0, ys, lambda v: v) / th
            with np.errstate(divide="ignore", invalid="ignore"):
                asa_live = np.where(answered > 0.0, served_after_wait * wait_served / answered, np.inf)
        else:
            asa_live = np.full(xs.size, np.nan)  # not asked for (solver without an ASA target)
        prob_wait[live] = pw
        abandon[live] = pab
        sl[live] = np.clip(sl_live, 0.0, 1.0)
        asa[live] = asa_live
        occ[live] = np.minimum(al * answered / nl, 1.0)
        queue[live] = laml * pab / th  # abandonment flow θ·E[Q] = λ·P(abandon)
    return {"prob_wait": prob_wait, "service_level": sl, "asa_seconds": asa, "occupancy": occ,
            "expected_queue_length": queue, "abandon_rate": abandon}


def _compute(x: _Inputs, *, need_asa: bool = True) -> dict[str, FloatArray]:
    return _metrics_a(x, need_asa=need_asa) if x.patience is not None else _metrics_c(x)


def evaluate(*, agents: ArrayLike, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
             within_seconds: ArrayLike, patience_seconds: ArrayLike | None = None) -> QueueMetrics:
    """What `agents` achieve for `calls` offered per `interval_seconds` with `aht_seconds` handle time.

    Without `patience_seconds`: Erlang C (callers never hang up). With it: Erlang A, callers abandon after an
    exponentially distributed patience of that mean (seconds). Service level is measured at `within_seconds`.
    See `QueueMetrics` for the exact definition of each field.
    """
    x = _prepare(agents, calls, interval_seconds, aht_seconds, within_seconds, patience_seconds)
    return _package(x, _compute(x))


def erlang_a(*, agents: ArrayLike, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
             within_seconds: ArrayLike, patience_seconds: ArrayLike) -> QueueMetrics:
    """Erlang A (M/M/n+M) metrics; `evaluate` with a required mean patience (seconds)."""
    return evaluate(agents=agents, calls=calls, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
                    within_seconds=within_seconds, patience_seconds=patience_seconds)


def _package(x: _Inputs, m: dict[str, FloatArray]) -> QueueMetrics:
    def shaped(v: FloatArray) -> FloatArray:
        return v.reshape(x.shape)

    abandon = m.get("abandon_rate")
    return QueueMetrics(
        agents=x.n.astype(np.int64).reshape(x.shape),
        traffic_erlangs=shaped(x.a),
        prob_wait=shaped(m["prob_wait"]),
        service_level=shaped(m["service_level"]),
        asa_seconds=shaped(m["asa_seconds"]),
        occupancy=shaped(m["occupancy"]),
        expected_queue_length=shaped(m["expected_queue_length"]),
        abandon_rate=None if abandon is None else shaped(abandon),
    )


# ----------------------------------------------------------------------------------------------------
# Solvers


def _smallest_feasible(lower: FloatArray, step0: FloatArray, feasible: Any) -> FloatArray:
    """Smallest integer n ≥ lower with feasible(indices, n) true, for a predicate monotone in n.

    Gallops upwards from `lower` in doubling steps (first step ~√load) to find a feasible bound, then bisects;
    every round evaluates the predicate once, vectorised over the elements still searching.
    """
    size = lower.size
    result = lower.copy()
    idx = np.arange(size)
    ok = feasible(idx, lower)
    lo = lower.copy()  # largest value known infeasible (where `lower` itself is)
    hi = lower.copy()
    pending = idx[~ok]
    step = np.maximum(step0, 1.0)
    rounds = 0
    while pending.size:
        rounds += 1
        if rounds > _MAX_GALLOP:
            raise PlanningInputError("the target cannot be reached with any number of agents")
        trial = lower[pending] + step[pending]
        good = feasible(pending, trial)
        hi[pending[good]] = trial[good]
        lo[pending[~good]] = trial[~good]
        step[pending[~good]] *= 2.0
        pending = pending[~good]
    result[~ok] = hi[~ok]
    pending = idx[(hi - lo > 1.0) & ~ok]
    while pending.size:
        mid = np.floor(0.5 * (lo[pending] + hi[pending]))
        good = feasible(pending, mid)
        hi[pending[good]] = mid[good]
        lo[pending[~good]] = mid[~good]
        pending = pending[hi[pending] - lo[pending] > 1.0]
    result[~ok] = hi[~ok]
    return result


@dataclass(frozen=True)
class _Solution:
    """Flat solver output plus the flat inputs, so metrics at the answer need no second validation pass."""

    shape: tuple[int, ...]
    agents: FloatArray
    blocking: FloatArray | None  # Erlang B at `agents` (Erlang C path only), reused for the metrics
    calls: FloatArray
    interval: FloatArray
    aht: FloatArray
    within: FloatArray
    patience: FloatArray | None
    load: FloatArray
    need_asa: bool


def _solve(*, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
           service_level: ArrayLike | None, within_seconds: ArrayLike | None, asa_seconds: ArrayLike | None,
           abandon_rate: ArrayLike | None, patience_seconds: ArrayLike | None,
           max_occupancy: ArrayLike | None) -> _Solution:
    if service_level is None and asa_seconds is None and abandon_rate is None and max_occupancy is None:
        raise PlanningInputError("give at least one target: service level, ASA, abandon rate or occupancy",
                                 field="service_level")
    if service_level is not None and within_seconds is None:
        raise PlanningInputError("a service-level target needs the answer time Y in seconds",
                                 field="within_seconds")
    if abandon_rate is not None and patience_seconds is None:
        raise PlanningInputError("an abandonment target needs the callers' mean patience in seconds",
                                 field="patience_seconds")
    parts: list[FloatArray] = [
        _as_float(calls, "calls", minimum=0.0),
        _as_float(interval_seconds, "interval_seconds", minimum=0.0, strict=True),
        _as_float(aht_seconds, "aht_seconds", minimum=0.0, strict=True),
        _as_float(within_seconds if within_seconds is not None else 0.0, "within_seconds", minimum=0.0),
        _as_fraction(service_level, "service_level") if service_level is not None else np.zeros(()),
        _as_float(asa_seconds, "asa_seconds", minimum=0.0, strict=True) if asa_seconds is not None
        else np.zeros(()),
        _as_fraction(abandon_rate, "abandon_rate") if abandon_rate is not None else np.zeros(()),
        _as_float(patience_seconds, "patience_seconds", minimum=0.0, strict=True)
        if patience_seconds is not None else np.ones(()),
        _as_float(max_occupancy, "max_occupancy") if max_occupancy is not None else np.ones(()),
    ]
    if max_occupancy is not None and ((parts[8] <= 0) | (parts[8] > 1)).any():
        raise PlanningInputError("must be a fraction in (0, 1]", field="max_occupancy")
    arrays = [np.ascontiguousarray(p, dtype=np.float64).ravel() for p in np.broadcast_arrays(*parts)]
    shape = np.broadcast_shapes(*(p.shape for p in parts))
    calls_f, interval_f, aht_f, within_f, sl_t, asa_t, ab_t, patience_f, occ_t = arrays
    load = calls_f * aht_f / interval_f
    with_patience = patience_seconds is not None
    need_asa = asa_seconds is not None

    if with_patience:
        # Erlang A: fewer agents than Erlangs can be enough, so stability gives no bound. Carried load
        # a·(1 − P(abandon)) is below n (below cap·n with a cap) and at least a·SL, since SL counts answered
        # calls only; so n ≥ a·SL/cap and n ≥ a·(1 − abandon target)/cap. Floored with a margin: a bound only.
        carried = np.zeros_like(load)
        if service_level is not None:
            carried = np.maximum(carried, load * sl_t)
        if abandon_rate is not None:
            carried = np.maximum(carried, load * (1.0 - ab_t))
        lower = np.maximum(np.floor(carried / occ_t * (1.0 - 1e-9)), 1.0)
    else:
        # Erlang C: stability (n > load) and the occupancy cap (occupancy = load / n).
        lower = np.maximum(np.ceil(load / occ_t - 1e-12), np.floor(load) + 1.0)
    lower[calls_f == 0.0] = 0.0

    def feasible(idx: IntArray, n: FloatArray) -> NDArray[np.bool_]:
        x = _Inputs(shape=(idx.size,), n=n, calls=calls_f[idx], lam=calls_f[idx] / interval_f[idx],
                    aht=aht_f[idx], a=load[idx], within=within_f[idx],
                    patience=patience_f[idx] if with_patience else None)
        m = _compute(x, need_asa=need_asa)
        ok = np.ones(idx.size, dtype=bool)
        if service_level is not None:
            ok &= m["service_level"] >= sl_t[idx]
        if asa_seconds is not None:
            ok &= m["asa_seconds"] <= asa_t[idx]
        if abandon_rate is not None:
            ok &= m["abandon_rate"] <= ab_t[idx]
        if max_occupancy is not None:
            ok &= m["occupancy"] <= occ_t[idx] + 1e-12
        ok |= calls_f[idx] == 0.0
        return ok

    step0 = np.ceil(np.sqrt(load)) + 1.0
    blocking: FloatArray | None = None
    if with_patience:
        agents = _smallest_feasible(lower, step0, feasible)
    else:
        agents, blocking = _scan_erlang_c(lower, load, aht_f, within_f, calls_f,
                                          sl_t if service_level is not None else None,
                                          asa_t if asa_seconds is not None else None)
        unfinished = np.flatnonzero(np.isnan(agents))
        if unfinished.size:
            def rest(idx: IntArray, n: FloatArray) -> NDArray[np.bool_]:
                return feasible(unfinished[idx], n)

            far = _smallest_feasible(lower[unfinished] + _SCAN_STEPS, step0[unfinished], rest)
            agents[unfinished] = far
            blocking[unfinished] = _erlang_b_flat(far, load[unfinished])
    return _Solution(shape=shape, agents=agents, blocking=blocking, calls=calls_f, interval=interval_f,
                     aht=aht_f, within=within_f, patience=patience_f if with_patience else None, load=load,
                     need_asa=need_asa)


def required_agents(*, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
                    service_level: ArrayLike | None = None, within_seconds: ArrayLike | None = None,
                    asa_seconds: ArrayLike | None = None, abandon_rate: ArrayLike | None = None,
                    patience_seconds: ArrayLike | None = None,
                    max_occupancy: ArrayLike | None = None) -> IntArray:
    """Fewest agents meeting every given target, per interval (count; 0 where no calls are offered).

    Targets (any combination, all must hold): `service_level` (fraction 0..1, with `within_seconds`, as
    defined in `QueueMetrics`), `asa_seconds` (mean wait of answered calls ≤ target, seconds), `abandon_rate`
    (fraction, needs `patience_seconds`), `max_occupancy` (fraction, occupancy ≤ cap; with patience the
    occupancy is of the carried load, offered × (1 − abandon rate)). Without patience the model is Erlang C
    and the answer always exceeds the offered load (otherwise the queue never empties); with patience
    (Erlang A) it can be below the offered load, because callers who hang up need no agent.
    Use `staff_intervals` when the metrics at the answer are wanted too: it reuses the search's last step.
    """
    sol = _solve(calls=calls, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
                 service_level=service_level, within_seconds=within_seconds, asa_seconds=asa_seconds,
                 abandon_rate=abandon_rate, patience_seconds=patience_seconds, max_occupancy=max_occupancy)
    return sol.agents.astype(np.int64).reshape(sol.shape)


def staff_intervals(*, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
                    service_level: ArrayLike | None = None, within_seconds: ArrayLike | None = None,
                    asa_seconds: ArrayLike | None = None, abandon_rate: ArrayLike | None = None,
                    patience_seconds: ArrayLike | None = None,
                    max_occupancy: ArrayLike | None = None) -> QueueMetrics:
    """`required_agents` and what that staffing achieves, in one pass: `QueueMetrics` at the answer.

    Same arguments and units as `required_agents`; `agents` holds the answer (count) and the other fields
    equal `evaluate` at it, with the service level measured at `within_seconds` (0 s when not given).
    For Erlang C the Erlang B value from the search's final step is reused, so no special function is
    evaluated twice; for Erlang A the metrics are computed once at the answer.
    """
    sol = _solve(calls=calls, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
                 service_level=service_level, within_seconds=within_seconds, asa_seconds=asa_seconds,
                 abandon_rate=abandon_rate, patience_seconds=patience_seconds, max_occupancy=max_occupancy)
    lam = sol.calls / sol.interval
    x = _Inputs(shape=sol.shape, n=sol.agents, calls=sol.calls, lam=lam, aht=sol.aht, a=sol.load,
                within=sol.within, patience=sol.patience)
    if sol.blocking is not None:
        metrics = _metrics_c_from_b(sol.agents, sol.load, sol.blocking, sol.aht, sol.within)
    else:
        metrics = _compute(x)
    return _package(x, metrics)


# Upward steps of the Erlang B recursion tried before falling back to galloping search.
_SCAN_STEPS = 48
# Up to this many servers, Erlang B by the recursion from B(0) = 1 is cheaper (and closer to exact) than by
# incomplete gammas: about 4e-16 relative against 40-digit sums on the benchmark year, the gammas 2e-14.
_RECURSION_MAX = 128


def _erlang_b_start(n: FloatArray, a: FloatArray) -> FloatArray:
    """Erlang B for n ≥ 1, a > 0 (flat): the forward recursion from B(0) = 1 for small n, else `_erlang_b_flat`.

    The forward recursion is stable (each step damps earlier rounding), so ≤ 128 steps cost a few ulp.
    Small n are sorted so that each step works on the contiguous tail still climbing.
    """
    small = n <= _RECURSION_MAX
    if not small.any():
        return _erlang_b_flat(n, a)
    out = np.empty_like(a)
    big = ~small
    if big.any():
        out[big] = _erlang_b_flat(n[big], a[big])
    where = np.flatnonzero(small)
    order = np.argsort(n[where].astype(np.int16), kind="stable")  # small integers: a radix sort
    where = where[order]
    ns, as_ = n[where], a[where]
    b = np.ones_like(as_)
    for k in range(1, int(ns[-1]) + 1):
        start = int(np.searchsorted(ns, k))  # first element still below its own n
        ab = as_[start:] * b[start:]
        b[start:] = ab / (k + ab)
    out[where] = b
    return out


def _scan_erlang_c(lower: FloatArray, load: FloatArray, aht: FloatArray, within: FloatArray,
                   calls: FloatArray, sl_target: FloatArray | None,
                   asa_target: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """Erlang C solver: exact Erlang B at the lower bound, then the stable upward recursion
    B(n+1) = a·B(n) / (n + 1 + a·B(n)) one agent at a time, stopping each interval at its first feasible n.

    Returns the agents and Erlang B at them. The occupancy cap and stability are already in `lower`.
    Intervals still short of the target after `_SCAN_STEPS` agents are NaN (for the galloping search).
    Finished intervals are only masked, and the arrays compacted once half of them are done: whole-array
    arithmetic is cheaper than re-indexing every step.
    """
    result = np.full(lower.size, np.nan)
    blocking = np.full(lower.size, np.nan)
    idle = calls == 0.0
    result[idle] = 0.0
    blocking[idle] = 0.0
    idx = np.flatnonzero(~idle)
    n, a = lower[idx], load[idx]
    b = _erlang_b_start(n, a)
    rate = within[idx] / aht[idx]  # service-level exponent per agent above the load
    h = aht[idx]
    sl_t = sl_target[idx] if sl_target is not None else None
    asa_t = asa_target[idx] if asa_target is not None else None
    waiting = np.ones(idx.size, dtype=bool)
    rate = -rate  # exp(gap · (−rate)) equals exp(−gap · rate) exactly and saves a negation per step
    for _ in range(_SCAN_STEPS):
        if not idx.size:
            break
        gap = n - a
        ab = a * b  # shared by C(n) and the step to B(n + 1)
        c = n * b / (gap + ab)
        ok = waiting
        if sl_t is not None:
            ok = ok & (1.0 - c * np.exp(gap * rate) >= sl_t)
        if asa_t is not None:
            ok = ok & (c * h / gap <= asa_t)
        if ok is waiting:
            ok = waiting.copy()
        if ok.any():
            result[idx[ok]] = n[ok]
            blocking[idx[ok]] = b[ok]
            waiting &= ~ok
            left = int(np.count_nonzero(waiting))
            if left == 0:
                break
            if 2 * left <= idx.size:
                idx = idx[waiting]
                n, a, b, ab, rate, h = (v[waiting] for v in (n, a, b, ab, rate, h))
                sl_t = sl_t[waiting] if sl_t is not None else None
                asa_t = asa_t[waiting] if asa_t is not None else None
                waiting = np.ones(idx.size, dtype=bool)
        n = n + 1.0
        b = ab / (n + ab)
    return result, blocking


def trunks_required(load_erlangs: ArrayLike, blocking: ArrayLike) -> IntArray:
    """Fewest trunks (lines) whose Erlang B blocking is at most `blocking` (fraction) for `load_erlangs`.

    Zero load needs zero trunks.
    """
    a = _as_float(load_erlangs, "load", minimum=0.0)
    target = _as_fraction(blocking, "blocking")
    a, target = np.broadcast_arrays(a, target)
    af, tf = a.ravel().astype(np.float64), target.ravel().astype(np.float64)
    lower = np.zeros_like(af)

    def feasible(idx: IntArray, n: FloatArray) -> NDArray[np.bool_]:
        ok: NDArray[np.bool_] = (_erlang_b_flat(n, af[idx]) <= tf[idx]) | (af[idx] == 0.0)
        return ok

    trunks = _smallest_feasible(lower, np.ceil(af) + 1.0, feasible)
    return trunks.astype(np.int64).reshape(a.shape)


def trunk_load(*, calls: ArrayLike, interval_seconds: ArrayLike, talk_seconds: ArrayLike,
               asa_seconds: ArrayLike) -> FloatArray:
    """Load on the trunks (Erlangs) = calls × (talk + ASA) / interval.

    A line is held while the caller waits and talks, not during after-call work. Seconds in, Erlangs out.
    """
    c = _as_float(calls, "calls", minimum=0.0)
    t = _as_float(interval_seconds, "interval_seconds", minimum=0.0, strict=True)
    talk = _as_float(talk_seconds, "talk_seconds", minimum=0.0)
    asa = _as_float(asa_seconds, "asa_seconds", minimum=0.0)
    result: FloatArray = c * (talk + asa) / t
    return result
