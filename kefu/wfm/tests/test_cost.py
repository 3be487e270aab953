"""Cost arithmetic, scenarios, self-service deflection, the marginal service-level curve, budget → service
level, and the `kefu wfm scenarios` CLI."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.wfm import queueing
from kefu.wfm.cli import main as wfm_main
from kefu.wfm.cost import (
    DAYS_PER_MONTH,
    BudgetBelowMinimumError,
    CostRates,
    ServicePolicy,
    Workload,
    _upper_hull,
    best_service_for_budget,
    marginal_curve,
    monthly_cost,
    outcome,
    staff_for_target,
)
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.scenarios import Scenario, deflection_effect, parse_scenario, run_scenario, run_scenarios

RATES = CostRates(cost_per_agent_hour=45, seat_cost_month=800, trunk_cost_month=120, overhead_share=0.15)


def _day(scale: float = 1.0) -> Workload:
    """One day of 24 half-hours, 08:00–20:00, peaking at midday."""
    calls = scale * (60 + 140 * np.sin(np.linspace(0, np.pi, 24)))
    return Workload(calls=calls, aht_seconds=240, interval_seconds=1800, days=1)


def test_monthly_cost_by_hand() -> None:
    rates = CostRates(cost_per_agent_hour=45, seat_cost_month=800, trunk_cost_month=120, overhead_share=0.15,
                      overhead_fixed_month=1000)
    c = monthly_cost(agent_hours_month=1000, peak_agents=10.2, trunks=5, rates=rates)
    assert c.seats == 11  # a seat for each of 10.2 agents at the peak
    assert c.people_month == 45_000
    assert c.seats_month == 8_800
    assert c.trunks_month == 600
    assert c.overhead_month == pytest.approx(0.15 * 54_400 + 1000)
    assert c.total_month == pytest.approx(63_560)
    assert c.total_year == pytest.approx(762_720)
    spare = monthly_cost(agent_hours_month=0, peak_agents=10, trunks=0,
                         rates=CostRates(cost_per_agent_hour=1, seats_per_agent=1.1))
    assert spare.seats == 11


def test_outcome_by_hand() -> None:
    # two half-hours of one day: 100 calls at 180 s with 12 agents, then a closed half-hour
    w = Workload(calls=[100, 0], aht_seconds=180, interval_seconds=1800, days=1)
    policy = ServicePolicy(within_seconds=20, shrinkage=0.25)
    o = outcome(w, [12, 0], policy, RATES)
    erlang = queueing.evaluate(agents=12, calls=100, interval_seconds=1800, aht_seconds=180,
                               within_seconds=20)
    assert o.service_level == pytest.approx(float(erlang.service_level))
    assert o.asa_seconds == pytest.approx(float(erlang.asa_seconds))
    assert o.agent_hours_month == pytest.approx(12 * 0.5 * DAYS_PER_MONTH)
    assert o.paid_agent_hours_month == pytest.approx(16 * 0.5 * DAYS_PER_MONTH)  # 12 / (1 − 0.25)
    assert o.peak_scheduled == pytest.approx(16)
    assert o.offered_calls_month == pytest.approx(100 * DAYS_PER_MONTH)
    load = 100 * (180 + float(erlang.asa_seconds)) / 1800  # a trunk is held while waiting and talking
    assert o.trunks == int(queueing.trunks_required(load, 0.01))
    assert o.cost.seats == 16
    people = 16 * 0.5 * DAYS_PER_MONTH * 45
    assert o.cost.total_month == pytest.approx(1.15 * (people + 16 * 800 + o.trunks * 120))


def test_acw_holds_no_trunk() -> None:
    w = _day()
    with_acw = outcome(w, staff_for_target(w, 0.8, ServicePolicy()), ServicePolicy(acw_seconds=120), RATES)
    without = outcome(w, staff_for_target(w, 0.8, ServicePolicy()), ServicePolicy(), RATES)
    assert with_acw.trunks < without.trunks


def test_queues_in_one_interval_share_seats_and_trunks() -> None:
    one = Workload(calls=[100, 100], aht_seconds=180, interval_seconds=1800, days=1, slot=[0, 1])
    same_time = Workload(calls=[100, 100], aht_seconds=180, interval_seconds=1800, days=1, slot=[0, 0])
    agents = [12, 12]
    assert outcome(one, agents, ServicePolicy(), RATES).cost.seats == 12
    assert outcome(same_time, agents, ServicePolicy(), RATES).cost.seats == 24
    assert outcome(same_time, agents, ServicePolicy(), RATES).trunks > outcome(one, agents, ServicePolicy(),
                                                                                RATES).trunks


# ------------------------------------------------------------------------------------------- scenarios


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.2, 5.0), targets=st.lists(st.floats(0.5, 0.95), min_size=2, max_size=4, unique=True),
       patience=st.one_of(st.none(), st.floats(30, 600)))
def test_higher_target_costs_more_and_buys_more(scale: float, targets: list[float],
                                                patience: float | None) -> None:
    policy = ServicePolicy(within_seconds=20, patience_seconds=patience, shrinkage=0.3)
    results = run_scenarios(_day(scale), [Scenario(f"s{i}", service_level=t) for i, t in
                                          enumerate(sorted(targets))], policy, RATES)
    for low, high in itertools.pairwise(results):
        assert high.outcome.paid_agent_hours_month >= low.outcome.paid_agent_hours_month
        assert high.outcome.service_level >= low.outcome.service_level - 1e-12
        assert high.outcome.cost.people_month >= low.outcome.cost.people_month
    for r in results:  # every interval meets its target, so the call-weighted level does too
        assert r.scenario.service_level is not None
        assert r.outcome.service_level >= r.scenario.service_level - 1e-9


def test_volume_scenario_and_own_answer_time() -> None:
    policy = ServicePolicy(within_seconds=20, shrinkage=0.3)
    base = run_scenario(_day(), parse_scenario("medium:0.8"), policy, RATES)
    busy = run_scenario(_day(), parse_scenario("busy:sl=0.8,volume=1.2"), policy, RATES)
    slow = run_scenario(_day(), parse_scenario("slow:sl=0.8,within=60"), policy, RATES)
    assert busy.outcome.offered_calls_month == pytest.approx(1.2 * base.outcome.offered_calls_month)
    assert busy.outcome.cost.total_month > base.outcome.cost.total_month
    assert slow.policy.within_seconds == 60
    assert slow.outcome.cost.total_month < base.outcome.cost.total_month


def test_self_service_deflection_saves_staff() -> None:
    # PRODUCT §2.10 step 8: 1,000 contacts a day; a self-service page that takes 20 % of them saves agents
    calls = 1000 * np.full(16, 1 / 16)  # evenly over 16 half-hours
    w = Workload(calls=calls, aht_seconds=600, interval_seconds=1800, days=1)
    effect = deflection_effect(w, Scenario("medium", service_level=0.8), 0.2, ServicePolicy(), RATES)
    before, after = effect.before.outcome, effect.after.outcome
    assert (after.agents <= before.agents).all()
    assert effect.as_dict()["peak_agents_saved"] >= 1
    assert after.cost.total_month < before.cost.total_month
    assert after.offered_calls_month == pytest.approx(0.8 * before.offered_calls_month)
    d = effect.as_dict()
    assert d["cost_month_saved"] == pytest.approx(before.cost.total_month - after.cost.total_month)


@pytest.mark.parametrize(("text", "expected"), [
    ("low:0.7", Scenario("low", service_level=0.7)),
    ("q:sl=0.9,within=15", Scenario("q", service_level=0.9, within_seconds=15)),
    ("b:budget=250000,volume=1.1", Scenario("b", budget_month=250000, volume_factor=1.1)),
    ("h:budget_hours=4000,deflection=0.2", Scenario("h", budget_agent_hours_month=4000, deflection=0.2)),
])
def test_parse_scenario(text: str, expected: Scenario) -> None:
    assert parse_scenario(text) == expected


@pytest.mark.parametrize("text", ["low", "low:", ":0.8", "low:1.2", "low:x", "low:sl=0.8,budget=5",
                                  "low:speed=3", "low:volume=2", "low:sl=0.8,deflection=1"])
def test_parse_scenario_rejects(text: str) -> None:
    with pytest.raises(PlanningInputError) as err:
        parse_scenario(text)
    assert err.value.field == "scenario"


# -------------------------------------------------------------------------------------- marginal curve


@settings(max_examples=40, deadline=None)
@given(calls=st.floats(1, 3000), aht=st.floats(20, 900), within=st.floats(0, 120),
       patience=st.one_of(st.none(), st.floats(10, 900)))
def test_marginal_curve_diminishing_returns(calls: float, aht: float, within: float,
                                            patience: float | None) -> None:
    c = marginal_curve(calls=calls, interval_seconds=1800, aht_seconds=aht, within_seconds=within,
                       patience_seconds=patience)
    assert c.agents[0] == math.floor(c.traffic_erlangs) + 1
    assert (np.diff(c.agents) == 1).all()
    assert (np.diff(c.service_level) > 0).all()  # each agent helps…
    # …and past the steepest point each agent helps less than the one before. Near the stability edge
    # (e.g. answered-without-waiting, within=0) the first gains can still rise: the curve is S-shaped there,
    # which is why budget allocation works on its upper concave hull.
    peak = 1 + int(np.argmax(c.gain[1:]))
    assert (np.diff(c.gain[peak:]) <= 1e-12).all()
    assert c.gain[-1] < 0.001  # the curve runs until an agent adds under 0.1 point
    assert (c.gain[1:-1] >= 0.001).all()


def test_marginal_curve_by_hand() -> None:
    c = marginal_curve(calls=100, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    assert c.agents[0] == 11
    # 12 agents: the textbook Erlang C 64.0 % within 20 s at 10 Erlangs
    assert c.service_level[1] == pytest.approx(0.6402, abs=1e-4)
    assert c.gain[1] == pytest.approx(c.service_level[1] - c.service_level[0])


# ---------------------------------------------------------------------------------- budget → service level


def _value(w: Workload, agents: tuple[int, ...], policy: ServicePolicy) -> float:
    """Calls answered within Y: the sum over intervals of calls × service level."""
    total = 0.0
    for n, c, a in zip(agents, w.calls, w.aht_seconds, strict=True):
        if n > 0:
            m = queueing.evaluate(agents=n, calls=c, interval_seconds=w.interval_seconds, aht_seconds=a,
                                  within_seconds=policy.within_seconds,
                                  patience_seconds=policy.patience_seconds)
            total += float(c * m.service_level)
    return total


@pytest.mark.parametrize("minimum", [0, 2])
@pytest.mark.parametrize("patience", [None, 120.0])
def test_budget_greedy_matches_brute_force_on_hull_vertices(patience: float | None, minimum: int) -> None:
    w = Workload(calls=[40, 90, 15], aht_seconds=[200, 180, 400], interval_seconds=1800, days=DAYS_PER_MONTH)
    policy = ServicePolicy(within_seconds=20, patience_seconds=patience)
    per_agent_hours = 0.5  # days = one month, no shrinkage: an agent for one interval is half an hour
    cap = 24
    curves = [np.array([_value(Workload(calls=[c], aht_seconds=a, interval_seconds=1800, days=1), (n,),
                               policy) for n in range(cap + 1)])
              for c, a in zip(w.calls, w.aht_seconds, strict=True)]
    # the greedy works on each curve's hull from the minimum on
    vertices = [{minimum + v for v in _upper_hull(curve[minimum:])} for curve in curves]
    # every allocation of `minimum` to `cap` agents per interval: its value and its head count
    grid = curves[0][:, None, None] + curves[1][None, :, None] + curves[2][None, None, :]
    n = np.arange(cap + 1)
    heads = n[:, None, None] + n[None, :, None] + n[None, None, :]
    allowed = (n[:, None, None] >= minimum) & (n[None, :, None] >= minimum) & (n[None, None, :] >= minimum)
    checked = 0
    for paid in range(3 * minimum, 40):  # below the 43 agents at which the curves stop (SL 0.999)
        got = best_service_for_budget(w, policy, RATES, agent_hours_month=paid * per_agent_hours,
                                      minimum=minimum).outcome
        assert int(got.agents.sum()) <= paid
        assert (got.agents >= minimum).all()
        best = float(grid[allowed & (heads <= paid)].max())
        mine = sum(curves[i][int(got.agents[i])] for i in range(3))
        assert mine <= best + 1e-9
        if all(int(n) in v for n, v in zip(got.agents, vertices, strict=True)):
            assert mine == pytest.approx(best, rel=1e-9)  # greedy on concave hulls is optimal at vertices
            checked += 1
    assert checked >= 10


def test_budget_pays_for_a_minimum_per_row_first() -> None:
    w = Workload(calls=[2, 0, 60, 90, 4], aht_seconds=240, interval_seconds=1800, days=30)
    policy = ServicePolicy(within_seconds=20)
    minimum = np.array([3, 5, 1, 1, 2])
    floor = outcome(w, [3, 0, 1, 1, 2], policy, RATES)  # a row without calls keeps nobody
    got = best_service_for_budget(w, policy, RATES, minimum=minimum,
                                  agent_hours_month=floor.paid_agent_hours_month + 10).outcome
    assert got.agents[1] == 0
    assert (got.agents >= [3, 0, 1, 1, 2]).all()
    per_agent_hours = 0.5 * DAYS_PER_MONTH / 30  # a half-hour of the 30-day plan, scaled to a month
    assert got.agents.sum() - floor.agents.sum() == math.floor(10 / per_agent_hours)
    with pytest.raises(BudgetBelowMinimumError) as caught:
        best_service_for_budget(w, policy, RATES, minimum=minimum, budget_month=floor.cost.total_month - 50)
    text = str(caught.value)
    assert f"{floor.cost.total_month - 50:,.0f} a month" in text
    assert f"{floor.cost.total_month:,.0f} a month" in text
    assert "7 agent-intervals over the 4 intervals with calls" in text
    with pytest.raises(PlanningInputError, match="row 2"):
        best_service_for_budget(w, policy, RATES, minimum=np.array([1, -1, 1, 1, 1]), budget_month=1e6)
    with pytest.raises(PlanningInputError, match="one number per row"):
        best_service_for_budget(w, policy, RATES, minimum=np.array([1, 1]), budget_month=1e6)


def test_money_budget_below_the_fixed_costs_is_refused() -> None:
    # with no minimum the floor is what staffing nobody costs: trunks for the calls and the fixed overhead
    w = _day()
    policy = ServicePolicy(within_seconds=20)
    nobody = outcome(w, np.zeros(w.calls.size, dtype=np.int64), policy, RATES).cost.total_month
    assert nobody > 0
    with pytest.raises(BudgetBelowMinimumError, match=f"costs {nobody:,.0f} a month"):
        best_service_for_budget(w, policy, RATES, budget_month=nobody / 2)
    assert best_service_for_budget(w, policy, RATES, budget_month=nobody).outcome.agents.sum() == 0


def test_budget_buys_more_service_with_more_money() -> None:
    w = _day()
    policy = ServicePolicy(within_seconds=20, shrinkage=0.3)
    levels = []
    for budget in (150_000, 200_000, 250_000, 300_000):
        got = best_service_for_budget(w, policy, RATES, budget_month=budget).outcome
        assert got.cost.total_month <= budget
        levels.append(got.service_level)
    assert levels == sorted(levels)
    assert levels[-1] > levels[0]
    # a budget that covers the 80 % target reaches at least what the target plan buys
    target = outcome(w, staff_for_target(w, 0.8, policy), policy, RATES)
    same_money = best_service_for_budget(w, policy, RATES, agent_hours_month=target.paid_agent_hours_month)
    assert same_money.outcome.service_level >= target.service_level - 1e-9


def test_budget_needs_exactly_one_kind() -> None:
    with pytest.raises(PlanningInputError):
        best_service_for_budget(_day(), ServicePolicy(), RATES)
    with pytest.raises(PlanningInputError):
        best_service_for_budget(_day(), ServicePolicy(), RATES, agent_hours_month=1, budget_month=1)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: CostRates(cost_per_agent_hour=-1), "cost_per_hour"),
    (lambda: CostRates(cost_per_agent_hour=1, seats_per_agent=0), "seats_per_agent"),
    (lambda: ServicePolicy(shrinkage=1.0), "shrinkage"),
    (lambda: ServicePolicy(blocking=0), "blocking"),
    (lambda: Workload(calls=[1, -1], aht_seconds=60, interval_seconds=1800, days=1), "offered"),
    (lambda: Workload(calls=[1], aht_seconds=0, interval_seconds=1800, days=1), "aht_seconds"),
    (lambda: staff_for_target(_day(), 1.5, ServicePolicy()), "service_level"),
])
def test_bad_input_names_the_field(build: object, field: str) -> None:
    with pytest.raises(PlanningInputError) as err:
        build()  # type: ignore[operator]
    assert err.value.field == field


# ------------------------------------------------------------------------------------------------- CLI


def _forecast(path: Path, *, days: int = 2, with_aht: bool = True) -> Path:
    lines = ["interval_start,queue,offered" + (",aht_seconds" if with_aht else "")]
    for d in range(days):
        for k in range(20):
            calls = 60 + 100 * math.sin(math.pi * k / 19)
            lines.append(f"2025-03-{3 + d:02d}T{8 + k // 2:02d}:{30 * (k % 2):02d},default,{calls:.1f}"
                         + (",240" if with_aht else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_scenarios_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fc = _forecast(tmp_path / "forecast.csv")
    status = wfm_main(["scenarios", "--forecast", str(fc), "--within", "20", "--scenario", "low:0.7",
                       "--scenario", "medium:0.8", "--scenario", "high:0.9", "--cost-per-hour", "45",
                       "--seat-cost-month", "800", "--trunk-cost-month", "120", "--overhead", "0.15",
                       "--shrinkage", "0.3", "--deflection", "0.2", "--json"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["forecast"]["interval_seconds"] == 1800
    assert out["forecast"]["days"] == 2
    names = [s["name"] for s in out["scenarios"]]
    assert names == ["low", "medium", "high"]
    costs = [s["cost_year"] for s in out["scenarios"]]
    levels = [s["service_level"] for s in out["scenarios"]]
    assert costs == sorted(costs)
    assert levels == sorted(levels)
    for s in out["scenarios"]:
        assert s["cost_year"] == pytest.approx(12 * s["cost_month"])
        assert s["peak_seats"] >= s["peak_agents"] / 0.7 - 1e-9
        assert s["trunks"] > 0
    assert len(out["deflection"]) == 3
    assert all(d["cost_month_saved"] > 0 for d in out["deflection"])


def test_cli_scenarios_text_and_marginal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fc = _forecast(tmp_path / "forecast.csv", with_aht=False)
    assert wfm_main(["scenarios", "--forecast", str(fc), "--aht", "240", "--cost-per-hour", "45",
                     "--patience", "120", "--scenario", "lean:budget_hours=900"]) == 0
    text = capsys.readouterr().out
    assert "abandonment rate" in text
    assert "lean" in text
    assert wfm_main(["scenarios", "--marginal", "--calls", "100", "--aht", "180", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["curve"][0]["agents"] == 11
    assert out["curve"][1]["service_level"] == pytest.approx(0.6402, abs=1e-4)


@pytest.mark.parametrize(("content", "extra", "words"), [
    ("interval_start,queue\n2025-03-03T08:00,a\n", [], "field 'offered'"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,200\n2025-03-03T08:30,-4,200\n", [],
     "row 3, field 'offered'"),
    ("interval_start,offered,aht_seconds\nyesterday,10,200\n", [], "row 2, field 'interval_start'"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,0\n2025-03-03T08:30,10,200\n", [],
     "row 2, field 'aht_seconds'"),
    ("interval_start,offered\n2025-03-03T08:00,10\n2025-03-03T08:30,10\n", [], "field 'aht_seconds'"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,200\n2025-03-03T08:00,10,200\n", [],
     "row 3, field 'interval_start'"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,200\n2025-03-03T08:15,10,200\n",
     ["--interval-seconds", "1800"], "overlap"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,200\n2025-03-03T08:30,10,200\n",
     ["--scenario", "x:1.5"], "argument --scenario: scenario 'x'"),
    ("interval_start,offered,aht_seconds\n2025-03-03T08:00,10,200\n2025-03-03T08:30,10,200\n",
     ["--shrinkage", "1.5"], "--shrinkage"),
])
def test_cli_scenarios_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                 extra: list[str], words: str) -> None:
    fc = tmp_path / "forecast.csv"
    fc.write_text(content)
    assert wfm_main(["scenarios", "--forecast", str(fc), "--cost-per-hour", "45", *extra]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_marginal_needs_calls(capsys: pytest.CaptureFixture[str]) -> None:
    assert wfm_main(["scenarios", "--marginal", "--aht", "180"]) == 2
    assert "calls" in capsys.readouterr().err
    assert wfm_main(["scenarios"]) == 2
    assert "forecast" in capsys.readouterr().err
