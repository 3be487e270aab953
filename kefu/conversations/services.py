"""Every write of conversations: channels, inbound messages (customer and conversation found or made), replies and
their delivery, pick-up, assignment, transfer, closing, rating and the link to work orders.

Adapters hand in normalised messages (kefu.conversations.adapters); these services decide what they mean. Each
service is one transaction that writes its events into the outbox; sending waits for the commit.
"""

from __future__ import annotations

import logging
import mimetypes
import random
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.clocks.services import Calendars, clock_cancel, clock_new, clock_stop, clocks_create, clocks_save, open_clocks
from kefu.conversations import events
from kefu.conversations.adapters.base import Identity, InboundMessage, OutboundAttachment, OutboundMessage, SendResult
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.choices import (
    AuthorKind,
    Automated,
    ChannelKind,
    CloseReason,
    ConversationStatus,
    DeliveryState,
    Direction,
    IdentityKind,
)
from kefu.conversations.models import (
    CannedReply,
    Channel,
    ChannelIdentity,
    Conversation,
    Message,
    MessageAttachment,
    Participant,
)
from kefu.conversations.permissions import ConversationRight
from kefu.core.actors import SystemActor, actor_key, is_system, person, system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import can, has_right

log = logging.getLogger(__name__)

CHANNEL_ACTOR = system_actor("channel", gettext_lazy("系统：渠道接入"))
BODY_MAX = 20000
SUBJECT_MAX = 200
FIRST_RESPONSE = "first_response"
# Wait after the n-th failed send (seconds), ±20 % jitter; the last value repeats until MAX_ATTEMPTS.
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
MAX_ATTEMPTS = 12
SEND_LEASE = timedelta(seconds=120)
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
TICKET_CHANNEL = {  # a conversation's channel kind → the work order's source channel
    ChannelKind.CHAT: "chat", ChannelKind.EMAIL: "email", ChannelKind.WECHAT_OA: "wechat",
    ChannelKind.WECOM_KF: "wechat", ChannelKind.WEBHOOK: "api", ChannelKind.SMS: "sms",
}


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: Message
    duplicate: bool  # the channel had already delivered this message: nothing was written
    opened: bool  # a new conversation was opened for it


@dataclass(frozen=True)
class AttachmentIn:
    """A file an agent (or a widget visitor) sends."""

    filename: str
    content_type: str
    content: bytes


# --- helpers ----------------------------------------------------------------------------------------------


def _require(actor: Any, right: str, conversation: Conversation | None = None) -> None:
    if is_system(actor):
        return
    if conversation is None:
        if not has_right(actor, right):
            raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(right)})
        return
    if not can(actor, right, conversation):
        raise PermissionDenied(_("您没有权限处理这个会话"), details={"action": str(right)})


def _text(value: Any, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationFailed(_("%(label)s不能为空") % {"label": label}, details={"field": field})
    if len(text) > max_length:
        raise ValidationFailed(_("%(label)s不能超过 %(n)s 个字符") % {"label": label, "n": max_length},
                               details={"field": field})
    return text


def _lock(conversation: Conversation | int) -> Conversation:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    try:
        return Conversation.objects.select_for_update().select_related("channel").get(pk=pk)
    except Conversation.DoesNotExist:
        raise NotFound(_("会话不存在")) from None


def _check_version(conversation: Conversation, expected: int | None) -> None:
    if expected is not None and expected != conversation.version:
        raise Conflict(_("会话已被他人更新，请刷新后重试"), code="stale_version",
                       details={"current": events.conversation_info(conversation)})


def _bump(conversation: Conversation, *fields: str) -> None:
    conversation.version += 1
    conversation.save(update_fields=[*fields, "version"])


def sanitize_html(html: str) -> str:
    """HTML from outside (e-mail) made safe to show: no scripts, styles, event handlers or remote frames;
    links open outside Kefu."""
    if not html:
        return ""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow",
                     url_schemes={"http", "https", "mailto", "tel", "cid"})


