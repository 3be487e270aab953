"""Prepared reads give what the queryset gives — the same model instances (fields, deferred fields, related
objects, annotations) or the same values_list rows — with the SQL compiled once per shape, and refuse shapes
they cannot serve."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from kefu.core.prepared import Prepared
from kefu.tickets import services
from kefu.tickets.models import Ticket, TicketEvent, TicketMessage

pytestmark = pytest.mark.django_db


def _fields(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


def test_models_with_related_and_deferred_fields_equal_the_querysets(agent: Any, customer: Any, team: Any) -> None:
    made = [services.ticket_create(actor=agent, subject=f"单{i}", customer=customer, assignee=agent)
            for i in range(3)]

    def build(ticket_id: int) -> Any:
        return Ticket.objects.filter(pk=ticket_id).select_related("customer", "team").defer("description")

    read = Prepared(build)
    for ticket in made:
        [got] = read.run(ticket.pk)
        [expected] = list(build(ticket.pk))
        assert _fields(got) == _fields(expected)
        assert got.get_deferred_fields() == {"description"}
        assert _fields(got.customer) == _fields(expected.customer)
        assert got.team == expected.team
    assert read.run(-5) == []


def test_annotations_values_lists_and_flat_lists(agent: Any, customer: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="咨询", customer=customer)
    services.ticket_add_note(actor=agent, ticket=ticket, body="一")
    services.ticket_add_note(actor=agent, ticket=ticket, body="二")

    counted = Prepared(lambda ticket_id: Ticket.objects.filter(pk=ticket_id).annotate(n=Count("messages")))
    assert counted.run(ticket.pk)[0].n == 2

    def rows(ticket_id: int, *, limit: int) -> Any:
        return (TicketMessage.objects.filter(ticket_id=ticket_id).order_by("-id")
                .values_list("body", "author__username")[:limit])

    read = Prepared(rows)
    assert read.run(ticket.pk, limit=1) == list(rows(ticket.pk, limit=1)) == [("二", agent.username)]
    assert read.run(ticket.pk, limit=5) == list(rows(ticket.pk, limit=5))  # one compiled variant per limit
    flat = Prepared(lambda ticket_id: TicketEvent.objects.filter(ticket_id=ticket_id).values_list("kind", flat=True))
    assert sorted(flat.run(ticket.pk)) == sorted(TicketEvent.objects.filter(ticket=ticket).values_list(
        "kind", flat=True))


def test_compiled_once_per_shape_then_one_query_each(agent: Any, customer: Any) -> None:
    tickets = [services.ticket_create(actor=agent, subject=f"单{i}", customer=customer) for i in range(4)]
    built: list[int] = []

    def build(ticket_id: int) -> Any:
        built.append(ticket_id)
        return TicketEvent.objects.filter(ticket_id=ticket_id).order_by("id")

    read = Prepared(build)
    with CaptureQueriesContext(connection) as queries:
        results = [read.run(t.pk) for t in tickets]
    assert len(queries.captured_queries) == 4
    assert len(built) == 2  # once to learn the model, once with placeholders to compile
    assert [[e.ticket_id for e in r] for r in results] == [[t.pk] * len(r) for t, r in zip(tickets, results,
                                                                                           strict=True)]


def test_string_keys_and_values_that_change_the_sql(agent: Any, customer: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="按编号", customer=customer)
    by_number = Prepared(lambda number: Ticket.objects.filter(number=number))
    assert [t.pk for t in by_number.run(ticket.number)] == [ticket.pk]
    by_assignee = Prepared(lambda user_id: Ticket.objects.filter(assignee_id=user_id))
    # None turns "=" into "IS NULL": such a value goes to the ORM, which writes the SQL it needs
    assert [t.pk for t in by_assignee.run(None)] == [ticket.pk]  # type: ignore[arg-type]


def test_a_read_that_does_not_use_its_ids_is_refused() -> None:
    with pytest.raises(ValueError, match="does not use its ids"):
        Prepared(lambda ticket_id: Ticket.objects.filter(pk=1)).run(5)
    with pytest.raises(TypeError, match="models or values_list"):
        Prepared(lambda ticket_id: Ticket.objects.filter(pk=ticket_id).values("pk")).run(5)
