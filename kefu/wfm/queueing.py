"""Exact queueing formulas for staffing: Erlang B (trunks), Erlang C (M/M/n) and Erlang A (M/M/n+M,
exponential patience), vectorised over intervals, stable up to 100,000 servers and 100,000 Erlangs.

Numerical approach: no factorials. Every formula is written with the regularised incomplete gamma functions
P(s, w) = gammainc(s, w), Q(s, w) = gammaincc(s, w) and the Poisson term g(s, w) = w**s e**-w / Γ(s + 1),
all in log space; where an incomplete gamma underflows (deep tails) the same ratio is summed as a short,
geometrically converging series instead.

A single case (plain numbers) skips the arrays: twins of the same formulas on Python floats give the very same
numbers without NumPy's per-call overhead (see "Single cases" at the end).

Units everywhere: calls per interval, seconds, Erlangs, fractions 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, overload

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


@overload
def _stirling_error(s: float) -> float: ...
@overload
def _stirling_error(s: FloatArray) -> FloatArray: ...
def _stirling_error(s: float | FloatArray) -> float | FloatArray:
    """log Γ(s+1) − (s log s − s + ½ log 2πs), accurate to ~1e-17 for s ≥ 10 (asymptotic series).

    Plain arithmetic: the same code serves arrays and the single-case path's Python floats."""
    inv = 1.0 / s
    inv2 = inv * inv
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188))))


def _deviance(s: FloatArray, w: FloatArray, log_w: FloatArray) -> FloatArray:
    """s log(s/w) + w − s ≥ 0 without cancellation when s ≈ w (Loader's bd0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        plain = s * (np.log(s) - log_w) + w - s
        near = np.abs(s - w) < 0.1 * (s + w)
        if near.any():
            plain[near] = _deviance_near(s[near], w[near])
    return plain


@overload
def _deviance_near(s: float, w: float) -> float: ...
@overload
def _deviance_near(s: FloatArray, w: FloatArray) -> FloatArray: ...
def _deviance_near(s: float | FloatArray, w: float | FloatArray) -> float | FloatArray:
    """`_deviance` where |s − w| < 0.1·(s + w), as the series 2s·Σ v^(2j+1)/(2j+1) in v = (s−w)/(s+w).

    Plain arithmetic: the same code serves arrays and the single-case path's Python floats."""
    v = (s - w) / (s + w)
    v2 = v * v
    term = 2.0 * s * v
    total = (s - w) * v
    for j in range(1, 9):  # |v| < 0.053, so v^16 < 1e-20: eight terms are exact
        term = term * v2
        total = total + term / (2 * j + 1)
    return total


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
    single = _erlang_one(servers, load, wait=False)
    if single is not None:
        return single
    n = _as_count(servers, "servers").astype(np.float64)
    a = _as_float(load, "load", minimum=0.0)
    n, a = np.broadcast_arrays(n, a)
    return _erlang_b_flat(n.ravel(), a.ravel()).reshape(n.shape)


def erlang_c(servers: ArrayLike, load: ArrayLike) -> FloatArray:
    """Erlang C probability that a call waits, P(wait > 0) (fraction), in M/M/n with `load` Erlangs offered.

    C = B / (1 − ρ(1 − B)) with ρ = load / servers; 1 when load ≥ servers (the queue grows without bound).
    """
    single = _erlang_one(servers, load, wait=True)
    if single is not None:
        return single
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
    """Erlang C metrics from a known Erlang B value `b` = B(n, a) (no special functions left to evaluate).

    Where the queue is stable and has traffic (n > a > 0, as at every solver answer with calls) the formulas
    need no case analysis and run with few temporaries; the other elements take the general path.
    """
    regular = (n > a) & (a > 0.0)
    if regular.all():
        return _metrics_c_stable(n, a, b, aht, within)
    if not regular.any():
        return _metrics_c_general(n, a, b, aht, within)
    with np.errstate(all="ignore"):
        m = _metrics_c_stable(n, a, b, aht, within)
    odd = np.flatnonzero(~regular)
    rest = _metrics_c_general(n[odd], a[odd], b[odd], aht[odd] if aht.ndim else aht,
                              within[odd] if within.ndim else within)
    for key, value in rest.items():
        m[key][odd] = value
    return m


def _metrics_c_stable(n: FloatArray, a: FloatArray, b: FloatArray, aht: FloatArray,
                      within: FloatArray) -> dict[str, FloatArray]:
    """`_metrics_c_general` for n > a > 0, term for term the same arithmetic, computed in place."""
    gap = n - a
    t = a * b
    t += gap
    c = n * b
    c /= t  # C = n·B / (n − a + a·B)
    np.minimum(c, 1.0, out=c)  # C ≥ 0 here; the cap only guards rounding
    np.negative(gap, out=t)
    t *= within
    t /= aht
    np.exp(t, out=t)  # exp(−gap·Y/AHT) ≤ 1, so 1 − C·exp(…) needs no clipping
    sl = c * t
    np.subtract(1.0, sl, out=sl)
    asa = c * aht
    asa /= gap
    lq = c * a
    lq /= gap
    return {"prob_wait": c, "service_level": sl, "asa_seconds": asa, "occupancy": a / n,
            "expected_queue_length": lq}


