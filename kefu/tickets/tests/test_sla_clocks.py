"""SLA clocks through the ticket services: start, exact due times, pauses, holidays, 调休 days, replies,
resolution and reopening, and policies changing mid-flight (examples and hypothesis properties)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.clocks.models import Clock
from kefu.clocks.services import elapsed as clock_elapsed
from kefu.core.calendars import add_business_seconds, business_seconds_between
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.core.relay import drain
from kefu.tickets import services
from kefu.tickets.choices import (
    Channel,
    EventKind,
    Priority,
    SlaClockState,
    SlaMetric,
    SlaStanding,
    Status,
    TicketType,
)
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.models import SlaPolicy, Ticket
from kefu.tickets.sla import (
    sla_on_dispatch_complete,
    sla_policy_changed,
    sla_reevaluate,
    sla_refresh_standing,
    spec_from_model,
)
from kefu.tickets.tests.clocks import sla_clocks

SH = ZoneInfo("Asia/Shanghai")
H = 3600
BUSINESS_DAY = 8 * H
HYPOTHESIS_DB = settings(max_examples=25, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def new_ticket(actor: Any, at: datetime, ticket_type: str = TicketType.COMPLAINT,
               channel: str = Channel.PHONE, customer: Any = None, **kwargs: Any) -> Ticket:
    return services.ticket_create(actor=actor, subject="水管漏水", ticket_type=ticket_type, channel=channel,
                                  customer=customer, assignee=actor, at=at, **kwargs)


def clock_of(ticket: Ticket, metric: str) -> Clock:
    return sla_clocks(ticket=ticket, metric=metric).latest("id")


def standard_spec() -> Any:
    return spec_from_model(BusinessCalendar.objects.get(name="标准工作日历"))


@pytest.fixture(autouse=True)
def defaults(db: Any) -> None:
    sla_install_defaults()  # also present through the migration, but flushed by transactional tests


# ---------------------------------------------------------------------------------------------- starting


def test_a_complaint_starts_its_clocks_on_the_standard_calendar(agent: Any, customer: Any) -> None:
    monday = sh(2026, 3, 2, 10, 0)
    ticket = new_ticket(agent, monday, customer=customer)
    assert ticket.sla_policy.name == "10 投诉"
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.state == SlaClockState.RUNNING
    assert first.due_at == sh(2026, 3, 2, 12, 0)     # two business hours land exactly on the lunch break
    assert first.warn_at == sh(2026, 3, 2, 11, 36)   # 80 % of 2 h
    assert clock_of(ticket, SlaMetric.ONSITE).due_at == sh(2026, 3, 4, 10, 0)        # 2 business days
    assert clock_of(ticket, SlaMetric.RESOLUTION).due_at == sh(2026, 3, 9, 10, 0)    # 5 business days
    assert not sla_clocks(ticket=ticket, metric=SlaMetric.NEXT_RESPONSE).exists()
    ticket.refresh_from_db()
    assert ticket.sla_standing == SlaStanding.OK
    assert ticket.sla_due_at == sh(2026, 3, 2, 12, 0)


def test_a_chat_inquiry_gets_thirty_seconds_around_the_clock(agent: Any, customer: Any) -> None:
    sunday_night = sh(2026, 3, 8, 23, 59, 50)
    ticket = new_ticket(agent, sunday_night, ticket_type=TicketType.INQUIRY, channel=Channel.CHAT,
                        customer=customer)
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.due_at == sh(2026, 3, 9, 0, 0, 20)
    assert first.warn_at == sh(2026, 3, 9, 0, 0, 5)


def test_holidays_are_skipped(agent: Any) -> None:
    # 2026-09-30 17:00 (Wednesday before National Day): one hour today, one on 8 October.
    ticket = new_ticket(agent, sh(2026, 9, 30, 17, 0))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 10, 8, 10, 0)


def test_tiaoxiu_weekend_days_count_as_working_days(agent: Any) -> None:
    # Friday 9 October 17:00: Saturday 10 October is a 调休 working day.
    ticket = new_ticket(agent, sh(2026, 10, 9, 17, 0))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 10, 10, 10, 0)
    # Sunday 20 September is a working day too; Saturday 19 September is not.
    ticket = new_ticket(agent, sh(2026, 9, 19, 10, 0))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 9, 20, 11, 0)


def test_an_edited_holiday_list_applies_to_new_orders(agent: Any) -> None:
    calendar = BusinessCalendar.objects.get(name="标准工作日历")
    CalendarDay.objects.create(calendar=calendar, date=date(2026, 3, 3), kind=CalendarDay.Kind.HOLIDAY,
                               name="公司活动")
    ticket = new_ticket(agent, sh(2026, 3, 2, 17, 0))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 3, 4, 10, 0)


# ---------------------------------------------------------------------------------------------- stopping


def test_a_reply_exactly_at_the_due_moment_meets_the_target(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 16, 0))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 3, 2, 18, 0)
    services.ticket_reply(actor=agent, ticket=ticket, body="您好，已收到", at=sh(2026, 3, 2, 18, 0))
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.state == SlaClockState.MET
    assert first.stopped_at == sh(2026, 3, 2, 18, 0)
    assert first.elapsed_before_pause == 2 * H


def test_a_reply_one_second_late_is_a_breach_recorded_on_the_spot(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 16, 0))
    # 18:00:01 is closed time: still exactly on target. The next business second is 09:00:01 the next day.
    services.ticket_reply(actor=agent, ticket=ticket, body="您好", at=sh(2026, 3, 3, 9, 0, 1))
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.state == SlaClockState.BREACHED
    assert first.breached_at == sh(2026, 3, 2, 18, 0)
    assert first.elapsed_before_pause == 2 * H + 1
    drain()  # the breach is an event: the order's history records it when the relay hands it over
    event = ticket.events.get(kind=EventKind.SLA_BREACHED)
    assert event.data["metric"] == SlaMetric.FIRST_RESPONSE
    assert event.data["detected"] == "on_stop"
    ticket.refresh_from_db()
    assert ticket.sla_standing == SlaStanding.BREACHED


def test_a_reply_in_the_evening_after_close_is_still_on_time(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 16, 0))
    services.ticket_reply(actor=agent, ticket=ticket, body="您好", at=sh(2026, 3, 2, 21, 30))
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).state == SlaClockState.MET


def test_customer_messages_start_next_response_clocks(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0))
    services.ticket_customer_message(ticket=ticket, body="还没人联系我", channel=Channel.PHONE,
                                     at=sh(2026, 3, 2, 9, 30))
    # The first response is still awaited: no second response clock.
    assert not sla_clocks(ticket=ticket, metric=SlaMetric.NEXT_RESPONSE).exists()
    services.ticket_reply(actor=agent, ticket=ticket, body="您好", at=sh(2026, 3, 2, 10, 0))
    services.ticket_customer_message(ticket=ticket, body="什么时候上门？", channel=Channel.PHONE,
                                     at=sh(2026, 3, 2, 17, 0))
    nxt = clock_of(ticket, SlaMetric.NEXT_RESPONSE)
    assert nxt.state == SlaClockState.RUNNING
    assert nxt.due_at == sh(2026, 3, 3, 12, 0)  # 4 business hours: 1 today, 3 tomorrow morning
    services.ticket_reply(actor=agent, ticket=ticket, body="明天上午", at=sh(2026, 3, 3, 9, 15))
    nxt.refresh_from_db()
    assert (nxt.state, nxt.elapsed_before_pause) == (SlaClockState.MET, H + 15 * 60)


def test_resolving_stops_every_clock_and_reopening_starts_a_new_resolution_clock(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.INQUIRY)
    services.ticket_reply(actor=agent, ticket=ticket, body="答复", at=sh(2026, 3, 2, 9, 30))
    services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.IN_PROGRESS,
                               at=sh(2026, 3, 2, 9, 31))
    services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.RESOLVED,
                               at=sh(2026, 3, 2, 15, 0))
    resolution = clock_of(ticket, SlaMetric.RESOLUTION)
    assert (resolution.state, resolution.elapsed_before_pause) == (SlaClockState.MET, 5 * H)
    assert not sla_clocks(ticket=ticket, stopped_at__isnull=True).exists()
    ticket.refresh_from_db()
    assert (ticket.sla_standing, ticket.sla_due_at) == (SlaStanding.OK, None)
    services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.REOPENED, at=sh(2026, 3, 3, 9, 0))
    again = clock_of(ticket, SlaMetric.RESOLUTION)
    assert again.pk != resolution.pk
    assert (again.state, again.due_at) == (SlaClockState.RUNNING, sh(2026, 3, 3, 18, 0))


def test_a_completed_dispatch_stops_the_onsite_clock(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.REPAIR)
    sla_on_dispatch_complete(ticket=ticket, at=sh(2026, 3, 3, 16, 0))
    onsite = clock_of(ticket, SlaMetric.ONSITE)
    assert (onsite.state, onsite.elapsed_before_pause) == (SlaClockState.MET, 8 * H + 6 * H)
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).state == SlaClockState.RUNNING


def test_dispatch_complete_through_the_services_stops_the_onsite_clock(agent: Any, department_user: Any,
                                                                       repair_department: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.REPAIR)
    dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
    services.dispatch_acknowledge(actor=department_user, dispatch=dispatch)
    services.dispatch_complete(actor=department_user, dispatch=dispatch, result="已更换水管")
    assert clock_of(ticket, SlaMetric.ONSITE).stopped_at is not None


# ---------------------------------------------------------------------------------------------- pauses


def test_waiting_on_the_customer_pauses_and_resumes(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.INQUIRY)
    services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.WAITING_CUSTOMER,
                               at=sh(2026, 3, 2, 10, 0))
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert (first.state, first.elapsed_before_pause, first.due_at) == (SlaClockState.PAUSED, H, None)
    ticket.refresh_from_db()
    assert (ticket.sla_standing, ticket.sla_due_at) == (SlaStanding.OK, None)
    # The customer answers the next afternoon: the clock resumes with three business hours left.
    services.ticket_customer_message(ticket=ticket, body="照片已发", channel=Channel.PHONE,
                                     at=sh(2026, 3, 3, 14, 0))
    first.refresh_from_db()
    assert first.state == SlaClockState.RUNNING
    assert first.due_at == sh(2026, 3, 3, 17, 0)
    assert clock_of(ticket, SlaMetric.RESOLUTION).due_at == sh(2026, 3, 4, 12, 0)  # 7 h left of 8


@HYPOTHESIS_DB
@given(st.lists(st.tuples(st.integers(0, 3 * BUSINESS_DAY), st.integers(0, 6 * 24 * H)), max_size=4),
       st.integers(0, 6 * 24 * H))
def test_paused_time_never_counts(agent: Any, segments: list[tuple[int, int]], last_run: int) -> None:
    """Property: run/wait segments of random wall-clock length; the first-response clock's elapsed time is the
    business time of the running segments only, and it is met exactly when that stays within target."""
    start = sh(2026, 9, 14, 8, 17, 3)  # a fortnight with National Day, 调休 days and weekends
    ticket = new_ticket(agent, start, ticket_type=TicketType.INQUIRY)
    spec = standard_spec()
    moment, expected = start, 0
    for run, wait in segments:
        expected += business_seconds_between(spec, moment, moment + timedelta(seconds=run))
        moment += timedelta(seconds=run)
        services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.WAITING_CUSTOMER, at=moment)
        moment += timedelta(seconds=wait)
        services.ticket_transition(actor=agent, ticket=ticket, to_status=Status.IN_PROGRESS, at=moment)
        first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
        assert first.due_at == add_business_seconds(spec, moment, max(0, 4 * H - expected))
    expected += business_seconds_between(spec, moment, moment + timedelta(seconds=last_run))
    moment += timedelta(seconds=last_run)
    services.ticket_reply(actor=agent, ticket=ticket, body="答复", at=moment)
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.elapsed_before_pause == expected
    assert first.state == (SlaClockState.MET if expected <= 4 * H else SlaClockState.BREACHED)


# ---------------------------------------------------------------------------------------------- mid-flight


def test_a_type_change_retargets_keeping_elapsed_business_time(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0))  # complaint: 2 h first response, on-site, 5 days
    ticket.ticket_type = TicketType.INQUIRY
    ticket.save(update_fields=["ticket_type"])
    sla_reevaluate(ticket=ticket, at=sh(2026, 3, 2, 10, 30))
    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "40 咨询"
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert (first.target_seconds, first.elapsed_before_pause) == (4 * H, 90 * 60)
    assert first.due_at == sh(2026, 3, 2, 14, 0)  # 2.5 h left: 10:30–12:00, 13:00–14:00
    assert first.started_at == sh(2026, 3, 2, 9, 0)
    assert clock_of(ticket, SlaMetric.RESOLUTION).due_at == sh(2026, 3, 2, 18, 0)  # 6.5 h left of 8
    onsite = clock_of(ticket, SlaMetric.ONSITE)  # inquiries have no on-site target
    assert (onsite.state, onsite.stopped_at) == (SlaClockState.CANCELLED, sh(2026, 3, 2, 10, 30))


def test_a_change_to_repair_adds_the_onsite_clock_counting_from_creation(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.INQUIRY)
    ticket.ticket_type = TicketType.REPAIR
    ticket.save(update_fields=["ticket_type"])
    sla_reevaluate(ticket=ticket, at=sh(2026, 3, 2, 14, 0))
    onsite = clock_of(ticket, SlaMetric.ONSITE)
    assert onsite.elapsed_before_pause == 4 * H
    assert onsite.due_at == sh(2026, 3, 3, 18, 0)  # 12 h left: 4 today, 8 tomorrow
    assert onsite.started_at == sh(2026, 3, 2, 9, 0)


def test_a_change_to_chat_moves_the_rest_onto_the_always_open_calendar(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 6, 17, 59, 50), ticket_type=TicketType.INQUIRY)  # a Friday
    ticket.channel = Channel.CHAT
    ticket.save(update_fields=["channel"])
    sla_reevaluate(ticket=ticket, at=sh(2026, 3, 6, 20, 0))  # 10 business seconds elapsed on the old calendar
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert (first.target_seconds, first.elapsed_before_pause) == (30, 10)
    assert first.due_at == sh(2026, 3, 6, 20, 0, 20)


def test_an_overdue_clock_after_a_tighter_policy_is_due_at_once(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0), ticket_type=TicketType.INQUIRY)
    ticket.channel = Channel.CHAT
    ticket.save(update_fields=["channel"])
    sla_reevaluate(ticket=ticket, at=sh(2026, 3, 2, 9, 5))
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert (first.elapsed_before_pause, first.due_at, first.state) == (300, sh(2026, 3, 2, 9, 5),
                                                                        SlaClockState.RUNNING)
    sla_refresh_standing(ticket=ticket, now=sh(2026, 3, 2, 9, 5, 1))
    assert ticket.sla_standing == SlaStanding.BREACHED


def test_ticket_update_reevaluates_through_the_service(agent: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="咨询", ticket_type=TicketType.INQUIRY,
                                    assignee=agent)
    assert ticket.sla_policy.name == "40 咨询"
    ticket = services.ticket_update(actor=agent, ticket=ticket, expected_version=ticket.version,
                                    changes=services.TicketChanges(ticket_type=TicketType.COMPLAINT,
                                                                   priority=Priority.HIGH))
    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "10 投诉"
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).target_seconds == 2 * H
    assert clock_of(ticket, SlaMetric.ONSITE).state == SlaClockState.RUNNING


def test_editing_a_policys_targets_retargets_open_orders_only(agent: Any) -> None:
    running = new_ticket(agent, sh(2026, 3, 2, 9, 0))
    answered = new_ticket(agent, sh(2026, 3, 2, 9, 0))
    services.ticket_reply(actor=agent, ticket=answered, body="您好", at=sh(2026, 3, 2, 9, 30))
    policy = SlaPolicy.objects.get(name="10 投诉")
    policy.first_response_seconds = 3 * H
    policy.save()
    assert sla_policy_changed(policy=policy, at=sh(2026, 3, 2, 10, 0)) == 2
    first = clock_of(running, SlaMetric.FIRST_RESPONSE)
    assert (first.target_seconds, first.due_at) == (3 * H, sh(2026, 3, 2, 12, 0))  # 2 h left from 10:00
    done = clock_of(answered, SlaMetric.FIRST_RESPONSE)
    assert (done.state, done.target_seconds) == (SlaClockState.MET, 2 * H)


def test_a_policy_calendar_change_measures_elapsed_time_on_the_old_calendar(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 6, 17, 0))  # Friday 17:00, complaint
    policy = SlaPolicy.objects.get(name="10 投诉")
    policy.calendar = BusinessCalendar.objects.get(name="全天候")
    policy.save()
    sla_policy_changed(policy=policy, at=sh(2026, 3, 7, 10, 0))  # each clock remembers its calendar
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    assert first.elapsed_before_pause == H  # only Friday 17:00–18:00 counted on the office calendar
    assert first.due_at == sh(2026, 3, 7, 11, 0)


def test_deactivating_a_policy_moves_its_orders_to_the_next_best(agent: Any) -> None:
    ticket = new_ticket(agent, sh(2026, 3, 2, 9, 0))
    policy = SlaPolicy.objects.get(name="10 投诉")
    policy.is_active = False
    policy.save()
    sla_policy_changed(policy=policy, at=sh(2026, 3, 2, 9, 30))
    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "90 默认"
    assert clock_of(ticket, SlaMetric.ONSITE).state == SlaClockState.CANCELLED
    assert clock_of(ticket, SlaMetric.FIRST_RESPONSE).due_at == sh(2026, 3, 2, 14, 0)  # 3.5 h of 4 left


@HYPOTHESIS_DB
@given(st.integers(0, 5 * BUSINESS_DAY), st.sampled_from([TicketType.INQUIRY, TicketType.REPAIR,
                                                          TicketType.SUGGESTION]),
       st.sampled_from([Channel.PHONE, Channel.CHAT]), st.integers(0, 5 * BUSINESS_DAY))
def test_policy_changes_keep_elapsed_time(agent: Any, before: int, new_type: str, new_channel: str,
                                          after: int) -> None:
    """Property: after a mid-flight change the running first-response clock has used exactly the business
    time before the change (old calendar) plus the time after it (new calendar), and its due time is the
    new target's remainder from the change."""
    spec = standard_spec()
    start = sh(2026, 9, 28, 9, 0, 0)
    ticket = new_ticket(agent, start)  # complaint on the standard calendar
    change = add_business_seconds(spec, start, before)
    ticket.ticket_type, ticket.channel = new_type, new_channel
    ticket.save(update_fields=["ticket_type", "channel"])
    sla_reevaluate(ticket=ticket, at=change)
    ticket.refresh_from_db()
    new_spec = spec_from_model(ticket.sla_policy.calendar)
    first = clock_of(ticket, SlaMetric.FIRST_RESPONSE)
    target = ticket.sla_policy.first_response_seconds
    assert (first.target_seconds, first.elapsed_before_pause) == (target, before)
    assert first.due_at == add_business_seconds(new_spec, change, max(0, target - before))
    later = change + timedelta(seconds=after)
    assert clock_elapsed(first, new_spec, later) == before + business_seconds_between(new_spec, change, later)
