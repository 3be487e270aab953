"""Business calendars as the clock engine reads them: a BusinessCalendar and its dated days turned into a
CalendarSpec (kefu.core.calendars), built once per version of the calendar in each process."""

from __future__ import annotations

import logging
from typing import Any

from kefu.core.calendars import CalendarSpec, build_spec
from kefu.core.models import BusinessCalendar, CalendarDay

log = logging.getLogger(__name__)

WALL_CLOCK = CalendarSpec(time_zone="UTC", always_open=True)


def spec_from_model(calendar: BusinessCalendar | None) -> CalendarSpec:
    """The CalendarSpec of a BusinessCalendar and its CalendarDay rows (one query for the days, once per version
    of the calendar in each process).

    A calendar whose stored hours cannot be read falls back to the wall clock, logged, rather than
    failing every work order that uses it.
    """
    if calendar is None:
        return WALL_CLOCK
    version = (calendar.pk, calendar.updated_at, calendar.time_zone, calendar.always_open, repr(calendar.week))
    spec = _SPECS.get(version)
    if spec is None:
        if len(_SPECS) > 256:
            _SPECS.clear()
        spec = _SPECS[version] = _load_spec(calendar)
    return spec


# Specs by calendar id and version (updated_at and the calendar's own fields): a calendar changes rarely and
# every SLA hook reads one, so each process builds it once per version. Saving a calendar or one of its days
# stamps a new updated_at; a bulk write to the days must save the calendar too.
_SPECS: dict[tuple[Any, ...], CalendarSpec] = {}


def _load_spec(calendar: BusinessCalendar) -> CalendarSpec:
    holidays: list[Any] = []
    workdays: dict[Any, Any] = {}
    for day in CalendarDay.objects.filter(calendar=calendar).only("date", "kind", "periods"):
        if day.kind == CalendarDay.Kind.HOLIDAY:
            holidays.append(day.date)
        else:
            workdays[day.date] = day.periods
    try:
        return build_spec(time_zone=calendar.time_zone, always_open=calendar.always_open, week=calendar.week,
                          holidays=holidays, workdays=workdays)
    except ValueError as exc:
        log.error("business calendar %s (%s) is invalid: %s; its clocks run on the wall clock",
                  calendar.pk, calendar.name, exc)
        return CalendarSpec(time_zone="UTC", always_open=True)
