"""Reading interval history, events and overrides from CSV or .xlsx, and writing forecast files.

Row numbers in every error are the ones the user sees in the file: the header is row 1.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast.calendar import (
    ALLOWED_INTERVAL_MINUTES,
    MINUTES_PER_DAY,
    check_interval_grid,
    epoch_day,
    format_day,
    format_minute,
    infer_interval_minutes,
)

DEFAULT_QUEUE = "default"
_OPTIONAL_COUNTS = ("answered", "abandoned")
_OPTIONAL_SECONDS = ("talk_seconds", "acw_seconds")
_AHT = "aht_seconds"  # per handled call: the form of Kefu's own interval statistics (kefu stats intervals)


@dataclass(frozen=True)
class Table:
    """A file's columns as raw cell values, keyed by normalised header, with each row's number in the file."""

    path: str
    columns: dict[str, list[Any]]
    rows: list[int]

    def has(self, name: str) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class QueueHistory:
    """One queue's history on a dense day × interval grid.

    `offered` is calls offered per interval (closed days hold zeros). `handled` and `handle_seconds` are the
    calls handled and their TOTAL handle time (talk + after-call work) in seconds per interval, or None when
    the file has no handle times. `open_day[d]` is False for a day without any row (a closed day).
    """

    queue: str
    first_day: int  # days since 1970-01-01
    offered: NDArray[np.float64]  # (days, intervals_per_day)
    open_day: NDArray[np.bool_]  # (days,)
    handled: NDArray[np.float64] | None
    handle_seconds: NDArray[np.float64] | None

    @property
    def days(self) -> int:
        return int(self.offered.shape[0])

    @property
    def last_day(self) -> int:
        return self.first_day + self.days - 1

    def truncated(self, days: int) -> QueueHistory:
        """The first `days` days of this history (for rolling-origin backtests)."""
        return QueueHistory(
            queue=self.queue,
            first_day=self.first_day,
            offered=self.offered[:days],
            open_day=self.open_day[:days],
            handled=None if self.handled is None else self.handled[:days],
            handle_seconds=None if self.handle_seconds is None else self.handle_seconds[:days],
        )


@dataclass(frozen=True)
class History:
    """Interval history of one or more queues sharing one interval length (minutes) and one last day."""

    interval_minutes: int
    queues: dict[str, QueueHistory]

    @property
    def intervals_per_day(self) -> int:
        return MINUTES_PER_DAY // self.interval_minutes

    @property
    def last_day(self) -> int:
        return max(q.last_day for q in self.queues.values())


# ---------------------------------------------------------------------------------------------- tables


def read_table(path: str | Path) -> Table:
    """Read a CSV (UTF-8, optional BOM) or .xlsx file (first sheet) into a `Table`; the header is row 1."""
    path = Path(path)
    raw = _xlsx_rows(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_rows(path)
    try:
        header_row, header = next(raw)
    except StopIteration:
        raise PlanningInputError(f"{path.name} is empty: it needs a header row", row=1) from None
    names = [str(h).strip().lower() if h is not None else "" for h in header]
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name and name in seen:
            raise PlanningInputError(
                f"column '{name}' appears twice in the header", field=name, row=header_row
            )
        seen[name] = position
    columns: dict[str, list[Any]] = {name: [] for name in names if name}
    rows: list[int] = []
    for number, values in raw:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue  # a blank line is not a row
        rows.append(number)
        for name, position in seen.items():
            if name:
                columns[name].append(values[position] if position < len(values) else None)
    return Table(path=str(path), columns=columns, rows=rows)


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            start = 1
            for values in reader:
                yield start, list(values)
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise PlanningInputError(
            f"{path.name} is not UTF-8 text ({exc.reason}); save it as CSV UTF-8"
        ) from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl

    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise PlanningInputError(f"{path.name} is not a readable .xlsx workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        book.close()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_number(
    value: Any, *, field: str, row: int, minimum: float | None = 0.0, required: bool = True
) -> float:
    """A finite number from a cell (NaN when empty and not required); below `minimum` is an error."""
    if isinstance(value, bool):
        raise PlanningInputError(f"'{value}' is not a number", field=field, row=row)
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = _text(value)
        if not text:
            if required:
                raise PlanningInputError("is empty", field=field, row=row)
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise PlanningInputError(f"'{text}' is not a number", field=field, row=row) from None
    if not math.isfinite(number):
        raise PlanningInputError(f"'{value}' is not a finite number", field=field, row=row)
    if minimum is not None and number < minimum:
        what = "negative" if minimum == 0 else f"below {minimum:g}"
        raise PlanningInputError(f"{number:g} is {what}", field=field, row=row)
    return number


def parse_timestamp(value: Any, *, field: str, row: int) -> int:
    """Minutes since 1970-01-01 (local wall time) of an ISO 8601 timestamp; a UTC offset is dropped."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        text = _text(value)
        if not text:
            raise PlanningInputError("is empty", field=field, row=row)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise PlanningInputError(
                f"'{text}' is not an ISO 8601 time (e.g. 2024-03-01T08:30)", field=field, row=row
            ) from None
    if moment.second or moment.microsecond:
        raise PlanningInputError(f"'{value}' does not start on a whole minute", field=field, row=row)
    moment = moment.replace(tzinfo=None)  # local time as written; the offset does not move the interval
    return (moment.toordinal() - _EPOCH_ORDINAL) * MINUTES_PER_DAY + moment.hour * 60 + moment.minute


