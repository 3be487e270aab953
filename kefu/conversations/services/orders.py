"""Work orders made of conversations: by an agent in one click, or by a channel's rule as the system."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.conversations import events
from kefu.conversations.choices import (
    Direction,
)
from kefu.conversations.models import (
    Conversation,
    Message,
)
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services._common import SUBJECT_MAX, TICKET_CHANNEL, _bump, _lock, _require
from kefu.core.actors import is_system
from kefu.core.errors import Conflict, PermissionDenied
from kefu.core.policy import has_right

log = logging.getLogger("kefu.conversations.services")


def _transcript(conversation: Conversation, limit: int = 30) -> str:
    lines = []
    rows = (Message.objects.filter(conversation=conversation).exclude(kind="event").order_by("-seq")
            .select_related("author")[:limit])
    for message in reversed(list(rows)):
        who = _("客户") if message.direction == Direction.INBOUND else (
            str(message.author) if message.author else _("系统"))
        lines.append(f"[{timezone.localtime(message.created_at):%m-%d %H:%M}] {who}: {message.body[:1000]}")
    return "\n".join(lines)


def _open_ticket(*, actor: Any, conversation: Conversation, subject: str, at: datetime,
                 ticket_type: str = "", priority: str = "") -> Any:
    from kefu.tickets.services import ticket_create

    subject = " ".join((subject or "").split())[:SUBJECT_MAX] or _("来自%(channel)s的会话") % {
        "channel": conversation.channel.name}
    kwargs: dict[str, Any] = {}
    if ticket_type:
        kwargs["ticket_type"] = ticket_type
    if priority:
        kwargs["priority"] = priority
    # a conversation without messages (a call's) is described by what its channel left in its context
    description = _transcript(conversation) or str(conversation.context.get("summary", ""))[:5000]
    ticket = ticket_create(actor=actor, subject=subject, description=description,
                           channel=TICKET_CHANNEL.get(conversation.channel.kind, "api"), customer=conversation.customer,
                           team=conversation.team, at=at, **kwargs)
    conversation.ticket = ticket
    _bump(conversation, "ticket")
    events.announce(events.CONVERSATION_LINKED, conversation, actor=actor,
                    data={"ticket_id": ticket.pk, "number": ticket.number})
    return ticket


@transaction.atomic
def conversation_create_ticket(*, actor: Any, conversation: Conversation, subject: str = "", ticket_type: str = "",
                               priority: str = "", at: datetime | None = None) -> Any:
    """Turn a conversation into a work order (one click in the inbox, or a rule): the order gets the customer,
    the transcript and the team; replies written on the order go out through this conversation's channel."""
    _require(actor, ConversationRight.REPLY, conversation)
    if not is_system(actor):
        from kefu.tickets.permissions import TicketRight

        if not has_right(actor, TicketRight.CREATE):
            raise PermissionDenied(_("您没有权限创建工单"), details={"action": TicketRight.CREATE.value})
    conversation = _lock(conversation)
    if conversation.ticket_id:
        raise Conflict(_("会话已关联工单 %(n)s") % {"n": conversation.ticket.number}, code="already_linked",
                       details={"ticket_id": conversation.ticket_id})
    return _open_ticket(actor=actor, conversation=conversation, subject=subject or conversation.subject or (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND).order_by("seq")
        .values_list("body", flat=True).first() or ""), at=at or timezone.now(), ticket_type=ticket_type,
        priority=priority)
