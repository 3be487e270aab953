"""Inputs of the shift scheduler — requirements, shift templates and agents — and their CSV readers.

Every reader validates each row and raises `PlanningInputError` naming the file's field and row (the header is
row 1, the first data row is row 2). Times of day are minutes after midnight; durations are minutes unless a
name says hours.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_INDEX = {name.lower(): i for i, name in enumerate(WEEKDAYS)}
_WEEKDAY_INDEX.update(
    {
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    }
)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


@dataclass(frozen=True)
class Requirements:
    """Agents required per interval over a horizon of whole days (at most a week).

    `required[q, t]` is the number of agents (may be fractional) that queue `queues[q]` needs on the phone in
    interval `t`; interval `t` starts `t * interval_minutes` minutes after `start` (midnight of the first
    day). Intervals absent from the file need no agents. `calls`, `aht_seconds` and `within_seconds` have the
    same shape and are present only when the file carries them (they let the report compute the expected
    service level).
    """

    start: datetime
    interval_minutes: int
    days: int
    queues: tuple[str, ...]
    required: NDArray[np.float64]
    staff_column: str
    calls: NDArray[np.float64] | None = None
    aht_seconds: NDArray[np.float64] | None = None
    within_seconds: NDArray[np.float64] | None = None

    @property
    def intervals(self) -> int:
        """Number of intervals in the horizon."""
        return int(self.required.shape[1])

    def interval_start(self, t: int) -> datetime:
        """Start of interval `t`."""
        return self.start + timedelta(minutes=t * self.interval_minutes)


@dataclass(frozen=True)
class Break:
    """A break or meal inside a shift: `minutes` long, starting between `earliest` and `latest` minutes after
    the shift starts. Meals are unpaid; breaks are paid."""

    kind: str  # "break" or "meal"
    minutes: int
    earliest: int
    latest: int

    @property
    def paid(self) -> bool:
        return self.kind == "break"


@dataclass(frozen=True)
class ShiftTemplate:
    """A shift building block: allowed start times (minutes after midnight), length, weekdays (0 = Monday) on
    which it may be worked, its breaks and meals, and the cost of one paid hour."""

    name: str
    starts: tuple[int, ...]
    length_minutes: int
    weekdays: frozenset[int]
    breaks: tuple[Break, ...]
    cost_per_hour: float

    @property
    def paid_minutes(self) -> int:
        """Paid minutes of one shift: its length less unpaid meals."""
        return self.length_minutes - sum(b.minutes for b in self.breaks if not b.paid)


@dataclass(frozen=True)
class Agent:
    """One agent's contract and availability.

    Paid hours per week between `hours_min` and `hours_max`; at most `max_days` working days; when
    `consecutive_days_off` the `days_off` free days of a 7-day horizon form one block; shifts start no earlier
    than `earliest_start` and end no later than `latest_end` (minutes after the shift day's midnight, so 1560
    is 02:00 the next morning); `min_rest_minutes` between the end of one shift and the start of the next. An
    empty `skills` set means the agent can work every queue; skills are matched only when the requirements
    have two or more queues.
    """

    agent_id: str
    name: str
    hours_min: float
    hours_max: float
    max_days: int
    days_off: int
    consecutive_days_off: bool
    available_weekdays: frozenset[int]
    earliest_start: int
    latest_end: int
    skills: frozenset[str] = field(default_factory=frozenset)
    min_rest_minutes: int = 11 * 60
    row: int | None = None


# --------------------------------------------------------------------------------------------------- parsing


def parse_clock(
    text: str, *, field_name: str, row: int | None, allow_24: bool = True, max_hours: int = 24
) -> int:
    """Parse `HH:MM` (or `H:MM`) into minutes; hours up to `max_hours` (`24:00` = end of day)."""
    match = _CLOCK.match(text)
    if not match:
        raise PlanningInputError(f"'{text}' is not a time written HH:MM", field=field_name, row=row)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if (
        minutes >= 60
        or hours > max_hours
        or (hours == max_hours and minutes > 0)
        or (hours == 24 and not allow_24 and max_hours == 24)
    ):
        raise PlanningInputError(f"'{text}' is not a valid time", field=field_name, row=row)
    return hours * 60 + minutes


def parse_weekdays(text: str, *, field_name: str, row: int | None) -> frozenset[int]:
    """Parse `Mon-Fri`, `Mon|Wed|Fri`, `Sat-Sun|Wed` or empty (every day) into weekday numbers (0 = Mon)."""
    text = text.strip()
    if not text:
        return frozenset(range(7))
    days: set[int] = set()
    for part in re.split(r"[|,;]", text):
        part = part.strip().lower()
        if not part:
            continue
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in _WEEKDAY_INDEX or last not in _WEEKDAY_INDEX:
                raise PlanningInputError(
                    f"'{text}' is not a list of weekdays like Mon-Fri or Mon|Tue", field=field_name, row=row
                )
            i, j = _WEEKDAY_INDEX[first], _WEEKDAY_INDEX[last]
            days.update((i + k) % 7 for k in range((j - i) % 7 + 1))
        elif part in _WEEKDAY_INDEX:
            days.add(_WEEKDAY_INDEX[part])
        else:
            raise PlanningInputError(
                f"'{part}' is not a weekday (Mon, Tue, … Sun)", field=field_name, row=row
            )
    return frozenset(days)


def parse_starts(text: str, *, field_name: str, row: int | None) -> tuple[int, ...]:
    """Parse shift starts: `08:00`, a list `08:00|08:30|09:00`, or a range with a step `06:00-14:00/30`."""
    starts: set[int] = set()
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        range_match = re.match(r"^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*/\s*(\d+)$", part)
        if range_match:
            first = parse_clock(range_match.group(1), field_name=field_name, row=row, allow_24=False)
            last = parse_clock(range_match.group(2), field_name=field_name, row=row, allow_24=False)
            step = int(range_match.group(3))
            if step <= 0 or last < first:
                raise PlanningInputError(
                    f"'{part}' must be earliest-latest/step minutes with step > 0", field=field_name, row=row
                )
            starts.update(range(first, last + 1, step))
        else:
            value = parse_clock(part, field_name=field_name, row=row)
            if value >= 24 * 60:
                raise PlanningInputError(f"'{part}': a shift starts before 24:00", field=field_name, row=row)
            starts.add(value)
    if not starts:
        raise PlanningInputError("at least one start time is needed", field=field_name, row=row)
    return tuple(sorted(starts))


def parse_number(
    text: str, *, field_name: str, row: int | None, minimum: float | None = 0.0, default: float | None = None
) -> float:
    """Parse a finite number, at least `minimum`; an empty field gives `default` (or an error when None)."""
    text = text.strip()
    if not text:
        if default is None:
            raise PlanningInputError("a value is required", field=field_name, row=row)
        return default
    try:
        value = float(text)
    except ValueError:
        raise PlanningInputError(f"'{text}' is not a number", field=field_name, row=row) from None
    if not math.isfinite(value):
        raise PlanningInputError(f"'{text}' is not a finite number", field=field_name, row=row)
    if minimum is not None and value < minimum:
        raise PlanningInputError(f"must be at least {minimum:g}, got {text}", field=field_name, row=row)
    return value


def parse_bool(text: str, *, field_name: str, row: int | None) -> bool:
    """Parse yes/no, true/false, 1/0 (empty is no)."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise PlanningInputError(f"'{text}' is not yes or no", field=field_name, row=row)


