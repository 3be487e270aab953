"""The plan step: forecast file + targets → required and scheduled staff per interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.plan import StaffingTargets, plan_staff, read_forecast, write_plan
from kefu.wfm.queueing import evaluate, required_agents

HEADER = "interval_start,queue,offered,aht_seconds\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "forecast.csv"
    path.write_text(header + body)
    return path


def test_plan_matches_the_solver_interval_by_interval(tmp_path: Path) -> None:
    rows = "".join(
        f"2024-03-04T{8 + i // 4:02d}:{(i % 4) * 15:02d},sales,{40 + 10 * i},{200 + i}\n" for i in range(8)
    )
    forecast = read_forecast(write(tmp_path, rows))
    assert forecast.interval_minutes == 15
    plan = plan_staff(forecast, StaffingTargets(service_level=0.8, within_seconds=20), shrinkage=0.3)
    expected = required_agents(
        calls=forecast.offered,
        interval_seconds=900,
        aht_seconds=forecast.aht_seconds,
        service_level=0.8,
        within_seconds=20,
    )
    assert plan.required_agents.tolist() == expected.tolist()
    assert plan.scheduled_agents.tolist() == [int(np.ceil(n / 0.7 - 1e-9)) for n in expected]
    assert np.all(plan.service_level >= 0.8)
    out = tmp_path / "plan.csv"
    write_plan(out, plan)
    lines = out.read_text().splitlines()
    assert lines[0].startswith(
        "interval_start,queue,offered,aht_seconds,traffic_erlangs,required_agents,"
        "scheduled_agents,service_level,asa_seconds,occupancy,prob_wait"
    )
    assert len(lines) == 9


def test_patience_trunks_and_default_aht(tmp_path: Path) -> None:
    rows = (
        "2024-03-04T08:00,a,100,\n2024-03-04T08:30,a,150,\n2024-03-04T09:00,a,0,\n"
        "2024-03-04T08:00,b,30,300\n2024-03-04T08:30,b,0,\n"
    )
    forecast = read_forecast(write(tmp_path, rows))
    targets = StaffingTargets(service_level=0.8, within_seconds=20, patience_seconds=90)
    plan = plan_staff(forecast, targets, shrinkage=0.25, aht_seconds=180, trunk_blocking=0.01, acw_seconds=30)
    assert plan.abandon_rate is not None
    assert plan.trunks is not None
    assert plan.required_agents[2] == 0
    assert plan.required_agents[4] == 0
    assert plan.trunks[2] == 0
    m = evaluate(
        agents=plan.required_agents[0],
        calls=100,
        interval_seconds=1800,
        aht_seconds=180,
        within_seconds=20,
        patience_seconds=90,
    )
    assert float(plan.service_level[0]) == pytest.approx(float(m.service_level))
    # Erlang A needs no more agents than Erlang C
    c = required_agents(
        calls=forecast.offered,
        interval_seconds=1800,
        aht_seconds=plan.aht_seconds,
        service_level=0.8,
        within_seconds=20,
    )
    assert np.all(plan.required_agents <= c)
    summary = plan.summary()
    assert summary["intervals"] == 5
    assert summary["interval_minutes"] == 30


def test_no_aht_column_needs_aht(tmp_path: Path) -> None:
    path = write(
        tmp_path, "2024-03-04T08:00,a,10\n2024-03-04T08:30,a,12\n", header="interval_start,queue,offered\n"
    )
    forecast = read_forecast(path)
    with pytest.raises(PlanningInputError, match="--aht"):
        plan_staff(forecast, StaffingTargets(service_level=0.8, within_seconds=20))
    plan = plan_staff(forecast, StaffingTargets(service_level=0.8, within_seconds=20), aht_seconds=240)
    assert (
        plan.required_agents.tolist()
        == required_agents(
            calls=[10, 12], interval_seconds=1800, aht_seconds=240, service_level=0.8, within_seconds=20
        ).tolist()
    )


@pytest.mark.parametrize(
    ("body", "header", "match"),
    [
        ("2024-03-04T08:00,a,-5,200\n2024-03-04T08:30,a,5,200\n", HEADER, r"row 2, field 'offered'"),
        ("2024-03-04T08:00,a,5,200\n2024-03-04T08:30,a,5,0\n", HEADER, r"row 3, field 'aht_seconds'"),
        ("yesterday,a,5,200\n2024-03-04T08:30,a,5,200\n", HEADER, r"row 2, field 'interval_start'"),
        (
            "2024-03-04T08:00,a,5,200\n2024-03-04T08:00,a,6,200\n2024-03-04T08:30,a,5,200\n",
            HEADER,
            "duplicate",
        ),
        (
            "2024-03-04T08:00,a,5,200\n2024-03-04T08:30,a,5,200\n2024-03-04T09:00,a,5,200\n"
            "2024-03-04T09:10,a,5,200\n2024-03-04T09:30,a,5,200\n2024-03-04T10:00,a,5,200\n",
            HEADER,
            r"row 5, field 'interval_start'.*overlaps",
        ),
        ("2024-03-04T08:00,5\n", "interval_start,calls\n", "missing column 'offered'"),
    ],
)
def test_bad_forecasts(tmp_path: Path, body: str, header: str, match: str) -> None:
    def plan() -> None:
        forecast = read_forecast(write(tmp_path, body, header))
        plan_staff(forecast, StaffingTargets(service_level=0.8, within_seconds=20))

    with pytest.raises(PlanningInputError, match=match):
        plan()


def test_targets_are_validated() -> None:
    with pytest.raises(PlanningInputError, match="within_seconds"):
        StaffingTargets(service_level=0.8)
    with pytest.raises(PlanningInputError, match="patience"):
        StaffingTargets(abandon_rate=0.05)
    with pytest.raises(PlanningInputError):
        StaffingTargets()


def test_plan_with_abandonment_staffs_below_the_offered_load(tmp_path: Path) -> None:
    # 300 calls per half hour at 240 s is 40 Erlangs: with 60 s patience 39 agents reach 80/20, and a 20 %
    # abandonment target with 30 s patience needs fewer still; the occupancy cap is on the carried load.
    forecast = read_forecast(write(tmp_path, "2024-03-04T08:00,a,300,240\n2024-03-04T08:30,a,0,240\n"))
    plan = plan_staff(forecast, StaffingTargets(service_level=0.8, within_seconds=20, patience_seconds=60))
    assert plan.required_agents.tolist() == [39, 0]
    assert float(plan.service_level[0]) == pytest.approx(0.8145, abs=1e-4)
    plan = plan_staff(forecast, StaffingTargets(abandon_rate=0.2, patience_seconds=30, max_occupancy=0.95))
    n = int(plan.required_agents[0])
    assert n < 40
    m = evaluate(agents=[n - 1, n], calls=300, interval_seconds=1800, aht_seconds=240, within_seconds=20,
                 patience_seconds=30)
    assert m.abandon_rate is not None
    meets = (m.abandon_rate <= 0.2) & (m.occupancy <= 0.95)
    assert meets.tolist() == [False, True]
    assert float(plan.occupancy[0]) == pytest.approx(float(m.occupancy[1]))


# --------------------------------------------------------------------------- interval length of small files


@pytest.mark.parametrize(
    ("starts", "minutes"),
    [
        (["04T08:00", "04T08:30", "04T09:00"], 30),
        (["04T08:00", "04T08:30", "04T09:30", "04T10:00"], 30),  # 09:00 left out (no calls): still 30
        (["04T08:00", "04T08:15", "04T08:30"], 15),
        (["04T08:00", "04T09:00", "04T10:00"], 60),
        (["04T23:00", "04T23:30", "05T00:00"], 30),  # across midnight: one gap within a day is enough
        (["04T08:00", "04T08:06", "04T08:12"], 6),
    ],
)
def test_three_or_four_rows_give_the_right_interval_length(
    tmp_path: Path, starts: list[str], minutes: int
) -> None:
    rows = "".join(f"2024-03-{start},a,{10 + i},200\n" for i, start in enumerate(starts))
    assert read_forecast(write(tmp_path, rows)).interval_minutes == minutes


@pytest.mark.parametrize(
    ("body", "match"),
    [
        # 30 and 60 minutes apart once each: either could be the length
        ("2024-03-04T08:00,a,5,200\n2024-03-04T09:00,a,5,200\n2024-03-04T09:30,a,5,200\n",
         "30 and 60 minutes apart, once each"),
        # a 90-minute gap is no interval length
        ("2024-03-04T08:00,a,5,200\n2024-03-04T09:30,a,5,200\n2024-03-04T11:00,a,5,200\n",
         "90 minutes apart"),
        # one row a day: nothing to infer from
        ("2024-03-04T08:00,a,5,200\n2024-03-05T08:00,a,5,200\n2024-03-06T08:00,a,5,200\n",
         "no day has two intervals"),
        # an hour apart but on the half hour: shorter intervals with some left out
        ("2024-03-04T08:30,a,5,200\n2024-03-04T09:30,a,5,200\n2024-03-04T10:30,a,5,200\n",
         "not on the 60-minute grid"),
    ],
)
def test_an_interval_length_the_rows_do_not_settle_is_asked_for(
    tmp_path: Path, body: str, match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kefu.wfm.cli import main

    path = write(tmp_path, body)
    with pytest.raises(PlanningInputError, match=match) as caught:
        read_forecast(path)
    assert caught.value.field == "interval_start"
    assert "--interval-minutes" in str(caught.value)
    assert main(["plan", "--forecast", str(path), "--sl", "0.8", "--within", "20", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert "--interval-minutes" in err
    assert len(err.strip().splitlines()) == 1
    # stating the length settles it
    assert main(["plan", "--forecast", str(path), "--sl", "0.8", "--within", "20", "--out", "-",
                 "--interval-minutes", "30"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
