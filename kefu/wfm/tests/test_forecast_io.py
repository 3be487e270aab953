"""Reading interval history: interval-length inference, closed days, queues, handle times and every kind
of bad input named by its row as the user sees it (header = row 1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast import ALLOWED_INTERVAL_MINUTES, read_history
from kefu.wfm.forecast.io import ForecastRow, write_forecast

MONDAY = datetime(2024, 1, 1)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def day_rows(
    day: datetime,
    minutes: int,
    first_hour: int = 8,
    last_hour: int = 18,
    calls: float = 5,
    queue: str | None = None,
) -> list[list[object]]:
    rows: list[list[object]] = []
    moment = day + timedelta(hours=first_hour)
    while moment < day + timedelta(hours=last_hour):
        rows.append([moment.isoformat(timespec="minutes"), calls] + ([queue] if queue else []))
        moment += timedelta(minutes=minutes)
    return rows


def week_rows(minutes: int, days: int = 7, **kwargs: object) -> list[list[object]]:
    out: list[list[object]] = []
    for d in range(days):
        out += day_rows(MONDAY + timedelta(days=d), minutes, **kwargs)  # type: ignore[arg-type]
    return out


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(ALLOWED_INTERVAL_MINUTES), st.integers(0, 10**6))
def test_interval_length_is_inferred(minutes: int, seed: int) -> None:
    import tempfile

    rows = week_rows(minutes)
    rng = np.random.default_rng(seed)
    # Drop a few rows at random (sparse exports omit empty intervals); the grid must still be found.
    keep = [r for i, r in enumerate(rows) if i % 7 == 0 or rng.random() > 0.3]
    with tempfile.TemporaryDirectory() as folder:
        history = read_history(write_csv(Path(folder) / "h.csv", ["interval_start", "offered"], keep))
    q = history.queues["default"]
    assert history.interval_minutes == minutes
    assert q.offered.shape == (7, 1440 // minutes)
    assert q.offered.sum() == pytest.approx(5 * len(keep))


def test_missing_intervals_are_zero_and_days_without_rows_are_closed(tmp_path: Path) -> None:
    rows = week_rows(30, days=14)
    rows = [r for r in rows if not str(r[0]).startswith("2024-01-07")]  # Sunday closed
    rows = [r for r in rows if str(r[0]) != "2024-01-02T09:00"]  # one interval without calls
    history = read_history(write_csv(tmp_path / "h.csv", ["interval_start", "offered"], rows))
    q = history.queues["default"]
    assert q.open_day.tolist() == [True] * 6 + [False] + [True] * 7
    assert q.offered[1, 18] == 0
    assert q.offered[1, 17] == 5
    assert q.offered[6].sum() == 0


def test_queues_handle_times_and_xlsx(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Interval_Start", "Queue", "Offered", "Answered", "Talk_Seconds", "ACW_Seconds"])
    for d in range(7):
        for h in (9, 10):
            start = MONDAY + timedelta(days=d, hours=h)
            sheet.append([start, "sales", 10, 8, 8 * 200, 8 * 40])  # datetime cells, AHT 240 s
            sheet.append([start.isoformat(), "service", 4, 4, 4 * 300, 0])
    book.save(tmp_path / "h.xlsx")
    history = read_history(tmp_path / "h.xlsx")
    assert history.interval_minutes == 60
    assert list(history.queues) == ["sales", "service"]
    sales = history.queues["sales"]
    assert sales.handled is not None
    assert sales.handle_seconds is not None
    assert sales.handle_seconds.sum() / sales.handled.sum() == pytest.approx(240)
    assert history.queues["service"].offered.sum() == 4 * 14


@pytest.mark.parametrize(
    ("rows", "header", "match", "row"),
    [
        ([["2024-01-01T08:00", -1]], None, "offered.*negative", 2),
        ([["2024-01-01T08:00", 3], ["yesterday", 3]], None, "interval_start.*not an ISO 8601", 3),
        ([["2024-01-01T08:00", "many"]], None, "offered.*not a number", 2),
        ([["2024-01-01T08:00", ""]], None, "offered.*empty", 2),
        (
            [["2024-01-01T08:00", 3], ["2024-01-01T08:30", 3], ["2024-01-01T08:00", 4]],
            None,
            "duplicate interval 2024-01-01T08:00: rows 2 and 4",
            4,
        ),
        (
            [
                ["2024-01-01T08:00", 3],
                ["2024-01-01T08:15", 3],
                ["2024-01-01T08:20", 3],
                ["2024-01-01T08:30", 3],
                ["2024-01-01T08:45", 3],
            ],
            None,
            "08:15 is not on the 30-minute grid of this file: it overlaps the interval "
            "2024-01-01T08:00–08:30 \\(row 2\\)",
            3,
        ),
        ([["2024-01-01T08:00", 3]], ["start", "offered"], "interval_start.*missing required column", 1),
        ([["2024-01-01T08:00", 3]], ["interval_start", "calls"], "offered.*missing required column", 1),
        ([["2024-01-01T08:00:30", 3]], None, "whole minute", 2),
    ],
)
def test_bad_history_names_the_row(
    tmp_path: Path, rows: list[list[object]], header: list[str] | None, match: str, row: int
) -> None:
    padding = week_rows(30, days=7)
    padding = [[str(r[0]).replace("2024-01", "2024-02"), r[1]] for r in padding]  # valid rows after the bad
    path = write_csv(tmp_path / "h.csv", header or ["interval_start", "offered"], rows + padding)
    with pytest.raises(PlanningInputError, match=match) as caught:
        read_history(path)
    assert caught.value.row == row


def test_unsupported_interval_length(tmp_path: Path) -> None:
    rows = [[(MONDAY + timedelta(minutes=20 * k)).isoformat(), 1] for k in range(3 * 24 * 8)]
    with pytest.raises(
        PlanningInputError, match="20 minutes apart \\(rows 2 and 3\\); supported lengths are 5"
    ):
        read_history(write_csv(tmp_path / "h.csv", ["interval_start", "offered"], rows))


def test_mixed_interval_lengths_are_rejected(tmp_path: Path) -> None:
    rows = week_rows(15, days=4) + [r for d in range(4, 8) for r in day_rows(MONDAY + timedelta(days=d), 30)]
    with pytest.raises(PlanningInputError, match="mixed interval lengths: rows 162–181 are every 30 minutes"):
        read_history(write_csv(tmp_path / "h.csv", ["interval_start", "offered"], rows))


def test_blank_lines_do_not_shift_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("interval_start,offered\n2024-01-01T08:00,1\n\n2024-01-01T08:30,-4\n", encoding="utf-8")
    with pytest.raises(PlanningInputError) as caught:
        read_history(path)
    assert caught.value.row == 4


def test_handle_seconds_are_totals_and_need_handled_calls(tmp_path: Path) -> None:
    rows = [[r[0], r[1], 0 if i == 3 else r[1], 900] for i, r in enumerate(week_rows(60))]
    path = write_csv(tmp_path / "h.csv", ["interval_start", "offered", "answered", "talk_seconds"], rows)
    with pytest.raises(PlanningInputError, match="no calls handled") as caught:
        read_history(path)
    assert caught.value.row == 5
    assert caught.value.field == "talk_seconds"


def test_an_average_handle_time_reads_like_the_totals_it_stands_for(tmp_path: Path) -> None:
    """Kefu's interval statistics give `aht_seconds` per handled call; it weighs like talk + ACW totals."""
    base = week_rows(30)
    totals = [[r[0], r[1], 4, 4 * 300 + 4 * 45, None][:4] for r in base]
    averages = [[r[0], r[1], 4, 345] for r in base]
    by_totals = read_history(write_csv(tmp_path / "t.csv", ["interval_start", "offered", "answered",
                                                            "talk_seconds"], totals))
    by_aht = read_history(write_csv(tmp_path / "a.csv", ["interval_start", "offered", "answered",
                                                         "aht_seconds"], averages))
    for one, other in zip(by_totals.queues.values(), by_aht.queues.values(), strict=True):
        assert one.handled is not None
        assert other.handled is not None
        assert one.handle_seconds is not None
        assert other.handle_seconds is not None
        np.testing.assert_allclose(one.handled, other.handled)
        np.testing.assert_allclose(one.handle_seconds, other.handle_seconds)
    negative = [[r[0], r[1], 4, -1 if i == 2 else 300] for i, r in enumerate(base)]
    with pytest.raises(PlanningInputError) as caught:
        read_history(write_csv(tmp_path / "n.csv", ["interval_start", "offered", "answered", "aht_seconds"],
                               negative))
    assert (caught.value.field, caught.value.row) == ("aht_seconds", 4)


