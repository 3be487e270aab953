"""Conversations on the customer's 360° timeline, and their move when customers are merged (the customers app's
registries)."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from kefu.conversations.choices import CloseReason, ConversationStatus
from kefu.conversations.models import ChannelIdentity, Conversation
from kefu.conversations.permissions import ConversationRight
from kefu.core.policy import has_right
from kefu.core.prepared import Prepared
from kefu.customers.timeline import MergeContext, TimelineEntry, TimelineQuery

_FIELDS = ("id", "created_at", "closed_at", "status", "subject", "team_id", "assignee_id", "channel__name",
           "channel__kind", "close_reason", "csat_score")


def _rows(customer_id: int, *, limit: int) -> Any:
    return (Conversation.objects.filter(customer_id=customer_id).order_by("-created_at", "-id")
            .values_list(*_FIELDS)[:limit])


_ROWS = Prepared(_rows)


def conversation_link(conversation_id: int) -> str:
    try:
        return reverse("web:conversation_detail", args=[conversation_id])
    except NoReverseMatch:
        return f"/conversations/{conversation_id}/"


def conversations_timeline(query: TimelineQuery) -> list[TimelineEntry]:
    """One entry per conversation (when it started; its end as a second entry once closed), newest first. One
    prepared query. A conversation the viewer may not open shows without a link."""
    user = query.user
    if not has_right(user, ConversationRight.VIEW):
        return []
    sees_all = has_right(user, ConversationRight.VIEW_ALL)
    rows = _ROWS.run(query.customer.pk, limit=query.limit)
    pattern = conversation_link(987654321)
    entries = []
    for pk, started, closed, status, subject, team_id, assignee_id, channel, _kind, reason, score in rows:
        mine = sees_all or assignee_id == user.pk or (team_id is not None and team_id == user.team_id)
        link = pattern.replace("987654321", str(pk)) if mine else ""
        label = subject or channel
        if query.before is None or started < query.before:
            entries.append(TimelineEntry(at=started, kind="conversation.opened", link=link, actor="",
                                         title=_("%(channel)s会话：%(label)s") % {"channel": channel, "label": label}
                                         if subject else _("%(channel)s会话") % {"channel": channel},
                                         key=f"conversation:{pk}"))
        if status == ConversationStatus.CLOSED and closed and (query.before is None or closed < query.before):
            parts = [str(CloseReason(reason).label)] if reason in CloseReason.values else []
            if score:
                parts.append(_("满意度 %(n)s 星") % {"n": score})
            detail = " · ".join(parts)
            entries.append(TimelineEntry(at=closed, kind="conversation.closed", link=link, actor="",
                                         title=_("会话结束（%(channel)s）") % {"channel": channel},
                                         key=f"conversation_closed:{pk}", detail=detail))
    return entries


def conversations_merge(context: MergeContext) -> dict[str, int]:
    """The duplicates' conversations and channel identities move to the target record."""
    moved = Conversation.objects.filter(customer_id__in=context.duplicate_ids).update(
        customer_id=context.target.pk, version=F("version") + 1)
    identities = ChannelIdentity.objects.filter(customer_id__in=context.duplicate_ids).update(
        customer_id=context.target.pk)
    return {"conversations": moved, "channel_identities": identities}
