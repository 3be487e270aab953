"""Reads of conversations: the inbox lists (one filter definition for the page and the API), a conversation's
messages after a sequence number, canned replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from kefu.conversations.choices import ConversationStatus, Direction
from kefu.conversations.models import CannedReply, Channel, Conversation, Message
from kefu.core.errors import ValidationFailed
from kefu.core.policy import visible

VIEWS = ("mine", "waiting", "team", "all", "closed")


@dataclass(frozen=True)
class ConversationFilter:
    view: str = ""  # mine (assigned to me, open), waiting (nobody has it, open), team, all, closed
    status: str = ""
    channel: str = ""  # a channel's code
    assignee: str = ""  # a user id, me or none
    team: int | None = None
    customer: int | None = None
    q: str = ""


def parse_filter(params: Any) -> ConversationFilter:
    """The filter from query parameters (web page and API alike); bad values name their parameter."""
    get = params.get
    view = (get("view") or "").strip()
    if view and view not in VIEWS:
        raise ValidationFailed(_("未知的视图：%(v)s") % {"v": view[:20]}, details={"field": "view"})
    status = (get("status") or "").strip()
    if status and status not in ConversationStatus.values:
        raise ValidationFailed(_("未知的状态：%(v)s") % {"v": status[:20]}, details={"field": "status"})
    assignee = (get("assignee") or "").strip()
    if assignee and assignee not in ("me", "none") and not assignee.isdigit():
        raise ValidationFailed(_("处理人须为用户编号、me 或 none"), details={"field": "assignee"})
    numbers = {}
    for name in ("team", "customer"):
        raw = (get(name) or "").strip()
        if raw and not raw.isdigit():
            raise ValidationFailed(_("%(name)s 须为数字编号") % {"name": name}, details={"field": name})
        numbers[name] = int(raw) if raw else None
    return ConversationFilter(view=view, status=status, channel=(get("channel") or "").strip()[:40],
                              assignee=assignee, team=numbers["team"], customer=numbers["customer"],
                              q=(get("q") or "").strip()[:100])


def conversation_list(actor: Any, filters: ConversationFilter) -> QuerySet[Conversation]:
    qs = visible(actor, Conversation.objects.all()).select_related("channel", "customer", "assignee", "team")
    if filters.view == "mine":
        qs = qs.filter(assignee_id=actor.pk, status=ConversationStatus.OPEN)
    elif filters.view == "waiting":
        qs = qs.filter(assignee__isnull=True, status=ConversationStatus.OPEN)
    elif filters.view == "team":
        qs = qs.filter(team_id=actor.team_id, status=ConversationStatus.OPEN)
    elif filters.view == "closed":
        qs = qs.filter(status=ConversationStatus.CLOSED)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.channel:
        qs = qs.filter(channel__code=filters.channel)
    if filters.assignee == "me":
        qs = qs.filter(assignee_id=actor.pk)
    elif filters.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee:
        qs = qs.filter(assignee_id=int(filters.assignee))
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.customer:
        qs = qs.filter(customer_id=filters.customer)
    if filters.q:
        qs = qs.filter(Q(subject__icontains=filters.q) | Q(customer__name__icontains=filters.q)
                       | Q(identity_value=filters.q))
    return qs.order_by("-last_message_at", "-id")


def messages_after(conversation: Conversation, after_seq: int = 0, limit: int = 200) -> QuerySet[Message]:
    """The conversation's messages after `after_seq`, in order (a client resuming after the last it saw)."""
    return (Message.objects.filter(conversation=conversation, seq__gt=max(0, int(after_seq)))
            .select_related("author").prefetch_related("attachments").order_by("seq")[:limit])


def last_messages(conversation: Conversation, limit: int = 50) -> list[Message]:
    rows = (Message.objects.filter(conversation=conversation).select_related("author")
            .prefetch_related("attachments").order_by("-seq")[:limit])
    return list(reversed(list(rows)))


def inbox_counts(actor: Any) -> dict[str, int]:
    """Open conversations by view, for the inbox tabs and the sidebar."""
    qs = visible(actor, Conversation.objects.filter(status=ConversationStatus.OPEN))
    counts = qs.aggregate(mine=Count("pk", filter=Q(assignee_id=actor.pk)),
                          waiting=Count("pk", filter=Q(assignee__isnull=True)))
    return {k: int(v or 0) for k, v in counts.items()}


def unanswered(conversation: Conversation) -> int:
    """Customer messages after the agents' last message."""
    last_out = (Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND)
                .order_by("-seq").values_list("seq", flat=True).first() or 0)
    return Message.objects.filter(conversation=conversation, direction=Direction.INBOUND, seq__gt=last_out).count()


def canned_replies(actor: Any) -> QuerySet[CannedReply]:
    return CannedReply.objects.filter(Q(team__isnull=True) | Q(team_id=actor.team_id)).order_by("shortcut")


def channel_by_code(code: str) -> Channel | None:
    return Channel.objects.filter(code=code).select_related("team").first()