def _metrics_c_general(n: FloatArray, a: FloatArray, b: FloatArray, aht: FloatArray,
                       within: FloatArray) -> dict[str, FloatArray]:
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
    return _window_quadrature(k, mode, curvature, lo, hi, fn)


@overload
def _window_quadrature(k: float, mode: float, curvature: float, lo: float, hi: float,
                       fn: Callable[[FloatArray], FloatArray]) -> float: ...
@overload
def _window_quadrature(k: FloatArray, mode: FloatArray, curvature: FloatArray, lo: FloatArray,
                       hi: FloatArray, fn: Callable[[FloatArray], FloatArray]) -> FloatArray: ...
def _window_quadrature(k: Any, mode: Any, curvature: Any, lo: Any, hi: Any,
                       fn: Callable[[FloatArray], FloatArray]) -> float | FloatArray:
    """The Gauss–Legendre sum of `_window_average` over [lo, hi]: flat arrays in, an array out, or Python
    floats in (the single-case path), a float out; both sum each window's nodes in the same order."""
    def column(v: Any) -> FloatArray:
        return np.asarray(v)[..., None]

    points, weights = _gauss_legendre(_QUAD_NODES)
    half = 0.5 * (hi - lo)
    s = column(lo + half) + column(half) * points
    d = s - column(mode)
    # log density relative to the peak, arranged so large k and y do not cancel
    log_density = -column(k - curvature) * d - column(curvature) * (d + np.expm1(-d))
    mass = np.exp(log_density) * weights
    result: FloatArray = (mass * fn(s)).sum(axis=-1) / mass.sum(axis=-1)
    return result if result.ndim else float(result)


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
    single = _evaluate_one(agents, calls, interval_seconds, aht_seconds, within_seconds, patience_seconds)
    if single is not None:
        return single
    x = _prepare(agents, calls, interval_seconds, aht_seconds, within_seconds, patience_seconds)
    return _package(x.shape, x.n, x.a, _compute(x))


def erlang_a(*, agents: ArrayLike, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
             within_seconds: ArrayLike, patience_seconds: ArrayLike) -> QueueMetrics:
    """Erlang A (M/M/n+M) metrics; `evaluate` with a required mean patience (seconds)."""
    return evaluate(agents=agents, calls=calls, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
                    within_seconds=within_seconds, patience_seconds=patience_seconds)