def first_response_target(channel: Channel) -> int:
    if channel.first_response_seconds:
        return int(channel.first_response_seconds)
    targets = settings.KEFU_FIRST_RESPONSE_SECONDS
    return int(targets.get(channel.kind, targets.get("default", 30)))


# --- channels ---------------------------------------------------------------------------------------------


def _check_config(kind: str, config: dict[str, Any], secrets_: dict[str, Any] | None = None) -> None:
    try:
        adapter = adapter_for(kind)
    except LookupError:
        raise ValidationFailed(_("未知的渠道类型：%(kind)s") % {"kind": kind}, details={"field": "kind"}) from None
    problems = adapter.check_config(config)
    check_secrets = getattr(adapter, "check_secrets", None)  # adapters whose secrets have a form (AES keys…)
    if secrets_ is not None and check_secrets is not None:
        problems = {**problems, **check_secrets(config, secrets_)}
    if problems:
        field, message = next(iter(sorted(problems.items())))
        raise ValidationFailed(message, details={"field": field, "fields": problems})


@transaction.atomic
def channel_create(*, actor: Any, kind: str, code: str, name: str = "", team: Any = None,
                   config: dict[str, Any] | None = None, secrets_: dict[str, str] | None = None,
                   creates_tickets: bool | None = None, first_response_seconds: int | None = None,
                   calendar: Any = None) -> Channel:
    """Set up a channel. `code` is its stable name in URLs and the API (lower-case letters, digits, - and _)."""
    _require(actor, ConversationRight.CHANNEL_MANAGE)
    code = _text(code, field="code", label=_("渠道代码"), max_length=40).lower()
    if not CODE_RE.match(code):
        raise ValidationFailed(_("渠道代码只能包含小写字母、数字、- 和 _，2–40 个字符"), details={"field": "code"})
    if kind not in ChannelKind.values:
        raise ValidationFailed(_("未知的渠道类型：%(kind)s") % {"kind": kind}, details={"field": "kind"})
    config = dict(config or {})
    _check_config(kind, config, dict(secrets_ or {}))
    if Channel.objects.filter(code=code).exists():
        raise Conflict(_("渠道代码 %(code)s 已存在") % {"code": code}, code="duplicate_code",
                       details={"field": "code"})
    if first_response_seconds is not None and not (1 <= int(first_response_seconds) <= 30 * 86400):
        raise ValidationFailed(_("首次响应目标须在 1 秒到 30 天之间"), details={"field": "first_response_seconds"})
    channel = Channel.objects.create(
        code=code, kind=kind, name=_text(name or code, field="name", label=_("名称"), max_length=100), team=team,
        config=config, secrets=dict(secrets_ or {}), first_response_seconds=first_response_seconds,
        calendar=calendar,
        creates_tickets=kind == ChannelKind.EMAIL if creates_tickets is None else bool(creates_tickets))
    audit_record(actor=actor if not is_system(actor) else None, action="channel.created", obj=channel,
                 summary=f"{channel.kind} {channel.code}", data={"team": team.pk if team else None})
    return channel


@dataclass(frozen=True)
class ChannelChanges:
    name: str | None = None
    team: Any = None
    clear_team: bool = False
    is_active: bool | None = None
    config: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None  # merged: a name given with "" removes it
    creates_tickets: bool | None = None
    first_response_seconds: int | None = None


