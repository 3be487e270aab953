"""How work orders react to events: clock warnings and breaches (history, escalation 逐级汇报, the order's own
SLA events), overdue dispatches, and edited SLA policies. Registered as an outbox consumer, so a breach found by
the sweep is escalated exactly once, even across a crash (the consumer's cursor moves in the same transaction).

Also the clock subjects of this app: work orders (their SLA standing is derived from their clocks) and
dispatches (a due time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.clocks.services import SubjectKind, register_subject
from kefu.core.actors import SLA, system_actor
from kefu.core.events import Audience
from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer
from kefu.tickets import events
from kefu.tickets.choices import DispatchStatus, EventKind
from kefu.tickets.models import Dispatch, Ticket

DISPATCH_WATCH = system_actor("dispatch_watch", _("系统：派单时限"))


def _ticket_audience(ticket: Ticket) -> list[Audience]:
    return events.ticket_audience(ticket)


def _refresh_standing(ticket: Ticket, at: datetime) -> None:
    from kefu.tickets.sla import sla_refresh_standing

    sla_refresh_standing(ticket=ticket, now=at)


def _dispatch_audience(dispatch: Dispatch) -> list[Audience]:
    ticket = Ticket.objects.get(pk=dispatch.ticket_id)
    return events.ticket_audience(ticket, departments=(dispatch.department_id,))


def register() -> None:
    register_subject(SubjectKind(model=Ticket, audience=_ticket_audience, on_change=_refresh_standing))
    register_subject(SubjectKind(model=Dispatch, audience=_dispatch_audience))
    register_consumer(Consumer(
        name="tickets.reactions", handle=handle,
        types=frozenset({"clock.warned", "clock.breached", "sla_policy.changed"}),
        description="SLA warnings and breaches of work orders (history, escalation), overdue dispatches, "
                    "re-targeting after an SLA policy edit"))


def handle(batch: list[OutboxEvent]) -> None:
    for event in batch:
        if event.type == "sla_policy.changed":
            _policy_changed(event)
            continue
        clock = event.payload["clock"]
        if clock["subject_type"] == "tickets.ticket":
            _ticket_clock(event, clock)
        elif clock["subject_type"] == "tickets.dispatch":
            _dispatch_clock(event, clock)


def _ticket_clock(event: OutboxEvent, clock: dict[str, Any]) -> None:
    from kefu.tickets.events import ticket_event_record
    from kefu.tickets.services import ticket_escalate
    from kefu.tickets.sla import escalation_level_after

    ticket = Ticket.objects.select_for_update().filter(pk=clock["subject_id"]).first()
    if ticket is None:
        return
    breached = event.type == "clock.breached"
    detail = {"metric": clock["metric"], "target_seconds": clock["target_seconds"], "due_at": clock["due_at"],
              "policy": _policy_name(clock["origin"])}
    if event.payload.get("detected") == "on_stop":
        detail["detected"] = "on_stop"
    ticket_event_record(ticket=ticket, kind=EventKind.SLA_BREACHED if breached else EventKind.SLA_WARNING,
                        actor=SLA, data=detail)
    if breached and event.payload.get("detected") == "sweep":
        target = escalation_level_after(level=ticket.escalation_level, breached_metrics=[clock["metric"]])
        while ticket.escalation_level < target:
            ticket = ticket_escalate(actor=SLA, ticket=ticket, breached_metrics=[clock["metric"]])
    ticket.refresh_from_db()
    events.announce(events.TICKET_SLA_BREACHED if breached else events.TICKET_SLA_WARNING, ticket, actor=SLA,
                    data={"clock_id": clock["id"], "metric": clock["metric"], "metrics": [clock["metric"]],
                          "target_seconds": clock["target_seconds"], "due_at": clock["due_at"],
                          "detected": event.payload.get("detected", "sweep")})


def _dispatch_clock(event: OutboxEvent, clock: dict[str, Any]) -> None:
    from kefu.tickets.events import ticket_event_record

    if event.type != "clock.breached":
        return
    dispatch = Dispatch.objects.select_related("department").filter(pk=clock["subject_id"]).first()
    if dispatch is None:
        return
    ticket = Ticket.objects.select_for_update().get(pk=dispatch.ticket_id)
    if dispatch.status not in (DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED) and \
            event.payload.get("detected") == "sweep":
        return  # completed in the meantime
    ticket_event_record(ticket=ticket, kind=EventKind.DISPATCH_OVERDUE, actor=DISPATCH_WATCH,
                        data={"dispatch": dispatch.pk, "department_name": dispatch.department.name,
                              "due_at": clock["due_at"]})
    events.announce(events.TICKET_DISPATCH_OVERDUE, ticket, actor=DISPATCH_WATCH,
                    data={"dispatch_id": dispatch.pk, "department_id": dispatch.department_id,
                          "department": dispatch.department.code, "due_at": dispatch.due_at},
                    departments=(dispatch.department_id,))


def _policy_changed(event: OutboxEvent) -> None:
    from kefu.tickets.tasks import sla_policy_changed_task

    # A task, not here: re-targeting may touch many orders, one transaction each (idempotent if run twice).
    sla_policy_changed_task(event.payload["policy_id"], event.payload.get("changed_at")
                            or timezone.now().isoformat())


def _policy_name(origin: str) -> str:
    from kefu.tickets.models import SlaPolicy
    from kefu.tickets.sla import ORIGIN_PREFIX

    if not origin.startswith(ORIGIN_PREFIX) or not origin[len(ORIGIN_PREFIX):].isdigit():
        return ""
    policy = SlaPolicy.objects.filter(pk=int(origin[len(ORIGIN_PREFIX):])).only("name").first()
    return policy.name if policy else ""
