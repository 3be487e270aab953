"""Who is told what: the outbox consumer that turns work-order (and conversation) events into notices.

- SLA warning → the owner (the assignee, else the first-contact owner);
- SLA breach → by the escalation level it caused: the owner, then also the team lead (level 1), then also the
  managers (level 2);
- escalation by a person → the one escalated to (an SLA escalation is already told by the breach notice);
- assignment and hand-over → the new assignee, unless they took it themselves;
- dispatch received → the active staff of the department; dispatch overdue → them and the order's owner;
- @mention in an internal note → the people mentioned;
- a customer message on an order → its owner;
- a reply to a customer given up (`conversation.message_failed`) → its author and the conversation's agent;
- a routed call the PBX was not told to put through (`call.put_through_failed`) → the agent who accepted it.

Never the actor of the change, never someone who may not see the order. The consumer's cursor moves in the same
transaction as the notices it writes: a replayed event adds nothing. Events older than MAX_AGE are passed over:
a consumer starting on an outbox that already holds days of events (an upgrade, a worker down over a holiday)
does not tell everyone about the past.
"""

from __future__ import annotations

from datetime import timedelta

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from kefu.core.models import OutboxEvent
from kefu.core.policy import who_sees
from kefu.core.relay import Consumer, register_consumer
from kefu.notifications.kinds import KINDS
from kefu.notifications.services import Notice, notify

HANDLED = frozenset(KINDS)
MAX_AGE = timedelta(hours=24)


def register() -> None:
    register_consumer(Consumer(name="notifications", handle=handle, types=HANDLED,
                               description="notices to people: in the app, e-mail, SMS, 企业微信"))


def handle(batch: list[OutboxEvent]) -> None:
    cutoff = timezone.now() - MAX_AGE
    for event in batch:
        if event.created_at < cutoff:
            continue
        notify(notices=notices_for(event), event_id=event.pk)


def _link(ticket_id: int) -> str:
    try:
        return reverse("web:ticket_detail", kwargs={"ticket_id": ticket_id})
    except NoReverseMatch:
        return f"/tickets/{ticket_id}/"


def _conversation_link(conversation_id: int) -> str:
    try:
        return reverse("web:conversation_detail", kwargs={"conversation_id": conversation_id})
    except NoReverseMatch:
        return f"/conversations/{conversation_id}/"


def _conversation_notices(event: OutboxEvent) -> list[Notice]:
    """A reply given up: its author (who believes it went out) and the conversation's agent now."""
    from kefu.accounts.models import User
    from kefu.conversations.models import Conversation

    payload = event.payload or {}
    message = payload.get("message") or {}
    conversation = (Conversation.objects.filter(pk=(payload.get("conversation") or {}).get("id"))
                    .select_related("channel", "customer").first())
    if conversation is None:
        return []
    ids = [i for i in dict.fromkeys((message.get("author_id"), conversation.assignee_id))
           if i and i != event.actor_id]
    people = list(User.objects.filter(pk__in=ids, is_active=True))
    if not people:
        return []
    params = {"customer": conversation.customer.name[:40], "channel": conversation.channel.name[:40],
              "error": str(payload.get("error") or "")[:200], "message_id": message.get("id")}
    link = _conversation_link(conversation.pk)
    return [Notice(recipient=person, kind=event.type, params=params, link=link,
                   object_type="conversations.conversation", object_id=str(conversation.pk))
            for person in who_sees(people, conversation)]


def _put_through_notices(event: OutboxEvent) -> list[Notice]:
    """A routed call the agent accepted that the PBX was not told to put through: that agent (routing gave
    them the call, so it is theirs to see)."""
    from kefu.accounts.models import User
    from kefu.core.masking import mask_phone

    payload = event.payload or {}
    agent = User.objects.filter(pk=payload.get("agent_id"), is_active=True).first()
    call = payload.get("call") or {}
    if agent is None:
        return []
    params = {"caller": mask_phone(str(call.get("caller") or "")), "error": str(payload.get("error") or "")[:200],
              "code": str(payload.get("code") or "")}
    return [Notice(recipient=agent, kind=event.type, params=params, object_type="telephony.call",
                   object_id=str(call.get("id") or ""))]


def notices_for(event: OutboxEvent) -> list[Notice]:
    """The notices one event gives, after the rules above."""
    from kefu.accounts.models import Team, User
    from kefu.tickets.models import Ticket

    if event.type.startswith("conversation."):
        return _conversation_notices(event)
    if event.type == "call.put_through_failed":
        return _put_through_notices(event)

    ticket_info = (event.payload or {}).get("ticket") or {}
    data = (event.payload or {}).get("data") or {}
    ticket = Ticket.objects.filter(pk=ticket_info.get("id")).select_related("team").first()
    if ticket is None:
        return []
    owner = ticket.assignee_id or ticket.first_contact_owner_id
    wanted: list[int] = []
    kind = event.type
    if kind == "ticket.sla_warning":
        wanted = [owner]
    elif kind == "ticket.sla_breached":
        wanted = [owner]
        if ticket.escalation_level >= 1 and ticket.team_id:
            wanted.append(Team.objects.filter(pk=ticket.team_id).values_list("lead_id", flat=True).first())
        if ticket.escalation_level >= 2:
            wanted += list(User.objects.filter(role="manager", is_active=True).values_list("pk", flat=True))
    elif kind == "ticket.escalated":
        if data.get("reason_code") != "sla_breach":
            wanted = [data.get("to_id")]
    elif kind == "ticket.assigned":
        wanted = [data.get("to_id")]
    elif kind in ("ticket.dispatched", "ticket.dispatch_overdue"):
        wanted = list(User.objects.filter(department_id=data.get("department_id"), role="department",
                                          is_active=True).values_list("pk", flat=True))
        if kind == "ticket.dispatch_overdue":
            wanted.append(owner)
    elif kind == "ticket.noted":
        wanted = list(data.get("mentions") or [])
    elif kind == "ticket.customer_message":
        wanted = [owner]
    ids = [i for i in dict.fromkeys(wanted) if i and i != event.actor_id]
    if not ids:
        return []
    params = {"number": ticket.number, "subject": ticket.subject[:80]}
    if kind in ("ticket.sla_warning", "ticket.sla_breached"):
        params["metric"] = data.get("metric", "")
    if kind == "ticket.assigned":
        params["handover"] = bool(data.get("handover"))
    if kind == "ticket.dispatch_overdue":
        from kefu.accounts.models import Department

        params["department"] = Department.objects.filter(pk=data.get("department_id")).values_list(
            "name", flat=True).first() or ""
    if kind == "ticket.noted":
        actor = User.objects.filter(pk=event.actor_id).first()
        params["actor"] = str(actor) if actor else ""
    people = list(User.objects.filter(pk__in=ids, is_active=True))
    link = _link(ticket.pk)
    return [Notice(recipient=person, kind=kind, params=params, link=link, object_type="tickets.ticket",
                   object_id=str(ticket.pk)) for person in who_sees(people, ticket)]

