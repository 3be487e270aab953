"""Work-order history rows, and the work-order events announced through the outbox (with their audiences).

A service writes the history row and emits the event in its own transaction; nothing is sent before commit.
Event payloads carry the order as it is after the change (`TicketInfo`) plus what changed (`data`), enough for a
page or a webhook receiver to act without asking again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kefu.core.actors import actor_key, person
from kefu.core.events import Audience, EventType, emit, event_type
from kefu.core.policy import rights
from kefu.tickets.models import Ticket, TicketEvent


def ticket_event_record(*, ticket: Ticket, kind: str, actor: Any = None, from_status: str = "",
                        to_status: str = "", data: dict[str, Any] | None = None) -> TicketEvent:
    """One row of the order's history. A system actor is stored by its key (shown by its name)."""
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=person(actor),
        actor_system=actor_key(actor),
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )


# --- payloads ----------------------------------------------------------------------------------------------


class TicketInfo(BaseModel):
    """The work order after the change."""

    id: int
    number: str | None
    subject: str
    type: str
    priority: str
    channel: str
    status: str
    customer_id: int | None
    assignee_id: int | None
    first_contact_owner_id: int | None
    team_id: int | None
    category_id: int | None
    sla_standing: str
    sla_due_at: datetime | None
    escalation_level: int
    external_ref: str = ""
    version: int
    created_at: datetime
    updated_at: datetime


def ticket_info(ticket: Ticket) -> dict[str, Any]:
    """The same dict as the API's list items (kefu.tickets.selectors.ticket_summary)."""
    from kefu.tickets.selectors import ticket_summary

    return ticket_summary(ticket)


class NoData(BaseModel):
    pass


class Updated(BaseModel):
    changes: list[str]


class Assigned(BaseModel):
    from_id: int | None
    to_id: int | None
    handover: bool
    previous_team_id: int | None = None


class StatusChanged(BaseModel):
    from_: str = Field(alias="from", serialization_alias="from")
    to: str

    model_config = {"populate_by_name": True}


class MessageAdded(BaseModel):
    message_id: int
    mentions: list[int] = []  # users @mentioned in an internal note


class Dispatched(BaseModel):
    dispatch_id: int
    department_id: int
    department: str  # the department's code
    due_at: datetime | None = None


class Escalated(BaseModel):
    level: int
    to_id: int | None
    reason_code: str  # "manual" or "sla_breach"


class SlaAlert(BaseModel):
    clock_id: int
    metric: str
    metrics: list[str]  # [metric]: kept for receivers written against the first webhook version
    target_seconds: int
    due_at: datetime | None
    detected: str = "sweep"


def _payload(data_model: type[BaseModel]) -> type[BaseModel]:
    class Payload(BaseModel):
        ticket: TicketInfo
        data: data_model  # type: ignore[valid-type]

    Payload.__name__ = f"Ticket{data_model.__name__}Payload"
    return Payload


def _ticket_event(name: str, data: type[BaseModel], description: str) -> EventType:
    return event_type(name, version=1, schema=_payload(data), description=description,
                      object_type="tickets.ticket")


TICKET_CREATED = _ticket_event("ticket.created", NoData, "A work order was opened.")
TICKET_UPDATED = _ticket_event("ticket.updated", Updated, "Fields of a work order were edited.")
TICKET_ASSIGNED = _ticket_event("ticket.assigned", Assigned, "A work order was assigned or handed over (交接).")
TICKET_STATUS_CHANGED = _ticket_event("ticket.status_changed", StatusChanged, "A work order changed status.")
TICKET_REPLIED = _ticket_event("ticket.replied", MessageAdded, "An agent replied to the customer.")
TICKET_NOTED = _ticket_event("ticket.noted", MessageAdded, "An internal note was added (@mentions listed).")
TICKET_CUSTOMER_MESSAGE = _ticket_event("ticket.customer_message", MessageAdded,
                                        "The customer wrote on an existing work order.")
TICKET_DISPATCHED = _ticket_event("ticket.dispatched", Dispatched,
                                  "Work was dispatched to a department (派单): the department received it.")
TICKET_DISPATCH_ACKNOWLEDGED = _ticket_event("ticket.dispatch_acknowledged", Dispatched,
                                             "The receiving department took the dispatched work (接单).")
TICKET_DISPATCH_COMPLETED = _ticket_event("ticket.dispatch_completed", Dispatched,
                                          "The department reported its dispatched work done.")
TICKET_DISPATCH_OVERDUE = _ticket_event("ticket.dispatch_overdue", Dispatched,
                                        "A dispatch passed its due time without being completed.")
TICKET_ESCALATED = _ticket_event("ticket.escalated", Escalated,
                                 "A work order was escalated one level (1 team lead, 2 manager).")
TICKET_SLA_WARNING = _ticket_event("ticket.sla_warning", SlaAlert, "An SLA target of a work order is due soon.")
TICKET_SLA_BREACHED = _ticket_event("ticket.sla_breached", SlaAlert, "An SLA target of a work order was missed.")


class PolicyChanged(BaseModel):
    policy_id: int
    version: int
    changed_at: datetime
    changes: list[str]


SLA_POLICY_CHANGED = event_type(
    "sla_policy.changed", version=1, schema=PolicyChanged, object_type="tickets.slapolicy",
    description="An SLA policy was edited; its open work orders are re-targeted.")


# --- audiences ----------------------------------------------------------------------------------------------


def supervisors_audience() -> list[Audience]:
    """Everyone who sees the whole centre's work orders, as role audiences."""
    return [Audience.role(role) for role in sorted(rights().get("ticket.view_all", ()))]


def ticket_audience(ticket: Ticket, *, users: tuple[int | None, ...] = (), teams: tuple[int | None, ...] = (),
                    departments: tuple[int, ...] | None = None) -> list[Audience]:
    """Who hears of a change to `ticket`: its assignee and first-contact owner, its team, the departments it is
    dispatched to (open dispatches; looked up unless given), the centre's supervisors; plus `users` and
    `teams` (e.g. the previous assignee and team of a hand-over)."""
    from kefu.tickets.choices import DispatchStatus
    from kefu.tickets.models import Dispatch

    audience = supervisors_audience()
    for user_id in {ticket.assignee_id, ticket.first_contact_owner_id, *users}:
        if user_id:
            audience.append(Audience.user(user_id))
    for team_id in {ticket.team_id, *teams}:
        if team_id:
            audience.append(Audience.team(team_id))
    if departments is None:
        departments = tuple(Dispatch.objects.filter(
            ticket_id=ticket.pk, status__in=[DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED])
            .values_list("department_id", flat=True)) if ticket.pk else ()
    for department_id in set(departments):
        audience.append(Audience.department(department_id))
    return audience


def announce(event: EventType, ticket: Ticket, *, actor: Any = None, data: dict[str, Any] | None = None,
             users: tuple[int | None, ...] = (), teams: tuple[int | None, ...] = (),
             departments: tuple[int, ...] | None = None) -> None:
    """Emit a work-order event (in the caller's transaction) to the order's audience."""
    emit(event, obj=ticket, actor=actor, payload={"ticket": ticket_info(ticket), "data": data or {}},
         audience=ticket_audience(ticket, users=users, teams=teams, departments=departments))