def _pipe_list(text: str) -> list[str]:
    return [p.strip() for p in text.split("|") if p.strip()] if text.strip() else []


def _read_rows(path: Path, *, what: str, required: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number, row) from a CSV file, checking that the `required` columns are present."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise PlanningInputError(f"the {what} file {path} is empty")
        reader.fieldnames = header
        missing = [c for c in required if c not in header]
        if missing:
            raise PlanningInputError(
                f"the {what} file {path} lacks the column(s) {', '.join(missing)}", field=missing[0]
            )
        for index, raw in enumerate(reader, start=2):
            if None in raw:
                raise PlanningInputError("more fields than the header has columns", row=index)
            yield index, {k: (v or "").strip() for k, v in raw.items()}


# --------------------------------------------------------------------------------------------- requirements


def read_requirements(path: Path, *, staff_column: str | None = None) -> Requirements:
    """Read a requirements CSV (see `requirements_from_rows`)."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    rows = list(_read_rows(path, what="requirements", required=("interval_start",)))
    return requirements_from_rows(rows, header=[h.strip() for h in header], staff_column=staff_column)


def requirements_from_rows(
    rows: list[tuple[int, dict[str, str]]], *, header: list[str], staff_column: str | None = None
) -> Requirements:
    """Build `Requirements` from CSV rows.

    Columns: `interval_start` (ISO 8601 local time, on a 15- or 30-minute grid from midnight); the staff
    column, agents needed — `required` (or `required_agents`) or `scheduled` (or `scheduled_agents`, as `kefu
    wfm plan` writes them); when both are present the scheduled staff is covered unless `staff_column` says
    `required`; optional `queue`; optional `calls` (or `offered`) with `aht_seconds` (seconds; may be empty
    where no calls are offered) and `within_seconds` (seconds) for the expected service level. The horizon
    runs from midnight of the first interval's day to the end of the last interval's day and may be 1 to 7
    days; missing intervals need no staff.
    """
    names = {
        "required": next((c for c in ("required", "required_agents") if c in header), None),
        "scheduled": next((c for c in ("scheduled", "scheduled_agents") if c in header), None),
    }
    if staff_column is None:
        staff_column = "scheduled" if names["scheduled"] else "required"
    if staff_column not in ("required", "scheduled"):
        raise PlanningInputError("must be 'required' or 'scheduled'", field="staff_column")
    column = names[staff_column]
    if column is None:
        raise PlanningInputError(
            f"the requirements file lacks the column '{staff_column}' (or '{staff_column}_agents')",
            field=staff_column,
        )
    has_queue = "queue" in header
    calls_column = next((c for c in ("calls", "offered") if c in header), None)
    has_calls = calls_column is not None and "aht_seconds" in header
    if (calls_column is not None) != ("aht_seconds" in header):
        missing = "aht_seconds" if calls_column else "calls"
        raise PlanningInputError("'calls' and 'aht_seconds' go together for the service level", field=missing)
    has_within = has_calls and "within_seconds" in header
    if not rows:
        raise PlanningInputError("the requirements file has no rows", field="interval_start")

    parsed: list[tuple[int, datetime, str, float, float, float, float]] = []
    for row, values in rows:
        text = values.get("interval_start", "")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise PlanningInputError(
                f"'{text}' is not an ISO 8601 date and time", field="interval_start", row=row
            ) from None
        needed = parse_number(values.get(column, ""), field_name=column, row=row)
        calls = aht = within = math.nan
        if has_calls and calls_column is not None:
            calls = parse_number(values.get(calls_column, ""), field_name=calls_column, row=row)
            aht = parse_number(
                values.get("aht_seconds", ""),
                field_name="aht_seconds",
                row=row,
                default=None if calls > 0 else 0.0,
            )
            if aht <= 0 and calls > 0:
                raise PlanningInputError(
                    "must be greater than 0 when calls are offered", field="aht_seconds", row=row
                )
            if has_within:
                within = parse_number(values.get("within_seconds", ""), field_name="within_seconds", row=row)
        parsed.append((row, when, values.get("queue", "") if has_queue else "", needed, calls, aht, within))

    aware = {p[1].tzinfo is not None for p in parsed}
    if len(aware) > 1:
        raise PlanningInputError(
            "mixes times with and without a UTC offset", field="interval_start", row=parsed[0][0]
        )
    first = min(p[1] for p in parsed)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    offsets = np.array([(p[1] - start).total_seconds() / 60.0 for p in parsed])
    days = int(offsets.max() // (24 * 60)) + 1
    if days > 7:
        raise PlanningInputError(
            f"the file spans {days} days; a schedule covers at most one week (7 days)", field="interval_start"
        )
    distinct = np.unique(offsets)
    steps = np.diff(distinct)
    step = int(steps.min()) if steps.size else 30
    if step not in (15, 30) and steps.size:
        raise PlanningInputError(
            f"intervals are {step:g} minutes apart; schedules need 15 or 30 minutes", field="interval_start"
        )
    for (row, when, *_), offset in zip(parsed, offsets, strict=True):
        if offset % step:
            raise PlanningInputError(
                f"'{when.isoformat()}' is not on the {step}-minute grid from midnight",
                field="interval_start",
                row=row,
            )
    queues = tuple(sorted({p[2] for p in parsed}))
    qindex = {q: i for i, q in enumerate(queues)}
    intervals = days * 24 * 60 // step
    required = np.zeros((len(queues), intervals))
    calls_a = np.zeros_like(required)
    aht_a = np.zeros_like(required)
    within_a = np.full_like(required, np.nan)
    seen = np.zeros(required.shape, dtype=bool)
    for (row, when, queue, needed, calls, aht, within), offset in zip(parsed, offsets, strict=True):
        q, t = qindex[queue], int(offset // step)
        if seen[q, t]:
            label = f" for queue '{queue}'" if has_queue else ""
            raise PlanningInputError(
                f"interval {when.isoformat()} appears twice{label}", field="interval_start", row=row
            )
        seen[q, t] = True
        required[q, t] = needed
        calls_a[q, t], aht_a[q, t], within_a[q, t] = calls, aht, within
    return Requirements(
        start=start,
        interval_minutes=step,
        days=days,
        queues=queues,
        required=required,
        staff_column=staff_column,
        calls=calls_a if has_calls else None,
        aht_seconds=aht_a if has_calls else None,
        within_seconds=within_a if has_within else None,
    )


# ------------------------------------------------------------------------------------------------- shifts


def read_shifts(path: Path) -> list[ShiftTemplate]:
    """Read a shift-template CSV (see `shifts_from_rows`)."""
    return shifts_from_rows(list(_read_rows(path, what="shifts", required=("name", "start", "length_hours"))))


def _windows(minutes_text: str, window_text: str, *, kind: str, row: int) -> list[Break]:
    minutes_f = f"{kind}_minutes"
    window_f = f"{kind}_window"
    durations = _pipe_list(minutes_text)
    windows = _pipe_list(window_text)
    durations = [d for d in durations if parse_number(d, field_name=minutes_f, row=row) > 0]
    if not durations:
        return []
    if len(windows) != len(durations):
        raise PlanningInputError(
            f"give one window per {kind} ({len(durations)} {kind}(s), {len(windows)} "
            "window(s)); a window is earliest-latest start after the shift start, e.g. "
            "2:00-3:00",
            field=window_f,
            row=row,
        )
    out = []
    for duration_text, window in zip(durations, windows, strict=True):
        minutes = parse_number(duration_text, field_name=minutes_f, row=row)
        if minutes != int(minutes):
            raise PlanningInputError(f"'{duration_text}' must be whole minutes", field=minutes_f, row=row)
        parts = window.split("-")
        if len(parts) != 2:
            raise PlanningInputError(
                f"'{window}' is not earliest-latest like 2:00-3:00", field=window_f, row=row
            )
        earliest = parse_clock(parts[0], field_name=window_f, row=row, max_hours=24)
        latest = parse_clock(parts[1], field_name=window_f, row=row, max_hours=24)
        if latest < earliest:
            raise PlanningInputError(
                f"'{window}': the latest start is before the earliest", field=window_f, row=row
            )
        out.append(Break(kind=kind, minutes=int(minutes), earliest=earliest, latest=latest))
    return out


def shifts_from_rows(rows: list[tuple[int, dict[str, str]]]) -> list[ShiftTemplate]:
    """Build shift templates from CSV rows.

    Columns: `name` (unique), `start` (`HH:MM`, a list `08:00|08:30` or a range `06:00-14:00/30`),
    `length_hours` (0 < h ≤ 24, breaks and meals included), optional `days` (`Mon-Fri`, `Mon|Wed`; empty =
    every day), `break_minutes` and `break_window` (earliest-latest start after the shift start, `2:00-3:00`;
    several breaks as pipe lists `15|15` and `1:30-2:30|6:00-7:00`), `meal_minutes` and `meal_window` likewise
    (meals are unpaid, breaks paid), `cost_per_hour` (cost of one paid hour; default 1, so cost = paid
    agent-hours).
    """
    templates: list[ShiftTemplate] = []
    names: set[str] = set()
    for row, values in rows:
        name = values["name"]
        if not name:
            raise PlanningInputError("a shift needs a name", field="name", row=row)
        if name in names:
            raise PlanningInputError(f"shift '{name}' is defined twice", field="name", row=row)
        names.add(name)
        starts = parse_starts(values["start"], field_name="start", row=row)
        hours = parse_number(values["length_hours"], field_name="length_hours", row=row)
        if not 0 < hours <= 24:
            raise PlanningInputError(
                f"must be more than 0 and at most 24, got {values['length_hours']}",
                field="length_hours",
                row=row,
            )
        length = round(hours * 60)
        weekdays = parse_weekdays(values.get("days", ""), field_name="days", row=row)
        breaks = _windows(
            values.get("break_minutes", ""), values.get("break_window", ""), kind="break", row=row
        )
        breaks += _windows(
            values.get("meal_minutes", ""), values.get("meal_window", ""), kind="meal", row=row
        )
        breaks.sort(key=lambda b: b.earliest)
        for b in breaks:
            if b.latest + b.minutes > length:
                raise PlanningInputError(
                    f"a {b.kind} starting as late as {b.latest // 60}:{b.latest % 60:02d} "
                    f"does not end within the {hours:g}-hour shift",
                    field=f"{b.kind}_window",
                    row=row,
                )
        for before, after in itertools.pairwise(breaks):
            if before.latest + before.minutes > after.earliest:
                raise PlanningInputError(
                    f"the {before.kind} and {after.kind} windows overlap; each window must "
                    "end (latest start + length) before the next one begins",
                    field=f"{after.kind}_window",
                    row=row,
                )
        cost = parse_number(values.get("cost_per_hour", ""), field_name="cost_per_hour", row=row, default=1.0)
        templates.append(
            ShiftTemplate(
                name=name,
                starts=starts,
                length_minutes=length,
                weekdays=weekdays,
                breaks=tuple(breaks),
                cost_per_hour=cost,
            )
        )
    if not templates:
        raise PlanningInputError("the shifts file has no rows", field="name")
    return templates


# ------------------------------------------------------------------------------------------------- agents


def read_agents(path: Path, *, horizon_days: int = 7) -> list[Agent]:
    """Read an agents CSV (see `agents_from_rows`)."""
    rows = list(
        _read_rows(path, what="agents", required=("agent_id", "contract_hours_min", "contract_hours_max"))
    )
    return agents_from_rows(rows, horizon_days=horizon_days)


def agents_from_rows(rows: list[tuple[int, dict[str, str]]], *, horizon_days: int = 7) -> list[Agent]:
    """Build agents from CSV rows.

    Columns: `agent_id` (unique), optional `name`, `contract_hours_min` and `contract_hours_max` (paid hours
    in the horizon), `days_off_per_week` or `max_days` (working days; default: every day), optional
    `consecutive_days_off` (yes/no: the days off form one block; only for 7-day horizons), `available_days`
    (`Mon-Fri`; empty = every day), `earliest_start` and `latest_end` (`HH:MM`; a latest end at or before the
    earliest start means the next morning; empty = no limit), `skills` (pipe list of queues; empty = every
    queue), `min_rest_hours` (between shifts, 0–24, default 11).
    """
    agents: list[Agent] = []
    ids: set[str] = set()
    for row, values in rows:
        agent_id = values["agent_id"]
        if not agent_id:
            raise PlanningInputError("an agent needs an id", field="agent_id", row=row)
        if agent_id in ids:
            raise PlanningInputError(f"agent '{agent_id}' appears twice", field="agent_id", row=row)
        ids.add(agent_id)
        low = parse_number(values["contract_hours_min"], field_name="contract_hours_min", row=row)
        high = parse_number(values["contract_hours_max"], field_name="contract_hours_max", row=row)
        if high < low:
            raise PlanningInputError(
                f"is below contract_hours_min ({low:g})", field="contract_hours_max", row=row
            )
        days_off_text = values.get("days_off_per_week", "")
        max_days_text = values.get("max_days", "")
        days_off = 0
        max_days = horizon_days
        if days_off_text:
            value = parse_number(days_off_text, field_name="days_off_per_week", row=row)
            if value != int(value) or value > 7:
                raise PlanningInputError(
                    f"'{days_off_text}' must be a whole number 0-7", field="days_off_per_week", row=row
                )
            days_off = int(value)
            max_days = min(max_days, 7 - days_off)
        if max_days_text:
            value = parse_number(max_days_text, field_name="max_days", row=row)
            if value != int(value) or value > 7:
                raise PlanningInputError(
                    f"'{max_days_text}' must be a whole number 0-7", field="max_days", row=row
                )
            max_days = min(max_days, int(value))
        consecutive = parse_bool(
            values.get("consecutive_days_off", ""), field_name="consecutive_days_off", row=row
        )
        if consecutive and days_off == 0:
            days_off = 7 - max_days
        available = parse_weekdays(values.get("available_days", ""), field_name="available_days", row=row)
        earliest = (
            parse_clock(values["earliest_start"], field_name="earliest_start", row=row, allow_24=False)
            if values.get("earliest_start")
            else 0
        )
        if values.get("latest_end"):
            latest = parse_clock(values["latest_end"], field_name="latest_end", row=row)
            if latest <= earliest:
                latest += 24 * 60
        else:
            latest = 48 * 60
        rest = parse_number(
            values.get("min_rest_hours", ""), field_name="min_rest_hours", row=row, default=11.0
        )
        if rest > 24:
            raise PlanningInputError(
                f"must be at most 24, got {values['min_rest_hours']}", field="min_rest_hours", row=row
            )
        agents.append(
            Agent(
                agent_id=agent_id,
                name=values.get("name", "") or agent_id,
                hours_min=low,
                hours_max=high,
                max_days=max_days,
                days_off=days_off,
                consecutive_days_off=consecutive and days_off > 0,
                available_weekdays=available,
                earliest_start=earliest,
                latest_end=latest,
                skills=frozenset(_pipe_list(values.get("skills", ""))),
                min_rest_minutes=round(rest * 60),
                row=row,
            )
        )
    if not agents:
        raise PlanningInputError("the agents file has no rows", field="agent_id")
    return agents


def rows_of(records: Iterable[Mapping[str, object]]) -> list[tuple[int, dict[str, str]]]:
    """Turn in-memory records into numbered string rows, as if read from a CSV (row 2 is the first record)."""
    return [
        (i, {k: "" if v is None else str(v) for k, v in r.items()}) for i, r in enumerate(records, start=2)
    ]
