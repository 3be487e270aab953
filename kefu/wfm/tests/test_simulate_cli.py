"""`kefu wfm simulate`: every flag rejects nonsense with one message naming it (exit status 2), and a queue
that nobody staffs is never reported as if it had been simulated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu.wfm.cli import main
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.simulation import Exponential, SimulationPlan, SkillGroup, simulate

BASE = ["--calls", "50", "--aht", "180", "--agents", "6", "--replications", "2"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["simulate", *argv])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--agents", "0"], "--agents"),
        (["--agents", "-1"], "--agents"),
        (["--agents", "6,0,6"], "--agents"),
        (["--agents", "2.5"], "--agents"),
        (["--agents", "1e9"], "--agents"),
        (["--calls", "-1"], "--calls"),
        (["--calls", "0"], "--calls"),
        (["--calls", "0,0,0"], "--calls"),
        (["--calls", "nan"], "--calls"),
        (["--calls", "1e12"], "--calls"),
        (["--calls", "50,,60"], "--calls"),
        (["--aht", "0"], "--aht"),
        (["--aht", "-30"], "--aht"),
        (["--aht", "inf"], "--aht"),
        (["--interval-seconds", "0"], "--interval-seconds"),
        (["--interval-seconds", "-1800"], "--interval-seconds"),
        (["--interval-seconds", "0.001"], "--interval-seconds"),
        (["--interval-seconds", "1e9"], "--interval-seconds"),
        (["--replications", "0"], "--replications"),
        (["--replications", "1"], "--replications"),
        (["--replications", "-3"], "--replications"),
        (["--replications", "2.5"], "--replications"),
        (["--replications", "1e6"], "--replications"),
        (["--replications", "5000", "--intervals", "1000"], "--replications"),
        (["--intervals", "0"], "--intervals"),
        (["--intervals", "1e7"], "--intervals"),
        (["--intervals", "3", "--calls", "50,60"], "--intervals"),
        (["--calls", "50,60", "--agents", "6,6,6"], "--calls"),
        (["--warmup-intervals", "-1"], "--warmup-intervals"),
        (["--warmup-intervals", "1"], "--warmup-intervals"),
        (["--within", "-5"], "--within"),
        (["--patience", "0"], "--patience"),
        (["--seed", "-1"], "--seed"),
        (["--handle-cv", "0", "--handle-dist", "lognormal"], "--handle-cv"),
        (["--handle-cv", "2"], "--handle-cv"),
        (["--confidence", "1"], "--confidence"),
        (["--confidence", "0.2"], "--confidence"),
        (["--handle-dist", "weibull"], "--handle-dist"),
    ],
)
def test_nonsense_names_the_flag(extra: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run([*BASE, *extra], capsys)
    assert status == 2
    assert flag in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--calls", "50", "--agents", "6", "--talk", "0"], "--talk"),
        (["--calls", "50", "--agents", "6", "--talk", "120", "--acw", "-1"], "--acw"),
        (["--calls", "50", "--agents", "6", "--aht", "120", "--acw", "30"], "--aht"),
        (["--calls", "50", "--agents", "6", "--acw", "30"], "--aht"),
        (["--aht", "180", "--agents", "6"], "--calls"),
        (["--calls", "50", "--aht", "180"], "--agents"),
    ],
)
def test_missing_or_conflicting_handle_time_names_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run(argv, capsys)
    assert status == 2
    assert flag in err
    assert len(err.strip().splitlines()) == 1


def test_a_trace_needs_someone_to_answer_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival_seconds\n10\n20\n")
    status, err = run(["--trace", str(trace), "--aht", "60", "--agents", "0"], capsys)
    assert status == 2
    assert "--agents" in err


def test_sensible_edge_values_still_run(capsys: pytest.CaptureFixture[str]) -> None:
    """One agent, one interval with calls among empty ones, two replications: all legitimate."""
    status = main(["simulate", "--calls", "0,12,0", "--aht", "120", "--agents", "1", "--replications", "2",
                   "--json"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intervals"] == 3
    assert out["kpis"]["offered"]["mean"] > 0
    assert out["kpis"]["answered"]["mean"] > 0


def test_library_rejects_a_last_interval_without_agents() -> None:
    """Calls still waiting when the last interval has nobody would never end (and silently drop out of the
    KPIs)."""
    group = SkillGroup("q", agents=[3, 0], calls=[10, 10], handle=Exponential(120))
    with pytest.raises(PlanningInputError) as err:
        simulate(SimulationPlan(interval_seconds=1800, groups=[group]), replications=2)
    assert err.value.field == "agents"
    # an empty interval in the middle is fine: callers wait for the next one
    middle = SkillGroup("q", agents=[3, 0, 3], calls=[10, 10, 10], handle=Exponential(120))
    result = simulate(SimulationPlan(interval_seconds=1800, groups=[middle]), replications=2)
    assert result.overall.answered.mean > 0
