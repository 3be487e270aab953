"""After-contact work in the handle time: when an agent leaves the after-contact state that followed a call (by
their own change, or when its time ran out), its length is the call's `acw_seconds`, and the call's interval is
rewritten, so the interval's AHT is talk + hold + after-contact work.

An outbox consumer of `agent.state_changed` (kefu.core.relay): it runs after the commit, in order, and the figure
is recomputed from the agent's state history each time, so a replayed event changes nothing. The span is the one
the PBX opened when the call ended (`source: pbx`, its note the call id); calls ended long ago (a backlog) open none
and keep 0."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer

CONSUMER = "telephony.after_contact"
_SLACK = timedelta(seconds=1)  # the event's time went through JSON


def register() -> None:
    register_consumer(Consumer(
        name=CONSUMER, handle=handle, types=frozenset({"agent.state_changed"}),
        description="After-contact work following a call is added to the call's handle time in its interval"))


def handle(batch: list[OutboxEvent]) -> None:
    from django.utils.dateparse import parse_datetime

    for event in batch:
        payload = event.payload or {}
        if payload.get("before") != "after_contact" or not payload.get("user_id"):
            continue
        since = payload.get("since")
        ended = parse_datetime(since) if isinstance(since, str) else None
        if ended is not None:
            call_after_contact_count(user_id=int(payload["user_id"]), ended_at=ended)


def call_after_contact_count(*, user_id: int, ended_at: datetime) -> float | None:
    """Set the after-contact seconds of the call whose after-contact span of this agent ended at `ended_at`, and
    rewrite its interval. Returns the seconds, or None when that span followed no call of theirs."""
    from kefu.routing.choices import AgentStateKind, StateSource
    from kefu.routing.models import AgentStateSpan
    from kefu.routing.services import interval_write
    from kefu.telephony.models import Call
    from kefu.telephony.stats import call_figures

    span = (AgentStateSpan.objects.filter(user_id=user_id, state=AgentStateKind.AFTER_CONTACT,
                                          source=StateSource.PBX, ended_at__gte=ended_at - _SLACK,
                                          ended_at__lte=ended_at + _SLACK)
            .exclude(note="").order_by("-started_at").first())
    if span is None or span.ended_at is None:
        return None
    seconds = max(0.0, (span.ended_at - span.started_at).total_seconds())
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(call_id=span.note, agent_id=user_id).first()
        if call is None or call.answered_at is None:
            return None
        if call.acw_seconds != seconds:
            Call.objects.filter(pk=call.pk).update(acw_seconds=seconds)
        if call.ended_at is not None and call.queue_id:
            interval_write(queue_id=call.queue_id, start=call.offered_at, count=call_figures)
    return seconds