@transaction.atomic
def channel_update(*, actor: Any, channel: Channel, expected_version: int | None,
                   changes: ChannelChanges) -> Channel:
    _require(actor, ConversationRight.CHANNEL_MANAGE)
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(_("渠道已被他人修改，请刷新后重试"), code="stale_version")
    changed: list[str] = []
    if changes.name is not None:
        locked.name = _text(changes.name, field="name", label=_("名称"), max_length=100)
        changed.append("name")
    if changes.team is not None or changes.clear_team:
        locked.team = None if changes.clear_team else changes.team
        changed.append("team")
    if changes.is_active is not None:
        locked.is_active = bool(changes.is_active)
        changed.append("is_active")
    if changes.config is not None:
        _check_config(locked.kind, changes.config)
        locked.config = dict(changes.config)
        changed.append("config")
    if changes.secrets is not None:
        merged = {**locked.secrets, **changes.secrets}
        locked.secrets = {k: v for k, v in merged.items() if v}
        _check_config(locked.kind, locked.config, locked.secrets)
        changed.append("secrets")
    if changes.creates_tickets is not None:
        locked.creates_tickets = bool(changes.creates_tickets)
        changed.append("creates_tickets")
    if changes.first_response_seconds is not None:
        locked.first_response_seconds = changes.first_response_seconds or None
        changed.append("first_response_seconds")
    locked.version += 1
    locked.save(update_fields=[*changed, "version"])
    audit_record(actor=person(actor), action="channel.updated", obj=locked, summary=locked.code,
                 data={"changes": [c for c in changed if c != "secrets"] + (["secrets"] if "secrets" in changed
                                                                          else [])})
    return locked


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- customers by their channel identity ------------------------------------------------------------------


def _followed(customer: Any) -> Any:
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = customer.merged_into
    return customer


def _contact_customer(kind: str, value: str) -> Any:
    from kefu.customers.models import ContactPoint
    from kefu.customers.normalize import clean_contact

    try:
        normalized = clean_contact(kind, value)[1]
    except ValidationFailed:
        return None
    point = (ContactPoint.objects.filter(kind=kind, normalized=normalized, customer__anonymised_at__isnull=True)
             .select_related("customer").order_by("customer__merged_into_id", "-customer_id").first())
    return _followed(point.customer) if point else None


def _identity_contacts(identity: Identity) -> list[Any]:
    from kefu.customers.normalize import clean_contact
    from kefu.customers.services import ContactInput

    wanted = []
    if identity.kind == IdentityKind.EMAIL:
        wanted.append(("email", identity.value))
    elif identity.kind == IdentityKind.PHONE:
        wanted.append(("phone", identity.value))
    if identity.email and identity.kind != IdentityKind.EMAIL:
        wanted.append(("email", identity.email))
    if identity.phone and identity.kind != IdentityKind.PHONE:
        wanted.append(("phone", identity.phone))
    contacts, seen = [], set()
    for kind, value in wanted:
        try:
            normalized = clean_contact(kind, value)[1]
        except ValidationFailed:
            continue
        if (kind, normalized) not in seen:
            seen.add((kind, normalized))
            contacts.append(ContactInput(kind=kind, value=value))
    return contacts


def _identity_name(identity: Identity, channel: Channel) -> str:
    name = (identity.name or "").strip()[:200]
    if name:
        return name
    if identity.kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        return identity.value[:200]
    return _("%(channel)s访客 %(id)s") % {"channel": channel.name, "id": identity.value[-6:]}


def customer_for_identity(*, channel: Channel, identity: Identity) -> tuple[Any, ChannelIdentity]:
    """The customer a channel identity belongs to, found (the identity seen before, or the e-mail address or
    phone number among a customer's contacts; merged records followed) or created. Locks the identity row, so
    concurrent messages of one person are taken one at a time. Inside the caller's transaction."""
    from kefu.customers.services import customer_create

    kind, value = identity.kind, (identity.value or "").strip()[:200]
    if kind not in IdentityKind.values or not value:
        raise ValidationFailed(_("消息缺少客户身份"), details={"field": "identity"})
    if kind == IdentityKind.EMAIL:
        value = value.lower()
    row = (ChannelIdentity.objects.select_for_update().select_related("customer")
           .filter(channel=channel, kind=kind, value=value).first())
    if row is not None:
        customer = _followed(row.customer)
        if customer.pk != row.customer_id:
            row.customer = customer
            row.save(update_fields=["customer"])
        return customer, row
    customer = None
    if kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        customer = _contact_customer(kind, value)
    for extra_kind, extra in (("phone", identity.phone), ("email", identity.email)):
        if customer is None and extra:
            customer = _contact_customer(extra_kind, extra)
    if customer is None:
        customer = customer_create(actor=None, name=_identity_name(identity, channel),
                                   contacts=_identity_contacts(identity))
    row = ChannelIdentity.objects.create(channel=channel, kind=kind, value=value, customer=customer,
                                         display_name=(identity.name or "")[:200])
    return customer, row


