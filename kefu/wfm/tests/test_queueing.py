"""Erlang B, C and A: identities, limits, monotonicity, solver minimality and extreme sizes, checked against
independent high-precision computations (mpmath). Figures from published sources: test_published_values.py."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kefu.wfm import queueing as q
from kefu.wfm.errors import PlanningInputError

mp.mp.dps = 40


# ---------------------------------------------------------------------------------------------------------
# Independent references: direct sums in 40-digit arithmetic (no incomplete gamma functions).


def ref_erlang_b(n: int, a: float) -> mp.mpf:
    a = mp.mpf(a)
    terms = [mp.mpf(1)]
    for k in range(1, n + 1):
        terms.append(terms[-1] * a / k)
    return terms[-1] / mp.fsum(terms)


def ref_erlang_c(n: int, a: float) -> mp.mpf:
    b = ref_erlang_b(n, a)
    rho = mp.mpf(a) / n
    return b / (1 - rho * (1 - b))


def ref_erlang_a(
    n: int, calls: float, interval: float, aht: float, within: float, patience: float
) -> dict[str, mp.mpf]:
    """Erlang A by summing the birth–death stationary distribution state by state.

    Answered-within-t and the mean wait of answered calls use the queue seen on arrival: with j callers ahead,
    the offered wait is a sum of exponentials with rates nμ + iθ (i = j…0), i.e. −log(Beta(x, j+1))/θ with
    x = nμ/θ, and the caller is answered iff its patience outlasts it (probability E[Beta])."""
    lam, mu, th = mp.mpf(calls) / interval, 1 / mp.mpf(aht), 1 / mp.mpf(patience)
    a, x = lam / mu, n * mu / th
    below, term = mp.mpf(0), mp.mpf(1)
    for k in range(n, 0, -1):
        term = term * k / a
        below += term
    weights, w, j = [], mp.mpf(1), 0
    while True:
        weights.append(w)
        j += 1
        w = w * lam / (n * mu + j * th)
        if j > 10 and w < mp.fsum(weights) * mp.mpf(10) ** -30:
            break
    total = below + mp.fsum(weights)
    z = mp.e ** (-th * within)
    served = served_within = wait_served = mp.mpf(0)
    for j, w in enumerate(weights):
        p = w / total
        answered_share = x / (x + j + 1)
        served += p * answered_share
        served_within += p * answered_share * (1 - mp.betainc(x + 1, j + 1, 0, z, regularized=True))
        wait_served += p * answered_share * (mp.digamma(x + j + 2) - mp.digamma(x + 1)) / th
    prob_wait = mp.fsum(weights) / total
    answered = 1 - prob_wait + served
    return {
        "prob_wait": prob_wait,
        "service_level": 1 - prob_wait + served_within,
        "abandon_rate": 1 - answered,
        "asa_seconds": wait_served / answered,
    }


def close(value: float, reference: mp.mpf, rel: float = 1e-10, abs_: float = 1e-14) -> bool:
    return abs(value - float(reference)) <= max(rel * abs(float(reference)), abs_)


# ---------------------------------------------------------------------------------------------------------
# Exactness against the references over a grid


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), a=st.floats(0.001, 400.0))
def test_erlang_b_and_c_match_direct_sums(n: int, a: float) -> None:
    assert close(float(q.erlang_b(n, a)), ref_erlang_b(n, a), rel=1e-11, abs_=1e-300)
    if a < n:
        assert close(float(q.erlang_c(n, a)), ref_erlang_c(n, a), rel=1e-11, abs_=1e-300)
    else:
        assert float(q.erlang_c(n, a)) == 1.0


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 60),
    load=st.floats(0.2, 60.0),
    aht=st.floats(30.0, 900.0),
    within=st.floats(0.0, 120.0),
    patience=st.floats(5.0, 2000.0),
)
def test_erlang_a_matches_state_sums(n: int, load: float, aht: float, within: float, patience: float) -> None:
    calls = load * 1800 / aht
    ref = ref_erlang_a(n, calls, 1800, aht, within, patience)
    m = q.evaluate(
        agents=n,
        calls=calls,
        interval_seconds=1800,
        aht_seconds=aht,
        within_seconds=within,
        patience_seconds=patience,
    )
    assert m.abandon_rate is not None
    assert close(float(m.prob_wait), ref["prob_wait"], rel=1e-9)
    assert close(float(m.service_level), ref["service_level"], rel=1e-9, abs_=1e-12)
    assert close(float(m.abandon_rate), ref["abandon_rate"], rel=1e-8, abs_=1e-13)
    assert close(float(m.asa_seconds), ref["asa_seconds"], rel=1e-8, abs_=1e-12)


# ---------------------------------------------------------------------------------------------------------
# Identities and limits


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 5000), rho=st.floats(0.01, 0.999))
def test_erlang_c_from_b_identity_and_recursion(n: int, rho: float) -> None:
    a = rho * n
    b = float(q.erlang_b(n, a))
    c = float(q.erlang_c(n, a))
    assert c == pytest.approx(b / (1 - rho * (1 - b)), rel=1e-12, abs=1e-300)
    # Erlang B recursion: B(n) = a·B(n−1) / (n + a·B(n−1))
    previous = float(q.erlang_b(n - 1, a))
    assert b == pytest.approx(a * previous / (n + a * previous), rel=1e-11, abs=1e-300)
    assert b <= c <= 1.0


def test_limits() -> None:
    # load → 0: nobody is blocked or waits; B(n, a) ≈ aⁿ/n! for small a
    assert float(q.erlang_b(3, 1e-4)) == pytest.approx(1e-12 / 6, rel=1e-3)
    assert float(q.erlang_c(1, 1e-9)) == pytest.approx(1e-9, rel=1e-6)
    assert float(q.erlang_b(5, 0.0)) == 0.0
    assert float(q.erlang_b(0, 3.0)) == 1.0
    # agents → ∞: waiting vanishes
    m = q.evaluate(agents=[20, 60, 500], calls=100, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    assert m.prob_wait[-1] == 0.0
    assert m.service_level[-1] == 1.0
    assert m.asa_seconds[-1] == 0.0
    # one server: M/M/1 has C = ρ
    assert float(q.erlang_c(1, 0.7)) == pytest.approx(0.7, rel=1e-14)
    # no calls: nothing to do
    idle = q.evaluate(agents=0, calls=0, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    assert float(idle.service_level) == 1.0
    assert float(idle.asa_seconds) == 0.0


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), rho=st.floats(0.05, 0.97), within=st.floats(0.0, 60.0))
@example(n=188, rho=0.8125, within=1.0)  # gaps of 1e-8 at the largest patience: the evaluation's rounding
def test_erlang_a_tends_to_erlang_c_as_patience_grows(n: int, rho: float, within: float) -> None:
    calls = rho * n * 1800 / 200
    c = q.evaluate(agents=n, calls=calls, interval_seconds=1800, aht_seconds=200, within_seconds=within)
    previous_gap = None
    for patience in (2e3, 2e5, 2e7, 2e9):  # 10 to 10⁷ handle times
        a = q.evaluate(
            agents=n,
            calls=calls,
            interval_seconds=1800,
            aht_seconds=200,
            within_seconds=within,
            patience_seconds=patience,
        )
        assert a.abandon_rate is not None
        gap = abs(float(a.service_level) - float(c.service_level)) + abs(
            float(a.prob_wait) - float(c.prob_wait)
        )
        if previous_gap is not None:
            # shrinking, up to the evaluation's own rounding (about 1e-8 once Erlang A is within 1e-8 of C)
            assert gap <= previous_gap + 1e-7
        previous_gap = gap
    assert float(a.service_level) == pytest.approx(float(c.service_level), abs=1e-5)
    assert float(a.prob_wait) == pytest.approx(float(c.prob_wait), abs=1e-5)
    assert float(a.asa_seconds) == pytest.approx(float(c.asa_seconds), rel=1e-3, abs=1e-6)
    assert a.abandon_rate is not None
    assert float(a.abandon_rate) < 1e-3


# ---------------------------------------------------------------------------------------------------------
# Monotonicity and solver minimality


@settings(max_examples=40, deadline=None)
@given(
    calls=st.floats(1.0, 3000.0),
    aht=st.floats(20.0, 900.0),
    within=st.floats(0.0, 120.0),
    patience=st.one_of(st.none(), st.floats(2.0, 3000.0)),
)
def test_more_agents_never_hurt(calls: float, aht: float, within: float, patience: float | None) -> None:
    load = calls * aht / 1800
    agents = np.arange(0, int(load * 1.6) + 15)
    m = q.evaluate(
        agents=agents,
        calls=calls,
        interval_seconds=1800,
        aht_seconds=aht,
        within_seconds=within,
        patience_seconds=patience,
    )
    assert np.all(np.diff(m.service_level) >= -1e-12)
    finite = np.isfinite(m.asa_seconds)
    assert np.all(np.diff(m.asa_seconds[finite]) <= 1e-9 * np.maximum(m.asa_seconds[finite][1:], 1.0))
    assert np.all(np.diff(m.prob_wait) <= 1e-12)
    if m.abandon_rate is not None:
        assert np.all(np.diff(m.abandon_rate) <= 1e-12)
    for field in (m.service_level, m.prob_wait, m.occupancy):
        assert not np.isnan(field).any()
        assert np.all((field >= 0) & (field <= 1))


@settings(max_examples=40, deadline=None)
@given(
    calls=st.floats(0.5, 5000.0),
    aht=st.floats(20.0, 900.0),
    sl=st.floats(0.05, 0.99),
    within=st.floats(0.0, 90.0),
    patience=st.one_of(st.none(), st.floats(5.0, 1000.0)),
    cap=st.one_of(st.none(), st.floats(0.5, 0.98)),
)
def test_solver_is_minimal(
    calls: float, aht: float, sl: float, within: float, patience: float | None, cap: float | None
) -> None:
    n = int(
        q.required_agents(
            calls=calls,
            interval_seconds=1800,
            aht_seconds=aht,
            service_level=sl,
            within_seconds=within,
            patience_seconds=patience,
            max_occupancy=cap,
        )
    )
    m = q.evaluate(
        agents=[n - 1, n],
        calls=calls,
        interval_seconds=1800,
        aht_seconds=aht,
        within_seconds=within,
        patience_seconds=patience,
    )
    assert m.service_level[1] >= sl
    assert cap is None or m.occupancy[1] <= cap + 1e-12
    fewer_fails = m.service_level[0] < sl or (cap is not None and m.occupancy[0] > cap + 1e-12)
    if patience is None:
        fewer_fails = fewer_fails or n - 1 <= calls * aht / 1800
    assert n == 1 or fewer_fails


@settings(max_examples=30, deadline=None)
@given(
    calls=st.floats(0.5, 3000.0),
    aht=st.floats(20.0, 900.0),
    target=st.floats(1.0, 120.0),
    patience=st.one_of(st.none(), st.floats(5.0, 1000.0)),
)
def test_asa_solver_is_minimal(calls: float, aht: float, target: float, patience: float | None) -> None:
    n = int(
        q.required_agents(
            calls=calls, interval_seconds=1800, aht_seconds=aht, asa_seconds=target, patience_seconds=patience
        )
    )
    m = q.evaluate(
        agents=[max(n - 1, 0), n],
        calls=calls,
        interval_seconds=1800,
        aht_seconds=aht,
        within_seconds=20,
        patience_seconds=patience,
    )
    assert m.asa_seconds[1] <= target
    assert n == 1 or m.asa_seconds[0] > target


@settings(max_examples=30, deadline=None)
@given(
    calls=st.floats(0.5, 3000.0),
    aht=st.floats(20.0, 900.0),
    target=st.floats(0.005, 0.5),
    patience=st.floats(5.0, 1000.0),
)
def test_abandon_solver_is_minimal(calls: float, aht: float, target: float, patience: float) -> None:
    n = int(
        q.required_agents(
            calls=calls,
            interval_seconds=1800,
            aht_seconds=aht,
            abandon_rate=target,
            patience_seconds=patience,
        )
    )
    m = q.evaluate(
        agents=[max(n - 1, 0), n],
        calls=calls,
        interval_seconds=1800,
        aht_seconds=aht,
        within_seconds=20,
        patience_seconds=patience,
    )
    assert m.abandon_rate is not None
    assert m.abandon_rate[1] <= target
    assert n == 1 or m.abandon_rate[0] > target


@settings(max_examples=30, deadline=None)
@given(n=st.lists(st.integers(1, 300), min_size=1, max_size=12), rho=st.floats(0.3, 1.5))
def test_solver_start_erlang_b_matches_direct_sums(n: list[int], rho: float) -> None:
    # The Erlang C search starts from B by recursion (small n) or incomplete gammas (large n).
    servers = np.array(n, dtype=float)
    load = servers * rho
    got = q._erlang_b_start(servers, load)
    for value, k, a in zip(got, n, load, strict=True):
        assert float(value) == pytest.approx(float(ref_erlang_b(k, float(a))), rel=1e-12)


def test_erlang_a_can_staff_below_the_offered_load() -> None:
    # 300 calls per half hour at 240 s is 40 Erlangs; with abandonment 39 agents already reach 80/20.
    kw: dict[str, Any] = {"calls": 300, "interval_seconds": 1800, "aht_seconds": 240}
    n = int(q.required_agents(**kw, service_level=0.8, within_seconds=20, patience_seconds=60))
    assert n == 39
    m = q.evaluate(agents=[38, 39], **kw, within_seconds=20, patience_seconds=60)
    assert m.service_level[0] < 0.8 <= m.service_level[1]
    assert m.service_level[1] == pytest.approx(0.8145, abs=1e-4)
    # An abandonment target of 20 % with 30 s patience needs far fewer than 40.
    n = int(q.required_agents(**kw, abandon_rate=0.2, patience_seconds=30))
    assert n < 36
    m = q.evaluate(agents=[n - 1, n], **kw, within_seconds=20, patience_seconds=30)
    assert m.abandon_rate is not None
    assert m.abandon_rate[0] > 0.2 >= m.abandon_rate[1]


def test_erlang_a_occupancy_cap_applies_to_carried_load() -> None:
    kw: dict[str, Any] = {"calls": 300, "interval_seconds": 1800, "aht_seconds": 240, "patience_seconds": 30}
    n = int(q.required_agents(**kw, max_occupancy=0.9))
    m = q.evaluate(agents=[n - 1, n], **kw, within_seconds=20)
    assert m.abandon_rate is not None
    carried = 40.0 * (1.0 - m.abandon_rate)
    assert np.allclose(m.occupancy, carried / np.array([n - 1, n]))
    assert m.occupancy[1] <= 0.9 < m.occupancy[0]
    assert n < np.ceil(40 / 0.9)  # the cap on offered load would ask for 45


@settings(max_examples=40, deadline=None)
@given(
    calls=st.floats(0.5, 4000.0),
    aht=st.floats(20.0, 900.0),
    patience=st.floats(2.0, 1500.0),
    sl=st.one_of(st.none(), st.floats(0.05, 0.99)),
    within=st.floats(0.0, 90.0),
    asa=st.one_of(st.none(), st.floats(1.0, 120.0)),
    abandon=st.one_of(st.none(), st.floats(0.005, 0.6)),
    cap=st.one_of(st.none(), st.floats(0.5, 1.0)),
)
def test_erlang_a_solver_is_minimal_for_every_target(
    calls: float, aht: float, patience: float, sl: float | None, within: float, asa: float | None,
    abandon: float | None, cap: float | None,
) -> None:
    if sl is None and asa is None and abandon is None and cap is None:
        sl = 0.8
    kw: dict[str, Any] = {"calls": calls, "interval_seconds": 1800, "aht_seconds": aht,
                          "patience_seconds": patience}
    n = int(q.required_agents(**kw, service_level=sl, within_seconds=within, asa_seconds=asa,
                              abandon_rate=abandon, max_occupancy=cap))
    assert n >= 1
    m = q.evaluate(agents=[n - 1, n], **kw, within_seconds=within)
    assert m.abandon_rate is not None
    ab = np.asarray(m.abandon_rate)

    def meets(i: int) -> bool:
        return bool((sl is None or m.service_level[i] >= sl)
                    and (asa is None or m.asa_seconds[i] <= asa)
                    and (abandon is None or ab[i] <= abandon)
                    and (cap is None or m.occupancy[i] <= cap + 1e-12))

    assert meets(1)
    assert n == 1 or not meets(0)
    # Same answer and metrics from the combined path.
    combined = q.staff_intervals(**kw, service_level=sl, within_seconds=within, asa_seconds=asa,
                                 abandon_rate=abandon, max_occupancy=cap)
    assert int(combined.agents) == n
    assert float(combined.service_level) == pytest.approx(float(m.service_level[1]), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    calls=st.lists(st.floats(0.0, 6000.0), min_size=1, max_size=30),
    aht=st.floats(20.0, 900.0),
    sl=st.one_of(st.none(), st.floats(0.05, 0.99)),
    within=st.floats(0.0, 90.0),
    asa=st.one_of(st.none(), st.floats(1.0, 120.0)),
    cap=st.one_of(st.none(), st.floats(0.5, 1.0)),
)
def test_staff_intervals_matches_solve_then_evaluate(
    calls: list[float], aht: float, sl: float | None, within: float, asa: float | None, cap: float | None
) -> None:
    if sl is None and asa is None and cap is None:
        sl = 0.8
    kw: dict[str, Any] = {"calls": calls, "interval_seconds": 1800, "aht_seconds": aht,
                          "within_seconds": within}
    combined = q.staff_intervals(**kw, service_level=sl, asa_seconds=asa, max_occupancy=cap)
    agents = q.required_agents(**kw, service_level=sl, asa_seconds=asa, max_occupancy=cap)
    assert combined.agents.tolist() == agents.tolist()
    m = q.evaluate(agents=agents, **kw)
    assert combined.abandon_rate is None
    for field in ("traffic_erlangs", "prob_wait", "service_level", "asa_seconds", "occupancy",
                  "expected_queue_length"):
        np.testing.assert_allclose(getattr(combined, field), getattr(m, field), rtol=1e-10, atol=1e-12,
                                   err_msg=field)


@settings(max_examples=40, deadline=None)
@given(load=st.floats(0.0, 5000.0), blocking=st.floats(0.0005, 0.5))
def test_trunks_minimal(load: float, blocking: float) -> None:
    n = int(q.trunks_required(load, blocking))
    assert float(q.erlang_b(n, load)) <= blocking
    assert n == 0 or float(q.erlang_b(n - 1, load)) > blocking


def test_zero_calls_need_zero_agents_and_broadcasting() -> None:
    calls = np.array([[0.0, 100.0], [250.0, 0.0]])
    agents = q.required_agents(
        calls=calls, interval_seconds=1800, aht_seconds=180, service_level=0.8, within_seconds=20
    )
    assert agents.shape == (2, 2)
    assert agents[0, 0] == 0
    assert agents[1, 1] == 0
    assert agents[0, 1] == 14
    assert (
        q.required_agents(
            calls=100, interval_seconds=1800, aht_seconds=180, service_level=0.8, within_seconds=20
        ).shape
        == ()
    )


# ---------------------------------------------------------------------------------------------------------
# Extreme sizes: no NaN, no overflow, still exact


@pytest.mark.parametrize(
    ("n", "a"),
    [
        (100_000, 100_000.0),
        (100_000, 99_000.0),
        (50_000, 100_000.0),
        (1, 100_000.0),
        (100_000, 1.0),
        (99_999, 100_000.0),
        (87_000, 100_000.0),
    ],
)
def test_huge_systems_are_finite_and_exact(n: int, a: float) -> None:
    b = float(q.erlang_b(n, a))
    c = float(q.erlang_c(n, a))
    assert np.isfinite(b)
    assert np.isfinite(c)
    assert 0 <= b <= c <= 1
    # Reference by the Erlang B recursion in 40-digit arithmetic (exact, no factorials).
    ref = mp.mpf(1)
    am = mp.mpf(a)
    for k in range(1, n + 1):
        ref = am * ref / (k + am * ref)
    assert close(b, ref, rel=1e-10, abs_=1e-300)
    m = q.evaluate(
        agents=n,
        calls=a * 1800 / 180,
        interval_seconds=1800,
        aht_seconds=180,
        within_seconds=20,
        patience_seconds=120,
    )
    for value in (
        m.prob_wait,
        m.service_level,
        m.asa_seconds,
        m.occupancy,
        m.expected_queue_length,
        m.abandon_rate,
    ):
        assert value is not None
        assert np.isfinite(value)


def test_huge_solver_and_year_is_fast() -> None:
    n = int(
        q.required_agents(
            calls=100_000 * 1800 / 180,
            interval_seconds=1800,
            aht_seconds=180,
            service_level=0.8,
            within_seconds=20,
        )
    )
    assert 100_000 < n < 100_100
    rng = np.random.default_rng(7)
    profile = np.sin(np.linspace(0, np.pi, 48)) ** 2
    calls = np.tile(profile, 365) * rng.uniform(50, 400, 17_520)
    agents = q.required_agents(
        calls=calls, interval_seconds=1800, aht_seconds=240, service_level=0.8, within_seconds=20
    )
    assert agents.shape == (17_520,)
    # The Erlang A search is vectorised too: a year with patience, metrics included.
    m = q.staff_intervals(calls=calls, interval_seconds=1800, aht_seconds=240, service_level=0.8,
                          within_seconds=20, patience_seconds=120)
    assert m.agents.shape == (17_520,)
    assert np.all(m.service_level >= 0.8)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(PlanningInputError, match="calls"):
        q.evaluate(agents=3, calls=-1, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    with pytest.raises(PlanningInputError, match="aht_seconds"):
        q.required_agents(calls=3, interval_seconds=1800, aht_seconds=0, service_level=0.8, within_seconds=20)
    with pytest.raises(PlanningInputError, match="service_level"):
        q.required_agents(
            calls=3, interval_seconds=1800, aht_seconds=60, service_level=1.2, within_seconds=20
        )
    with pytest.raises(PlanningInputError, match="patience"):
        q.required_agents(calls=3, interval_seconds=1800, aht_seconds=60, abandon_rate=0.05)
    with pytest.raises(PlanningInputError, match="agents"):
        q.evaluate(agents=2.5, calls=3, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    with pytest.raises(PlanningInputError, match="blocking"):
        q.trunks_required(3.0, 0.0)
