"""Known events (dates whose volume is unusual, with an uplift factor) and manual overrides of a forecast.

Events file: `date` (YYYY-MM-DD) required; `name`, `factor` (volume multiplier, 1.25 = +25 %, 0 = closed)
and `queue` optional. Overrides file: `date` or `interval_start` per row, `queue` optional, and exactly one of
`offered` (calls: the day's total, or the interval's calls) or `factor` (multiplier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast.calendar import MINUTES_PER_DAY
from kefu.wfm.forecast.io import Table, parse_date, parse_number, parse_timestamp, read_table

DEFAULT_EVENT_NAME = "event"


@dataclass(frozen=True)
class Event:
    """A dated event: on `day` (days since 1970-01-01) volume is `factor` × normal (None: learn the factor
    from past days with the same name). `queue` None means every queue. `row` is the file row, if any."""

    day: int
    name: str = DEFAULT_EVENT_NAME
    factor: float | None = None
    queue: str | None = None
    row: int | None = None


@dataclass(frozen=True)
class Override:
    """A manual change to the forecast: a whole day (`minute_of_day` None) or one interval, set to `offered`
    calls or multiplied by `factor` (exactly one of the two)."""

    day: int
    minute_of_day: int | None = None
    offered: float | None = None
    factor: float | None = None
    queue: str | None = None
    row: int | None = None

    def __post_init__(self) -> None:
        if (self.offered is None) == (self.factor is None):
            raise PlanningInputError("give exactly one of offered or factor", field="offered", row=self.row)


def _cell(table: Table, name: str, index: int) -> object:
    return table.columns[name][index] if table.has(name) else None


def _optional_text(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def read_events(path: str | Path) -> list[Event]:
    """Events from a CSV or .xlsx file (see the module docstring for the columns)."""
    table = read_table(path)
    if not table.has("date"):
        raise PlanningInputError("missing required column", field="date", row=1)
    events = []
    for i, row in enumerate(table.rows):
        factor_cell = _cell(table, "factor", i)
        factor = (
            None
            if _optional_text(factor_cell) is None
            else parse_number(factor_cell, field="factor", row=row)
        )
        events.append(
            Event(
                day=parse_date(_cell(table, "date", i), field="date", row=row),
                name=_optional_text(_cell(table, "name", i)) or DEFAULT_EVENT_NAME,
                factor=factor,
                queue=_optional_text(_cell(table, "queue", i)),
                row=row,
            )
        )
    return events


def read_overrides(path: str | Path) -> list[Override]:
    """Overrides from a CSV or .xlsx file (see the module docstring for the columns)."""
    table = read_table(path)
    if not (table.has("date") or table.has("interval_start")):
        raise PlanningInputError("missing column: give date or interval_start", field="date", row=1)
    if not (table.has("offered") or table.has("factor")):
        raise PlanningInputError("missing column: give offered or factor", field="offered", row=1)
    overrides = []
    for i, row in enumerate(table.rows):
        start = _cell(table, "interval_start", i)
        if _optional_text(start) is not None:
            minute = parse_timestamp(start, field="interval_start", row=row)
            day, minute_of_day = divmod(minute, MINUTES_PER_DAY)
            of_day: int | None = minute_of_day
        else:
            day, of_day = parse_date(_cell(table, "date", i), field="date", row=row), None
        values = {}
        for name in ("offered", "factor"):
            cell = _cell(table, name, i)
            values[name] = None if _optional_text(cell) is None else parse_number(cell, field=name, row=row)
        overrides.append(
            Override(
                day=day,
                minute_of_day=of_day,
                offered=values["offered"],
                factor=values["factor"],
                queue=_optional_text(_cell(table, "queue", i)),
                row=row,
            )
        )
    return overrides


def check_factor(value: float, *, field: str, row: int | None) -> float:
    """A multiplier must be finite and ≥ 0."""
    if not math.isfinite(value) or value < 0:
        raise PlanningInputError(f"{value:g} is not a factor ≥ 0", field=field, row=row)
    return value