# --- inbound ----------------------------------------------------------------------------------------------


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


def _next_seq(conversation: Conversation) -> int:
    conversation.last_seq += 1
    return conversation.last_seq


def _store_attachments(message: Message, files: Sequence[Any]) -> int:
    stored = 0
    for item in files:
        content = item.content
        name = (item.filename or "file").replace("/", "_").replace("\\", "_")[-200:] or "file"
        suffix = ("." + name.rsplit(".", 1)[1].lower()[:10]) if "." in name else ""
        attachment = MessageAttachment(
            message=message, conversation_id=message.conversation_id, storage_name=f"{uuid.uuid4().hex}{suffix}",
            filename=name, content_type=(item.content_type or mimetypes.guess_type(name)[0]
                                         or "application/octet-stream")[:100],
            size=len(content), content_id=getattr(item, "content_id", "")[:200])
        attachment.file.save(attachment.storage_name, ContentFile(content), save=False)
        attachment.save()
        stored += 1
    return stored


def _start_first_response_clock(conversation: Conversation, at: datetime) -> None:
    channel = conversation.channel
    clocks_create([clock_new(subject=conversation, metric=FIRST_RESPONSE, target_seconds=first_response_target(
        channel), calendar=channel.calendar, at=at, warning_fraction=settings.KEFU_SLA_WARNING_FRACTION,
        origin=f"channel:{channel.code}")])


def _stop_first_response_clock(conversation: Conversation, at: datetime, *, cancel: bool = False) -> None:
    calendars = Calendars()
    clocks = open_clocks(conversation, [FIRST_RESPONSE])
    for clock in clocks:
        if cancel:
            clock_cancel(clock, at, calendars)
        else:
            clock_stop(clock, at, subject=conversation, calendars=calendars)
    clocks_save(clocks)


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
            context={}, last_message_at=at)
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
    if (opened or reopened) and not inbound.automated and inbound.kind != "event":
        _start_first_response_clock(conversation, at)
    if opened:
        events.announce(events.CONVERSATION_OPENED, conversation, actor=CHANNEL_ACTOR)
    events.announce_message(events.MESSAGE_RECEIVED, conversation, message, actor=CHANNEL_ACTOR,
                            attachments=stored)
    if conversation.ticket_id and not inbound.automated and inbound.kind != "event":
        _tell_ticket(conversation, message, at)
    elif opened and channel.creates_tickets and not inbound.automated and inbound.kind != "event":
        _open_ticket(actor=CHANNEL_ACTOR, conversation=conversation, subject=conversation.subject or text, at=at)
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


