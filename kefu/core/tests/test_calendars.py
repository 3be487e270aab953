"""Business-time arithmetic: exact examples (lunch, holidays, 调休, DST) and properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kefu.core.calendars import (
    CalendarSpec,
    Periods,
    add_business_seconds,
    build_spec,
    business_seconds_between,
    format_periods,
    is_open,
    next_open,
    parse_periods,
    parse_periods_seconds,
    parse_week,
)

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = 3600
WORKDAY: Periods = ((9 * H, 12 * H), (13 * H, 18 * H))
STANDARD_WEEK = (WORKDAY,) * 5 + ((), ())


def standard(exceptions: dict[date, Periods] | None = None) -> CalendarSpec:
    """Mon–Fri 09:00–12:00 and 13:00–18:00 in Shanghai, like the default 标准工作日历."""
    return CalendarSpec(time_zone="Asia/Shanghai", week=STANDARD_WEEK, exceptions=exceptions or {})


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ parsing


def test_parse_accepts_24_00_and_adjacent_periods() -> None:
    assert parse_periods_seconds([["00:00", "12:00"], ["12:00", "24:00"]]) == ((0, 12 * H), (12 * H, 24 * H))
    assert parse_periods([["09:00", "24:00"]]) == ((time(9), time.max),)
    assert len(parse_week([[]] * 7)) == 7
    assert format_periods(((9 * H, 12 * H), (13 * H, 24 * H))) == [["09:00", "12:00"], ["13:00", "24:00"]]


@pytest.mark.parametrize(("value", "message"), [
    ("09:00-18:00", "list"),
    ([["09:00"]], "pair"),
    ([["9:00", "18:00"]], "HH:MM"),
    ([["09:00", "24:30"]], "HH:MM"),
    ([["18:00", "09:00"]], "ends before"),
    ([["09:00", "12:00"], ["11:00", "13:00"]], "overlaps"),
    ([[None, "12:00"]], "HH:MM"),
])
def test_parse_periods_refuses_bad_input(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_periods(value)


def test_parse_week_needs_seven_days_and_names_the_bad_day() -> None:
    with pytest.raises(ValueError, match="seven"):
        parse_week([[]] * 6)
    with pytest.raises(ValueError, match="day 3"):
        parse_week([[], [], [["10:00", "09:00"]], [], [], [], []])


def test_spec_refuses_unknown_zone_and_bad_periods() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CalendarSpec(time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        CalendarSpec(time_zone="")
    with pytest.raises(ValueError, match="seven"):
        CalendarSpec(week=((),))
    with pytest.raises(ValueError, match="ordered"):
        CalendarSpec(week=(((10, 5),),) + ((),) * 6)
    with pytest.raises(ValueError, match="exception"):
        CalendarSpec(exceptions={date(2026, 1, 1): ((0, 90_000),)})


def test_build_spec_maps_holidays_and_workdays() -> None:
    spec = build_spec(time_zone="Asia/Shanghai", always_open=False,
                      week=[[["09:00", "18:00"]]] * 5 + [[], []],
                      holidays=[date(2026, 10, 1)],
                      workdays={date(2026, 9, 20): [], date(2026, 10, 10): [["10:00", "12:00"]]})
    assert spec.periods_on(date(2026, 10, 1)) == ()
    assert spec.periods_on(date(2026, 9, 20)) == ((9 * H, 18 * H),)  # empty → the usual weekday hours
    assert spec.periods_on(date(2026, 10, 10)) == ((10 * H, 12 * H),)
    assert build_spec(time_zone="UTC", always_open=True, week=[]).always_open


# ------------------------------------------------------------------------------------------ exact examples


def test_lunch_break_and_evening_are_skipped() -> None:
    spec = standard()
    monday = sh(2026, 3, 2, 11, 0)
    assert add_business_seconds(spec, monday, 2 * H) == sh(2026, 3, 2, 14, 0)
    assert add_business_seconds(spec, sh(2026, 3, 2, 17, 0), 2 * H) == sh(2026, 3, 3, 10, 0)
    assert business_seconds_between(spec, monday, sh(2026, 3, 3, 10, 0)) == 7 * H


def test_target_ending_exactly_at_close_lands_at_close() -> None:
    spec = standard()
    assert add_business_seconds(spec, sh(2026, 3, 2, 16, 0), 2 * H) == sh(2026, 3, 2, 18, 0)
    assert add_business_seconds(spec, sh(2026, 3, 2, 10, 0), 2 * H) == sh(2026, 3, 2, 12, 0)
    assert add_business_seconds(spec, sh(2026, 3, 2, 17, 59, 59), 1) == sh(2026, 3, 2, 18, 0)
    assert add_business_seconds(spec, sh(2026, 3, 2, 17, 59, 59), 2) == sh(2026, 3, 3, 9, 0, 1)
    assert add_business_seconds(spec, sh(2026, 3, 2, 11, 59, 59), 2) == sh(2026, 3, 2, 13, 0, 1)
    # Starting at the close or in the evening counts from the next opening.
    assert add_business_seconds(spec, sh(2026, 3, 2, 18, 0), 60) == sh(2026, 3, 3, 9, 1)
    assert add_business_seconds(spec, sh(2026, 3, 2, 8, 59, 59), 1) == sh(2026, 3, 2, 9, 0, 1)


def test_zero_seconds_is_the_start_itself() -> None:
    start = sh(2026, 3, 7, 3, 0)  # a Saturday night
    assert add_business_seconds(standard(), start, 0) == start


def test_is_open_and_next_open_at_boundaries() -> None:
    spec = standard()
    assert is_open(spec, sh(2026, 3, 2, 9, 0))
    assert not is_open(spec, sh(2026, 3, 2, 12, 0))
    assert is_open(spec, sh(2026, 3, 2, 17, 59, 59))
    assert not is_open(spec, sh(2026, 3, 2, 18, 0))
    assert not is_open(spec, sh(2026, 3, 7, 10, 0))  # Saturday
    assert next_open(spec, sh(2026, 3, 2, 10, 0)) == sh(2026, 3, 2, 10, 0)
    assert next_open(spec, sh(2026, 3, 2, 12, 30)) == sh(2026, 3, 2, 13, 0)
    assert next_open(spec, sh(2026, 3, 6, 18, 0)) == sh(2026, 3, 9, 9, 0)  # Friday close → Monday


def test_public_holidays_are_skipped_and_tiaoxiu_weekends_count() -> None:
    # 2026 National Day: 1–7 October off, Sunday 20 September and Saturday 10 October are working days.
    holidays = {date(2026, 10, d): () for d in range(1, 8)}
    spec = standard(exceptions={**holidays, date(2026, 9, 20): WORKDAY, date(2026, 10, 10): WORKDAY})
    assert add_business_seconds(spec, sh(2026, 9, 30, 17, 0), 2 * H) == sh(2026, 10, 8, 10, 0)
    assert add_business_seconds(spec, sh(2026, 10, 9, 17, 0), 2 * H) == sh(2026, 10, 10, 10, 0)  # Saturday
    assert add_business_seconds(spec, sh(2026, 9, 19, 10, 0), H) == sh(2026, 9, 20, 10, 0)  # → 调休 Sunday
    assert business_seconds_between(spec, sh(2026, 9, 30, 0, 0), sh(2026, 10, 11, 0, 0)) == 4 * 8 * H
    assert is_open(spec, sh(2026, 10, 10, 9, 30))
    assert not is_open(spec, sh(2026, 10, 5, 9, 30))


def test_always_open_is_wall_clock_time() -> None:
    spec = CalendarSpec(time_zone="Europe/Berlin", always_open=True)
    start = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # the night after has only 23 hours
    assert add_business_seconds(spec, start, 30) == start + timedelta(seconds=30)
    assert add_business_seconds(spec, start, 86_400) == datetime(2026, 3, 29, 13, 0, tzinfo=BERLIN)
    assert business_seconds_between(spec, start, datetime(2026, 3, 30, 12, 0, tzinfo=BERLIN)) == 47 * H
    assert is_open(spec, start)
    assert next_open(spec, start) == start


def test_dst_days_count_real_elapsed_time() -> None:
    all_day = CalendarSpec(time_zone="Europe/Berlin", week=(((0, 86_400),),) * 7)
    spring = datetime(2026, 3, 29, tzinfo=BERLIN)
    autumn = datetime(2026, 10, 25, tzinfo=BERLIN)
    assert business_seconds_between(all_day, spring, datetime(2026, 3, 30, tzinfo=BERLIN)) == 23 * H
    assert business_seconds_between(all_day, autumn, datetime(2026, 10, 26, tzinfo=BERLIN)) == 25 * H
    office = CalendarSpec(time_zone="Europe/Berlin", week=(((9 * H, 18 * H),),) * 5 + ((), ()))
    friday = datetime(2026, 3, 27, 17, 0, tzinfo=BERLIN)  # CET; Monday is CEST
    due = add_business_seconds(office, friday, 2 * H)
    assert due == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert due.utcoffset() == timedelta(hours=2)
    assert business_seconds_between(office, friday, due) == 2 * H


def test_a_calendar_without_open_time_raises_instead_of_looping() -> None:
    closed = CalendarSpec(time_zone="Asia/Shanghai", exceptions={date(2026, 1, 1): ()})
    start = sh(2026, 3, 2, 9, 0)
    with pytest.raises(ValueError, match="no working time"):
        add_business_seconds(closed, start, 1)
    with pytest.raises(ValueError, match="no working time"):
        next_open(closed, start)
    assert business_seconds_between(closed, start, start + timedelta(days=400)) == 0
    # One working day ahead: usable until it is used up.
    one_day = CalendarSpec(time_zone="Asia/Shanghai", exceptions={date(2026, 3, 7): WORKDAY})
    assert add_business_seconds(one_day, start, 8 * H) == sh(2026, 3, 7, 18, 0)
    with pytest.raises(ValueError, match="no working time"):
        add_business_seconds(one_day, start, 8 * H + 1)


def test_naive_datetimes_and_negative_seconds_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_seconds(standard(), datetime(2026, 3, 2, 9), 10)
    with pytest.raises(ValueError, match="negative"):
        add_business_seconds(standard(), sh(2026, 3, 2, 9), -1)


def test_long_targets_and_many_holidays() -> None:
    # Twenty years of holidays beside a two-day target, and the largest storable target: both finish and
    # round-trip exactly. (Speed is measured, not asserted: see docs/sla.md.)
    holidays = {date(2020, 1, 1) + timedelta(days=7 * i + 2): () for i in range(1040)}
    spec = standard(exceptions=holidays)
    for hour in range(0, 200, 7):
        start = sh(2026, 3, 2, 9) + timedelta(hours=hour)
        end = add_business_seconds(spec, start, 16 * H)
        assert business_seconds_between(spec, start, end) == 16 * H
    far = add_business_seconds(standard(), sh(2026, 3, 2, 9), 2**31 - 1)
    assert far.year > 2200


# ------------------------------------------------------------------------------------------ properties

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]


@st.composite
def day_periods(draw: st.DrawFn) -> Periods:
    # Minute boundaries (what the JSON stores), sometimes reaching 24:00.
    points = sorted(set(draw(st.lists(st.integers(0, 1440), max_size=6))))
    if len(points) % 2:
        points = points[:-1]
    return tuple((points[i] * 60, points[i + 1] * 60) for i in range(0, len(points), 2))


@st.composite
def calendars(draw: st.DrawFn, zones: list[str] = ZONES) -> CalendarSpec:
    week = tuple(draw(day_periods()) for _ in range(7))
    assume(any(week))
    first = date(2026, 1, 1)
    exceptions: dict[date, Periods] = {}
    for offset in draw(st.lists(st.integers(0, 500), max_size=25)):
        exceptions[first + timedelta(days=offset)] = draw(st.one_of(st.just(()), day_periods()))
    return CalendarSpec(time_zone=draw(st.sampled_from(zones)), week=week, exceptions=exceptions)


instants = st.builds(
    lambda s, us: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=us),
    st.integers(0, 400 * 86_400), st.one_of(st.just(0), st.integers(0, 999_999)),
)
amounts = st.integers(0, 21 * 86_400)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(calendars(), instants, amounts)
def test_add_then_measure_round_trips(spec: CalendarSpec, start: datetime, n: int) -> None:
    due = add_business_seconds(spec, start, n)
    assert due >= start
    assert business_seconds_between(spec, start, due) == n


@PROPS
@given(calendars(), instants, amounts, amounts)
def test_add_is_additive(spec: CalendarSpec, start: datetime, a: int, b: int) -> None:
    assert add_business_seconds(spec, add_business_seconds(spec, start, a), b) == \
        add_business_seconds(spec, start, a + b)


@PROPS
@given(calendars(), instants, amounts, amounts)
def test_add_and_measure_are_monotonic(spec: CalendarSpec, start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert add_business_seconds(spec, start, low) <= add_business_seconds(spec, start, high)
    end_low, end_high = start + timedelta(seconds=low), start + timedelta(seconds=high)
    assert business_seconds_between(spec, start, end_low) <= business_seconds_between(spec, start, end_high)


@PROPS
@given(calendars(), instants, st.integers(1, 21 * 86_400))
def test_the_last_business_second_is_open_time(spec: CalendarSpec, start: datetime, n: int) -> None:
    # The target is reached inside a period or exactly at its close — never in closed time beyond it.
    due = add_business_seconds(spec, start, n)
    assert is_open(spec, due - timedelta(microseconds=1))
    assert next_open(spec, start) < due


@PROPS
@given(calendars(), instants, st.integers(0, 10 * 86_400), st.integers(0, 10 * 86_400))
def test_measure_is_additive_over_whole_seconds(spec: CalendarSpec, start: datetime, x: int, y: int) -> None:
    start = start.replace(microsecond=0)
    middle, end = start + timedelta(seconds=x), start + timedelta(seconds=x + y)
    assert business_seconds_between(spec, start, end) == \
        business_seconds_between(spec, start, middle) + business_seconds_between(spec, middle, end)


@PROPS
@given(calendars(), instants, amounts, st.integers(0, 400))
def test_a_new_holiday_never_brings_a_due_time_forward(spec: CalendarSpec, start: datetime, n: int,
                                                       offset: int) -> None:
    holiday = date(2026, 1, 1) + timedelta(days=offset)
    closed = CalendarSpec(time_zone=spec.time_zone, week=spec.week,
                          exceptions={**spec.exceptions, holiday: ()})
    assume(closed.has_weekly_time)
    assert add_business_seconds(closed, start, n) >= add_business_seconds(spec, start, n)


@PROPS
@given(instants, amounts, st.sampled_from(ZONES))
def test_always_open_equals_wall_clock(start: datetime, n: int, zone: str) -> None:
    spec = CalendarSpec(time_zone=zone, always_open=True)
    assert add_business_seconds(spec, start, n) == start + timedelta(seconds=n)
    assert business_seconds_between(spec, start, start + timedelta(seconds=n)) == n


@PROPS
@given(calendars(), instants, amounts)
def test_a_calendar_open_all_day_equals_wall_clock(spec: CalendarSpec, start: datetime, n: int) -> None:
    # Whole-day periods in a DST zone still measure real elapsed time.
    full = CalendarSpec(time_zone=spec.time_zone, week=(((0, 86_400),),) * 7)
    assert add_business_seconds(full, start, n) == start + timedelta(seconds=n)


def _oracle_seconds(spec: CalendarSpec, start: datetime, end: datetime) -> int:
    """Count open minutes one by one from the spec's own week and exceptions (fixed-offset zones only)."""
    zone = ZoneInfo(spec.time_zone)
    total = 0
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        second_of_day = local.hour * 3600 + local.minute * 60
        periods = spec.exceptions.get(local.date(), spec.week[local.weekday()])
        if any(s <= second_of_day < e for s, e in periods):
            total += 60
        moment += timedelta(minutes=1)
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(zones=["Asia/Shanghai", "UTC"]), st.integers(0, 400 * 1440), st.integers(0, 3 * 1440))
def test_measure_agrees_with_a_minute_by_minute_count(spec: CalendarSpec, start_minute: int,
                                                      minutes: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minute)
    end = start + timedelta(minutes=minutes)
    assert business_seconds_between(spec, start, end) == _oracle_seconds(spec, start, end)
