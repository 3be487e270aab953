"""The customer timeline: ordering, pagination, visibility through the ticket policy, constant query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.customers.timeline import (
    TIMELINE_PROVIDERS,
    TimelineEntry,
    customer_timeline,
    register_timeline_provider,
)
from kefu.tickets.choices import EventKind, MessageKind, Status
from kefu.tickets.models import Dispatch, Ticket, TicketEvent, TicketMessage

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0) - timedelta(days=10)


def _at(obj, minutes):
    type(obj).objects.filter(pk=obj.pk).update(created_at=T0 + timedelta(minutes=minutes))


def _ticket(customer, *, team=None, owner=None, start=0, number=None):
    """A work order with created / reply / customer message / resolved rows at start+0..3 minutes."""
    ticket = Ticket.objects.create(
        subject=f"热水器不热 {start}",
        customer=customer,
        team=team,
        assignee=owner,
        first_contact_owner=owner,
        number=number or f"T{start:05d}",
    )
    _at(TicketEvent.objects.create(ticket=ticket, kind=EventKind.CREATED, actor=owner), start)
    _at(
        TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.REPLY, author=owner, body="您好，已安排"
        ),
        start + 1,
    )
    _at(
        TicketMessage.objects.create(ticket=ticket, kind=MessageKind.NOTE, author=owner, body="内部备注"),
        start + 1,
    )
    _at(TicketMessage.objects.create(ticket=ticket, kind=MessageKind.CUSTOMER, body="谢谢"), start + 2)
    _at(TicketEvent.objects.create(ticket=ticket, kind=EventKind.ASSIGNED, actor=owner), start + 2)
    _at(
        TicketEvent.objects.create(
            ticket=ticket,
            kind=EventKind.STATUS,
            actor=owner,
            from_status=Status.IN_PROGRESS,
            to_status=Status.RESOLVED,
        ),
        start + 3,
    )
    return ticket


def test_entries_newest_first_with_kinds_titles_and_links(agent, team, customer):
    ticket = _ticket(customer, team=team, owner=agent)
    page = customer_timeline(agent, customer, limit=20)
    assert [e.kind for e in page.entries] == [
        "ticket.resolved",
        "ticket.customer_message",
        "ticket.reply",
        "ticket.created",
    ]
    assert page.next_before is None
    created = page.entries[-1]
    assert created.actor == str(agent)
    assert "T00000" in created.title
    assert str(ticket.pk) in created.link
    assert page.entries[1].actor == str(customer)
    assert page.entries[1].detail == "谢谢"
    assert all(e.source == "tickets" for e in page.entries)


def test_pagination_with_before(agent, team, customer):
    for i in range(5):
        _ticket(customer, team=team, owner=agent, start=i * 10)
    seen: list[str] = []
    before = None
    while True:
        page = customer_timeline(agent, customer, limit=3, before=before)
        seen.extend(e.key for e in page.entries)
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == len(set(seen)) == 20
    full = customer_timeline(agent, customer, limit=100).entries
    assert seen == [e.key for e in full]
    assert [e.at for e in full] == sorted((e.at for e in full), reverse=True)


def test_same_instant_is_never_split_across_pages(agent, team, customer):
    ticket = Ticket.objects.create(subject="x", customer=customer, team=team)
    for _ in range(4):
        _at(TicketEvent.objects.create(ticket=ticket, kind=EventKind.CREATED), 5)
    _at(TicketEvent.objects.create(ticket=ticket, kind=EventKind.ESCALATED), 9)
    page = customer_timeline(agent, customer, limit=3)
    assert [e.kind for e in page.entries] == ["ticket.escalated"]
    rest = customer_timeline(agent, customer, limit=3, before=page.next_before)
    # One instant holding more than a page: the page grows rather than lose entries to the time cursor.
    assert [e.kind for e in rest.entries] == ["ticket.created"] * 4
    assert rest.next_before is None


def test_query_count_does_not_grow_with_tickets(agent, team, customer, django_assert_num_queries):
    _ticket(customer, team=team, owner=agent, start=0)
    # work orders: the visible orders, their events, their messages; conversations: one
    with django_assert_num_queries(4):
        few = customer_timeline(agent, customer, limit=50)
    for i in range(1, 25):
        _ticket(customer, team=team, owner=agent, start=i * 10)
    with django_assert_num_queries(4):
        many = customer_timeline(agent, customer, limit=50)
    assert len(few.entries) == 4
    assert len(many.entries) == 50


def test_the_whole_history_is_shown_and_only_ones_own_orders_open(
    agent, other_agent, team, other_team, shift_lead, department_user, repair_department, customer
):
    mine = _ticket(customer, team=team, owner=agent, start=0, number="T-MINE")
    theirs = _ticket(customer, team=other_team, owner=other_agent, start=10, number="T-THEIRS")
    Dispatch.objects.create(ticket=theirs, department=repair_department)

    def numbers(user, *, linked):
        return {e.title.split()[1] for e in customer_timeline(user, customer, limit=100).entries
                if bool(e.link) == linked}

    # every order of the customer is in the history, whichever team served it …
    assert numbers(agent, linked=True) == {"T-MINE"}
    assert numbers(agent, linked=False) == {"T-THEIRS"}
    assert numbers(other_agent, linked=True) == {"T-THEIRS"}
    assert numbers(shift_lead, linked=True) == {"T-MINE", "T-THEIRS"}
    # … another team's order by its number, subject and team only: no link, no detail, no messages
    foreign = [e for e in customer_timeline(agent, customer, limit=100).entries if "T-THEIRS" in e.title]
    assert foreign
    assert all(e.detail == "" and e.kind.startswith("ticket.") for e in foreign)
    assert all(other_team.name in e.title for e in foreign)
    assert not any(e.kind in ("ticket.reply", "ticket.customer_message") for e in foreign)
    assert mine.pk != theirs.pk
    with pytest.raises(PermissionDenied):  # department staff see work orders, not customer records
        customer_timeline(department_user, customer)


def test_other_customers_entries_are_not_shown(agent, team, customer):
    from kefu.customers.tests.factories import CustomerFactory

    _ticket(CustomerFactory(), team=team, owner=agent)
    assert customer_timeline(agent, customer).entries == []


def test_registered_provider_entries_are_merged(agent, team, customer):
    _ticket(customer, team=team, owner=agent, start=0)

    def calls(query):
        assert query.limit == 6  # one more than asked
        return [
            TimelineEntry(
                at=T0 + timedelta(minutes=m),
                kind="call.inbound",
                title="来电",
                link="",
                actor="",
                key=f"call:{m}",
            )
            for m in (0.5, 5, 100)
        ]

    register_timeline_provider("calls", calls)
    try:
        page = customer_timeline(agent, customer, limit=5)
    finally:
        del TIMELINE_PROVIDERS["calls"]
    assert [e.kind for e in page.entries] == [
        "call.inbound",
        "call.inbound",
        "ticket.resolved",
        "ticket.customer_message",
        "ticket.reply",
    ]
    assert page.entries[0].source == "calls"
    assert page.next_before is not None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_bad_limit(agent, customer, limit):
    with pytest.raises(ValidationFailed):
        customer_timeline(agent, customer, limit=limit)


def test_with_the_ticket_services(agent, repair_department, department_user, customer):
    """End to end through the real write path: create, reply, dispatch, department completes, resolve."""
    from kefu.tickets import services as tickets

    ticket = tickets.ticket_create(actor=agent, subject="空调不制冷", ticket_type="repair", customer=customer,
                                   assignee=agent)
    tickets.ticket_reply(actor=agent, ticket=ticket, body="师傅下午上门")
    dispatch = tickets.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
    tickets.dispatch_acknowledge(actor=department_user, dispatch=dispatch)
    tickets.dispatch_complete(actor=department_user, dispatch=dispatch, result="已更换电容")
    ticket.refresh_from_db()
    tickets.ticket_transition(actor=agent, ticket=ticket, to_status=Status.RESOLVED)
    kinds = [e.kind for e in customer_timeline(agent, customer, limit=20).entries]
    assert kinds == ["ticket.resolved", "ticket.dispatch_completed", "ticket.dispatched", "ticket.reply",
                     "ticket.created"]