# --- outbound ---------------------------------------------------------------------------------------------


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
          client_id: str = "", at: datetime, count_as_response: bool = True) -> Message:
    client_id = (client_id or "").strip()[:64]
    if client_id:
        existing = Message.objects.filter(conversation_id=conversation.pk, client_id=client_id).first()
        if existing is not None:
            return existing
    text = _text(text, field="text", label=_("回复内容"), max_length=BODY_MAX, required=not attachments)
    _check_attachments(attachments)
    conversation = _lock(conversation)
    channel = conversation.channel
    if not channel.is_active:
        raise Conflict(_("渠道“%(name)s”已停用，无法发送") % {"name": channel.name}, code="channel_inactive")
    adapter = adapter_for(channel.kind)
    if conversation.status == ConversationStatus.CLOSED and adapter.live:
        raise Conflict(_("会话已结束，客户已离开，无法再发送"), code="conversation_closed")
    user = person(actor)
    fields = ["last_seq", "last_message_at"]
    if user is not None and conversation.assignee_id is None and conversation.status == ConversationStatus.OPEN:
        conversation.assignee, conversation.assigned_at = user, at
        fields += ["assignee", "assigned_at"]
        Participant.objects.get_or_create(conversation=conversation, user=user)
    message = Message.objects.create(
        conversation=conversation, channel=channel, seq=_next_seq(conversation), direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT if user else AuthorKind.SYSTEM, author=user, author_system=actor_key(actor),
        body=text, client_id=client_id,
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


# --- pick-up, assignment, transfer, closing -----------------------------------------------------------------


def conversation_claim(*, actor: Any, conversation: Conversation, at: datetime | None = None) -> Conversation:
    """An agent picks up a waiting conversation. Atomic: of two agents picking up at once, one gets it and the
    other a conflict naming who has it."""
    _require(actor, ConversationRight.REPLY, conversation)
    at = at or timezone.now()
    with transaction.atomic():
        taken = Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True,
                                            status=ConversationStatus.OPEN).update(
            assignee=actor, assigned_at=at, version=F("version") + 1)
        if not taken:
            current = Conversation.objects.select_related("assignee").get(pk=conversation.pk)
            if current.status == ConversationStatus.CLOSED:
                raise Conflict(_("会话已结束"), code="conversation_closed")
            who = str(current.assignee) if current.assignee else ""
            raise Conflict(_("会话已被 %(name)s 接入") % {"name": who}, code="already_assigned",
                           details={"assignee_id": current.assignee_id})
        conversation = Conversation.objects.select_related("channel").get(pk=conversation.pk)
        Participant.objects.get_or_create(conversation=conversation, user=actor)
        events.announce(events.CONVERSATION_ASSIGNED, conversation, actor=actor,
                        data={"from_id": None, "to_id": actor.pk, "from_team_id": conversation.team_id,
                              "how": "claimed"})
    return conversation


def _check_agent(user: Any) -> None:
    if not user.is_active or not has_right(user, ConversationRight.REPLY):
        raise ValidationFailed(_("%(name)s 不能接待会话") % {"name": user}, details={"field": "assignee_id"})


@transaction.atomic
def conversation_assign(*, actor: Any, conversation: Conversation, assignee: Any,
                        expected_version: int | None = None, at: datetime | None = None) -> Conversation:
    """A lead gives a conversation to an agent (or back to the team's inbox with None)."""
    _require(actor, ConversationRight.ASSIGN, conversation)
    conversation = _lock(conversation)
    _check_version(conversation, expected_version)
    if conversation.status == ConversationStatus.CLOSED:
        raise Conflict(_("会话已结束"), code="conversation_closed")
    if assignee is not None:
        _check_agent(assignee)
    before = conversation.assignee_id
    conversation.assignee, conversation.assigned_at = assignee, (at or timezone.now()) if assignee else None
    _bump(conversation, "assignee", "assigned_at")
    if assignee is not None:
        Participant.objects.get_or_create(conversation=conversation, user=assignee)
    events.announce(events.CONVERSATION_ASSIGNED, conversation, actor=actor, extra_users=(before or 0,),
                    data={"from_id": before, "to_id": assignee.pk if assignee else None,
                          "from_team_id": conversation.team_id, "how": "assigned"})
    return conversation


