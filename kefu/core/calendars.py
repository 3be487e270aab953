"""Business-time arithmetic on working calendars (working hours, public holidays, 调休 working days).

Pure Python, no Django: `kefu.tickets.sla.spec_from_model` turns the calendar models into a `CalendarSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_SECONDS = 86_400
# A working period of one local day: seconds since local midnight, [start, end), 0 <= start < end <= 86400.
Period = tuple[int, int]
Periods = tuple[Period, ...]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_US_PER_SECOND = 1_000_000
_ONE_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 - local wall-clock arithmetic, the zone is applied later
_CACHE_LIMIT = 50_000


# ---------------------------------------------------------------------------------------------- parsing


def parse_time_seconds(text: Any) -> int:
    """"HH:MM" → seconds since midnight; "24:00" (end of day) → 86400. ValueError on anything else."""
    if not isinstance(text, str) or not _HHMM.match(text):
        raise ValueError(f"'{text}' is not a time of day HH:MM")
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def parse_periods_seconds(value: Any) -> Periods:
    """A list of ["HH:MM", "HH:MM"] pairs → periods in seconds; ValueError naming the bad pair."""
    if not isinstance(value, list | tuple):
        raise ValueError("periods must be a list of [start, end] pairs")
    periods: list[Period] = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError("each period must be a [start, end] pair")
        start, end = parse_time_seconds(item[0]), parse_time_seconds(item[1])
        if end <= start:
            raise ValueError(f"period {item[0]}–{item[1]} ends before it starts")
        if periods and start < periods[-1][1]:
            raise ValueError(f"period {item[0]}–{item[1]} overlaps the one before")
        periods.append((start, end))
    return tuple(periods)


def _as_time(seconds: int) -> time:
    # `time` cannot say 24:00; time.max stands for the end of the day in the legacy shape.
    if seconds >= DAY_SECONDS:
        return time.max
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def parse_periods(value: Any) -> tuple[tuple[time, time], ...]:
    """Like `parse_periods_seconds` but as `time` pairs ("24:00" → time.max); kept for the model validator."""
    return tuple((_as_time(start), _as_time(end)) for start, end in parse_periods_seconds(value))


def parse_week_seconds(value: Any) -> tuple[Periods, ...]:
    """Seven lists (Monday first) of ["HH:MM", "HH:MM"] periods → periods in seconds; ValueError if bad."""
    if not isinstance(value, list | tuple) or len(value) != 7:
        raise ValueError("the week must list seven days, Monday first")
    week: list[Periods] = []
    for number, day in enumerate(value, start=1):
        try:
            week.append(parse_periods_seconds(day))
        except ValueError as exc:
            raise ValueError(f"day {number} of the week: {exc}") from None
    return tuple(week)


def parse_week(value: Any) -> tuple[tuple[tuple[time, time], ...], ...]:
    """Seven lists (Monday first) of ["HH:MM", "HH:MM"] periods → parsed periods; ValueError on bad input."""
    return tuple(tuple((_as_time(s), _as_time(e)) for s, e in day) for day in parse_week_seconds(value))


def format_periods(periods: Periods) -> list[list[str]]:
    """The JSON shape of periods (inverse of `parse_periods_seconds`)."""
    return [[_hhmm(start), _hhmm(end)] for start, end in periods]


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _check_periods(periods: Periods, where: str) -> None:
    previous_end = 0
    for start, end in periods:
        if not (0 <= start < end <= DAY_SECONDS) or start < previous_end:
            raise ValueError(f"{where}: periods must be ordered, non-overlapping and within the day")
        previous_end = end


# ---------------------------------------------------------------------------------------------- the calendar


@dataclass(frozen=True)
class CalendarSpec:
    """A working calendar in its local time zone.

    `week` holds seven period tuples, Monday first. `exceptions` maps a local date to its periods instead of
    the weekday's: a public holiday maps to (), a 调休 working weekend day to its working periods.
    An `always_open` calendar (7×24) ignores `week` and `exceptions`.
    """

    time_zone: str = "Asia/Shanghai"
    always_open: bool = False
    week: tuple[Periods, ...] = ((), (), (), (), (), (), ())
    exceptions: Mapping[date, Periods] = field(default_factory=dict)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _last_open_exception: date | None = field(init=False, repr=False, compare=False)
    _day_cache: dict[date, tuple[tuple[int, int], ...]] = field(init=False, repr=False, compare=False,
                                                               default_factory=dict)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown time zone '{self.time_zone}'") from None
        if len(self.week) != 7:
            raise ValueError("the week must list seven days, Monday first")
        for number, periods in enumerate(self.week, start=1):
            _check_periods(periods, f"day {number} of the week")
        for day, periods in self.exceptions.items():
            _check_periods(periods, f"exception {day}")
        open_exceptions = [day for day, periods in self.exceptions.items() if periods]
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_last_open_exception", max(open_exceptions) if open_exceptions else None)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def has_weekly_time(self) -> bool:
        return self.always_open or any(self.week)

    def periods_on(self, day: date) -> Periods:
        """The local working periods of `day` (exception first, else its weekday)."""
        periods = self.exceptions.get(day)
        return self.week[day.weekday()] if periods is None else periods

    def intervals_on(self, day: date) -> tuple[tuple[int, int], ...]:
        """The working periods of local `day` as [start, end) instants in microseconds since the epoch.

        Local times are resolved with zoneinfo (fold=0: an ambiguous time is its first occurrence, a time
        in a spring-forward gap moves forward by the gap); intervals are then clamped so that they stay
        ordered and never overlap. So business time is real elapsed time, also on DST change days.
        """
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[int, int]] = []
        floor = -(2**62)
        for start, end in self.periods_on(day):
            begin = max(self._local_us(day, start), floor)
            finish = max(self._local_us(day, end), begin)
            if finish > begin:
                intervals.append((begin, finish))
                floor = finish
        result = tuple(intervals)
        if len(self._day_cache) >= _CACHE_LIMIT:
            self._day_cache.clear()
        self._day_cache[day] = result
        return result

    def _local_us(self, day: date, seconds: int) -> int:
        naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)  # noqa: DTZ001
        offset = naive.replace(tzinfo=self._zone).utcoffset() or timedelta(0)
        return (naive - _EPOCH_NAIVE - offset) // _ONE_US

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()

    def check_open_time(self, from_day: date) -> None:
        """ValueError when the calendar has no working time at all on or after `from_day`."""
        if self.has_weekly_time:
            return
        if self._last_open_exception is None or self._last_open_exception < from_day:
            raise ValueError(
                f"calendar ({self.time_zone}) has no working time on or after {from_day.isoformat()}: "
                "every weekday is closed and no later working day is listed"
            )


def workday_default_periods(week: tuple[Periods, ...]) -> Periods:
    """The hours of a 调休 working day listed without periods: the first open weekday's (Monday first)."""
    for periods in week:
        if periods:
            return periods
    return ()


