"""A dispatch's due time is a clock: the sweep finds it overdue, the order's history records it once, and the
department (and the order's own audience) hears `ticket.dispatch_overdue`; completing in time stops the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kefu.clocks.choices import ClockState
from kefu.clocks.models import Clock
from kefu.clocks.services import clock_sweep
from kefu.core.models import OutboxEvent
from kefu.core.relay import drain
from kefu.tickets import services
from kefu.tickets.choices import EventKind, TicketType

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def dispatched(agent: Any, repair_department: Any, customer: Any) -> Any:
    ticket = services.ticket_create(actor=agent, subject="热水器不出热水", ticket_type=TicketType.REPAIR,
                                    customer=customer, assignee=agent)
    due = datetime.now(tz=SH) + timedelta(hours=4)
    return services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department,
                                    instructions="请上门检修", due_at=due)


def _clock(dispatch: Any) -> Clock:
    return Clock.objects.get(subject_type="tickets.dispatch", subject_id=dispatch.pk)


def test_a_dispatch_with_a_due_time_runs_a_clock_on_the_wall_clock(dispatched: Any) -> None:
    clock = _clock(dispatched)
    assert (clock.metric, clock.calendar_id, clock.state) == ("dispatch_due", None, ClockState.RUNNING)
    assert 0 <= (clock.due_at - dispatched.due_at).total_seconds() < 1  # never before the time asked


def test_an_overdue_dispatch_is_recorded_once_and_its_department_hears_of_it(dispatched: Any,
                                                                             repair_department: Any) -> None:
    later = dispatched.due_at + timedelta(minutes=1)
    # the sweeps may also breach the order's own SLA clocks (on business hours, so it depends on the time of day the
    # test runs): what matters is the dispatch's clock, breached once, and one overdue notice
    clock_sweep(now=later)
    assert _clock(dispatched).state == ClockState.BREACHED
    clock_sweep(now=later + timedelta(minutes=1))
    drain()
    drain()
    ticket = dispatched.ticket
    (row,) = ticket.events.filter(kind=EventKind.DISPATCH_OVERDUE)
    assert row.actor_system == "dispatch_watch"
    assert row.data["department_name"] == repair_department.name
    (event,) = OutboxEvent.objects.filter(type="ticket.dispatch_overdue")
    assert f"department.{repair_department.pk}" in event.audience
    assert f"user.{ticket.assignee_id}" in event.audience
    assert event.payload["data"]["dispatch_id"] == dispatched.pk


def test_completing_in_time_stops_the_clock(dispatched: Any, department_user: Any) -> None:
    services.dispatch_acknowledge(actor=department_user, dispatch=dispatched)
    services.dispatch_complete(actor=department_user, dispatch=dispatched, result="已更换温控器")
    clock = _clock(dispatched)
    assert clock.state == ClockState.MET
    # the sweep may breach the order's own SLA clocks (on business hours, so it depends on the time of day the
    # test runs): what matters is that the dispatch's clock stays met and nobody hears it is overdue
    clock_sweep(now=dispatched.due_at + timedelta(hours=1))
    assert _clock(dispatched).state == ClockState.MET
    drain()
    assert not OutboxEvent.objects.filter(type="ticket.dispatch_overdue").exists()


def test_a_dispatch_without_a_due_time_has_no_clock(agent: Any, repair_department: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="咨询", ticket_type=TicketType.REPAIR, assignee=agent)
    dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
    assert not Clock.objects.filter(subject_type="tickets.dispatch", subject_id=dispatch.pk).exists()
