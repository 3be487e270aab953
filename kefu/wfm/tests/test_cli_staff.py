"""`kefu wfm staff`, `trunks` and `plan` from the command line: JSON field names, evaluation mode, and bad
input as one message with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kefu.wfm.cli import main
from kefu.wfm.queueing import evaluate, required_agents

STAFF_FIELDS = {
    "agents",
    "service_level",
    "asa_seconds",
    "occupancy",
    "traffic_erlangs",
    "trunk_load_erlangs",
    "prob_wait",
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_staff_solves_and_reports_exact_fields(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "staff",
        "--calls",
        "100",
        "--interval-seconds",
        "1800",
        "--talk",
        "150",
        "--acw",
        "30",
        "--sl",
        "0.8",
        "--within",
        "20",
    )
    assert set(out) == STAFF_FIELDS
    assert out["agents"] == 14
    assert out["traffic_erlangs"] == pytest.approx(10.0)
    m = evaluate(agents=14, calls=100, interval_seconds=1800, aht_seconds=180, within_seconds=20)
    assert out["service_level"] == pytest.approx(float(m.service_level))
    # trunks are held for talk + wait, not after-call work
    assert out["trunk_load_erlangs"] == pytest.approx(100 * (150 + float(m.asa_seconds)) / 1800)


def test_staff_with_patience_and_caps(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "staff",
        "--calls",
        "100",
        "--aht",
        "180",
        "--sl",
        "0.8",
        "--within",
        "20",
        "--patience",
        "120",
        "--max-occupancy",
        "0.7",
    )
    assert set(out) == STAFF_FIELDS | {"abandon_rate"}
    assert out["agents"] == int(
        required_agents(
            calls=100,
            interval_seconds=1800,
            aht_seconds=180,
            service_level=0.8,
            within_seconds=20,
            patience_seconds=120,
            max_occupancy=0.7,
        )
    )
    assert float(out["occupancy"]) <= 0.7
    asa = run_json(capsys, "staff", "--calls", "100", "--aht", "180", "--asa", "10")
    assert asa["asa_seconds"] <= 10
    assert asa["agents"] == 14
    aband = run_json(
        capsys, "staff", "--calls", "100", "--aht", "180", "--abandon", "0.05", "--patience", "60"
    )
    assert float(aband["abandon_rate"]) <= 0.05


def test_staff_evaluates_given_agents(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "staff", "--calls", "100", "--aht", "180", "--within", "20", "--agents", "12")
    assert out["agents"] == 12
    assert out["service_level"] == pytest.approx(
        float(
            evaluate(
                agents=12, calls=100, interval_seconds=1800, aht_seconds=180, within_seconds=20
            ).service_level
        )
    )
    unstable = run_json(capsys, "staff", "--calls", "100", "--aht", "180", "--agents", "9")
    assert unstable["asa_seconds"] is None
    assert unstable["service_level"] == 0.0
    assert main(["staff", "--calls", "100", "--aht", "180", "--agents", "9"]) == 0
    assert "unbounded" in capsys.readouterr().out


def test_trunks(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "trunks", "--load", "10", "--blocking", "0.01")
    assert out == {"trunks": 18, "blocking": pytest.approx(0.00714, abs=1e-5)}
    by_calls = run_json(
        capsys, "trunks", "--calls", "100", "--talk", "150", "--asa", "30", "--blocking", "0.01"
    )
    assert by_calls["trunks"] == 18  # 100 × 180 s / 1800 s = 10 Erlangs


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["staff", "--calls", "-5", "--aht", "180", "--sl", "0.8", "--within", "20"], "--calls"),
        (["staff", "--calls", "5", "--aht", "0", "--sl", "0.8", "--within", "20"], "--aht"),
        (["staff", "--calls", "5", "--talk", "0", "--sl", "0.8", "--within", "20"], "--talk"),
        (
            ["staff", "--calls", "5", "--aht", "180", "--talk", "100", "--sl", "0.8", "--within", "20"],
            "not both",
        ),
        (["staff", "--calls", "5", "--aht", "180", "--sl", "1.5", "--within", "20"], "--sl"),
        (["staff", "--calls", "5", "--aht", "180", "--sl", "1", "--within", "20"], "--sl"),
        (["staff", "--calls", "5", "--aht", "180", "--sl", "0.8"], "--within"),
        (["staff", "--calls", "5", "--aht", "180", "--abandon", "0.1"], "--patience"),
        (["staff", "--calls", "5", "--aht", "180"], "target"),
        (["staff", "--calls", "five", "--aht", "180", "--sl", "0.8", "--within", "20"], "--calls"),
        (["staff", "--calls", "5", "--aht", "180", "--agents", "2.5"], "--agents"),
        (["staff", "--calls", "5", "--aht", "180", "--frobnicate"], "unrecognized"),
        (["trunks", "--load", "10", "--blocking", "1.2"], "--blocking"),
        (["trunks", "--blocking", "0.01"], "--load"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_plan_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forecast = tmp_path / "f.csv"
    forecast.write_text(
        "interval_start,queue,offered,aht_seconds\n2024-03-04T08:00,a,100,180\n"
        "2024-03-04T08:30,a,150,200\n2024-03-04T09:00,a,0,\n"
    )
    shrink = tmp_path / "s.json"
    shrink.write_text('{"breaks": 0.1, "training": 0.05, "absence": 0.05}')
    out = tmp_path / "plan.csv"
    summary = run_json(
        capsys,
        "plan",
        "--forecast",
        str(forecast),
        "--sl",
        "0.8",
        "--within",
        "20",
        "--shrinkage-file",
        str(shrink),
        "--out",
        str(out),
    )
    assert summary["intervals"] == 3
    assert summary["shrinkage"] == pytest.approx(0.2)
    rows = [line.split(",") for line in out.read_text().splitlines()]
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["required_agents"] == "14"
    assert first["scheduled_agents"] == "18"
    assert (
        main(
            [
                "plan",
                "--forecast",
                str(forecast),
                "--sl",
                "0.8",
                "--within",
                "20",
                "--shrinkage",
                "0.3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "agent-hours" in capsys.readouterr().out


def test_plan_cli_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text("interval_start,queue,offered\n2024-03-04T08:00,a,10\n2024-03-04T08:30,a,-1\n")
    assert (
        main(
            [
                "plan",
                "--forecast",
                str(bad),
                "--sl",
                "0.8",
                "--within",
                "20",
                "--aht",
                "200",
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 2
    )
    assert "row 3, field 'offered'" in capsys.readouterr().err
    assert (
        main(
            [
                "plan",
                "--forecast",
                str(tmp_path / "missing.csv"),
                "--sl",
                "0.8",
                "--within",
                "20",
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 2
    )
    assert "missing.csv" in capsys.readouterr().err
    assert (
        main(
            [
                "plan",
                "--forecast",
                str(bad),
                "--sl",
                "0.8",
                "--within",
                "20",
                "--shrinkage",
                "0.3",
                "--shrinkage-file",
                "x.json",
                "--out",
                "o.csv",
            ]
        )
        == 2
    )


def test_through_the_kefu_console_script() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kefu.cli",
            "wfm",
            "staff",
            "--calls",
            "100",
            "--aht",
            "180",
            "--sl",
            "0.8",
            "--within",
            "20",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agents"] == 14
    bad = subprocess.run(
        [sys.executable, "-m", "kefu.cli", "wfm", "staff", "--calls", "-1", "--aht", "180"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "--calls" in bad.stderr


def test_staff_with_abandonment_can_staff_below_the_offered_load(capsys: pytest.CaptureFixture[str]) -> None:
    # 300 calls per half hour at 240 s is 40 Erlangs; callers who hang up need no agent, so 39 reach 80/20.
    out = run_json(capsys, "staff", "--calls", "300", "--interval-seconds", "1800", "--aht", "240",
                   "--sl", "0.8", "--within", "20", "--patience", "60")
    assert out["agents"] == 39
    assert out["traffic_erlangs"] == pytest.approx(40.0)
    assert out["service_level"] == pytest.approx(0.8145, abs=1e-4)
    out = run_json(capsys, "staff", "--calls", "300", "--interval-seconds", "1800", "--aht", "240",
                   "--abandon", "0.2", "--patience", "30")
    m = evaluate(agents=[out["agents"] - 1, out["agents"]], calls=300, interval_seconds=1800,
                 aht_seconds=240, within_seconds=20, patience_seconds=30)
    assert m.abandon_rate is not None
    assert out["agents"] < 40
    assert m.abandon_rate[0] > 0.2 >= m.abandon_rate[1] == pytest.approx(out["abandon_rate"])
