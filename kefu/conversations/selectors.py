"""Reads of conversations: the inbox lists (one filter definition for the page and the API), a conversation's
messages after a sequence number, what the inbox shows beside each row (last message, unread), a customer's and an
order's conversations, canned replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from kefu.conversations.choices import BotState, ConversationStatus, Direction
from kefu.conversations.models import Activity, CannedReply, Channel, Conversation, Message, Participant
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
        qs = qs.filter(assignee__isnull=True, status=ConversationStatus.OPEN).exclude(bot_state=BotState.ACTIVE)
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


def messages_before(conversation: Conversation, before_seq: int, limit: int = 50) -> list[Message]:
    """The `limit` messages just before `before_seq`, in order (scrolling back in a long conversation)."""
    rows = (Message.objects.filter(conversation=conversation, seq__lt=max(0, int(before_seq)))
            .select_related("author").prefetch_related("attachments").order_by("-seq")[:limit])
    return list(reversed(list(rows)))


def conversation_activity(conversation_id: int, limit: int = 200) -> list[Activity]:
    """Who picked the conversation up, transferred (with the note), assigned or closed it, and the order made of
    it, oldest first (the latest `limit`)."""
    rows = (Activity.objects.filter(conversation_id=conversation_id).select_related("actor", "team")
            .order_by("-created_at", "-id")[:limit])
    return list(reversed(list(rows)))


def inbox_counts(actor: Any) -> dict[str, int]:
    """Open conversations by view, for the inbox tabs and the sidebar."""
    qs = visible(actor, Conversation.objects.filter(status=ConversationStatus.OPEN))
    counts = qs.aggregate(mine=Count("pk", filter=Q(assignee_id=actor.pk)),
                          waiting=Count("pk", filter=Q(assignee__isnull=True) & ~Q(bot_state=BotState.ACTIVE)))
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



def with_unread(qs: QuerySet[Conversation], actor: Any) -> QuerySet[Conversation]:
    """Annotates `unread`: the customer's messages after the last one `actor` has read (all of them while the
    actor has not taken part). One correlated count per row, on the (conversation, seq) index."""
    read = Participant.objects.filter(conversation_id=OuterRef(OuterRef("pk")), user_id=actor.pk).values(
        "last_read_seq")[:1]
    unread = (Message.objects.filter(conversation_id=OuterRef("pk"), direction=Direction.INBOUND,
                                     seq__gt=Coalesce(Subquery(read), 0))
              .order_by().values("conversation_id").annotate(n=Count("pk")).values("n"))
    return qs.annotate(unread=Coalesce(Subquery(unread), 0))


def last_message_of(conversation_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest message of each conversation (its `last_seq`), as plain values, in one query."""
    if not conversation_ids:
        return {}
    rows = (Message.objects.filter(conversation_id__in=conversation_ids, seq=F("conversation__last_seq"))
            .values("conversation_id", "direction", "author_kind", "body", "kind", "automated", "delivery_state",
                    "created_at"))
    return {row["conversation_id"]: row for row in rows}


def ticket_conversations(ticket_id: int, limit: int = 20) -> list[Conversation]:
    """The conversations an order was made from or linked to, newest first (the caller checks the order)."""
    return list(Conversation.objects.filter(ticket_id=ticket_id).select_related("channel", "assignee")
                .order_by("-created_at", "-id")[:limit])


def customer_conversations(customer_id: int, *, exclude: int | None = None, limit: int = 5) -> list[Conversation]:
    """A customer's latest conversations on every channel (the caller checks the customer)."""
    qs = Conversation.objects.filter(customer_id=customer_id).select_related("channel")
    if exclude:
        qs = qs.exclude(pk=exclude)
    return list(qs.order_by("-created_at", "-id")[:limit])


def canned_team_ids(actor: Any) -> set[int] | None:
    """The teams whose canned replies `actor` manages; None: every team's and everybody's (supervisors)."""
    from kefu.conversations.permissions import ConversationRight
    from kefu.core.policy import has_right

    if has_right(actor, ConversationRight.VIEW_ALL):
        return None
    return set(actor.team_ids())


def canned_replies_managed(actor: Any) -> QuerySet[CannedReply]:
    """The canned replies `actor` may edit: their teams' (a team lead), or all of them (supervisors)."""
    qs = CannedReply.objects.select_related("team").order_by("team__name", "shortcut")
    teams = canned_team_ids(actor)
    return qs if teams is None else qs.filter(team_id__in=teams)