def parse_date(value: Any, *, field: str, row: int) -> int:
    """Days since 1970-01-01 of a date cell (YYYY-MM-DD, or a date/datetime from a workbook)."""
    if isinstance(value, datetime):
        return value.date().toordinal() - _EPOCH_ORDINAL
    if isinstance(value, date):
        return value.toordinal() - _EPOCH_ORDINAL
    text = _text(value)
    if not text:
        raise PlanningInputError("is empty", field=field, row=row)
    try:
        return date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date().toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise PlanningInputError(f"'{text}' is not a date (YYYY-MM-DD)", field=field, row=row) from None


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# ---------------------------------------------------------------------------------------------- history


def read_history(path: str | Path, *, interval_minutes: int | None = None) -> History:
    """Read interval history (CSV or .xlsx) and validate it; see `history_from_table` for the format."""
    return history_from_table(read_table(path), interval_minutes=interval_minutes)


def history_from_table(table: Table, *, interval_minutes: int | None = None) -> History:
    """Validate a history table and lay each queue on a day × interval grid.

    Columns: `interval_start` (ISO 8601 local time) and `offered` (calls, ≥ 0) are required; `queue`,
    `answered`, `abandoned` (calls), `talk_seconds` and `acw_seconds` are optional. Talk and after-call work
    are the interval's TOTAL seconds over all calls handled in it (not per-call averages); handled calls are
    `answered`, else offered − abandoned, else offered. Instead of the totals, `aht_seconds` may give the
    average handle time per handled call (the totals win when both are given). The interval length (5, 6,
    10, 15, 30 or 60 minutes) is `interval_minutes` when given, else inferred (the most common gap between
    consecutive intervals of a
    day). A day without rows is closed; an interval missing from a day that has rows had 0 calls.
    """
    for required in ("interval_start", "offered"):
        if not table.has(required):
            present = ", ".join(sorted(table.columns)) or "none"
            raise PlanningInputError(
                f"missing required column (columns found: {present})", field=required, row=1
            )
    if len(table) == 0:
        raise PlanningInputError("the history has a header but no data rows", row=2)
    rows = table.rows
    starts = np.array(
        [
            parse_timestamp(v, field="interval_start", row=r)
            for v, r in zip(table.columns["interval_start"], rows, strict=True)
        ],
        dtype=np.int64,
    )
    offered = np.array(
        [parse_number(v, field="offered", row=r) for v, r in zip(table.columns["offered"], rows, strict=True)]
    )
    queues = [_text(v) for v in table.columns["queue"]] if table.has("queue") else [DEFAULT_QUEUE] * len(rows)
    for name, row in zip(queues, rows, strict=True):
        if not name:
            raise PlanningInputError("is empty", field="queue", row=row)
    optional: dict[str, NDArray[np.float64]] = {}
    for name in (*_OPTIONAL_COUNTS, *_OPTIONAL_SECONDS, _AHT):
        if table.has(name):
            optional[name] = np.array(
                [
                    parse_number(v, field=name, row=r, required=False)
                    for v, r in zip(table.columns[name], rows, strict=True)
                ]
            )
    row_numbers = np.asarray(rows, dtype=np.int64)
    queue_names = list(dict.fromkeys(queues))
    queue_index = (
        np.array([queue_names.index(q) for q in queues])
        if len(queue_names) > 1
        else np.zeros(len(rows), dtype=np.int64)
    )

    order = np.lexsort((starts, queue_index))
    if interval_minutes is None:
        minutes = infer_interval_minutes(starts[order], queue_index[order], row_numbers[order])
    else:
        minutes = int(interval_minutes)
        check_interval_grid(starts[order], queue_index[order], row_numbers[order], minutes)
    handled, seconds = _handle_columns(offered, optional, row_numbers)
    per_day = MINUTES_PER_DAY // minutes
    last_day = int(starts.max() // MINUTES_PER_DAY)
    result: dict[str, QueueHistory] = {}
    for position, name in enumerate(queue_names):
        mask = queue_index == position
        day = starts[mask] // MINUTES_PER_DAY
        slot = (starts[mask] % MINUTES_PER_DAY) // minutes
        first = int(day.min())
        shape = (last_day - first + 1, per_day)
        grid = np.zeros(shape)
        grid[day - first, slot] = offered[mask]
        open_day = np.zeros(shape[0], dtype=bool)
        open_day[day - first] = True
        handled_grid = seconds_grid = None
        if handled is not None and seconds is not None:
            handled_grid = np.zeros(shape)
            seconds_grid = np.zeros(shape)
            handled_grid[day - first, slot] = handled[mask]
            seconds_grid[day - first, slot] = seconds[mask]
        result[name] = QueueHistory(name, first, grid, open_day, handled_grid, seconds_grid)
    history = History(interval_minutes=minutes, queues=result)
    span = history.last_day - min(q.first_day for q in result.values()) + 1
    if span < 7:
        raise PlanningInputError(
            f"the history covers {span} day(s); at least 7 days (one week) are needed "
            "to learn weekday patterns",
            field="interval_start",
        )
    return history


def _handle_columns(
    offered: NDArray[np.float64], optional: dict[str, NDArray[np.float64]], rows: NDArray[np.int64]
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """Handled calls and total handle seconds per row (rows with unknown handle time weigh nothing)."""
    totals = any(name in optional for name in _OPTIONAL_SECONDS)
    if not totals and _AHT not in optional:
        return None, None
    if "answered" in optional:
        handled = optional["answered"].copy()
    elif "abandoned" in optional:
        handled = np.maximum(offered - np.nan_to_num(optional["abandoned"]), 0.0)
    else:
        handled = offered.copy()
    if not totals:
        aht = optional[_AHT]
        if (np.nan_to_num(aht) < 0).any():
            i = int(np.flatnonzero(np.nan_to_num(aht) < 0)[0])
            raise PlanningInputError("must not be negative", field=_AHT, row=int(rows[i]))
        known_aht = ~np.isnan(aht) & ~np.isnan(handled)
        return np.where(known_aht, handled, 0.0), np.where(known_aht, np.nan_to_num(aht) * handled, 0.0)
    talk = optional.get("talk_seconds")
    acw = optional.get("acw_seconds")
    parts = [p for p in (talk, acw) if p is not None]
    known = np.all([~np.isnan(p) for p in parts], axis=0) & ~np.isnan(handled)
    seconds = np.sum([np.nan_to_num(p) for p in parts], axis=0)
    bad = known & (seconds > 0) & (handled <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        field = "talk_seconds" if talk is not None and np.nan_to_num(talk[i]) > 0 else "acw_seconds"
        raise PlanningInputError(
            f"{seconds[i]:g} handle seconds but no calls handled in the interval (talk_seconds and "
            "acw_seconds are the interval's total seconds, so they need answered calls)",
            field=field,
            row=int(rows[i]),
        )
    return np.where(known, handled, 0.0), np.where(known, seconds, 0.0)


# ---------------------------------------------------------------------------------------------- output


@dataclass(frozen=True)
class ForecastRow:
    """An output row: interval start (minutes since 1970-01-01), queue, calls offered, AHT seconds or None."""

    start_minute: int
    queue: str
    offered: float
    aht_seconds: float | None


def write_forecast(path: str | Path, rows: Sequence[ForecastRow], *, with_aht: bool) -> None:
    """Write forecast rows as CSV (.xlsx by name): interval_start, queue, offered[, aht_seconds]."""
    path = Path(path)
    header = ["interval_start", "queue", "offered"] + (["aht_seconds"] if with_aht else [])

    def cells(row: ForecastRow) -> list[Any]:
        out: list[Any] = [format_minute(row.start_minute), row.queue, round(row.offered, 3)]
        if with_aht:
            out.append("" if row.aht_seconds is None else round(row.aht_seconds, 1))
        return out

    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("forecast")
        sheet.append(header)
        for row in rows:
            sheet.append(cells(row))
        book.save(path)
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(cells(row) for row in rows)


__all__ = [
    "ALLOWED_INTERVAL_MINUTES",
    "DEFAULT_QUEUE",
    "ForecastRow",
    "History",
    "QueueHistory",
    "Table",
    "epoch_day",
    "format_day",
    "history_from_table",
    "parse_date",
    "parse_number",
    "parse_timestamp",
    "read_history",
    "read_table",
    "write_forecast",
]
