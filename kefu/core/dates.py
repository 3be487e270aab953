"""The one parser of the dates and times people and programs send: API bodies and queries, web forms, list
filters, paging cursors. Every such input goes through here, so a value is refused the same way everywhere.

Accepted: an ISO 8601 date (`2026-03-01`, the local midnight of the center's time zone; as an end bound, the
next midnight) or date-time (`2026-03-01T08:00`, seconds and fractions optional, `T` or a space, an offset or
`Z`; without one, local time). Refused, with a message naming the field: anything else, and any moment
outside EARLIEST_DAY … LATEST_DAY on its own clock. The range keeps every value a few days clear of the ends
Python and the databases can hold, so no offset conversion overflows (year 1 with +14:00 was an
OverflowError on SQLite; 9999-12-31T23:59:59-14:00 on both databases).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from kefu.core.errors import ValidationFailed

EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)
MAX_INPUT = 40  # characters: the longest ISO form with fractions and an offset is 32
_DATE_ONLY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class DateInputError(ValidationFailed):
    """A date or time that could not be used; `details` name the field (422, like other invalid input).
    `message` names the field; `problem` is the same without it, for a form that shows the field's label."""

    status = 422
    code = "invalid"

    def __init__(self, problem: str, *, field: str, location: str = "") -> None:
        message = _("%(f)s：%(p)s") % {"f": field, "p": problem}
        entry = {"field": field, "message": problem, "type": "date_time"}
        if location:
            entry["location"] = location
        super().__init__(message, details={"field": field, "fields": [entry]})
        self.field = field
        self.problem = problem


def _unreadable(field: str, location: str) -> DateInputError:
    return DateInputError(_("不是有效的日期或时间（例如 2026-03-01 或 2026-03-01T08:00）"), field=field,
                          location=location)


def _out_of_range(field: str, location: str) -> DateInputError:
    return DateInputError(_("超出可用范围（%(a)s 至 %(b)s）") % {"a": EARLIEST_DAY.isoformat(),
                                                          "b": LATEST_DAY.isoformat()},
                          field=field, location=location)


def check_day(value: date, *, field: str, location: str = "") -> date:
    """`value` if it lies in EARLIEST_DAY … LATEST_DAY, else DateInputError naming `field`."""
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range(field, location)
    return value


def check_moment(value: datetime, *, field: str, location: str = "") -> datetime:
    """An aware datetime in range: a naive one is taken as local time. DateInputError naming `field` when its
    own calendar day lies outside the range (checked before any conversion, which could overflow)."""
    check_day(value.date(), field=field, location=location)
    if timezone.is_naive(value):
        try:
            value = timezone.make_aware(value)
        except (ValueError, OverflowError):  # a local time that does not exist cannot come out of range
            raise _unreadable(field, location) from None
    return value


def parse_day(value: Any, *, field: str, location: str = "") -> date:
    """A calendar date from `YYYY-MM-DD` (or a `date` already parsed), in range."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return check_day(value, field=field, location=location)
    text = str(value).strip()
    try:
        day = parse_date(text) if len(text) <= MAX_INPUT and _DATE_ONLY.match(text) else None
    except ValueError:
        day = None
    if day is None:
        raise _unreadable(field, location)
    return check_day(day, field=field, location=location)


def parse_moment(value: Any, *, field: str, end: bool = False, location: str = "") -> datetime:
    """An aware datetime from an ISO date or date-time (see the module's text), in range.

    A date means its local midnight; with `end=True` (an exclusive end bound, "up to and including that day")
    the next midnight. A `datetime` already parsed is checked the same way.
    """
    if isinstance(value, datetime):
        return check_moment(value, field=field, location=location)
    if isinstance(value, date):
        day = check_day(value, field=field, location=location)
        return timezone.make_aware(datetime.combine(day + timedelta(days=1) if end else day, time(0)))
    text = str(value).strip()
    if not text or len(text) > MAX_INPUT or not text.isascii():
        raise _unreadable(field, location)
    if _DATE_ONLY.match(text):
        return parse_moment(parse_day(text, field=field, location=location), field=field, end=end,
                            location=location)
    try:
        moment = parse_datetime(text.replace(" ", "T", 1))
    except ValueError:
        moment = None
    if moment is None:
        raise _unreadable(field, location)
    return check_moment(moment, field=field, location=location)


def parse_optional_moment(value: Any, *, field: str, end: bool = False, location: str = "") -> datetime | None:
    """`parse_moment`, with None or "" meaning no value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_moment(value, field=field, end=end, location=location)


# --- the same parser for the API's schemas and the web's forms ----------------------------------------------


def api_moment(value: Any, info: Any) -> Any:
    """Pydantic validator (mode "before") of `Moment` fields: the field's name comes from the schema."""
    if value is None:
        return None
    if not isinstance(value, str | datetime | date):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        return parse_moment(value, field=str(getattr(info, "field_name", "") or "value"))
    except DateInputError as error:
        raise ValueError(error.problem) from None


def api_day(value: Any, info: Any) -> Any:
    """Pydantic validator (mode "before") of `Day` fields."""
    if value is None:
        return None
    if not isinstance(value, str | date):
        raise ValueError("must be an ISO 8601 date string")
    try:
        return parse_day(value, field=str(getattr(info, "field_name", "") or "value"))
    except DateInputError as error:
        raise ValueError(error.problem) from None


class MomentField(forms.Field):
    """A form field for a date-time (an `<input type="datetime-local">` sends `2026-03-01T08:00`)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, name: str = "", end: bool = False, **kwargs: Any) -> None:
        self.field_name, self.end = name, end
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            return parse_moment(value, field=self.field_name or str(self.label or ""), end=self.end)
        except DateInputError as error:
            raise forms.ValidationError(error.problem, code="invalid") from None


class DayField(forms.Field):
    """A form field for a calendar date (`<input type="date">`)."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def __init__(self, *, name: str = "", **kwargs: Any) -> None:
        self.field_name = name
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> date | None:
        if value in self.empty_values:
            return None
        try:
            return parse_day(value, field=self.field_name or str(self.label or ""))
        except DateInputError as error:
            raise forms.ValidationError(error.problem, code="invalid") from None
