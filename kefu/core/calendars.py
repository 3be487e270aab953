"""Business-time arithmetic on working calendars (working hours, public holidays, 调休 working days).

Placeholder parser only; the SLA engineer completes this module.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _parse_time(text: Any) -> time:
    if not isinstance(text, str) or not _HHMM.match(text):
        raise ValueError(f"'{text}' is not a time of day HH:MM")
    if text == "24:00":
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def parse_periods(value: Any) -> tuple[tuple[time, time], ...]:
    if not isinstance(value, list):
        raise ValueError("periods must be a list of [start, end] pairs")
    periods: list[tuple[time, time]] = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError("each period must be a [start, end] pair")
        start, end = _parse_time(item[0]), _parse_time(item[1])
        if end <= start:
            raise ValueError(f"period {item[0]}–{item[1]} ends before it starts")
        if periods and start < periods[-1][1]:
            raise ValueError(f"period {item[0]}–{item[1]} overlaps the one before")
        periods.append((start, end))
    return tuple(periods)


def parse_week(value: Any) -> tuple[tuple[tuple[time, time], ...], ...]:
    """Seven lists (Monday first) of ["HH:MM", "HH:MM"] periods → parsed periods; ValueError on bad input."""
    if not isinstance(value, list) or len(value) != 7:
        raise ValueError("the week must list seven days, Monday first")
    return tuple(parse_periods(day) for day in value)