def _package(shape: tuple[int, ...], n: FloatArray, a: FloatArray, m: dict[str, FloatArray]) -> QueueMetrics:
    def shaped(v: FloatArray) -> FloatArray:
        return v.reshape(shape)

    abandon = m.get("abandon_rate")
    return QueueMetrics(
        agents=n.astype(np.int64).reshape(shape),
        traffic_erlangs=shaped(a),
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


def _flat(value: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """`value` broadcast to `shape`, flattened; a single value becomes a read-only zero-stride view, not a copy."""
    if value.shape == shape:
        return value.ravel()
    size = math.prod(shape)
    if value.size == 1:
        return np.broadcast_to(value.reshape(1), (size,))
    return np.ascontiguousarray(np.broadcast_to(value, shape)).reshape(size)


def _first_step(load: FloatArray) -> FloatArray:
    """First step of the galloping search, about √load agents."""
    step: FloatArray = np.ceil(np.sqrt(load)) + 1.0
    return step


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
    shape = np.broadcast_shapes(*(p.shape for p in parts))
    # Targets not given stay 0-d placeholders: they are never indexed.
    given = (True, True, True, True, service_level is not None, asa_seconds is not None,
             abandon_rate is not None, patience_seconds is not None, max_occupancy is not None)
    arrays = [_flat(p, shape) if wanted else p for p, wanted in zip(parts, given, strict=True)]
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
        lower = np.floor(load) + 1.0
        if max_occupancy is not None:
            np.maximum(lower, np.ceil(load / occ_t - 1e-12), out=lower)
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

    blocking: FloatArray | None = None
    if with_patience:
        agents = _smallest_feasible(lower, _first_step(load), feasible)
    else:
        target = float(parts[4].flat[0]) if service_level is not None and parts[4].size == 1 else None
        agents, blocking = _staff_erlang_c(lower, load, aht_f, within_f, calls_f,
                                           sl_t if service_level is not None else None,
                                           asa_t if asa_seconds is not None else None, target)
        unfinished = np.flatnonzero(np.isnan(agents))
        if unfinished.size:
            def rest(idx: IntArray, n: FloatArray) -> NDArray[np.bool_]:
                return feasible(unfinished[idx], n)

            far = _smallest_feasible(lower[unfinished] + _SCAN_STEPS, _first_step(load[unfinished]), rest)
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
    targets: dict[str, Any] = dict(locals())  # the keyword arguments as given (first statement: nothing else yet)
    one = _solve_one(**targets)
    if one is not None:
        return _count_out(one.agents, one.shape)
    sol = _solve(**targets)
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
    targets: dict[str, Any] = dict(locals())  # the keyword arguments as given (first statement: nothing else yet)
    one = _solve_one(**targets)
    if one is not None:
        single = _staff_one(one)
        if single is not None:
            return single
    sol = _solve(**targets)
    if sol.blocking is not None:
        metrics = _metrics_c_from_b(sol.agents, sol.load, sol.blocking, sol.aht, sol.within)
    else:
        x = _Inputs(shape=sol.shape, n=sol.agents, calls=sol.calls, lam=sol.calls / sol.interval,
                    aht=sol.aht, a=sol.load, within=sol.within, patience=sol.patience)
        metrics = _compute(x)
    return _package(sol.shape, sol.agents, sol.load, metrics)


# Upward steps of the Erlang B recursion tried before falling back to galloping search.
_SCAN_STEPS = 48
# Up to this many servers, Erlang B by the recursion from B(0) = 1 is cheaper (and closer to exact) than by
# incomplete gammas: about 4e-16 relative against 40-digit sums on the benchmark year, the gammas 2e-14.
_RECURSION_MAX = 128


def _erlang_b_start(n: FloatArray, a: FloatArray) -> FloatArray:
    """Erlang B for n ≥ 1, a > 0 (flat): the forward recursion from B(0) = 1 for small n, else `_erlang_b_flat`.

    The forward recursion is stable (each step damps earlier rounding), so ≤ 128 steps cost a few ulp.
    Small n are sorted so that each step works, in place, on the contiguous tail still climbing.
    """
    small = n <= _RECURSION_MAX
    if small.all() and n.size:
        return _erlang_b_recursion(n, a)
    if not small.any():
        return _erlang_b_flat(n, a)
    out = np.empty_like(a)
    big = ~small
    out[big] = _erlang_b_flat(n[big], a[big])
    where = np.flatnonzero(small)
    out[where] = _erlang_b_recursion(n[where], a[where])
    return out


def _erlang_b_recursion(n: FloatArray, a: FloatArray) -> FloatArray:
    """B(n, a) by B(k) = a·B(k−1) / (k + a·B(k−1)) from B(0) = 1, for whole n in 1..`_RECURSION_MAX`."""
    whole = n.astype(np.uint8)  # n ≤ _RECURSION_MAX < 256
    order = np.argsort(whole, kind="stable")  # one byte: a single radix pass
    # Where step k starts: the elements before it have already reached their own n.
    starts = np.searchsorted(whole[order], np.arange(1, int(whole[order[-1]]) + 1, dtype=np.uint8)).tolist()
    as_ = a[order]
    b = np.ones(as_.size)
    ab = np.empty_like(b)
    for k, start in enumerate(starts, 1):
        ab_k, b_k = ab[start:], b[start:]
        np.multiply(as_[start:], b_k, out=ab_k)
        np.add(ab_k, k, out=b_k)
        np.divide(ab_k, b_k, out=b_k)
    out = ab  # reused: no fresh memory
    out[order] = b
    return out


# From this many intervals on, the scan starts near the answer (square-root staffing) instead of at the bound.
_GUESS_MIN_INTERVALS = 256
# Square-root staffing estimates of β are tabulated on this many cells of u = √a·Y/AHT, up to _HW_U_MAX.
_HW_CELLS = 4096
_HW_U_MAX = 64.0


@lru_cache(maxsize=64)
def _halfin_whitt_beta(target: float) -> FloatArray:
    """β at the middle of each cell of u for a service-level `target` (fraction), by square-root staffing.

    Halfin & Whitt (1981): with n = a + β√a agents, P(wait) ≈ 1 / (1 + β·Φ(β)/φ(β)) = e^(−K(β)), so
    SL ≈ 1 − e^(−K(β) − β·u) with u = √a·Y/AHT, and the target asks for K(β) + β·u = −ln(1 − T). On a grid of
    β the u is explicit and decreasing, so the table is read back by interpolation.
    """
    beta = np.geomspace(1e-4, 12.0, 2048)
    log_mills = special.log_ndtr(beta) + 0.5 * beta * beta + 0.5 * _LOG_2PI  # ln(Φ(β) / φ(β))
    u = (-math.log1p(-target) - np.log1p(beta * np.exp(log_mills))) / beta
    live = u > 0.0
    cells = (np.arange(_HW_CELLS) + 0.5) * (_HW_U_MAX / _HW_CELLS)
    result: FloatArray = np.zeros(_HW_CELLS)  # a target so low that no margin above the load is asked for
    if np.count_nonzero(live) >= 2:
        result = np.interp(cells, u[live][::-1], beta[live][::-1])
    result.setflags(write=False)  # shared by every call with this target
    return result


def _square_root_start(lower: FloatArray, load: FloatArray, rate: FloatArray, target: float) -> FloatArray:
    """Where to start the Erlang C scan for a service-level `target` (fraction): one agent below the
    square-root staffing estimate n ≈ a + β·√a (`_halfin_whitt_beta`), never below `lower` and, where `lower`
    allows, never above `_RECURSION_MAX`. `rate` is Y / AHT. Only an estimate, right or one short for nearly
    every interval: the caller checks the start and solves again from `lower` where the start already meets
    the target.
    """
    root = np.sqrt(load)
    u = root * rate
    u *= _HW_CELLS / _HW_U_MAX
    np.fmin(u, _HW_CELLS - 1, out=u)  # the last cell also takes u beyond the table (and any NaN)
    cell = u.astype(np.intp)
    start = _halfin_whitt_beta(target)[cell]
    start *= root
    start += load
    np.ceil(start, out=start)
    start -= 1.0
    np.minimum(start, _RECURSION_MAX, out=start)
    np.maximum(start, lower, out=start)
    return start


def _staff_erlang_c(lower: FloatArray, load: FloatArray, aht: FloatArray, within: FloatArray,
                    calls: FloatArray, sl_target: FloatArray | None, asa_target: FloatArray | None,
                    target: float | None) -> tuple[FloatArray, FloatArray]:
    """Erlang C solver (`_scan_erlang_c`), started near the answer when there are many intervals and one
    service-level `target`. A start above `lower` is only an estimate, so it must be below the answer: an
    interval that meets the target at its start is solved again from `lower`. Results are the same as
    scanning from `lower` (B follows the same recursion), including NaN past `_SCAN_STEPS` agents."""
    if target is None or lower.size < _GUESS_MIN_INTERVALS:
        return _scan_erlang_c(lower, load, aht, within, calls, sl_target, asa_target)
    start = _square_root_start(lower, load, within / aht, target)
    agents, blocking = _scan_erlang_c(start, load, aht, within, calls, sl_target, asa_target)
    again = np.flatnonzero((agents == start) & (start > lower))
    if again.size:
        agents[again], blocking[again] = _scan_erlang_c(
            lower[again], load[again], aht[again], within[again], calls[again],
            sl_target[again] if sl_target is not None else None,
            asa_target[again] if asa_target is not None else None)
    beyond = agents >= lower + _SCAN_STEPS  # scanning from `lower` stops short of these: same fallback
    if beyond.any():
        agents[beyond] = np.nan
        blocking[beyond] = np.nan
    return agents, blocking


def _scan_erlang_c(lower: FloatArray, load: FloatArray, aht: FloatArray, within: FloatArray,
                   calls: FloatArray, sl_target: FloatArray | None,
                   asa_target: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """Erlang C solver: exact Erlang B at `lower` (the first number of agents tried), then the stable upward
    recursion B(n+1) = a·B(n) / (n + 1 + a·B(n)) one agent at a time, stopping each interval at its first
    feasible n.

    Returns the agents and Erlang B at them. The occupancy cap and stability are already in `lower`.
    Intervals still short of the target after `_SCAN_STEPS` agents are NaN (for the galloping search).
    Every step is whole-array arithmetic into reused buffers, without masked indexing: an interval that is
    done keeps being stepped, a counter holds how many steps it waited and its B is added in (times 1 at the
    step it finished, times 0 at every other); the arrays are compacted once half of them are done.
    """
    idle = calls == 0.0
    pos: IntArray | None = None  # positions in the output of the intervals being stepped (None: all)
    n, a, h, w = lower, load, aht, within
    sl_t, asa_t = sl_target, asa_target
    if idle.any():
        pos = np.flatnonzero(~idle)
        n, a, h, w = n[pos], a[pos], h[pos], w[pos]
        sl_t = sl_t[pos] if sl_t is not None else None
        asa_t = asa_t[pos] if asa_t is not None else None
    result: FloatArray | None = None
    blocking: FloatArray | None = None
    if pos is not None:
        result = np.zeros(lower.size)  # no calls: no agents, nothing blocked
        blocking = np.zeros(lower.size)
        if not pos.size:
            return result, blocking
    b = _erlang_b_start(n, a)
    rate = -(w / h)  # service-level exponent per agent above the load, negated: exp(gap · rate)
    steps = 0
    while True:
        size = n.size
        first = n  # agents at the block's first step
        n = n.copy()  # stepped in place
        waited = np.zeros(size, dtype=np.uint8)  # steps each interval waited in this block (< 256)
        found_b = np.zeros(size)  # B at the step each interval is done
        waiting = np.ones(size, dtype=bool)
        now = np.empty(size, dtype=bool)
        gap, ab, c, t = (np.empty(size) for _ in range(4))
        left = size
        while True:
            np.subtract(n, a, out=gap)
            np.multiply(a, b, out=ab)  # shared by C(n) and the step to B(n + 1)
            np.multiply(n, b, out=c)
            np.add(gap, ab, out=t)
            np.divide(c, t, out=c)  # C(n) = n·B / (n − a + a·B)
            if sl_t is not None:  # 1 − C·exp(−gap·Y/AHT) ≥ target
                np.multiply(gap, rate, out=t)
                np.exp(t, out=t)
                np.multiply(c, t, out=t)
                np.subtract(1.0, t, out=t)
                np.greater_equal(t, sl_t, out=now)
                if asa_t is not None:
                    now &= c * h / gap <= asa_t
            elif asa_t is not None:  # C·AHT / gap ≤ target
                np.multiply(c, h, out=t)
                np.divide(t, gap, out=t)
                np.less_equal(t, asa_t, out=now)
            else:  # no target left for the scan: the lower bound is the answer
                now.fill(True)
            now &= waiting  # done at this step
            waiting ^= now
            np.multiply(b, now, out=t)
            found_b += t
            left = int(np.count_nonzero(waiting))
            steps += 1
            if not left or 2 * left <= size or steps == _SCAN_STEPS:
                break
            waited += waiting.view(np.uint8)
            n += 1.0
            np.add(n, ab, out=t)
            np.divide(ab, t, out=b)
        found_n = first + waited
        # Settle the block; entries of intervals still waiting are overwritten by a later block (or NaN).
        if result is None or blocking is None:
            result, blocking = found_n, found_b  # the first block covers every interval, in order
        else:
            result[pos] = found_n
            blocking[pos] = found_b
        if not left:
            return result, blocking
        keep = np.flatnonzero(waiting)
        pos = keep if pos is None else pos[keep]
        if steps == _SCAN_STEPS:
            result[pos] = np.nan
            blocking[pos] = np.nan
            return result, blocking
        ab = ab[keep]
        n = n[keep] + 1.0
        b = ab / (n + ab)
        a, h, rate = a[keep], h[keep], rate[keep]
        sl_t = sl_t[keep] if sl_t is not None else None
        asa_t = asa_t[keep] if asa_t is not None else None


def trunks_required(load_erlangs: ArrayLike, blocking: ArrayLike) -> IntArray:
    """Fewest trunks (lines) whose Erlang B blocking is at most `blocking` (fraction) for `load_erlangs`.

    Zero load needs zero trunks.
    """
    single = _trunks_one(load_erlangs, blocking)
    if single is not None:
        return single
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


# ----------------------------------------------------------------------------------------------------
# Single cases
#
# A call whose inputs are all single numbers (plain ints and floats, NumPy scalars, one-element arrays) is
# answered by the twins below instead of the array code: NumPy's fixed cost per operation dominates one case.
# Each twin repeats its array original operation for operation, in the same order, on Python floats. IEEE
# arithmetic rounds the same either way, and the transcendental functions are NumPy's and SciPy's own ufuncs
# called on one value (not the math module's: its exp and log differ from NumPy's SIMD loops in the last bit
# now and then), so the results are the same numbers as the array path's, not merely close ones
# (kefu/wfm/tests/test_queueing_scalar.py holds them to that). Helpers that are plain arithmetic
# (`_stirling_error`, `_deviance_near`, `_window_quadrature`) are shared, not twinned. Whatever a twin does
# not cover (bad input, a division by zero in a degenerate case) returns None and the array path decides,
# with its usual errors.

# Python ints beyond this are left to the array path (their conversion to float could round).
_EXACT_INT = 2**53


def _one(value: object) -> float | None:
    """`value` as a Python float if it is one real number (plain, NumPy scalar, one-element array), else None."""
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value) if -_EXACT_INT <= value <= _EXACT_INT else None
    if isinstance(value, np.ndarray | np.generic) and value.size == 1 and value.dtype.kind in "fiu":
        return float(value.item())
    return None


def _one_shape(*values: object) -> tuple[int, ...]:
    """Broadcast shape of single values: () for scalars, (1, …, 1) as deep as the deepest one-element array."""
    ndim = max((v.ndim for v in values if isinstance(v, np.ndarray)), default=0)
    return (1,) * ndim


def _float_out(value: float, shape: tuple[int, ...]) -> FloatArray:
    out = np.array(value, dtype=np.float64)
    return out.reshape(shape) if shape else out


def _count_out(value: float, shape: tuple[int, ...]) -> IntArray:
    out = np.array(int(value), dtype=np.int64)
    return out.reshape(shape) if shape else out


def _finite(x: float, minimum: float, *, strict: bool = False) -> bool:
    """What `_as_float` accepts: finite and at least (or, `strict`, above) `minimum`."""
    return math.isfinite(x) and (x > minimum if strict else x >= minimum)


def _whole(x: float) -> bool:
    """What `_as_count` accepts (and converts to int64 without overflow)."""
    return math.isfinite(x) and 0.0 <= x < 2.0**62 and x == math.floor(x)


def _fraction(x: float) -> bool:
    """What `_as_fraction` accepts."""
    return 0.0 < x < 1.0


def _log_poisson_one(s: float, w: float, log_w: float) -> float:
    """`_log_poisson` for one value."""
    if s < 10.0:
        return (0.0 if s == 0.0 else s * log_w) - w - float(special.gammaln(s + 1.0))
    return -_stirling_error(s) - 0.5 * (_LOG_2PI + float(np.log(s))) - _deviance_one(s, w, log_w)


def _deviance_one(s: float, w: float, log_w: float) -> float:
    """`_deviance` for one value."""
    if abs(s - w) < 0.1 * (s + w):
        return _deviance_near(s, w)
    return s * (float(np.log(s)) - log_w) + w - s


def _log_lower_gamma_one(s: float, w: float, log_w: float) -> float:
    """`_log_lower_gamma` for one value."""
    p = float(special.gammainc(s, w))
    if p > _TINY:
        return float(np.log(p))
    return _log_poisson_one(s, w, log_w) + float(np.log(_ascending_series_one(s, w)))


def _ascending_series_one(s: float, w: float) -> float:
    """`_ascending_series` for one value."""
    total = term = 1.0
    j = 0
    while True:
        j += 1
        term *= w / (s + j)
        total += term
        if not term > 1e-17 * total:
            return total


def _descending_series_one(n: float, a: float) -> float:
    """`_descending_series` for one value."""
    total = term = 1.0
    j = 0
    while True:
        term *= max(n - j, 0.0) / a
        total += term
        j += 1
        if not term > 1e-17 * total:
            return total


def _erlang_b_one(n: float, a: float) -> float:
    """`_erlang_b_flat` for one value."""
    if a == 0.0:
        return 0.0
    if not n > 0.0:
        return 1.0
    log_a = float(np.log(a))
    log_g = _log_poisson_one(n, a, log_a)
    q = float(special.gammaincc(n + 1.0, a))
    if not q > _TINY:
        return 1.0 / _descending_series_one(n, a)
    return float(np.exp(min(log_g - float(np.log(q)), 0.0)))


def _erlang_b_start_one(n: float, a: float) -> float:
    """`_erlang_b_start` for one value: the forward recursion up to `_RECURSION_MAX` servers, else B by gammas."""
    if n > _RECURSION_MAX:
        return _erlang_b_one(n, a)
    b = 1.0
    for k in range(1, int(n) + 1):
        ab = a * b
        b = ab / (ab + k)
    return b


def _erlang_c_one(n: float, a: float, b: float) -> float:
    """`_erlang_c_from_b` for one value."""
    if a == 0.0:
        c = 0.0 if n > 0 else 1.0
    elif a >= n:
        c = 1.0
    else:
        c = n * b / ((n - a) + a * b)
    return min(max(c, 0.0), 1.0)


# Erlang C metrics of one case, in this order.
_MetricsC = tuple[float, float, float, float, float]  # prob_wait, service_level, asa, occupancy, queue


def _metrics_c_one(n: float, a: float, b: float, aht: float, within: float) -> _MetricsC:
    """`_metrics_c_from_b` for one value (`_metrics_c_stable` where n > a > 0, else `_metrics_c_general`)."""
    if n > a and a > 0.0:
        gap = n - a
        c = min(n * b / (a * b + gap), 1.0)
        t = float(np.exp(-gap * within / aht))
        return c, 1.0 - c * t, c * aht / gap, a / n, c * a / gap
    occ = min(a / max(n, 1.0), 1.0) if n > 0 else (1.0 if a > 0 else 0.0)
    if a == 0.0:
        return 0.0, 1.0, 0.0, occ, 0.0
    return _erlang_c_one(n, a, b), 0.0, math.inf, occ, math.inf  # here n ≤ a: the queue is unstable


# Erlang A metrics of one case, in this order.
_MetricsA = tuple[float, float, float, float, float, float]  # the five of `_MetricsC`, then abandon rate


def _metrics_a_one(n: float, a: float, lam: float, aht: float, within: float, patience: float,
                   *, need_asa: bool = True) -> _MetricsA:
    """`_metrics_a` for one value."""
    if a == 0.0:
        return 0.0, 1.0, 0.0, 0.0, 0.0, 0.0
    if n == 0.0:
        return 1.0, 0.0, math.inf, 1.0, lam * patience, 1.0
    th = 1.0 / patience
    mu = 1.0 / aht
    xs = n * mu / th
    ys = lam / th
    rho = ys / xs
    log_y = float(np.log(ys))
    b = _erlang_b_one(n, a)
    log_p = _log_lower_gamma_one(xs, ys, log_y)
    inv_s = float(np.exp(min(_log_poisson_one(xs, ys, log_y) - log_p, 0.0)))
    pw = b / (b + (1.0 - b) * inv_s)
    closed = rho - 1.0 + inv_s
    if abs(rho - 1.0) > 1e3 * abs(closed):
        closed = rho * _window_average_one(xs, ys, lambda v: -np.expm1(-v))
    pab = min(max(pw * closed / rho, 0.0), 1.0)
    log_yz = log_y - th * within
    yz = float(np.exp(log_yz))
    tail = float(np.exp(_log_lower_gamma_one(xs + 1.0, yz, log_yz) - log_p))
    served_late_within = max((1.0 - inv_s) - tail, 0.0)
    sl = 1.0 - pw + pw / rho * served_late_within
    served_after_wait = pw * (1.0 - inv_s) / rho
    answered = 1.0 - pab
    asa = math.nan  # not asked for (solver without an ASA target)
    if need_asa:
        wait_served = _window_average_one(xs + 1.0, ys, lambda v: v) / th
        asa = served_after_wait * wait_served / answered if answered > 0.0 else math.inf
    return pw, min(max(sl, 0.0), 1.0), asa, min(a * answered / n, 1.0), lam * pab / th, pab


def _newton_root_one(f: Callable[[float], float], fprime: Callable[[float], float], start: float,
                     iterations: int = 60) -> float:
    """`_newton_root` for one value."""
    v = start
    for _ in range(iterations):
        step = f(v) / fprime(v)
        v = v - step
        if abs(step) <= 1e-12 * max(abs(v), 1.0):
            break
    return v


def _window_average_one(k: float, ys: float, fn: Callable[[FloatArray], FloatArray]) -> float:
    """`_window_average` for one value (only the window ends its peak needs are solved for)."""
    log_y = float(np.log(ys))
    mode = max(log_y - float(np.log(k)), 0.0)
    curvature = float(np.exp(log_y - mode))
    c = _WINDOW_NATS / k
    if mode > 0.0:
        right = _newton_root_one(lambda d: d - 1.0 + float(np.exp(-d)) - c,
                                 lambda d: 1.0 - float(np.exp(-d)), c + 1.0)
        left = _newton_root_one(lambda u: float(np.expm1(u)) - u - c, lambda u: float(np.expm1(u)),
                                math.sqrt(2.0 * c) + 1e-3)
        lo = max(mode - left, 0.0)
    else:
        right = _newton_root_one(lambda d: k * d - ys * -float(np.expm1(-d)) - _WINDOW_NATS,
                                 lambda d: k - ys * float(np.exp(-d)), (_WINDOW_NATS + ys) / k)
        lo = 0.0
    return _window_quadrature(k, mode, curvature, lo, mode + right, fn)


def _smallest_feasible_one(lower: float, step0: float, feasible: Callable[[float], bool]) -> float | None:
    """`_smallest_feasible` for one value, trying the same numbers in the same order; None where the array
    path gives up (it raises the error)."""
    if feasible(lower):
        return lower
    lo = hi = lower
    step = max(step0, 1.0)
    for _ in range(_MAX_GALLOP):
        trial = lower + step
        if feasible(trial):
            hi = trial
            break
        lo = trial
        step *= 2.0
    else:
        return None
    while hi - lo > 1.0:
        mid = float(math.floor(0.5 * (lo + hi)))
        if feasible(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _first_step_one(load: float) -> float:
    """`_first_step` for one value."""
    return float(math.ceil(math.sqrt(load))) + 1.0


def _scan_one(lower: float, load: float, aht: float, within: float, sl_target: float | None,
              asa_target: float | None) -> tuple[float, float] | None:
    """`_scan_erlang_c` for one interval with calls: the agents and Erlang B at them, None past `_SCAN_STEPS`."""
    n = lower
    b = _erlang_b_start_one(n, load)
    rate = -(within / aht)
    for _ in range(_SCAN_STEPS):
        gap = n - load
        ab = load * b
        c = n * b / (gap + ab)
        if sl_target is not None:
            done = 1.0 - c * float(np.exp(gap * rate)) >= sl_target
            if asa_target is not None:
                done = done and c * aht / gap <= asa_target
        elif asa_target is not None:
            done = c * aht / gap <= asa_target
        else:
            done = True
        if done:
            return n, b
        n += 1.0
        b = ab / (n + ab)
    return None


@dataclass(frozen=True)
class _OneSolution:
    """`_Solution` for one case, in Python floats."""

    shape: tuple[int, ...]
    agents: float
    blocking: float | None
    calls: float
    interval: float
    aht: float
    within: float
    patience: float | None
    load: float


def _solve_one(*, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
               service_level: ArrayLike | None, within_seconds: ArrayLike | None,
               asa_seconds: ArrayLike | None, abandon_rate: ArrayLike | None,
               patience_seconds: ArrayLike | None, max_occupancy: ArrayLike | None) -> _OneSolution | None:
    """`_solve` for one case, or None (not one case, or not one the twins cover: the array path decides)."""
    if service_level is None and asa_seconds is None and abandon_rate is None and max_occupancy is None:
        return None
    if (service_level is not None and within_seconds is None) or (abandon_rate is not None
                                                                  and patience_seconds is None):
        return None
    c, t, h = _one(calls), _one(interval_seconds), _one(aht_seconds)
    w = 0.0 if within_seconds is None else _one(within_seconds)
    optional = (service_level, asa_seconds, abandon_rate, patience_seconds, max_occupancy)
    sl, asa, ab, patience, occ = values = [None if v is None else _one(v) for v in optional]
    if c is None or t is None or h is None or w is None or any(
            x is None and v is not None for x, v in zip(values, optional, strict=True)):
        return None
    if not (_finite(c, 0.0) and _finite(t, 0.0, strict=True) and _finite(h, 0.0, strict=True)
            and _finite(w, 0.0) and (sl is None or _fraction(sl))
            and (asa is None or _finite(asa, 0.0, strict=True)) and (ab is None or _fraction(ab))
            and (patience is None or _finite(patience, 0.0, strict=True))
            and (occ is None or (math.isfinite(occ) and 0.0 < occ <= 1.0))):
        return None
    shape = _one_shape(calls, interval_seconds, aht_seconds, within_seconds, *optional)
    load = c * h / t
    blocking: float | None = None
    try:
        if patience is None:
            found = _staff_erlang_c_one(c, load, h, w, sl, asa, occ)
            if found is None:
                return None
            agents, blocking = found
        else:
            solved = _staff_erlang_a_one(c, c / t, load, h, w, patience, sl, asa, ab, occ)
            if solved is None:
                return None
            agents = solved
    except ArithmeticError:
        return None
    return _OneSolution(shape=shape, agents=agents, blocking=blocking, calls=c, interval=t, aht=h, within=w,
                        patience=patience, load=load)


def _staff_erlang_c_one(calls: float, load: float, aht: float, within: float, sl: float | None,
                        asa: float | None, occ: float | None) -> tuple[float, float] | None:
    """`_solve`'s Erlang C branch for one case: agents and Erlang B at them (None: the array path decides)."""
    if calls == 0.0:
        return 0.0, 0.0
    lower = float(math.floor(load)) + 1.0
    if occ is not None:
        lower = max(lower, float(math.ceil(load / occ - 1e-12)))
    found = _scan_one(lower, load, aht, within, sl, asa)
    if found is not None:
        return found

    def feasible(n: float) -> bool:
        _, sl_n, asa_n, occ_n, _ = _metrics_c_one(n, load, _erlang_b_one(n, load), aht, within)
        return ((sl is None or sl_n >= sl) and (asa is None or asa_n <= asa)
                and (occ is None or occ_n <= occ + 1e-12))

    far = _smallest_feasible_one(lower + _SCAN_STEPS, _first_step_one(load), feasible)
    return None if far is None else (far, _erlang_b_one(far, load))


def _staff_erlang_a_one(calls: float, lam: float, load: float, aht: float, within: float, patience: float,
                        sl: float | None, asa: float | None, ab: float | None,
                        occ: float | None) -> float | None:
    """`_solve`'s Erlang A branch for one case: the agents (None: the array path decides)."""
    if calls == 0.0:
        return 0.0
    carried = 0.0
    if sl is not None:
        carried = max(carried, load * sl)
    if ab is not None:
        carried = max(carried, load * (1.0 - ab))
    lower = max(float(math.floor(carried / (1.0 if occ is None else occ) * (1.0 - 1e-9))), 1.0)

    def feasible(n: float) -> bool:
        _, sl_n, asa_n, occ_n, _, ab_n = _metrics_a_one(n, load, lam, aht, within, patience,
                                                        need_asa=asa is not None)
        return ((sl is None or sl_n >= sl) and (asa is None or asa_n <= asa)
                and (ab is None or ab_n <= ab) and (occ is None or occ_n <= occ + 1e-12))

    return _smallest_feasible_one(lower, _first_step_one(load), feasible)


def _package_one(shape: tuple[int, ...], n: float, a: float, m: _MetricsC | _MetricsA) -> QueueMetrics:
    """`_package` for one case."""
    return QueueMetrics(
        agents=_count_out(n, shape),
        traffic_erlangs=_float_out(a, shape),
        prob_wait=_float_out(m[0], shape),
        service_level=_float_out(m[1], shape),
        asa_seconds=_float_out(m[2], shape),
        occupancy=_float_out(m[3], shape),
        expected_queue_length=_float_out(m[4], shape),
        abandon_rate=_float_out(m[5], shape) if len(m) == 6 else None,
    )


def _staff_one(sol: _OneSolution) -> QueueMetrics | None:
    """`staff_intervals`' metrics at a single case's answer, or None (the array path decides)."""
    try:
        m: _MetricsC | _MetricsA
        if sol.blocking is not None:
            m = _metrics_c_one(sol.agents, sol.load, sol.blocking, sol.aht, sol.within)
        else:
            assert sol.patience is not None
            m = _metrics_a_one(sol.agents, sol.load, sol.calls / sol.interval, sol.aht, sol.within,
                               sol.patience)
    except ArithmeticError:
        return None
    return _package_one(sol.shape, sol.agents, sol.load, m)


def _evaluate_one(agents: ArrayLike, calls: ArrayLike, interval_seconds: ArrayLike, aht_seconds: ArrayLike,
                  within_seconds: ArrayLike, patience_seconds: ArrayLike | None) -> QueueMetrics | None:
    """`evaluate` for one case, or None (the array path decides)."""
    n, c, t, h, w = (_one(v) for v in (agents, calls, interval_seconds, aht_seconds, within_seconds))
    patience = None if patience_seconds is None else _one(patience_seconds)
    if n is None or c is None or t is None or h is None or w is None or (
            patience is None and patience_seconds is not None):
        return None
    if not (_whole(n) and _finite(c, 0.0) and _finite(t, 0.0, strict=True) and _finite(h, 0.0, strict=True)
            and _finite(w, 0.0) and (patience is None or _finite(patience, 0.0, strict=True))):
        return None
    lam = c / t
    a = lam * h
    try:
        m: _MetricsC | _MetricsA
        if patience is None:
            m = _metrics_c_one(n, a, _erlang_b_one(n, a), h, w)
        else:
            m = _metrics_a_one(n, a, lam, h, w, patience)
    except ArithmeticError:
        return None
    return _package_one(_one_shape(agents, calls, interval_seconds, aht_seconds, within_seconds,
                                   patience_seconds), n, a, m)


def _erlang_one(servers: ArrayLike, load: ArrayLike, *, wait: bool) -> FloatArray | None:
    """`erlang_b` (or, with `wait`, `erlang_c`) for one case, or None (the array path decides)."""
    n, a = _one(servers), _one(load)
    if n is None or a is None or not (_whole(n) and _finite(a, 0.0)):
        return None
    try:
        b = _erlang_b_one(n, a)
        value = _erlang_c_one(n, a, b) if wait else b
    except ArithmeticError:
        return None
    return _float_out(value, _one_shape(servers, load))


def _trunks_one(load_erlangs: ArrayLike, blocking: ArrayLike) -> IntArray | None:
    """`trunks_required` for one case, or None (the array path decides)."""
    a, target = _one(load_erlangs), _one(blocking)
    if a is None or target is None or not (_finite(a, 0.0) and _fraction(target)):
        return None
    try:
        trunks = _smallest_feasible_one(0.0, float(math.ceil(a)) + 1.0,
                                        lambda n: _erlang_b_one(n, a) <= target or a == 0.0)
    except ArithmeticError:
        return None
    return None if trunks is None else _count_out(trunks, _one_shape(load_erlangs, blocking))
