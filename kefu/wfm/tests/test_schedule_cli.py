"""`kefu wfm schedule` and its file readers: worked example end to end, and every kind of bad file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kefu.wfm.cli import main
from kefu.wfm.errors import PlanningInputError
from kefu.wfm.schedule import read_agents, read_requirements, read_shifts

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "planning" / "examples"


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def test_example_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "week.csv"
    status = main(
        [
            "schedule",
            "--requirements",
            str(EXAMPLES / "requirements.csv"),
            "--shifts",
            str(EXAMPLES / "shifts.csv"),
            "--agents",
            str(EXAMPLES / "agents.csv"),
            "--out",
            str(out),
            "--time-limit",
            "30",
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "under_coverage_agent_intervals",
        "over_coverage_agent_intervals",
        "paid_agent_hours",
        "cost",
        "solve_seconds",
        "status",
        "mip_gap",
        "lp_bound",
        "lower_bound",
        "time_limit_hit",
        "expected_service_level",
    ):
        assert key in result
    assert result["staff_column"] == "required"
    assert result["lp_bound"] <= result["lower_bound"] <= result["objective"]
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert set(rows[0]) == {
        "agent_id",
        "name",
        "date",
        "shift",
        "start",
        "end",
        "break_start",
        "break_end",
        "meal_start",
        "meal_end",
    }
    hours: dict[str, int] = {}
    for row in rows:
        hours[row["agent_id"]] = hours.get(row["agent_id"], 0) + (8 if row["shift"] != "part" else 4)
    assert hours["A01"] >= 32
    with (tmp_path / "week.coverage.csv").open() as handle:
        cover = list(csv.DictReader(handle))
    assert len(cover) == 6 * 48  # Monday to Saturday: the file has no Sunday rows (closed)
    assert set(cover[0]) == {"interval_start", "required", "scheduled", "over", "under", "service_level"}
    under = sum(float(r["under"]) for r in cover)
    assert under == pytest.approx(result["under_coverage_agent_intervals"], abs=1e-3)
    assert {r["date"] for r in rows} <= {f"2024-03-{d:02d}" for d in range(4, 10)}


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "schedule",
            "--requirements",
            str(EXAMPLES / "requirements.csv"),
            "--shifts",
            str(EXAMPLES / "shifts.csv"),
            "--agents",
            str(EXAMPLES / "agents.csv"),
            "--out",
            str(tmp_path / "s.csv"),
            "--time-limit",
            "30",
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "Under-coverage (agent-intervals)" in text
    assert "MIP gap (fraction)" in text


def _run_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_infeasible_agent_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agents = write(
        tmp_path / "agents.csv",
        """