def build_spec(*, time_zone: str, always_open: bool, week: Any, holidays: Iterable[date] = (),
               workdays: Mapping[date, Any] | None = None) -> CalendarSpec:
    """A CalendarSpec from the stored JSON shapes: `week` as seven period lists, `workdays` mapping a 调休
    date to its period list (empty → the usual weekday hours). ValueError on bad input."""
    # An empty week (the model's default) is a week without working hours, e.g. on a 7×24 calendar.
    parsed_week = parse_week_seconds(week) if week else ((), (), (), (), (), (), ())
    exceptions: dict[date, Periods] = dict.fromkeys(holidays, ())
    for day, periods in (workdays or {}).items():
        parsed = parse_periods_seconds(periods or [])
        exceptions[day] = parsed or workday_default_periods(parsed_week)
    return CalendarSpec(time_zone=time_zone, always_open=always_open, week=parsed_week, exceptions=exceptions)


# ---------------------------------------------------------------------------------------------- arithmetic


def _to_us(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} is a naive datetime; business time needs an aware one")
    return (at - _EPOCH_UTC) // _ONE_US


def _from_us(value: int, tz: tzinfo | None) -> datetime:
    return (_EPOCH_UTC + timedelta(microseconds=value)).astimezone(tz)


def add_business_seconds(spec: CalendarSpec, start: datetime, seconds: int) -> datetime:
    """The moment at which `seconds` business seconds have elapsed from `start` (aware, in start's zone).

    A target that ends exactly at the close of a period lands on that close (18:00, not the next morning).
    Walks whole days, never minutes. ValueError for negative seconds, a naive start, or a calendar without
    any working time ahead.
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    position = _to_us(start)
    if seconds == 0:
        return start
    if spec.always_open:
        # In UTC: aware-datetime addition in a DST zone would be wall-clock arithmetic.
        return _from_us(position + seconds * _US_PER_SECOND, start.tzinfo)
    remaining = seconds * _US_PER_SECOND
    day = spec.local_date(start) - _ONE_DAY  # the day before may run past local midnight on a DST change
    spec.check_open_time(day)
    last_open = spec._last_open_exception
    while True:
        for begin, finish in spec.intervals_on(day):
            if finish <= position:
                continue
            begin = max(begin, position)
            if remaining <= finish - begin:
                return _from_us(begin + remaining, start.tzinfo)
            remaining -= finish - begin
        day += _ONE_DAY
        if not spec.has_weekly_time and (last_open is None or day > last_open):
            spec.check_open_time(day)


def business_seconds_between(spec: CalendarSpec, start: datetime, end: datetime) -> int:
    """Whole business seconds elapsed from `start` to `end` (floor); 0 when `end` is not after `start`."""
    a, b = _to_us(start), _to_us(end)
    if b <= a:
        return 0
    if spec.always_open:
        return (b - a) // _US_PER_SECOND
    total = 0
    day = spec.local_date(start) - _ONE_DAY
    last = spec.local_date(end)
    while day <= last:
        for begin, finish in spec.intervals_on(day):
            overlap = min(finish, b) - max(begin, a)
            if overlap > 0:
                total += overlap
        day += _ONE_DAY
    return total // _US_PER_SECOND


def is_open(spec: CalendarSpec, at: datetime) -> bool:
    """Whether `at` falls inside a working period (start included, end excluded)."""
    position = _to_us(at)
    if spec.always_open:
        return True
    day = spec.local_date(at)
    for candidate in (day - _ONE_DAY, day):
        for begin, finish in spec.intervals_on(candidate):
            if begin <= position < finish:
                return True
    return False


def next_open(spec: CalendarSpec, at: datetime) -> datetime:
    """`at` itself when the calendar is open then, else the start of the next working period.

    ValueError when the calendar has no working time ahead.
    """
    position = _to_us(at)
    if spec.always_open:
        return at
    day = spec.local_date(at) - _ONE_DAY
    spec.check_open_time(day)
    last_open = spec._last_open_exception
    while True:
        for begin, finish in spec.intervals_on(day):
            if finish > position:
                return at if begin <= position else _from_us(begin, at.tzinfo)
        day += _ONE_DAY
        if not spec.has_weekly_time and (last_open is None or day > last_open):
            spec.check_open_time(day)
