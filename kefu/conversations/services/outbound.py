"""Messages to the customer: stored first, then sent by the worker through the channel's adapter and retried with
backoff; delivery reports and read receipts move them on; replies written on a work order go out the same way."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.conversations import events
from kefu.conversations.adapters.base import Identity, OutboundAttachment, OutboundMessage, SendResult
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.choices import (
    AuthorKind,
    BotState,
    ConversationStatus,
    DeliveryState,
    Direction,
)
from kefu.conversations.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    Message,
    Participant,
)
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services._common import (
    BACKOFF_SECONDS,
    BODY_MAX,
    CHANNEL_ACTOR,
    MAX_ATTEMPTS,
    SEND_LEASE,
    SILENT_KINDS,
    AttachmentIn,
    _bump,
    _lock,
    _next_seq,
    _require,
    _stop_first_response_clock,
    _store_attachments,
    _text,
)
from kefu.conversations.services.lines import line_taken, lock_contact
from kefu.core.actors import SystemActor, actor_key, person
from kefu.core.errors import Conflict, ValidationFailed

log = logging.getLogger("kefu.conversations.services")

BOT_KEY = "bot"  # the answer bot's SystemActor key (kefu.knowledge.services.bot.BOT): its messages are the bot's


def message_send(*, actor: Any, conversation: Conversation, text: str, attachments: Sequence[AttachmentIn] = (),
                 client_id: str = "", at: datetime | None = None) -> Message:
    """An agent's message to the customer through the conversation's channel. Stored first (state `queued`, or
    `sent` when the channel is Kefu's own widget), then sent by the worker after commit, retried until the
    channel takes it. The same `client_id` again returns the stored message. The first reply is the first
    response; replying to a conversation nobody has picked up picks it up."""
    _require(actor, ConversationRight.REPLY, conversation)
    return _send(actor=actor, conversation=conversation, text=text, attachments=attachments, client_id=client_id,
                 at=at or timezone.now())


@transaction.atomic
def _send(*, actor: Any, conversation: Conversation, text: str, attachments: Sequence[AttachmentIn] = (),
          client_id: str = "", at: datetime, count_as_response: bool = True,
          meta: dict[str, Any] | None = None) -> Message:
    client_id = (client_id or "").strip()[:64]
    if client_id:
        existing = Message.objects.filter(conversation_id=conversation.pk, client_id=client_id).first()
        if existing is not None:
            return existing
    text = _text(text, field="text", label=_("回复内容"), max_length=BODY_MAX, required=not attachments)
    _check_attachments(attachments)
    if conversation.assignee_id is None and person(actor) is not None:
        lock_contact(conversation.pk)  # the reply may pick a chat in line up: routing's lock first
    conversation = _lock(conversation)
    channel = conversation.channel
    if not channel.is_active:
        raise Conflict(_("渠道“%(name)s”已停用，无法发送") % {"name": channel.name}, code="channel_inactive")
    if channel.kind in SILENT_KINDS:
        raise Conflict(_("电话会话不能发消息给客户：请回拨，或转为工单跟进"), code="channel_silent")
    adapter = adapter_for(channel.kind)
    if conversation.status == ConversationStatus.CLOSED and adapter.live:
        raise Conflict(_("会话已结束，客户已离开，无法再发送"), code="conversation_closed")
    user = person(actor)
    fields = ["last_seq", "last_message_at"]
    if user is not None and conversation.assignee_id is None and conversation.status == ConversationStatus.OPEN:
        conversation.assignee, conversation.assigned_at = user, at
        fields += ["assignee", "assigned_at"]
        if conversation.bot_state == BotState.ACTIVE:  # a person answered: the bot lets go
            conversation.bot_state = BotState.HANDED_OVER
            fields.append("bot_state")
        Participant.objects.get_or_create(conversation=conversation, user=user)
        line_taken(conversation, user, at)
    message = Message.objects.create(
        conversation=conversation, channel=channel, seq=_next_seq(conversation), direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT if user else (AuthorKind.BOT if actor_key(actor) == BOT_KEY
                                                     else AuthorKind.SYSTEM),
        author=user, author_system=actor_key(actor), body=text, client_id=client_id, meta=meta or {},
        delivery_state=DeliveryState.SENT if adapter.live else DeliveryState.QUEUED,
        sent_at=at if adapter.live else None, next_attempt_at=None if adapter.live else at)
    stored = _store_attachments(message, attachments)
    conversation.last_message_at = at
    if count_as_response and user is not None and conversation.first_response_at is None:
        conversation.first_response_at = at
        fields.append("first_response_at")
        _stop_first_response_clock(conversation, at)
    _bump(conversation, *fields)
    events.announce_message(events.MESSAGE_SENT, conversation, message, actor=actor, attachments=stored)
    if "assignee" in fields:
        events.announce(events.CONVERSATION_ASSIGNED, conversation, actor=actor,
                        data={"from_id": None, "to_id": user.pk, "from_team_id": conversation.team_id,
                              "how": "claimed"})
    if not adapter.live:
        transaction.on_commit(lambda: _enqueue_delivery(message.pk), robust=True)
    return message


def _check_attachments(attachments: Sequence[AttachmentIn]) -> None:
    limit = int(settings.KEFU_ATTACHMENT_MAX_BYTES)
    allowed = settings.KEFU_ATTACHMENT_TYPES
    if len(attachments) > 10:
        raise ValidationFailed(_("一次最多发送 10 个附件"), details={"field": "attachments"})
    for item in attachments:
        name = item.filename or ""
        suffix = ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""
        if suffix not in allowed:
            raise ValidationFailed(_("不支持的文件类型：%(name)s") % {"name": name[:100]},
                                   details={"field": "attachments"})
        if len(item.content) > limit:
            raise ValidationFailed(_("文件 %(name)s 超过 %(mb)s MB") % {"name": name[:100], "mb": limit // 1048576},
                                   details={"field": "attachments"})


def _enqueue_delivery(message_id: int) -> None:
    from kefu.conversations.tasks import deliver_task

    deliver_task(message_id)


def outbound_for(message: Message) -> OutboundMessage:
    """What the adapter needs to send a stored message: the customer's identity, threading ids, the
    conversation's context and the attachments."""
    conversation = message.conversation
    channel = conversation.channel
    identity = ChannelIdentity.objects.filter(channel=channel, kind=conversation.identity_kind,
                                              value=conversation.identity_value).first()
    inbound = list(Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
                   .exclude(external_id="").order_by("seq").values_list("external_id", "meta"))
    sent = list(Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND, seq__lt=message.seq)
                .exclude(external_id="").order_by("seq").values_list("external_id", flat=True))
    thread = [ext for ext, _meta in inbound] + sent
    context = {**conversation.context, **(inbound[-1][1] if inbound else {})}
    if conversation.ticket_id:
        context["ticket_number"] = conversation.ticket.number
    return OutboundMessage(
        message_id=message.pk, conversation_id=conversation.pk, text=message.body,
        to=Identity(kind=conversation.identity_kind, value=conversation.identity_value,
                    name=identity.display_name if identity else ""),
        subject=conversation.subject, in_reply_to=inbound[-1][0] if inbound else "",
        references=tuple(dict.fromkeys(thread))[-20:],
        attachments=tuple(OutboundAttachment(filename=a.filename, content_type=a.content_type, path=a.file.name,
                                             size=a.size) for a in message.attachments.all()),
        context=context)


