"""The single-case path of kefu.wfm.queueing (plain numbers, NumPy scalars, one-element arrays): the same
numbers, types and errors as the array path, and its twins of the array building blocks equal to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.wfm import queueing as q
from kefu.wfm.errors import PlanningInputError

FIELDS = ("agents", "traffic_erlangs", "prob_wait", "service_level", "asa_seconds", "occupancy",
          "expected_queue_length", "abandon_rate")


@contextmanager
def array_path() -> Iterator[None]:
    """Within: every input counts as 'not a single number', so the public functions take the array path."""
    with mock.patch.object(q, "_one", return_value=None):
        yield


def both(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """`fn` by the single-case path and by the array path, on the same inputs; a planning error counts as the
    result (its message), so both paths must raise the same one."""
    def run() -> Any:
        try:
            return fn(*args, **kwargs)
        except PlanningInputError as exc:
            return f"{type(exc).__name__}: {exc}"

    single = run()
    with array_path():
        vectorised = run()
    if isinstance(vectorised, str):  # e.g. a subnormal load whose arrival rate underflows
        assert single == vectorised
    return single, vectorised


def assert_same_array(single: Any, vectorised: Any, label: str = "") -> None:
    """Same type, dtype, shape and the very same numbers (NaN where NaN)."""
    if isinstance(vectorised, str):
        return  # the same error (checked by `both`)
    assert type(single) is np.ndarray, label
    assert type(vectorised) is np.ndarray, label
    assert single.dtype == vectorised.dtype, label
    assert single.shape == vectorised.shape, label
    assert np.array_equal(single, vectorised, equal_nan=True), (label, single, vectorised)


def assert_same_metrics(single: q.QueueMetrics, vectorised: q.QueueMetrics) -> None:
    if isinstance(vectorised, str):
        return  # the same error (checked by `both`)
    assert type(single) is q.QueueMetrics
    for field in FIELDS:
        a, b = getattr(single, field), getattr(vectorised, field)
        if b is None:
            assert a is None, field
        else:
            assert_same_array(a, b, field)


# Loads from nothing to 100,000 Erlangs, and servers around them (stable, unstable, far above). Subnormal
# loads are left out: their arrival rate can underflow to 0 calls a second, which no staffing answers.
servers = st.integers(0, 100_000)
loads = st.one_of(st.just(0.0), st.floats(0.0, 100_000.0, allow_subnormal=False), st.floats(1e-9, 5.0))
ratios = st.one_of(st.floats(0.0, 3.0), st.floats(0.97, 1.03))
ahts = st.floats(5.0, 1200.0)
withins = st.one_of(st.just(0.0), st.floats(0.0, 600.0))
patiences = st.one_of(st.floats(1.0, 900.0), st.floats(900.0, 1e6))


@settings(max_examples=300, deadline=None)
@given(n=servers, load=loads, ratio=ratios, near=st.booleans())
def test_erlang_b_and_c_single_match_arrays(n: int, load: float, ratio: float, near: bool) -> None:
    a = n * ratio if near else load
    for fn in (q.erlang_b, q.erlang_c):
        assert_same_array(*both(fn, n, a))


@settings(max_examples=300, deadline=None)
@given(n=servers, ratio=ratios, load=loads, near=st.booleans(), aht=ahts, within=withins,
       patience=st.one_of(st.none(), patiences), interval=st.sampled_from([900.0, 1800.0, 3600.0]))
def test_evaluate_single_matches_arrays(n: int, ratio: float, load: float, near: bool, aht: float,
                                        within: float, patience: float | None, interval: float) -> None:
    a = n * ratio if near else load
    single, vectorised = both(q.evaluate, agents=n, calls=a * interval / aht, interval_seconds=interval,
                              aht_seconds=aht, within_seconds=within, patience_seconds=patience)
    assert_same_metrics(single, vectorised)


targets_c = st.fixed_dictionaries({}, optional={
    "service_level": st.floats(0.05, 0.995),
    "asa_seconds": st.floats(0.5, 600.0),
    "max_occupancy": st.floats(0.5, 1.0),
}).filter(bool)


@settings(max_examples=300, deadline=None)
@given(load=loads, aht=ahts, within=withins, targets=targets_c, zero=st.booleans())
def test_erlang_c_staffing_single_matches_arrays(load: float, aht: float, within: float,
                                                 targets: dict[str, float], zero: bool) -> None:
    kw: dict[str, Any] = {"calls": 0.0 if zero else load * 1800.0 / aht, "interval_seconds": 1800.0,
                          "aht_seconds": aht, "within_seconds": within, **targets}
    assert_same_array(*both(q.required_agents, **kw))
    assert_same_metrics(*both(q.staff_intervals, **kw))


targets_a = st.fixed_dictionaries({}, optional={
    "service_level": st.floats(0.05, 0.99),
    "asa_seconds": st.floats(0.5, 600.0),
    "abandon_rate": st.floats(0.005, 0.5),
    "max_occupancy": st.floats(0.5, 1.0),
}).filter(bool)


@settings(max_examples=150, deadline=None)
@given(load=st.one_of(st.floats(0.0, 2_000.0, allow_subnormal=False), loads), aht=ahts, within=withins,
       patience=patiences, targets=targets_a, zero=st.booleans())
def test_erlang_a_staffing_single_matches_arrays(load: float, aht: float, within: float, patience: float,
                                                 targets: dict[str, float], zero: bool) -> None:
    kw: dict[str, Any] = {"calls": 0.0 if zero else load * 1800.0 / aht, "interval_seconds": 1800.0,
                          "aht_seconds": aht, "within_seconds": within, "patience_seconds": patience,
                          **targets}
    assert_same_array(*both(q.required_agents, **kw))
    assert_same_metrics(*both(q.staff_intervals, **kw))


@settings(max_examples=200, deadline=None)
@given(load=loads, blocking=st.one_of(st.floats(1e-6, 0.999), st.floats(0.001, 0.05)))
def test_trunks_single_match_arrays(load: float, blocking: float) -> None:
    assert_same_array(*both(q.trunks_required, load, blocking))


def test_far_targets_take_the_same_gallop() -> None:
    """Answers beyond the 48-agent scan of Erlang C (high load, high target) go to the galloping search."""
    for kw in ({"calls": 100_000 * 10.0, "service_level": 0.995, "within_seconds": 0.0},
               {"calls": 20_000 * 10.0, "asa_seconds": 0.01},
               {"calls": 2_000 * 10.0, "asa_seconds": 0.001, "max_occupancy": 0.9}):
        full: dict[str, Any] = {"interval_seconds": 1800.0, "aht_seconds": 180.0, **kw}
        single, vectorised = both(q.staff_intervals, **full)
        assert_same_metrics(single, vectorised)
        assert int(single.agents) >= kw["calls"] / 10.0 + 1 + q._SCAN_STEPS


# ---------------------------------------------------------------------------------------------------------
# Types and errors


SINGLE_FORMS: list[Callable[[float], Any]] = [
    float, lambda x: int(x), np.float64, lambda x: np.int64(x), lambda x: np.array(x),
    lambda x: np.array([x]), lambda x: np.array([[x]]), lambda x: np.array([x], dtype=np.float32),
    lambda x: np.array([x], dtype=np.uint16),
]


@pytest.mark.parametrize("form", SINGLE_FORMS)
def test_single_forms_return_what_the_array_path_returns(form: Callable[[float], Any]) -> None:
    """0-d results for scalars, (1, …) for one-element arrays; int64 counts, float64 figures."""
    kw: dict[str, Any] = {"calls": form(300.0), "interval_seconds": 1800, "aht_seconds": form(180.0),
                          "within_seconds": 20}
    assert_same_array(*both(q.required_agents, **kw, service_level=0.8))
    assert_same_metrics(*both(q.staff_intervals, **kw, service_level=0.8))
    assert_same_metrics(*both(q.staff_intervals, **kw, service_level=0.8, patience_seconds=form(60.0)))
    assert_same_metrics(*both(q.evaluate, agents=form(32.0), **kw))
    assert_same_metrics(*both(q.evaluate, agents=32, **kw, patience_seconds=form(60.0)))
    assert_same_metrics(*both(q.erlang_a, agents=32, **kw, patience_seconds=form(60.0)))
    assert_same_array(*both(q.erlang_b, form(32.0), form(30.0)))
    assert_same_array(*both(q.erlang_c, 32, form(30.0)))
    assert_same_array(*both(q.trunks_required, form(30.0), 0.01))


def test_plain_numbers_give_zero_dimensional_arrays() -> None:
    agents = q.required_agents(calls=300, interval_seconds=1800, aht_seconds=180, service_level=0.8,
                               within_seconds=20)
    assert isinstance(agents, np.ndarray)
    assert agents.shape == ()
    assert agents.dtype == np.int64
    assert int(agents) == 35
    m = q.evaluate(agents=32, calls=300, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    assert m.agents.shape == m.service_level.shape == ()
    assert m.abandon_rate is None
    assert q.erlang_b(1, 1.0).shape == ()
    assert float(q.erlang_b(1, 1.0)) == pytest.approx(0.5, rel=1e-15)


BAD_CALLS: list[tuple[Callable[..., Any], dict[str, Any]]] = [
    (q.evaluate, {"agents": 3, "calls": -1, "interval_seconds": 1800, "aht_seconds": 180, "within_seconds": 20}),
    (q.evaluate, {"agents": 2.5, "calls": 3, "interval_seconds": 1800, "aht_seconds": 180, "within_seconds": 20}),
    (q.evaluate, {"agents": 3, "calls": float("nan"), "interval_seconds": 1800, "aht_seconds": 180,
                  "within_seconds": 20}),
    (q.evaluate, {"agents": 3, "calls": 3, "interval_seconds": 0, "aht_seconds": 180, "within_seconds": 20}),
    (q.evaluate, {"agents": 3, "calls": 3, "interval_seconds": 1800, "aht_seconds": 180, "within_seconds": 20,
                  "patience_seconds": 0}),
    (q.required_agents, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 0, "service_level": 0.8,
                         "within_seconds": 20}),
    (q.required_agents, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60, "service_level": 1.2,
                         "within_seconds": 20}),
    (q.required_agents, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60, "service_level": 0.8}),
    (q.required_agents, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60, "abandon_rate": 0.05}),
    (q.required_agents, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60}),
    (q.staff_intervals, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60, "max_occupancy": 1.5}),
    (q.staff_intervals, {"calls": 3, "interval_seconds": 1800, "aht_seconds": 60, "asa_seconds": 0}),
    (q.erlang_b, {"servers": -1, "load": 3.0}),
    (q.erlang_c, {"servers": 3, "load": float("inf")}),
    (q.trunks_required, {"load_erlangs": 3.0, "blocking": 0.0}),
]


@pytest.mark.parametrize(("fn", "kwargs"), BAD_CALLS)
def test_bad_single_input_fails_as_the_array_path_does(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(PlanningInputError) as single:
        fn(**kwargs)
    with array_path(), pytest.raises(PlanningInputError) as vectorised:
        fn(**kwargs)
    assert str(single.value) == str(vectorised.value)
    assert single.value.field == vectorised.value.field


# ---------------------------------------------------------------------------------------------------------
# The twins of the array building blocks, one value against a one-element array


def one(x: float) -> np.ndarray:
    return np.array([x], dtype=np.float64)


def same_float(single: float, vectorised: np.ndarray) -> bool:
    assert type(single) is float
    return bool(np.array_equal(np.array([single]), vectorised, equal_nan=True))


@settings(max_examples=400, deadline=None)
@given(n=st.integers(1, 100_000), load=st.floats(0.0, 100_000.0), ratio=ratios, near=st.booleans())
def test_erlang_b_twins(n: int, load: float, ratio: float, near: bool) -> None:
    a = n * ratio if near else load
    assert same_float(q._erlang_b_one(float(n), a), q._erlang_b_flat(one(n), one(a)))
    if a > 0:
        assert same_float(q._erlang_b_start_one(float(n), a), q._erlang_b_start(one(n), one(a)))
    assert same_float(q._erlang_c_one(float(n), a, 0.25), q._erlang_c_from_b(one(n), one(a), one(0.25)))


@settings(max_examples=400, deadline=None)
@given(s=st.one_of(st.floats(0.0, 12.0), st.floats(0.0, 1e6)), ratio=st.floats(1e-6, 4.0),
       near=st.floats(0.9, 1.1), close=st.booleans())
def test_poisson_and_incomplete_gamma_twins(s: float, ratio: float, near: float, close: bool) -> None:
    """Poisson terms and the lower incomplete gamma, across its deep lower tail (the series) and the rest."""
    w = max(s * (near if close else ratio), 1e-300)
    log_w = float(np.log(w))
    assert same_float(q._log_poisson_one(s, w, log_w), q._log_poisson(one(s), one(w), one(log_w)))
    if s > 0:
        assert same_float(q._log_lower_gamma_one(s, w, log_w), q._log_lower_gamma(one(s), one(w), one(log_w)))
    if s >= 10:
        assert same_float(q._deviance_one(s, w, log_w), q._deviance(one(s), one(w), one(log_w)))


@settings(max_examples=300, deadline=None)
@given(k=st.floats(0.01, 1e6), ys=st.floats(1e-6, 1e7))
def test_window_average_twin(k: float, ys: float) -> None:
    """The Erlang A quadrature window, peak inside (y > k) or at the boundary."""
    for fn in (lambda v: v, lambda v: -np.expm1(-v)):
        assert same_float(q._window_average_one(k, ys, fn), q._window_average(one(k), one(ys), fn))


@settings(max_examples=300, deadline=None)
@given(lower=st.integers(0, 1_000), answer=st.integers(0, 10**7), step=st.integers(0, 500))
def test_smallest_feasible_twin_tries_the_same_numbers(lower: int, answer: int, step: int) -> None:
    """Whole numbers in, as from every caller (the bisection halves a gap between whole numbers)."""
    tried_single: list[float] = []
    tried_array: list[float] = []

    def feasible_single(n: float) -> bool:
        tried_single.append(n)
        return n >= answer

    def feasible_array(idx: np.ndarray, n: np.ndarray) -> np.ndarray:
        tried_array.extend(n.tolist())
        return np.asarray(n >= answer)

    single = q._smallest_feasible_one(float(lower), float(step), feasible_single)
    vectorised = q._smallest_feasible(one(lower), one(step), feasible_array)
    assert single is not None
    assert same_float(single, vectorised)
    assert tried_single == tried_array