agent_id,name,contract_hours_min,contract_hours_max,available_days
A1,One,8,40,Mon-Fri
A2,Two,16,40,Sun
""",
    )
    err = _run_error(
        capsys,
        [
            "schedule",
            "--requirements",
            str(EXAMPLES / "requirements.csv"),
            "--shifts",
            str(EXAMPLES / "shifts.csv"),
            "--agents",
            str(agents),
            "--out",
            str(tmp_path / "s.csv"),
        ],
    )
    assert "row 3" in err
    assert "'A2'" in err
    assert "contract_hours_min" in err


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("interval_start,required\n2024-03-04T08:00,x", "row 2, field 'required'"),
        ("interval_start,required\nyesterday,1", "row 2, field 'interval_start'"),
        ("interval_start\n2024-03-04T08:00", "field 'required'"),
        ("interval_start,required\n2024-03-04T08:00,1\n2024-03-04T08:00,2", "row 3, field 'interval_start'"),
        ("interval_start,required\n2024-03-04T08:00,1\n2024-03-04T08:20,2", "20 minutes apart"),
        (
            "interval_start,required\n2024-03-04T08:00,1\n2024-03-04T08:15,2\n2024-03-04T08:40,1",
            "15-minute grid",
        ),
        ("interval_start,required\n2024-03-04T08:00,-1", "at least 0"),
        ("interval_start,required\n2024-03-04T08:00,1\n2024-03-12T08:00,1", "at most one week"),
        ("interval_start,required,calls\n2024-03-04T08:00,1,5", "field 'aht_seconds'"),
        ("interval_start,required,calls,aht_seconds\n2024-03-04T08:00,1,5,0", "row 2, field 'aht_seconds'"),
    ],
)
def test_bad_requirements(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(PlanningInputError) as caught:
        read_requirements(write(tmp_path / "r.csv", text))
    assert expect in caught.value.describe()


def test_requirements_staff_column_choice(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "interval_start,required,scheduled\n2024-03-04T08:00,3,4")
    assert read_requirements(path).required.max() == 4
    assert read_requirements(path).staff_column == "scheduled"
    assert read_requirements(path, staff_column="required").required.max() == 3


HEADER = "name,start,length_hours,days,break_minutes,break_window,meal_minutes,meal_window,cost_per_hour"


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        ("a,25:00,8,,,,,,", "field 'start'"),
        ("a,08:00,0,,,,,,", "field 'length_hours'"),
        ("a,08:00,30,,,,,,", "field 'length_hours'"),
        ("a,08:00,8,Mon-Funday,,,,,", "field 'days'"),
        ("a,08:00,8,,15,,,,", "field 'break_window'"),
        ("a,08:00,8,,15,9:00-9:30,,,", "does not end within"),
        ("a,08:00,8,,15,2:00-4:00,30,3:00-4:00,", "overlap"),
        ("a,08:00,8,,15,3:00-2:00,,,", "latest start is before"),
        ("a,08:00,8,,,,,,-3", "field 'cost_per_hour'"),
        ("a,10:00-08:00/30,8,,,,,,", "field 'start'"),
    ],
)
def test_bad_shifts(tmp_path: Path, row: str, expect: str) -> None:
    with pytest.raises(PlanningInputError) as caught:
        read_shifts(write(tmp_path / "s.csv", f"{HEADER}\n{row}"))
    assert "row 2" in caught.value.describe()
    assert expect in caught.value.describe()


def test_shift_parsing() -> None:
    shifts = read_shifts(EXAMPLES / "shifts.csv")
    early = shifts[0]
    assert early.starts == (450, 480, 510)
    assert early.paid_minutes == 480  # 8.5 h less the unpaid 30-minute meal
    assert [b.kind for b in early.breaks] == ["break", "meal", "break"]
    assert shifts[1].starts == (660, 690, 720)
    assert early.weekdays == frozenset(range(6))


AGENTS = (
    "agent_id,name,contract_hours_min,contract_hours_max,days_off_per_week,available_days,earliest_start,"
    "latest_end,min_rest_hours"
)


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        ("A,x,40,30,,,,,", "field 'contract_hours_max'"),
        ("A,x,-1,30,,,,,", "field 'contract_hours_min'"),
        ("A,x,10,30,8,,,,", "field 'days_off_per_week'"),
        ("A,x,10,30,2,Mon-Xyz,,,", "field 'available_days'"),
        ("A,x,10,30,2,,7am,,", "field 'earliest_start'"),
        ("A,x,10,30,2,,,,30", "field 'min_rest_hours'"),
        (",x,10,30,2,,,,", "field 'agent_id'"),
    ],
)
def test_bad_agents(tmp_path: Path, row: str, expect: str) -> None:
    with pytest.raises(PlanningInputError) as caught:
        read_agents(write(tmp_path / "a.csv", f"{AGENTS}\n{row}"))
    assert "row 2" in caught.value.describe()
    assert expect in caught.value.describe()


def test_duplicate_agent(tmp_path: Path) -> None:
    with pytest.raises(PlanningInputError, match="appears twice"):
        read_agents(write(tmp_path / "a.csv", f"{AGENTS}\nA,x,0,30,,,,,\nA,y,0,30,,,,,"))


def test_agent_defaults_and_overnight_end(tmp_path: Path) -> None:
    agents = read_agents(
        write(tmp_path / "a.csv", f"{AGENTS}\nA,x,0,30,,,,,\nB,y,0,30,2,Sat-Mon,20:00,04:00,8")
    )
    assert agents[0].min_rest_minutes == 11 * 60
    assert agents[0].available_weekdays == frozenset(range(7))
    assert agents[1].available_weekdays == frozenset({5, 6, 0})
    assert agents[1].latest_end == 28 * 60
    assert agents[1].max_days == 5


def test_missing_file_and_bad_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(
        capsys,
        [
            "schedule",
            "--requirements",
            str(tmp_path / "none.csv"),
            "--shifts",
            "s",
            "--agents",
            "a",
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert "none.csv" in err
    err = _run_error(
        capsys,
        [
            "schedule",
            "--requirements",
            str(EXAMPLES / "requirements.csv"),
            "--shifts",
            str(EXAMPLES / "shifts.csv"),
            "--agents",
            str(EXAMPLES / "agents.csv"),
            "--out",
            str(tmp_path / "o.csv"),
            "--time-limit",
            "-5",
        ],
    )
    assert "--time-limit" in err


def test_reads_the_plan_file_format(tmp_path: Path) -> None:
    """`kefu wfm plan` writes required_agents / scheduled_agents / offered; AHT is empty without calls."""
    path = write(
        tmp_path / "plan.csv",
        """
interval_start,queue,offered,aht_seconds,traffic_erlangs,required_agents,scheduled_agents,service_level
2024-03-04T08:00,default,12,240,1.6,3,4,0.85
2024-03-04T08:30,default,0,,0,0,0,1
""",
    )
    req = read_requirements(path)
    assert req.staff_column == "scheduled"
    assert req.required[0, 16] == 4
    assert req.calls is not None
    assert req.calls[0, 16] == 12
    assert read_requirements(path, staff_column="required").required[0, 16] == 3
    with pytest.raises(PlanningInputError, match="row 2, field 'aht_seconds'"):
        read_requirements(
            write(
                tmp_path / "bad.csv",
                "interval_start,offered,aht_seconds,required_agents\n2024-03-04T08:00,5,,1",
            )
        )
