"""The shipped calendars and policies (data migration, idempotent installer) and bad calendar data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.tickets import services
from kefu.tickets.choices import SlaMetric, TicketType
from kefu.tickets.defaults import (
    ALWAYS_OPEN_CALENDAR,
    BUSINESS_DAY,
    STANDARD_CALENDAR,
    InstallResult,
    sla_install_defaults,
)
from kefu.tickets.models import SlaPolicy
from kefu.tickets.sla import spec_from_model
from kefu.tickets.tests.clocks import sla_clocks

SH = ZoneInfo("Asia/Shanghai")
POLICIES = {"10 投诉", "20 报修", "30 在线客服", "40 咨询", "90 默认"}


@pytest.mark.django_db
def test_the_migration_installed_the_defaults() -> None:
    # No installer call here: the rows come from tickets.0003_sla_defaults.
    assert set(SlaPolicy.objects.values_list("name", flat=True)) >= POLICIES
    standard = BusinessCalendar.objects.get(name=STANDARD_CALENDAR)
    assert standard.days.filter(kind=CalendarDay.Kind.HOLIDAY).count() == 33
    assert standard.days.filter(kind=CalendarDay.Kind.WORKDAY).count() == 6
    assert BusinessCalendar.objects.get(name=ALWAYS_OPEN_CALENDAR).always_open


@pytest.mark.django_db
def test_installing_again_adds_nothing_and_keeps_edits() -> None:
    sla_install_defaults()
    policy = SlaPolicy.objects.get(name="10 投诉")
    policy.first_response_seconds = 3600
    policy.save()
    CalendarDay.objects.filter(date=date(2026, 10, 10)).delete()  # an administrator removed a 调休 day
    days = CalendarDay.objects.count()
    assert sla_install_defaults() == InstallResult(calendars=0, days=1, policies=0)  # only the missing day
    assert CalendarDay.objects.count() == days + 1
    assert SlaPolicy.objects.get(name="10 投诉").first_response_seconds == 3600
    assert sla_install_defaults() == InstallResult()


@pytest.mark.django_db
def test_the_2026_schedule_is_consistent() -> None:
    sla_install_defaults()
    spec = spec_from_model(BusinessCalendar.objects.get(name=STANDARD_CALENDAR))
    workdays = CalendarDay.objects.filter(kind=CalendarDay.Kind.WORKDAY).values_list("date", flat=True)
    assert all(day.weekday() >= 5 for day in workdays)  # 调休 days are weekend days made working days
    assert spec.periods_on(date(2026, 2, 17)) == ()  # 春节 (Tuesday)
    assert spec.periods_on(date(2026, 2, 14)) == spec.week[0]  # Saturday worked with weekday hours
    assert sum(1 for p in spec.week if p) == 5
    assert sum(e - s for s, e in spec.week[0]) == BUSINESS_DAY


@pytest.mark.django_db
def test_repair_policy_matches_the_product_examples() -> None:
    sla_install_defaults()
    repair = SlaPolicy.objects.get(name="20 报修")
    complaint = SlaPolicy.objects.get(name="10 投诉")
    chat = SlaPolicy.objects.get(name="30 在线客服")
    assert (repair.first_response_seconds, repair.onsite_seconds) == (2 * 3600, 2 * BUSINESS_DAY)
    assert (complaint.first_response_seconds, complaint.onsite_seconds) == (2 * 3600, 2 * BUSINESS_DAY)
    assert (chat.first_response_seconds, chat.calendar.always_open) == (30, True)


@pytest.mark.django_db
def test_an_unreadable_calendar_falls_back_to_the_wall_clock(agent: Any, caplog: Any) -> None:
    sla_install_defaults()
    BusinessCalendar.objects.filter(name=STANDARD_CALENDAR).update(week="not a week")  # bypasses validation
    start = datetime(2026, 3, 7, 20, 0, tzinfo=SH)  # Saturday evening
    ticket = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT, at=start)
    clock = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert clock.due_at == datetime(2026, 3, 7, 22, 0, tzinfo=SH)
    assert "is invalid" in caplog.text


@pytest.mark.django_db
def test_a_calendar_without_working_time_does_not_hang(agent: Any, caplog: Any) -> None:
    sla_install_defaults()
    BusinessCalendar.objects.filter(name=STANDARD_CALENDAR).update(week=[[]] * 7)  # only 调休 days left open
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    ticket = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT, at=start)
    first = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert first.due_at == datetime(2026, 5, 9, 11, 0, tzinfo=SH)  # the next listed working day
    # 40 business hours do not fit in the three working days left: due on the wall clock, logged.
    resolution = sla_clocks(ticket=ticket, metric=SlaMetric.RESOLUTION).get()
    assert resolution.due_at == datetime(2026, 3, 4, 1, 0, tzinfo=SH)
    assert "no working time" in caplog.text


def test_a_changed_calendar_day_is_seen_by_the_next_order(agent: Any) -> None:
    # The SLA engine caches each calendar by version; saving a day stamps a new one.
    sla_install_defaults()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # a Monday
    first = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT, at=start)
    calendar = BusinessCalendar.objects.get(name=STANDARD_CALENDAR)
    CalendarDay.objects.create(calendar=calendar, date=start.date(), kind=CalendarDay.Kind.HOLIDAY)
    second = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT, at=start)
    due = {t.pk: sla_clocks(ticket=t, metric=SlaMetric.FIRST_RESPONSE).get().due_at for t in (first, second)}
    assert due[second.pk] > due[first.pk]  # Monday became a holiday: the clock starts on Tuesday
