"""The calendars and SLA policies Kefu ships with (PRODUCT §2.2), installed idempotently.

Used by the data migration `tickets.0002` and by the demo. Existing rows are never overwritten: an
administrator's edits survive a re-run; only missing calendars, days and policies are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.apps import apps as global_apps
from django.db import transaction

STANDARD_CALENDAR = "标准工作日历"
ALWAYS_OPEN_CALENDAR = "全天候"
TIME_ZONE = "Asia/Shanghai"

HOUR = 3600
BUSINESS_DAY = 8 * HOUR  # the standard calendar works 09:00–12:00 and 13:00–18:00
WORKDAY_PERIODS = [["09:00", "12:00"], ["13:00", "18:00"]]
STANDARD_WEEK = [WORKDAY_PERIODS] * 5 + [[], []]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕, 2025-11-04): the days off, weekends
# inside a holiday included, and the weekend days worked instead (调休上班).
HOLIDAYS_2026: list[tuple[str, list[date]]] = [
    ("元旦", _days(date(2026, 1, 1), date(2026, 1, 3))),
    ("春节", _days(date(2026, 2, 15), date(2026, 2, 23))),
    ("清明节", _days(date(2026, 4, 4), date(2026, 4, 6))),
    ("劳动节", _days(date(2026, 5, 1), date(2026, 5, 5))),
    ("端午节", _days(date(2026, 6, 19), date(2026, 6, 21))),
    ("中秋节", _days(date(2026, 9, 25), date(2026, 9, 27))),
    ("国庆节", _days(date(2026, 10, 1), date(2026, 10, 7))),
]
WORKDAYS_2026: list[tuple[str, date]] = [
    ("元旦调休上班", date(2026, 1, 4)),
    ("春节调休上班", date(2026, 2, 14)),
    ("春节调休上班", date(2026, 2, 28)),
    ("劳动节调休上班", date(2026, 5, 9)),
    ("国庆节调休上班", date(2026, 9, 20)),
    ("国庆节调休上班", date(2026, 10, 10)),
]

# Name order breaks ties between equally specific policies, hence the numeric prefixes: a complaint or a
# repair that arrives by chat keeps its complaint/repair targets (on-site visit), a chat inquiry gets the
# 30-second chat target. Targets are business seconds on the policy's calendar.
DEFAULT_POLICIES: list[dict[str, Any]] = [
    {"name": "10 投诉", "ticket_type": "complaint", "calendar": STANDARD_CALENDAR,
     "first_response_seconds": 2 * HOUR,            # contact the customer and verify: 2 business hours
     "next_response_seconds": 4 * HOUR,
     "onsite_seconds": 2 * BUSINESS_DAY,            # on site with the responsible department: 2 business days
     "resolution_seconds": 5 * BUSINESS_DAY},
    {"name": "20 报修", "ticket_type": "repair", "calendar": STANDARD_CALENDAR,
     "first_response_seconds": 2 * HOUR,            # hand the record to the responsible person: 2 h
     "next_response_seconds": 4 * HOUR,
     "onsite_seconds": 2 * BUSINESS_DAY,            # on site: 2 business days (= 48 h over working days)
     "resolution_seconds": 5 * BUSINESS_DAY},
    {"name": "30 在线客服", "channel": "chat", "calendar": ALWAYS_OPEN_CALENDAR,
     "first_response_seconds": 30, "next_response_seconds": 60, "resolution_seconds": 24 * HOUR,
     "warning_fraction": 0.5},
    {"name": "40 咨询", "ticket_type": "inquiry", "calendar": STANDARD_CALENDAR,
     "first_response_seconds": 4 * HOUR, "next_response_seconds": 4 * HOUR,
     "resolution_seconds": BUSINESS_DAY},
    {"name": "90 默认", "calendar": STANDARD_CALENDAR,
     "first_response_seconds": 4 * HOUR, "next_response_seconds": 8 * HOUR,
     "resolution_seconds": 3 * BUSINESS_DAY},
]


@dataclass
class InstallResult:
    calendars: int = 0
    days: int = 0
    policies: int = 0


def sla_install_defaults(*, apps: Any = None) -> InstallResult:
    """Add the default calendars (标准工作日历 with the 2026 holidays and 调休 days, 全天候) and policies.

    Safe to run again: counts only what it created. `apps` is the migration's app registry (historical
    models); the live registry when called from code.
    """
    registry = apps or global_apps
    calendar_model = registry.get_model("core", "BusinessCalendar")
    day_model = registry.get_model("core", "CalendarDay")
    policy_model = registry.get_model("tickets", "SlaPolicy")
    result = InstallResult()
    with transaction.atomic():
        standard, created = calendar_model.objects.get_or_create(
            name=STANDARD_CALENDAR,
            defaults={"time_zone": TIME_ZONE, "always_open": False, "week": STANDARD_WEEK})
        result.calendars += created
        _, created = calendar_model.objects.get_or_create(
            name=ALWAYS_OPEN_CALENDAR, defaults={"time_zone": TIME_ZONE, "always_open": True,
                                                 "week": [[["00:00", "24:00"]]] * 7})
        result.calendars += created
        existing = set(day_model.objects.filter(calendar=standard).values_list("date", flat=True))
        new_days = [day_model(calendar=standard, date=day, kind="holiday", name=name)
                    for name, days in HOLIDAYS_2026 for day in days if day not in existing]
        new_days += [day_model(calendar=standard, date=day, kind="workday", name=name,
                               periods=WORKDAY_PERIODS)
                     for name, day in WORKDAYS_2026 if day not in existing]
        day_model.objects.bulk_create(new_days)
        result.days = len(new_days)
        calendars = {c.name: c for c in calendar_model.objects.filter(
            name__in=[STANDARD_CALENDAR, ALWAYS_OPEN_CALENDAR])}
        for spec in DEFAULT_POLICIES:
            values = {k: v for k, v in spec.items() if k not in ("name", "calendar")}
            _, created = policy_model.objects.get_or_create(
                name=spec["name"], defaults={**values, "calendar": calendars[spec["calendar"]]})
            result.policies += created
    return result
