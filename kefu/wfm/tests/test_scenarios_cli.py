"""Budget scenarios keep a minimum staffing in every interval with calls, report per-interval agents and
service level, and refuse a budget that cannot pay for that minimum (exit status 2, naming both figures)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from kefu.wfm.cli import main
from kefu.wfm.cost import CostRates, ServicePolicy, Workload, best_service_for_budget, minimum_staffing, outcome
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.scenarios import Scenario, run_scenario

RATES = CostRates(cost_per_agent_hour=45, seat_cost_month=800, trunk_cost_month=120, overhead_share=0.15)
MONEY = ["--cost-per-hour", "45", "--seat-cost-month", "800", "--trunk-cost-month", "120", "--overhead",
         "0.15", "--shrinkage", "0.3"]


def quiet_and_busy(path: Path) -> Path:
    """Two days, 08:00–18:00: a busy midday and quiet edges (2 calls an interval), so a small budget is
    tempted to leave the edges to nobody."""
    lines = ["interval_start,queue,offered,aht_seconds"]
    for day in (3, 4):
        for k in range(20):
            calls = 2.0 if k < 3 or k > 16 else 40 + 80 * math.sin(math.pi * (k - 3) / 13)
            lines.append(f"2025-03-{day:02d}T{8 + k // 2:02d}:{30 * (k % 2):02d},default,{calls:.1f},240")
    path.write_text("\n".join(lines) + "\n")
    return path


def workload() -> Workload:
    calls = np.array([2.0, 3.0, 60.0, 90.0, 0.0, 4.0])
    return Workload(calls=calls, aht_seconds=240, interval_seconds=1800, days=30)


def test_budget_keeps_one_agent_wherever_calls_come() -> None:
    w = workload()
    policy = ServicePolicy(within_seconds=20, patience_seconds=120)
    budget = outcome(w, [1, 1, 9, 12, 0, 1], policy, RATES).cost.total_month
    old = best_service_for_budget(w, policy, RATES, budget_month=budget).outcome.agents
    assert (old[w.calls > 0] == 0).any()  # what the greedy alone does with a tight budget
    result = run_scenario(w, Scenario("tight", budget_month=budget), policy, RATES)
    agents = result.outcome.agents
    assert (agents[w.calls > 0] >= 1).all()
    assert agents[4] == 0  # no calls, nobody needed
    assert result.outcome.cost.total_month <= budget
    assert np.isnan(result.service_levels[4])
    assert (result.service_levels[w.calls > 0] > 0).all()
    assert result.lowest_service_level == pytest.approx(float(np.nanmin(result.service_levels)))


def test_minimum_zero_is_the_plain_greedy() -> None:
    w = workload()
    policy = ServicePolicy(within_seconds=20)
    for hours in (5.0, 20.0, 60.0):
        plain = best_service_for_budget(w, policy, RATES, agent_hours_month=hours).outcome.agents
        scenario = run_scenario(w, Scenario("free", budget_agent_hours_month=hours), policy, RATES, min_agents=0)
        assert scenario.outcome.agents.tolist() == plain.tolist()


def test_more_budget_on_top_of_the_minimum_never_buys_less_service() -> None:
    w = workload()
    policy = ServicePolicy(within_seconds=20)
    minimum = minimum_staffing(w, 2)
    levels = []
    for hours in (30.0, 40.0, 60.0, 90.0):
        got = best_service_for_budget(w, policy, RATES, minimum=2, agent_hours_month=hours).outcome
        assert (got.agents >= minimum).all()
        assert got.paid_agent_hours_month <= hours + 1e-9
        levels.append(got.service_level)
    assert levels == sorted(levels)


def test_a_budget_below_the_minimum_names_both_figures() -> None:
    w = workload()
    policy = ServicePolicy(within_seconds=20)
    floor = outcome(w, minimum_staffing(w, 1), policy, RATES).cost.total_month
    with pytest.raises(PlanningInputError) as caught:
        run_scenario(w, Scenario("poor", budget_month=floor - 1), policy, RATES)
    text = str(caught.value)
    assert f"{floor - 1:,.0f}" in text
    assert f"{floor:,.0f}" in text
    assert "poor" in text
    with pytest.raises(PlanningInputError, match="paid agent-hours"):
        run_scenario(w, Scenario("poor", budget_agent_hours_month=1.0), policy, RATES)


def test_target_scenarios_respect_a_higher_minimum() -> None:
    w = workload()
    policy = ServicePolicy(within_seconds=20)
    result = run_scenario(w, Scenario("floor", service_level=0.8), policy, RATES, min_agents=3)
    assert (result.outcome.agents[w.calls > 0] >= 3).all()


def test_cli_json_lists_every_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fc = quiet_and_busy(tmp_path / "forecast.csv")
    argv = ["scenarios", "--forecast", str(fc), "--scenario", "lean:budget=40000", "--scenario", "medium:0.8",
            *MONEY, "--patience", "120", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["min_agents"] == 1
    lean, medium = out["scenarios"]
    for scenario in (lean, medium):
        rows = scenario["intervals"]
        assert len(rows) == 40
        assert {"interval_start", "queue", "calls", "agents", "service_level"} <= set(rows[0])
        assert all(r["agents"] >= 1 for r in rows if r["calls"] > 0)
        assert scenario["lowest_interval_service_level"] == pytest.approx(min(r["service_level"] for r in rows))
    assert lean["cost_month"] <= 40000
    assert rows[0]["interval_start"] == "2025-03-03T08:00"
    # without the minimum the same budget leaves quiet intervals to nobody
    assert main([*argv, "--min-agents", "0"]) == 0
    bare = json.loads(capsys.readouterr().out)["scenarios"][0]["intervals"]
    assert any(r["agents"] == 0 for r in bare if r["calls"] > 0)


def test_cli_text_shows_the_weakest_intervals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fc = quiet_and_busy(tmp_path / "forecast.csv")
    assert main(["scenarios", "--forecast", str(fc), "--scenario", "lean:budget=30000", *MONEY]) == 0
    text = capsys.readouterr().out
    assert "lowest interval service level" in text
    assert "'lean': agents per interval 1–" in text
    assert "weakest:" in text
    assert len([line for line in text.splitlines() if line.startswith("  2025-03-0")]) == 5


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--scenario", "broke:budget=100"], ["'broke'", "100 a month", "minimum staffing"]),
        (["--scenario", "broke:budget_hours=10"], ["'broke'", "10.0 paid agent-hours", "minimum staffing"]),
        (["--scenario", "x:budget=30000", "--min-agents", "-1"], ["--min-agents"]),
        (["--scenario", "x:budget=30000", "--min-agents", "1.5"], ["--min-agents"]),
    ],
)
def test_cli_bad_budget_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                words: list[str]) -> None:
    fc = quiet_and_busy(tmp_path / "forecast.csv")
    assert main(["scenarios", "--forecast", str(fc), *MONEY, *extra]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert len(err.strip().splitlines()) == 1
