"""The SLA sweep of work orders: a warning once, a breach once (the clock engine announces them as events),
escalation step by step (逐级汇报, by the work orders' consumer of those events), idempotent when run twice or by
two workers at once, the periodic task and the `sla_sweep` command."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from kefu.clocks.services import _due, _sweep_subject
from kefu.clocks.tasks import clock_sweep_task
from kefu.core.models import OutboxEvent
from kefu.core.relay import drain
from kefu.tickets import services
from kefu.tickets.choices import Channel, EventKind, SlaClockState, SlaMetric, SlaStanding, Status, TicketType
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.sla import SweepResult, sla_sweep
from kefu.tickets.tests.clocks import sla_clocks

SH = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def defaults(db: Any) -> None:
    sla_install_defaults()


class Published(list):  # type: ignore[type-arg]
    """The work orders' SLA events in the outbox, as (order id, event type), read when compared."""

    def _rows(self) -> list[tuple[int, str]]:
        return [(int(e.object_id), e.type) for e in OutboxEvent.objects.filter(
            type__in=["ticket.sla_warning", "ticket.sla_breached"]).order_by("id")]

    def __eq__(self, other: object) -> bool:
        return self._rows() == other

    def __contains__(self, item: object) -> bool:
        return item in self._rows()

    def __len__(self) -> int:
        return len(self._rows())


@pytest.fixture
def published() -> Published:
    return Published()


def complaint(agent: Any, at: datetime = MONDAY_9, **kwargs: Any) -> Ticket:
    """First response due 11:00 (warning 10:36), on site Wednesday 09:00, resolution next Monday 09:00."""
    return services.ticket_create(actor=agent, subject="物业投诉", ticket_type=TicketType.COMPLAINT,
                                  assignee=agent, at=at, **kwargs)


def events(ticket: Ticket, kind: str) -> list[TicketEvent]:
    return list(ticket.events.filter(kind=kind).order_by("id"))


def test_nothing_is_due_before_the_warning_time(agent: Any) -> None:
    complaint(agent)
    assert sla_sweep(now=sh(2026, 3, 2, 10, 35, 59)) == SweepResult()


def test_a_warning_is_sent_once(agent: Any, published: list[tuple[int, str]]) -> None:
    ticket = complaint(agent)
    assert sla_sweep(now=sh(2026, 3, 2, 10, 36)) == SweepResult(warned=1)
    assert sla_sweep(now=sh(2026, 3, 2, 10, 37)) == SweepResult()
    (warning,) = events(ticket, EventKind.SLA_WARNING)
    assert (warning.actor, warning.actor_system) == (None, "sla")
    assert warning.data["metric"] == SlaMetric.FIRST_RESPONSE
    assert published == [(ticket.pk, "ticket.sla_warning")]
    clock = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert clock.warned_at == sh(2026, 3, 2, 10, 36)
    assert clock.state == SlaClockState.RUNNING
    ticket.refresh_from_db()
    assert (ticket.sla_standing, ticket.sla_due_at) == (SlaStanding.WARNING, sh(2026, 3, 2, 11, 0))


def test_breach_escalates_to_the_team_lead_then_the_manager(agent: Any, team_lead: Any, manager: Any,
                                                            published: list[tuple[int, str]]) -> None:
    ticket = complaint(agent)
    sla_sweep(now=sh(2026, 3, 2, 10, 36))
    assert sla_sweep(now=sh(2026, 3, 2, 11, 0)) == SweepResult()  # due at 11:00 itself is still on time
    assert sla_sweep(now=sh(2026, 3, 2, 11, 0, 1)) == SweepResult(breached=1, escalated=1)
    assert sla_sweep(now=sh(2026, 3, 2, 11, 1)) == SweepResult()
    ticket.refresh_from_db()
    assert (ticket.escalation_level, ticket.sla_standing) == (1, SlaStanding.BREACHED)
    clock = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert (clock.state, clock.breached_at) == (SlaClockState.BREACHED, sh(2026, 3, 2, 11, 0))
    (escalated,) = events(ticket, EventKind.ESCALATED)
    assert escalated.data["level"] == 1
    assert escalated.data["to"] == team_lead.pk
    assert escalated.data["system"]
    # the cause is stored as a code, worded when shown, in the reader's language
    assert (escalated.data["reason_code"], escalated.data["metrics"]) == ("sla_breach", [SlaMetric.FIRST_RESPONSE])
    assert escalated.data["reason"] == ""
    assert (ticket.pk, "ticket.sla_breached") in published
    # A second breach (on site, Wednesday 09:00) goes to the manager.
    result = sla_sweep(now=sh(2026, 3, 4, 9, 0, 1))
    assert (result.breached, result.escalated) == (1, 1)
    ticket.refresh_from_db()
    assert ticket.escalation_level == 2
    assert events(ticket, EventKind.ESCALATED)[-1].data["to"] == manager.pk
    # A third (resolution) is recorded but cannot go higher.
    assert sla_sweep(now=sh(2026, 3, 9, 9, 0, 1)) == SweepResult(breached=1)
    assert len(events(ticket, EventKind.SLA_BREACHED)) == 3
    assert len(events(ticket, EventKind.ESCALATED)) == 2


def test_a_resolution_breach_goes_straight_to_the_manager(agent: Any, team_lead: Any, manager: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="咨询", ticket_type=TicketType.INQUIRY,
                                    assignee=agent, at=MONDAY_9)
    services.ticket_reply(actor=agent, ticket=ticket, body="答复", at=sh(2026, 3, 2, 9, 10))
    assert sla_sweep(now=sh(2026, 3, 2, 18, 0, 1)) == SweepResult(breached=1, escalated=2)
    ticket.refresh_from_db()
    assert ticket.escalation_level == 2
    assert [e.data["level"] for e in events(ticket, EventKind.ESCALATED)] == [1, 2]


