"""`kefu wfm forecast`: the forecast file, the backtest report (text and JSON), one-line errors with exit 2,
and on the real bank data (when present) the automatic forecast beats seasonal-naive."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kefu.wfm.cli import main
from kefu.wfm.forecast import SEASONAL_NAIVE, ForecastOptions, Table, forecast, history_from_table
from kefu.wfm.tests.test_forecast_methods import START, synthetic_queue

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
BANK = SHARED / "call_arrivals" / "anonymous_bank_1999_6min.csv"


def history_file(path: Path, *, days: int = 63, with_aht: bool = True) -> Path:
    q = synthetic_queue(days, seed=13)
    header = ["interval_start", "offered"] + (["answered", "talk_seconds", "acw_seconds"] if with_aht else [])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for d, s in zip(*np.nonzero(q.offered), strict=True):
            day = np.datetime64(START + int(d), "D").astype(str)
            calls = int(q.offered[d, s])
            row: list[object] = [f"{day}T{s // 2:02d}:{30 * (s % 2):02d}", calls]
            if with_aht:
                row += [calls, calls * 200, calls * 40]
            writer.writerow(row)
    return path


def test_forecast_writes_file_and_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "forecast.csv"
    status = main(
        [
            "forecast",
            "--history",
            str(history_file(tmp_path / "h.csv")),
            "--horizon-days",
            "7",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "Backtest" in text
    assert "seasonal_naive" in text
    assert "←" in text
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["interval_start", "queue", "offered", "aht_seconds"]
    assert rows[0]["interval_start"] == "2024-03-04T08:00"
    assert rows[0]["queue"] == "default"
    assert float(rows[0]["aht_seconds"]) == pytest.approx(240, abs=1)
    assert len(rows) == 6 * 24  # six open days of 08:00–20:00, Sunday closed
    assert not any(r["interval_start"].startswith("2024-03-10") for r in rows)


def test_forecast_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "forecast.csv"
    events = tmp_path / "events.csv"
    events.write_text("date,name,factor\n2024-03-05,launch,1.5\n")
    status = main(
        [
            "forecast",
            "--history",
            str(history_file(tmp_path / "h.csv", with_aht=False)),
            "--horizon-days",
            "14",
            "--method",
            "wma",
            "--events",
            str(events),
            "--repair",
            "average",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "wma"
    assert report["interval_minutes"] == 30
    assert report["rows"] == 12 * 24
    assert report["out"] == str(out)
    assert set(report["backtest"]) == {"wma", SEASONAL_NAIVE}
    assert set(report["backtest"]["wma"]) >= {"wape", "mae", "percent_deviation", "hit_rate", "r2"}
    assert report["backtest"]["wma"]["wape"] < report["backtest"][SEASONAL_NAIVE]["wape"]
    with out.open() as handle:
        assert next(csv.reader(handle)) == ["interval_start", "queue", "offered"]


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        (
            "interval_start,offered\n2024-01-01T08:00,5\n2024-01-01T08:30,-2\n",
            [],
            "row 3, field 'offered': -2 is negative",
        ),
        ("interval_start,offered\n2024-01-01T08:00,5\nnot a time,2\n", [], "row 3, field 'interval_start'"),
        ("start,offered\n2024-01-01T08:00,5\n", [], "field 'interval_start': missing required column"),
        ("interval_start,offered\n2024-01-01T08:00,5\n2024-01-01T08:00,4\n", [], "rows 2 and 3"),
        ("interval_start,offered\n2024-01-01T08:00,5\n", ["--horizon-days", "0"], "argument --horizon-days"),
        ("interval_start,offered\n2024-01-01T08:00,5\n", ["--method", "magic"], "invalid choice: 'magic'"),
    ],
)
def test_bad_input_is_one_message_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], expected: str
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content)
    args = ["forecast", "--history", str(path), "--horizon-days", "7", "--out", str(tmp_path / "f.csv")]
    status = main(args + extra)
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_files_and_bad_overrides_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "forecast",
            "--history",
            str(tmp_path / "nope.csv"),
            "--horizon-days",
            "7",
            "--out",
            str(tmp_path / "f.csv"),
        ]
    )
    assert status == 2
    assert "nope.csv" in capsys.readouterr().err
    overrides = tmp_path / "o.csv"
    overrides.write_text("date,factor\n2030-01-01,2\n")
    status = main(
        [
            "forecast",
            "--history",
            str(history_file(tmp_path / "h.csv")),
            "--horizon-days",
            "7",
            "--overrides",
            str(overrides),
            "--out",
            str(tmp_path / "f.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "row 2" in err
    assert "outside the forecast horizon" in err


def bank_table() -> Table:
    if not BANK.exists():
        pytest.skip(
            f"shared data not found at {BANK}: the real-data check needs ../shared/data next to the repo"
        )
    starts, calls, rows = [], [], []
    with BANK.open() as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            starts.append(f"{row['date']}T{row['start_time']}")
            calls.append(row["calls"])  # 91 values are fractional (imputed); they are kept as they are
            rows.append(number)
    return Table(str(BANK), {"interval_start": starts, "offered": calls}, rows)


@pytest.mark.shared_data
def test_real_bank_data_auto_forecast_beats_seasonal_naive() -> None:
    history = history_from_table(bank_table())
    assert history.interval_minutes == 6
    result = forecast(history, ForecastOptions(horizon_days=7, backtest_origins=8))
    chosen = result.backtest[result.method]
    naive = result.backtest[SEASONAL_NAIVE]
    print(f"bank 1999: {result.method} WAPE {chosen.wape:.3f} vs seasonal naive {naive.wape:.3f}")
    assert chosen.wape < naive.wape * 0.9
    q = result.queues[0]
    # Israeli bank: Saturday is quiet until the evening, Friday ends early.
    assert q.offered[0].sum() < 0.3 * q.offered[2].sum()  # 2000-01-01 is a Saturday, 01-03 a Monday
    assert "1999-09-20" in q.cleaning.anomalous_days  # Yom Kippur


def test_sparse_history_asks_for_the_interval_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Calls only at 08:00, 09:30 and 11:00 each day: 90 minutes is no interval length, so the command asks
    for it; with --interval-minutes 30 the same file forecasts on the half-hour grid."""
    history = tmp_path / "history.csv"
    lines = ["interval_start,offered"]
    for day in range(1, 22):
        lines += [f"2024-01-{day:02d}T{t},{5 + day % 3}" for t in ("08:00", "09:30", "11:00")]
    history.write_text("\n".join(lines) + "\n")
    out = tmp_path / "forecast.csv"
    argv = ["forecast", "--history", str(history), "--horizon-days", "7", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "90 minutes apart" in err
    assert "--interval-minutes" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*argv, "--interval-minutes", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["interval_minutes"] == 30
    assert main([*argv, "--interval-minutes", "45"]) == 2
    assert "--interval-minutes" in capsys.readouterr().err
    # a stated length the rows do not fit is named, with the row
    assert main([*argv, "--interval-minutes", "60"]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err
    assert "09:30 is not on the 60-minute grid" in err