@transaction.atomic
def conversation_transfer(*, actor: Any, conversation: Conversation, to_user: Any = None, to_team: Any = None,
                          note: str = "", expected_version: int | None = None,
                          at: datetime | None = None) -> Conversation:
    """Hand a conversation to a colleague (who gets it at once) or to a team's inbox (waiting there). Its agent
    or a lead may transfer it."""
    _require(actor, ConversationRight.REPLY, conversation)
    if (to_user is None) == (to_team is None):
        raise ValidationFailed(_("请选择转接给一位同事或一个班组"), details={"field": "to_user_id"})
    conversation = _lock(conversation)
    _check_version(conversation, expected_version)
    if conversation.status == ConversationStatus.CLOSED:
        raise Conflict(_("会话已结束"), code="conversation_closed")
    if conversation.assignee_id not in (None, actor.pk) and not has_right(actor, ConversationRight.ASSIGN):
        raise PermissionDenied(_("只能转接自己接待的会话"), details={"action": ConversationRight.REPLY.value})
    note = _text(note, field="note", label=_("转接说明"), max_length=500, required=False)
    before, before_team = conversation.assignee_id, conversation.team_id
    if to_user is not None:
        _check_agent(to_user)
        if to_user.pk == before:
            raise ValidationFailed(_("会话已经由 %(name)s 接待") % {"name": to_user}, details={"field": "to_user_id"})
        conversation.assignee, conversation.assigned_at = to_user, at or timezone.now()
        conversation.team_id = to_user.team_id or conversation.team_id
        Participant.objects.get_or_create(conversation=conversation, user=to_user)
    else:
        conversation.assignee, conversation.assigned_at, conversation.team = None, None, to_team
    _bump(conversation, "assignee", "assigned_at", "team")
    events.announce(events.CONVERSATION_ASSIGNED, conversation, actor=actor, extra_users=(before or 0,),
                    data={"from_id": before, "to_id": conversation.assignee_id, "from_team_id": before_team,
                          "how": "transferred", "note": note})
    return conversation


@transaction.atomic
def conversation_close(*, actor: Any, conversation: Conversation, reason: str, note: str = "",
                       at: datetime | None = None) -> Conversation:
    """End a conversation with a reason. A chat customer is then asked to rate it. `actor` may be the system
    (the customer left, an idle conversation timed out)."""
    _require(actor, ConversationRight.REPLY, conversation)
    if reason not in CloseReason.values:
        raise ValidationFailed(_("请选择结束原因"), details={"field": "reason"})
    at = at or timezone.now()
    conversation = _lock(conversation)
    if conversation.status == ConversationStatus.CLOSED:
        return conversation  # closing twice (a double click, the customer and the agent at once) is one close
    conversation.status, conversation.closed_at = ConversationStatus.CLOSED, at
    conversation.closed_by, conversation.close_reason = person(actor), reason
    conversation.close_note = _text(note, field="note", label=_("结束说明"), max_length=500, required=False)
    _bump(conversation, "status", "closed_at", "closed_by", "close_reason", "close_note")
    _stop_first_response_clock(conversation, at, cancel=True)
    events.announce(events.CONVERSATION_CLOSED, conversation, actor=actor,
                    data={"reason": reason, "by_id": person(actor).pk if person(actor) else None})
    return conversation


@transaction.atomic
def conversation_rate(*, conversation: Conversation, score: int, comment: str = "") -> Conversation:
    """The customer's satisfaction rating (1–5) of a conversation; once."""
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationFailed(_("评分须为 1 到 5"), details={"field": "score"})
    conversation = _lock(conversation)
    if conversation.csat_score is not None:
        raise Conflict(_("已经评价过了"), code="already_rated")
    conversation.csat_score = score
    conversation.csat_comment = _text(comment, field="comment", label=_("评价"), max_length=500, required=False)
    _bump(conversation, "csat_score", "csat_comment")
    events.announce(events.CONVERSATION_RATED, conversation, actor=CHANNEL_ACTOR, data={"score": score})
    return conversation