def test_short_and_single_interval_histories(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "h.csv", ["interval_start", "offered"], week_rows(30, days=3))
    with pytest.raises(PlanningInputError, match="at least 7 days"):
        read_history(path)
    daily = [[(MONDAY + timedelta(days=d)).isoformat(), 5] for d in range(10)]
    with pytest.raises(PlanningInputError, match="cannot infer the interval length"):
        read_history(write_csv(tmp_path / "d.csv", ["interval_start", "offered"], daily))


def test_offset_and_queue_errors(tmp_path: Path) -> None:
    rows = [[str(r[0]) + "+08:00", r[1], "q1"] for r in week_rows(30)]
    history = read_history(write_csv(tmp_path / "h.csv", ["interval_start", "offered", "queue"], rows))
    assert history.queues["q1"].offered[0, 16] == 5  # 08:00 local stays 08:00
    rows[5][2] = ""
    with pytest.raises(PlanningInputError, match=r"queue.*empty") as caught:
        read_history(write_csv(tmp_path / "h.csv", ["interval_start", "offered", "queue"], rows))
    assert caught.value.row == 7


def test_write_forecast_csv_and_xlsx(tmp_path: Path) -> None:
    import openpyxl

    rows = [ForecastRow(28401600, "sales", 12.34567, 245.06), ForecastRow(28401630, "sales", 3.0, None)]
    write_forecast(tmp_path / "f.csv", rows, with_aht=True)
    assert (tmp_path / "f.csv").read_text().splitlines() == [
        "interval_start,queue,offered,aht_seconds",
        "2024-01-01T08:00,sales,12.346,245.1",
        "2024-01-01T08:30,sales,3.0,",
    ]
    write_forecast(tmp_path / "f.xlsx", rows, with_aht=False)
    sheet = openpyxl.load_workbook(tmp_path / "f.xlsx").active
    assert [c.value for c in sheet[1]] == ["interval_start", "queue", "offered"]
    assert sheet.max_row == 3
