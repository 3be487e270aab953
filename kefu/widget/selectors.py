"""Reads of the widget: the chat channel behind a code, whether it is in hours and staffed, its pre-chat fields,
a visitor's conversation and its messages as the visitor sees them, and a visitor's own files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.conversations import selectors as conversation_selectors
from kefu.conversations.adapters.chat import PRECHAT_FIELDS, prechat_config
from kefu.conversations.choices import ChannelKind, ConversationStatus
from kefu.conversations.events import message_info
from kefu.conversations.live import visitor_message
from kefu.conversations.models import Channel, Conversation, Message, MessageAttachment
from kefu.conversations.permissions import ConversationRight
from kefu.core.calendar_specs import spec_from_model
from kefu.core.calendars import is_open, next_open
from kefu.core.policy import rights
from kefu.widget.visitors import Visitor

ONLINE_WINDOW = timedelta(minutes=15)  # an agent with a request this recent counts as available
RECENT_CLOSED = timedelta(hours=24)  # a visitor coming back within this sees (and may still rate) the last chat
HISTORY_LIMIT = 200
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}

FIELD_LABELS = {
    "name": _("您的称呼"),
    "phone": _("手机号码"),
    "email": _("电子邮箱"),
    "question": _("您想咨询的问题"),
}


def chat_channel(code: str) -> Channel | None:
    """The active chat channel of this code, or None."""
    return (Channel.objects.filter(code=str(code)[:40], kind=ChannelKind.CHAT, is_active=True)
            .select_related("calendar").first())


def in_hours(channel: Channel, at: datetime | None = None) -> bool:
    """Inside the channel calendar's working hours (a channel without a calendar is always open)."""
    return is_open(spec_from_model(channel.calendar), at or timezone.now())


def opens_at(channel: Channel, at: datetime | None = None) -> datetime | None:
    """When the channel's hours begin next (None when open now or never)."""
    at = at or timezone.now()
    try:
        when = next_open(spec_from_model(channel.calendar), at)
    except ValueError:
        return None
    return None if when <= at else when


def agents_online(channel: Channel, at: datetime | None = None) -> bool:
    """Somebody can answer now: an active member of the channel's team (anybody, for a channel without a team)
    whose role may reply to conversations, with a signed-in browser that made a request in the last 15 minutes
    (UserSession.last_seen_at, written at most once a minute). Agent states (ready, break) come with routing."""
    from kefu.accounts.models import UserSession

    since = (at or timezone.now()) - ONLINE_WINDOW
    roles = rights().get(ConversationRight.REPLY, frozenset())
    sessions = UserSession.objects.filter(last_seen_at__gte=since, user__is_active=True, user__role__in=roles)
    if channel.team_id:
        sessions = sessions.filter(user__team_id=channel.team_id)
    return sessions.exists()


@dataclass(frozen=True)
class PrechatField:
    name: str
    required: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "required": self.required, "label": str(FIELD_LABELS[self.name])}


def prechat_fields(channel: Channel) -> list[PrechatField]:
    """The pre-chat form of the channel (config "prechat"; default: name, then the question)."""
    return [PrechatField(name, required) for name, required in prechat_config(channel.config)
            if name in PRECHAT_FIELDS]


def visitor_conversation(channel: Channel, visitor: Visitor, *, at: datetime | None = None) -> Conversation | None:
    """The visitor's open conversation on the channel, else the one that ended in the last 24 hours (its history
    and rating prompt are still shown), else None."""
    rows = Conversation.objects.filter(channel=channel, identity_kind=visitor.identity_kind,
                                       identity_value=visitor.identity_value)
    found = rows.filter(status=ConversationStatus.OPEN).order_by("-id").first()
    if found is None:
        since = (at or timezone.now()) - RECENT_CLOSED
        found = (rows.filter(status=ConversationStatus.CLOSED, closed_at__gte=since)
                 .order_by("-closed_at", "-id").first())
    return found


def conversation_summary(conversation: Conversation | None) -> dict[str, Any] | None:
    if conversation is None:
        return None
    summary = {"id": conversation.pk, "status": conversation.status, "csat_score": conversation.csat_score}
    if conversation.bot_state:  # on a channel where the bot answers first: active or handed_over
        summary["bot_state"] = conversation.bot_state
    return summary


def file_url(code: str, attachment: MessageAttachment, token: str) -> str:
    from urllib.parse import quote

    return f"/chat/{code}/files/{attachment.pk}?token={quote(token, safe='')}"


def visitor_row(message: Message, *, code: str, token: str) -> dict[str, Any]:
    """A message as the visitor's widget shows it: the relay's visitor frame shape, with the whole text and the
    files (address, name, type, size, whether it is an image)."""
    files = list(message.attachments.all())
    row = visitor_message(message_info(message, attachments=len(files)))
    row["body"], row["truncated"] = message.body, False
    row["files"] = [{"id": a.pk, "name": a.filename, "type": a.content_type, "size": a.size,
                     "image": a.content_type in IMAGE_TYPES, "url": file_url(code, a, token)} for a in files]
    return row


def history(conversation: Conversation, *, after: int, code: str, token: str) -> list[dict[str, Any]]:
    """The conversation's messages after seq `after`, oldest first, at most 200."""
    rows = conversation_selectors.messages_after(conversation, after, HISTORY_LIMIT)
    return [visitor_row(m, code=code, token=token) for m in rows]


def visitor_attachment(channel: Channel, visitor: Visitor, attachment_id: int) -> MessageAttachment | None:
    """A file of the visitor's own conversations on this channel (None for anybody else's)."""
    return (MessageAttachment.objects.select_related("conversation")
            .filter(pk=attachment_id, conversation__channel=channel,
                    conversation__identity_kind=visitor.identity_kind,
                    conversation__identity_value=visitor.identity_value).first())