def test_a_late_sweep_breaches_without_a_stale_warning(agent: Any) -> None:
    ticket = complaint(agent)
    assert sla_sweep(now=sh(2026, 3, 2, 12, 0)) == SweepResult(breached=1, escalated=1)
    assert not events(ticket, EventKind.SLA_WARNING)


def test_paused_and_answered_clocks_are_not_swept(agent: Any) -> None:
    waiting = complaint(agent)
    services.ticket_transition(actor=agent, ticket=waiting, to_status=Status.WAITING_CUSTOMER,
                               at=sh(2026, 3, 2, 9, 30))
    answered = complaint(agent)
    services.ticket_reply(actor=agent, ticket=answered, body="您好", at=sh(2026, 3, 2, 9, 30))
    assert sla_sweep(now=sh(2026, 3, 2, 12, 0)) == SweepResult()


def test_a_stale_worker_cannot_claim_again(agent: Any, published: list[tuple[int, str]]) -> None:
    """Two workers read the same due clocks; the first commits; the second's conditional UPDATEs claim
    nothing, so no second history row, announcement or escalation."""
    ticket = complaint(agent)
    other = complaint(agent)
    now = sh(2026, 3, 2, 11, 0, 1)
    stale = list(sla_clocks(_due(now), ticket=ticket, state=SlaClockState.RUNNING))
    assert len(stale) == 1
    assert sla_sweep(now=now) == SweepResult(breached=2, escalated=2)
    assert _sweep_subject("tickets.ticket", ticket.pk, now) == (0, 0)  # a late worker finds nothing to claim
    warn_now = sh(2026, 3, 3, 15, 0)  # the on-site warnings (12.8 business hours: Tuesday 14:48)
    assert sla_sweep(now=warn_now).warned == 2
    assert _sweep_subject("tickets.ticket", other.pk, warn_now) == (0, 0)
    drain()
    assert len(events(ticket, EventKind.SLA_BREACHED)) == 1
    assert len(events(other, EventKind.SLA_WARNING)) == 1
    assert len(published) == 4


def test_sweep_query_count_grows_linearly(agent: Any, django_assert_max_num_queries: Any) -> None:
    from kefu.clocks.services import clock_sweep

    for _ in range(10):
        complaint(agent)
    # per order: its savepoint and release, lock it, lock its due clocks, claim, the event (audience, insert),
    # its standing (read, write)
    with django_assert_max_num_queries(10 * 9 + 2):
        assert clock_sweep(now=sh(2026, 3, 2, 10, 40)).warned == 10


def test_the_periodic_task_and_the_command_run_a_sweep(agent: Any) -> None:
    ticket = complaint(agent, at=datetime.now(tz=SH) - timedelta(days=30))
    clock_sweep_task.call_local()
    drain()
    assert events(ticket, EventKind.SLA_BREACHED)
    out = StringIO()
    call_command("sla_sweep", at="2026-03-02T10:36:00+08:00", stdout=out)
    assert "0 warned" in out.getvalue()
    other = complaint(agent)
    call_command("sla_sweep", at="2026-03-02T10:36:00+08:00", stdout=out)
    assert "1 warned" in out.getvalue()
    assert events(other, EventKind.SLA_WARNING)
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("sla_sweep", at="next tuesday")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("sla_sweep", at="2026-13-45T10:00")


@pytest.mark.skipif(connection.vendor != "postgresql", reason=(
    "needs real row locks: the SQLite test database is in-memory with a shared cache, where a second "
    "connection gets 'table is locked' at once instead of waiting; in production SQLite's IMMEDIATE "
    "transactions serialise the workers, and test_a_stale_worker_cannot_claim_again covers the claim logic"))
@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_send_each_warning_and_breach_once(agent: Any, team_lead: Any,
                                                                      manager: Any) -> None:
    sla_install_defaults()
    tickets = [complaint(agent, channel=Channel.PHONE) for _ in range(30)]
    for ticket in tickets[:15]:  # half warned, half breached at the moment of the sweep
        sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).update(
            due_at=sh(2026, 3, 2, 12, 0), warn_at=sh(2026, 3, 2, 10, 0))
    now = sh(2026, 3, 2, 11, 0, 1)
    barrier = threading.Barrier(3)
    results: list[SweepResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                results.append(sla_sweep(now=now))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)  # generous: under a loaded CI the workers' lock waits add up
    # counted only once every worker is done: a worker still running holds rows the last sweep would skip, and
    # its results are not in yet (a CI run once counted 8 of 15 warnings that way)
    assert not any(thread.is_alive() for thread in threads), "a sweeping worker did not finish"
    assert not errors, errors
    # an order one worker's reactions held locked was skipped by the others ("taken next sweep"): the next
    # sweep, with nobody else running, takes what is left, and still announces nothing twice
    last = sla_sweep(now=now)
    assert last.skipped == 0
    results.append(last)
    assert sum(r.warned for r in results) == 15
    assert sum(r.breached for r in results) == 15
    assert TicketEvent.objects.filter(kind=EventKind.SLA_WARNING).count() == 15
    assert TicketEvent.objects.filter(kind=EventKind.SLA_BREACHED).count() == 15
    assert TicketEvent.objects.filter(kind=EventKind.ESCALATED).count() == 15
    assert set(Ticket.objects.values_list("escalation_level", flat=True)) == {0, 1}
