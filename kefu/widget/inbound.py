"""What a widget visitor does, turned into calls of the conversations services: a message (with the pre-chat
details or files), a message left outside hours (a work order at once), the end of the chat, a rating, read
receipts. The visitor's `client_id` makes every write idempotent: the same id again is the same message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.conversations import services
from kefu.conversations.adapters.base import InboundAttachment, InboundMessage
from kefu.conversations.choices import CloseReason, ConversationStatus
from kefu.conversations.models import Channel, Conversation
from kefu.core.actors import system_actor
from kefu.core.errors import Conflict, ValidationFailed
from kefu.widget.selectors import prechat_fields
from kefu.widget.visitors import Visitor

WIDGET_ACTOR = system_actor("widget", gettext_lazy("系统：网页在线客服"))
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TEXT_MAX = 5000
NAME_MAX = 100
META_KEYS = ("page_url",)


def check_client_id(value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_ID.match(value):
        raise ValidationFailed(_("消息编号无效"), code="bad_client_id", details={"field": "client_id"})
    return value


def _text(value: Any, *, field: str, label: str, max_length: int, required: bool) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(_("%(label)s格式不正确") % {"label": label}, details={"field": field})
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(_("请填写%(label)s") % {"label": label}, details={"field": field})
    if len(text) > max_length:
        raise ValidationFailed(_("%(label)s不能超过 %(n)s 个字") % {"label": label, "n": max_length},
                               details={"field": field})
    return text


@dataclass(frozen=True)
class Details:
    """What the visitor told about themselves in the pre-chat or leave-a-message form."""

    name: str = ""
    phone: str = ""
    email: str = ""


def details_from(data: dict[str, Any], *, required: set[str] = frozenset()) -> Details:  # type: ignore[assignment]
    name = _text(data.get("name"), field="name", label=_("称呼"), max_length=NAME_MAX, required="name" in required)
    phone = _text(data.get("phone"), field="phone", label=_("手机号码"), max_length=30, required="phone" in required)
    email = _text(data.get("email"), field="email", label=_("电子邮箱"), max_length=200,
                  required="email" in required)
    if phone and not re.fullmatch(r"\+?[0-9 ()-]{5,30}", phone):
        raise ValidationFailed(_("手机号码格式不正确"), details={"field": "phone"})
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValidationFailed(_("电子邮箱格式不正确"), details={"field": "email"})
    return Details(name=name, phone=phone, email=email)


def message_text(value: Any, *, required: bool = True, field: str = "text") -> str:
    return _text(value, field=field, label=_("消息"), max_length=TEXT_MAX, required=required)


def prechat_details(channel: Channel, data: dict[str, Any]) -> tuple[Details, str]:
    """The pre-chat form's details and question, checked against the channel's required fields."""
    required = {f.name for f in prechat_fields(channel) if f.required}
    details = details_from(data, required=required)
    return details, message_text(data.get("text"), field="text")


def _meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    return {k: str(v)[:500] for k, v in (meta or {}).items() if k in META_KEYS and isinstance(v, str) and v}


def receive(*, channel: Channel, visitor: Visitor, client_id: str, text: str, details: Details | None = None,
            files: tuple[InboundAttachment, ...] = (), meta: dict[str, Any] | None = None) -> services.Received:
    """Store a visitor's message (idempotent on the visitor's client_id): the conversation is continued or
    opened (its first-response clock starts) by `services.message_receive`. Committed when it returns."""
    details = details or Details()
    kind = "text"
    if files:
        kind = "image" if all(f.content_type.startswith("image/") for f in files) else "file"
    inbound = InboundMessage(
        external_id=f"visitor:{visitor.id}:{check_client_id(client_id)}",
        identity=visitor.identity(name=details.name, phone=details.phone, email=details.email),
        text=text, attachments=files, kind=kind, meta={"client_id": client_id, **_meta(meta)})
    return services.message_receive(channel=channel, inbound=inbound)


@dataclass(frozen=True)
class Left:
    received: services.Received
    ticket_number: str


@transaction.atomic
def leave_message(*, channel: Channel, visitor: Visitor, client_id: str, text: str, details: Details,
                  meta: dict[str, Any] | None = None) -> Left:
    """A message left while nobody can answer: stored like any message, turned into a work order at once (as the
    widget's system actor) and the conversation closed as followed up by the order. The same client_id again
    gives the same order."""
    received = receive(channel=channel, visitor=visitor, client_id=client_id, text=text, details=details, meta=meta)
    conversation = Conversation.objects.select_related("ticket").get(pk=received.conversation.pk)
    ticket = conversation.ticket
    if ticket is None:
        subject = _("在线留言：%(text)s") % {"text": " ".join(text.split())[:60]}
        ticket = services.conversation_create_ticket(actor=WIDGET_ACTOR, conversation=conversation, subject=subject)
    if conversation.status == ConversationStatus.OPEN:
        services.conversation_close(actor=WIDGET_ACTOR, conversation=conversation, reason=CloseReason.TICKET)
    return Left(received=received, ticket_number=ticket.number)


def end(*, conversation: Conversation) -> Conversation:
    """The visitor ends the chat (closing twice is one close)."""
    return services.conversation_close(actor=WIDGET_ACTOR, conversation=conversation,
                                       reason=CloseReason.CUSTOMER_LEFT)


def rate(*, conversation: Conversation, score: Any, comment: Any) -> Conversation:
    """The visitor's rating of a conversation that has ended (1–5, once)."""
    if conversation.status != ConversationStatus.CLOSED:
        raise Conflict(_("会话结束后才能评价"), code="not_closed")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValidationFailed(_("请选择 1 到 5 星"), details={"field": "score"})
    comment = _text(comment, field="comment", label=_("评价"), max_length=500, required=False)
    return services.conversation_rate(conversation=conversation, score=score, comment=comment)


def read(*, conversation: Conversation, seq: Any) -> int:
    """The visitor has seen the agents' messages up to `seq` (read receipts)."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValidationFailed(_("序号无效"), details={"field": "seq"})
    return services.messages_mark_read(conversation=conversation, up_to_seq=min(seq, conversation.last_seq))


# --- files --------------------------------------------------------------------------------------------------


def upload_limit() -> int:
    return int(settings.KEFU_ATTACHMENT_MAX_BYTES)


def accepted_types() -> dict[str, str]:
    """File name suffix → the content type Kefu stores and serves it with (never the browser's claim)."""
    return dict(settings.KEFU_ATTACHMENT_TYPES)


_SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a")}


def checked_file(name: str, content: bytes) -> InboundAttachment:
    """A visitor's file if its type is accepted, its size within the limit and, for images, its bytes are the
    image it claims to be."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "file"
    suffix = ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""
    content_type = accepted_types().get(suffix)
    if content_type is None:
        raise ValidationFailed(_("不支持这种文件类型"), code="file_type", details={"field": "file"})
    if not content:
        raise ValidationFailed(_("文件是空的"), code="file_empty", details={"field": "file"})
    if len(content) > upload_limit():
        raise ValidationFailed(_("文件不能超过 %(mb)s MB") % {"mb": upload_limit() // 1048576}, code="file_size",
                               details={"field": "file"})
    signatures = _SIGNATURES.get(content_type)
    if signatures and not content.startswith(signatures):
        raise ValidationFailed(_("图片文件已损坏或不是图片"), code="file_type", details={"field": "file"})
    return InboundAttachment(filename=name, content_type=content_type, content=content)