# --- work orders --------------------------------------------------------------------------------------------


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
    ticket = ticket_create(actor=actor, subject=subject, description=_transcript(conversation),
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


def ticket_reply_relay(*, ticket_id: int, ticket_message_id: int, author_id: int | None) -> Message | None:
    """A reply written on a work order goes out through the order's latest conversation (outbox consumer of
    `ticket.replied`; idempotent by the order message). None when the order has no conversation."""
    from kefu.accounts.models import User
    from kefu.tickets.models import TicketMessage

    conversation = (Conversation.objects.filter(ticket_id=ticket_id).select_related("channel")
                    .order_by("-last_message_at", "-id").first())
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


# --- the system's own messages --------------------------------------------------------------------------------


def system_message(*, conversation: Conversation, text: str, actor: SystemActor = CHANNEL_ACTOR,
                   client_id: str = "") -> Message:
    """A message the system sends the customer (an out-of-hours notice, a greeting): not a response."""
    return _send(actor=actor, conversation=conversation, text=text, client_id=client_id, at=timezone.now(),
                 count_as_response=False)


def open_conversation_of(*, channel: Channel, identity_kind: str, identity_value: str) -> Conversation | None:
    return (Conversation.objects.filter(channel=channel, identity_kind=identity_kind, identity_value=identity_value)
            .filter(Q(status=ConversationStatus.OPEN)).order_by("-id").first())


def automated_reason(message: Message) -> str:
    return Automated(message.automated).label if message.automated else ""


# --- canned replies -----------------------------------------------------------------------------------------

SHORTCUT_RE = re.compile(r"^[\w-]{1,30}$")


def _canned_fields(*, actor: Any, team: Any, shortcut: str, title: str, body: str,
                   current: CannedReply | None = None) -> dict[str, Any]:
    from kefu.conversations.selectors import canned_team_ids

    _require(actor, ConversationRight.CANNED_MANAGE)
    teams = canned_team_ids(actor)
    if teams is not None and (team is None or team.pk not in teams):
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    shortcut = _text(shortcut, field="shortcut", label=_("快捷词"), max_length=30).lstrip("/")
    if not SHORTCUT_RE.match(shortcut):
        raise ValidationFailed(_("快捷词只能包含文字、字母、数字、- 和 _，不含空格"), details={"field": "shortcut"})
    clash = CannedReply.objects.filter(shortcut=shortcut, team=team)
    if current is not None:
        clash = clash.exclude(pk=current.pk)
    if clash.exists():
        raise Conflict(_("快捷词 /%(s)s 已被使用") % {"s": shortcut}, code="duplicate_shortcut",
                       details={"field": "shortcut"})
    return {"team": team, "shortcut": shortcut,
            "title": _text(title, field="title", label=_("标题"), max_length=100),
            "body": _text(body, field="body", label=_("内容"), max_length=BODY_MAX)}


@transaction.atomic
def canned_reply_create(*, actor: Any, team: Any, shortcut: str, title: str, body: str) -> CannedReply:
    """A prepared reply agents insert by typing "/" and its shortcut. `team` None: everybody's (supervisors
    only); a team lead keeps their own teams'."""
    reply = CannedReply.objects.create(**_canned_fields(actor=actor, team=team, shortcut=shortcut, title=title,
                                                        body=body))
    audit_record(actor=person(actor), action="canned_reply.created", obj=reply, summary=f"/{reply.shortcut}")
    return reply


@transaction.atomic
def canned_reply_update(*, actor: Any, reply: CannedReply, team: Any, shortcut: str, title: str,
                        body: str) -> CannedReply:
    from kefu.conversations.selectors import canned_team_ids

    locked = CannedReply.objects.select_for_update().get(pk=reply.pk)
    teams = canned_team_ids(actor)
    if teams is not None and locked.team_id not in teams:
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    for name, value in _canned_fields(actor=actor, team=team, shortcut=shortcut, title=title, body=body,
                                      current=locked).items():
        setattr(locked, name, value)
    locked.save(update_fields=["team", "shortcut", "title", "body"])
    audit_record(actor=person(actor), action="canned_reply.updated", obj=locked, summary=f"/{locked.shortcut}")
    return locked


@transaction.atomic
def canned_reply_delete(*, actor: Any, reply: CannedReply) -> None:
    from kefu.conversations.selectors import canned_team_ids

    _require(actor, ConversationRight.CANNED_MANAGE)
    teams = canned_team_ids(actor)
    if teams is not None and reply.team_id not in teams:
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    audit_record(actor=person(actor), action="canned_reply.deleted", obj=reply, summary=f"/{reply.shortcut}")
    CannedReply.objects.filter(pk=reply.pk).delete()
