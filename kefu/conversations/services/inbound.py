"""A customer's message coming in: stored once (a redelivery gets the same answer), in the open conversation of that
customer on that channel or a new one (a closed e-mail thread reopens), its first-response clock started, the work
order told."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.conversations import events
from kefu.conversations.adapters.base import InboundMessage
from kefu.conversations.choices import (
    AuthorKind,
    Automated,
    BotState,
    ChannelKind,
    CloseReason,
    ConversationStatus,
    DeliveryState,
    Direction,
)
from kefu.conversations.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    Message,
)
from kefu.conversations.services._common import (
    BODY_MAX,
    CHANNEL_ACTOR,
    SUBJECT_MAX,
    TICKET_CHANNEL,
    Received,
    _bump,
    _lock,
    _next_seq,
    _start_first_response_clock,
    _store_attachments,
    sanitize_html,
)
from kefu.conversations.services.bot import bot_answers_first
from kefu.conversations.services.handling import conversation_close
from kefu.conversations.services.identities import customer_for_identity
from kefu.conversations.services.lines import line_enter
from kefu.conversations.services.orders import _open_ticket
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed

log = logging.getLogger("kefu.conversations.services")


def _conversation_for(channel: Channel, inbound: InboundMessage, identity: ChannelIdentity,
                      customer: Any) -> Conversation | None:
    """The conversation an inbound message continues, locked, or None for a new one."""
    refs = [r for r in inbound.thread_refs if r][:50]
    if refs:
        earlier = (Message.objects.filter(channel=channel, external_id__in=refs)
                   .order_by("-id").values_list("conversation_id", flat=True).first())
        if earlier:
            return _lock(earlier)
    if inbound.ticket_number:
        found = (Conversation.objects.filter(channel=channel, ticket__number=inbound.ticket_number,
                                             customer=customer)
                 .order_by("-id").values_list("pk", flat=True).first())
        if found:
            return _lock(found)
    if channel.kind == ChannelKind.EMAIL:
        return None  # a new e-mail (no thread, no order number) is a new conversation
    found = (Conversation.objects.filter(channel=channel, identity_kind=identity.kind,
                                         identity_value=identity.value, status=ConversationStatus.OPEN)
             .order_by("-id").values_list("pk", flat=True).first())
    return _lock(found) if found else None


def message_receive(*, channel: Channel, inbound: InboundMessage, at: datetime | None = None) -> Received:
    """Store a customer's message from `channel`: idempotent on the channel's message id (a redelivery returns
    the stored message with `duplicate=True`); the customer and the conversation are found or made. A message
    continuing a closed conversation reopens it. Automated mail is stored but never answered and opens no
    order."""
    if not channel.is_active:
        raise PermissionDenied(_("渠道已停用"), code="channel_inactive")
    external_id = (inbound.external_id or "").strip()[:300]
    if not external_id:
        raise ValidationFailed(_("消息缺少编号"), details={"field": "message_id"})
    for _attempt in range(3):
        existing = _existing_inbound(channel, external_id)
        if existing is not None:
            return Received(existing.conversation, existing, duplicate=True, opened=False)
        try:
            return _receive(channel=channel, inbound=inbound, external_id=external_id, at=at or timezone.now())
        except IntegrityError:
            # a concurrent delivery of the same message or the same new person won: look again
            continue
    existing = _existing_inbound(channel, external_id)
    if existing is None:
        raise Conflict(_("消息暂时无法保存，请重试"), code="busy")
    return Received(existing.conversation, existing, duplicate=True, opened=False)


def _existing_inbound(channel: Channel, external_id: str) -> Message | None:
    return (Message.objects.select_related("conversation", "conversation__channel")
            .filter(channel=channel, direction=Direction.INBOUND, external_id=external_id).first())


@transaction.atomic
def _receive(*, channel: Channel, inbound: InboundMessage, external_id: str, at: datetime) -> Received:
    text = str(inbound.text or "")[:BODY_MAX]
    if not text.strip() and not inbound.attachments and inbound.kind != "event":
        raise ValidationFailed(_("消息内容不能为空"), details={"field": "text"})
    customer, identity = customer_for_identity(channel=channel, identity=inbound.identity)
    conversation = _conversation_for(channel, inbound, identity, customer)
    opened = conversation is None
    if conversation is None:
        ticket = None
        if inbound.ticket_number:
            from kefu.tickets.models import Ticket

            ticket = Ticket.objects.filter(number=inbound.ticket_number, customer=customer).first()
        conversation = Conversation.objects.create(
            channel=channel, customer=customer, identity_kind=identity.kind, identity_value=identity.value,
            subject=(inbound.subject or "").strip()[:SUBJECT_MAX], team=channel.team, ticket=ticket,
            context={}, last_message_at=at,
            bot_state=BotState.ACTIVE if bot_answers_first(channel, inbound) else BotState.NONE)
    reopened = conversation.status == ConversationStatus.CLOSED and not inbound.automated
    if reopened:
        conversation.status, conversation.closed_at, conversation.close_reason = ConversationStatus.OPEN, None, ""
        if conversation.assignee_id and not conversation.assignee.is_active:
            conversation.assignee = None  # the agent has left: the reopened conversation waits in the inbox
    context = {**conversation.context, **{k: v for k, v in inbound.meta.items() if k in _CONTEXT_KEYS}}
    message = Message.objects.create(
        conversation=conversation, channel=channel, seq=_next_seq(conversation), direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER, body=text, body_html=sanitize_html(inbound.html)[:200_000],
        kind=(inbound.kind or "text")[:10], external_id=external_id, automated=inbound.automated or "",
        delivery_state=DeliveryState.RECEIVED, meta=_json_safe(inbound.meta),
        sent_at=inbound.sent_at or at)
    stored = _store_attachments(message, inbound.attachments)
    if stored and "cid:" in message.body_html:
        _point_inline_images(message)
    conversation.last_message_at = at
    fields = ["last_seq", "last_message_at", "context", "status", "closed_at", "close_reason", "assignee"]
    if not inbound.automated:
        conversation.last_inbound_at = at
        fields.append("last_inbound_at")
    conversation.context = context
    _bump(conversation, *fields)
    # while the bot holds a new conversation it waits in no queue and no clock runs: both start at the
    # handoff (kefu.conversations.services.bot.conversation_hand_over)
    held = conversation.bot_state == BotState.ACTIVE and conversation.assignee_id is None
    if (opened or reopened) and not inbound.automated and inbound.kind != "event" and not held:
        _start_first_response_clock(conversation, at)
    if (not inbound.automated and inbound.kind != "event" and conversation.status == ConversationStatus.OPEN
            and (opened or reopened or conversation.assignee_id is None) and not held):
        line_enter(conversation, at)  # in line when its channel (or team) has a routed queue; once
    if opened:
        events.announce(events.CONVERSATION_OPENED, conversation, actor=CHANNEL_ACTOR)
    events.announce_message(events.MESSAGE_RECEIVED, conversation, message, actor=CHANNEL_ACTOR,
                            attachments=stored)
    if conversation.ticket_id and not inbound.automated and inbound.kind != "event":
        _tell_ticket(conversation, message, at)
    elif opened and channel.creates_tickets and not inbound.automated and inbound.kind != "event":
        _open_ticket(actor=CHANNEL_ACTOR, conversation=conversation, subject=conversation.subject or text, at=at)
    if opened and inbound.automated:
        # machine mail outside any thread (an out-of-office to someone else's mail, a stray bounce): kept and
        # findable, but nobody has to answer it, so it does not wait in the inbox
        conversation = conversation_close(actor=CHANNEL_ACTOR, conversation=conversation,
                                          reason=CloseReason.AUTOMATED, at=at)
    return Received(conversation, message, duplicate=False, opened=opened)


def _point_inline_images(message: Message) -> None:
    """An e-mail's inline images (`cid:` in its sanitised HTML) shown from the stored attachments."""
    from kefu.conversations.adapters.email import rewrite_cid

    inline = {a.content_id: f"/conversations/attachments/{a.pk}/"
              for a in message.attachments.exclude(content_id="")}
    if inline:
        message.body_html = rewrite_cid(message.body_html, inline)
        message.save(update_fields=["body_html"])


# what an inbound message's meta may leave in the conversation's context (answering in the same session)
_CONTEXT_KEYS = ("open_kfid", "to_user", "reply_to", "mailbox", "page_url", "visitor_page", "app_id")


def _json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(json.dumps(meta, default=str)))
    except (TypeError, ValueError):
        return {}


def _tell_ticket(conversation: Conversation, message: Message, at: datetime) -> None:
    """A customer's message on a conversation that has an order is also the customer's message on the order
    (its SLA resumes, a resolved order reopens)."""
    from kefu.tickets.models import Ticket
    from kefu.tickets.services import ticket_customer_message

    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    body = message.body or _("（附件）")
    ticket_customer_message(ticket=ticket, body=body, channel=TICKET_CHANNEL.get(conversation.channel.kind, "api"),
                            at=at)


def open_conversation_of(*, channel: Channel, identity_kind: str, identity_value: str) -> Conversation | None:
    return (Conversation.objects.filter(channel=channel, identity_kind=identity_kind, identity_value=identity_value)
            .filter(Q(status=ConversationStatus.OPEN)).order_by("-id").first())


def automated_reason(message: Message) -> str:
    return Automated(message.automated).label if message.automated else ""