def backoff_seconds(failed_attempts: int, rng: random.Random | None = None) -> float:
    base = BACKOFF_SECONDS[min(max(failed_attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return base * (rng or random).uniform(0.8, 1.2)


def _claim_delivery(message_id: int, now: datetime) -> bool:
    with transaction.atomic():
        return Message.objects.filter(
            pk=message_id, delivery_state=DeliveryState.QUEUED, next_attempt_at__lte=now,
        ).update(next_attempt_at=now + SEND_LEASE, attempts=F("attempts") + 1) == 1


def message_deliver(*, message_id: int, now: datetime | None = None,
                    rng: random.Random | None = None) -> Message | None:
    """One attempt at sending a queued message through its channel's adapter (the worker). Claimed first, so two
    workers never send one message; records sent, a retry with backoff, or failure. None: not ours to send."""
    now = now or timezone.now()
    if not _claim_delivery(message_id, now):
        return None
    message = (Message.objects.select_related("conversation", "conversation__channel", "conversation__ticket")
               .get(pk=message_id))
    channel = message.conversation.channel
    try:
        if not channel.is_active:
            result = SendResult(False, error="channel disabled", permanent=True)
        else:
            result = adapter_for(channel.kind).send(channel, outbound_for(message))
    except Exception as exc:  # a bug or an unexpected transport error: logged, retried like any failure
        log.exception("sending message %s on channel %s failed", message_id, channel.code)
        result = SendResult(False, error=f"{type(exc).__name__}: {exc}"[:500])
    return _record_attempt(message, result, now=now, rng=rng)


@transaction.atomic
def _record_attempt(message: Message, result: SendResult, *, now: datetime,
                    rng: random.Random | None) -> Message:
    fields: dict[str, Any] = {"last_error": (result.error or "")[:500]}
    state = None
    if result.ok:
        state = DeliveryState.SENT
        fields.update(delivery_state=state, sent_at=now, next_attempt_at=None)
        if result.external_id:
            fields["external_id"] = result.external_id[:300]
    elif result.permanent or message.attempts >= MAX_ATTEMPTS:
        state = DeliveryState.FAILED
        fields.update(delivery_state=state, next_attempt_at=None)
        log.warning("message %s given up after %s attempts: %s", message.pk, message.attempts, result.error)
    else:
        wait = max(backoff_seconds(message.attempts, rng), result.retry_after or 0)
        fields["next_attempt_at"] = now + timedelta(seconds=wait)
    updated = Message.objects.filter(pk=message.pk, attempts=message.attempts,
                                     delivery_state=DeliveryState.QUEUED).update(**fields)
    message.refresh_from_db()
    if updated and state is not None:
        conversation = Conversation.objects.select_related("channel").get(pk=message.conversation_id)
        events.announce_message(events.MESSAGE_DELIVERY, conversation, message, actor=CHANNEL_ACTOR)
        if state == DeliveryState.FAILED:
            events.announce_failure(conversation, message, actor=CHANNEL_ACTOR)
    return message


def messages_retry_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Attempt every queued message that is due (periodic task; also picks up a message whose hand-over to the
    worker was lost in a crash). Returns the number of attempts made."""
    now = now or timezone.now()
    due = list(Message.objects.filter(delivery_state=DeliveryState.QUEUED, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in due if message_deliver(message_id=pk, now=now) is not None)


_STATE_ORDER = {DeliveryState.QUEUED: 0, DeliveryState.SENT: 1, DeliveryState.DELIVERED: 2, DeliveryState.READ: 3}


@transaction.atomic
def message_delivery_update(*, channel: Channel, external_id: str, state: str, error: str = "",
                            at: datetime | None = None) -> Message | None:
    """A delivery report from the channel (delivered, read, failed) for the outbound message it knows by
    `external_id`. Only moves forward; the same report twice changes nothing. None: no such message."""
    message = (Message.objects.select_for_update()
               .filter(channel=channel, direction=Direction.OUTBOUND, external_id=external_id).first())
    if message is None:
        return None
    return _advance(message, state, error=error, at=at or timezone.now())


def _advance(message: Message, state: str, *, error: str = "", at: datetime) -> Message:
    current = message.delivery_state
    if current == DeliveryState.FAILED:
        return message
    if state == DeliveryState.FAILED:
        if current in (DeliveryState.DELIVERED, DeliveryState.READ):
            return message
    elif _STATE_ORDER.get(DeliveryState(state), -1) <= _STATE_ORDER.get(DeliveryState(current), -1):
        return message
    fields = ["delivery_state"]
    message.delivery_state = state
    if state == DeliveryState.DELIVERED:
        message.delivered_at = at
        fields.append("delivered_at")
    elif state == DeliveryState.READ:
        message.read_at, fields = at, [*fields, "read_at"]
        if message.delivered_at is None:
            message.delivered_at = at
            fields.append("delivered_at")
    elif state == DeliveryState.FAILED:
        message.last_error = error[:500]
        fields.append("last_error")
    message.save(update_fields=fields)
    conversation = Conversation.objects.select_related("channel").get(pk=message.conversation_id)
    events.announce_message(events.MESSAGE_DELIVERY, conversation, message, actor=CHANNEL_ACTOR)
    if state == DeliveryState.FAILED:
        events.announce_failure(conversation, message, actor=CHANNEL_ACTOR)
    return message


def messages_mark_read(*, conversation: Conversation, up_to_seq: int, direction: str = Direction.OUTBOUND,
                       at: datetime | None = None) -> int:
    """The customer (direction out) has read the agents' messages up to `up_to_seq` (a read receipt). Returns
    how many messages changed."""
    unread = (Message.objects.filter(conversation=conversation, direction=direction, seq__lte=up_to_seq)
              .exclude(delivery_state__in=[DeliveryState.READ, DeliveryState.FAILED, DeliveryState.QUEUED]))
    if not unread.exists():  # the usual answer to a receipt, and one query without a transaction
        return 0
    return _mark_read(conversation, unread, at or timezone.now())


@transaction.atomic
def _mark_read(conversation: Conversation, unread: Any, at: datetime) -> int:
    messages = list(unread.select_for_update(of=("self",)).select_related("author").order_by("seq"))
    if not messages:  # a concurrent receipt marked them
        return 0
    # one update and one insert of events for all of them, however many a receipt covers
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        delivery_state=DeliveryState.READ, read_at=at, delivered_at=Coalesce(F("delivered_at"), Value(at)))
    for message in messages:
        message.delivery_state, message.read_at = DeliveryState.READ, at
        message.delivered_at = message.delivered_at or at
    if conversation.channel_id and "channel" not in conversation._state.fields_cache:
        conversation = Conversation.objects.select_related("channel").get(pk=conversation.pk)
    events.announce_messages(events.MESSAGE_DELIVERY, conversation, messages, actor=CHANNEL_ACTOR)
    return len(messages)


def participant_read(*, user: Any, conversation: Conversation, up_to_seq: int) -> None:
    """How far an agent has read (their unread counts)."""
    Participant.objects.filter(conversation=conversation, user=user, last_read_seq__lt=up_to_seq).update(
        last_read_seq=up_to_seq)


def ticket_reply_relay(*, ticket_id: int, ticket_message_id: int, author_id: int | None) -> Message | None:
    """A reply written on a work order goes out through the order's latest conversation (outbox consumer of
    `ticket.replied`; idempotent by the order message). None when the order has no conversation."""
    from kefu.accounts.models import User
    from kefu.tickets.models import TicketMessage

    conversation = (Conversation.objects.filter(ticket_id=ticket_id).exclude(channel__kind__in=SILENT_KINDS)
                    .select_related("channel").order_by("-last_message_at", "-id").first())
    if conversation is None:
        return None
    body = TicketMessage.objects.filter(pk=ticket_message_id).values_list("body", flat=True).first()
    if body is None:
        return None
    author = User.objects.filter(pk=author_id).first() if author_id else None
    if conversation.status == ConversationStatus.CLOSED and adapter_for(conversation.channel.kind).live:
        return None  # the chat visitor has gone; the order keeps the reply
    return _send(actor=author or CHANNEL_ACTOR, conversation=conversation, text=body,
                 client_id=f"ticket-message-{ticket_message_id}", at=timezone.now())


def system_message(*, conversation: Conversation, text: str, actor: SystemActor = CHANNEL_ACTOR,
                   client_id: str = "") -> Message:
    """A message the system sends the customer (an out-of-hours notice, a greeting): not a response."""
    return _send(actor=actor, conversation=conversation, text=text, client_id=client_id, at=timezone.now(),
                 count_as_response=False)
