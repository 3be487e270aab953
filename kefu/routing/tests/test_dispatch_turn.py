"""One dispatcher at a time goes through the line (PostgreSQL): a call while another dispatcher holds the turn only
leaves its request, and the dispatcher at work makes another pass for it once its own is over; the turn is given
back whatever happens, so the next call gets it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from kefu.accounts.tests.factories import UserFactory
from kefu.routing.models import Offer, Queue, RoutedContact
from kefu.routing.services import ROUTING, StateChange, acd, agent_state_set, routing_dispatch

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs a database with real concurrent connections: runs on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _elsewhere(work: Any) -> Any:
    """Run `work` in another thread, on its own database connection (another dispatcher), and wait for it."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(work())
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result[0]


def _line(count: int) -> tuple[Queue, list[Any]]:
    queue = Queue.objects.create(code="turns", name="turns", routed=True)
    agents = [UserFactory(role="agent") for _ in range(count)]
    at = timezone.now() - timedelta(minutes=5)
    for agent in agents:
        agent_state_set(actor=ROUTING, user=agent, change=StateChange(state="available", source="system", at=at))
    return queue, agents


def _enqueue(ref: str, queue: Queue) -> None:
    RoutedContact.objects.create(ref=ref, kind="phone", queue=queue, enqueued_at=timezone.now(),
                                 queue_entered_at=timezone.now())


def test_a_request_during_a_pass_is_served_by_the_dispatcher_at_work(monkeypatch: Any) -> None:
    queue, _agents = _line(2)
    _enqueue("call:1", queue)
    real = acd._dispatch_pass
    passes: list[int] = []
    asked: list[int] = []

    def pass_with_a_caller_meanwhile(now: Any, queue_ids: Any) -> int:
        passes.append(1)
        made = real(now, queue_ids)
        if len(passes) == 1:  # while this pass holds the turn, a contact arrives and its process asks for a pass
            _enqueue("call:2", queue)
            asked.append(_elsewhere(routing_dispatch))
        return made

    monkeypatch.setattr(acd, "_dispatch_pass", pass_with_a_caller_meanwhile)
    assert routing_dispatch() == 2
    assert asked == [0]  # the other process only left its request
    assert len(passes) == 2  # ... and the dispatcher at work made the second pass for it
    assert Offer.objects.filter(outcome="").count() == 2
    assert _elsewhere(_turn_free)  # the turn was given back


def _turn_free() -> bool:
    """Whether this connection can take the turn (given back at once: a pooled connection must not keep it)."""
    taken = acd._turn_take()
    if taken:
        acd._turn_end()
    return taken


def test_the_turn_is_given_back_when_a_pass_fails(monkeypatch: Any) -> None:
    queue, _agents = _line(1)
    _enqueue("call:1", queue)

    def broken(now: Any, queue_ids: Any) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(acd, "_dispatch_pass", broken)
    with pytest.raises(RuntimeError):
        routing_dispatch()
    monkeypatch.undo()
    assert _elsewhere(routing_dispatch) == 1  # another process gets the turn and offers the call
