"""Kinds of data with a retention period (保存期限), registered in code; the period of each is a RetentionRule row
administrators edit. A kind names the rows due once older than a cutoff and what removes them. Channels that
bring new kinds of data (call recordings) register theirs when their app is ready:

    register_retention_kind(RetentionKind("call_recordings", _("通话录音"), help=…, default_days=180,
                                          due=recordings_due, apply=recordings_delete))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class RetentionKind:
    """`due(cutoff)`: a queryset of the rows to remove (older than `cutoff`, not yet removed); `apply(ids, now)`
    removes or anonymises those rows inside the caller's transaction and returns how many it handled. A kind
    without them is a placeholder for data Kefu does not hold yet: its rule can be set, nothing runs."""

    key: str
    label: Promise | str
    help: Promise | str
    default_days: int
    action: Promise | str = ""  # what happens to a row: "匿名化" or "删除"
    due: Callable[[datetime], QuerySet[Any]] | None = None
    apply: Callable[[list[int], datetime], int] | None = None

    @property
    def available(self) -> bool:
        return self.due is not None and self.apply is not None


KINDS: dict[str, RetentionKind] = {}


def register_retention_kind(kind: RetentionKind) -> RetentionKind:
    """Declare a kind (replacing an earlier declaration of the same key: a channel that goes live replaces its
    placeholder)."""
    if len(kind.key) > 40 or not kind.key.replace("_", "").isalnum():
        raise ImproperlyConfigured(f"retention kind key {kind.key!r} must be up to 40 letters, digits or _")
    if kind.default_days < 1:
        raise ImproperlyConfigured(f"retention kind {kind.key!r} needs a default of at least one day")
    KINDS[kind.key] = kind
    return kind


# --- the kinds Kefu holds today ------------------------------------------------------------------------------------

def _closed_tickets_due(cutoff: datetime) -> QuerySet[Any]:
    from kefu.privacy.models import TicketScrub
    from kefu.tickets.choices import Status
    from kefu.tickets.models import Ticket

    return (Ticket.objects.filter(status=Status.CLOSED, closed_at__lt=cutoff)
            .exclude(Exists(TicketScrub.objects.filter(ticket_id=OuterRef("pk")))))


def _closed_tickets_apply(ids: list[int], now: datetime) -> int:
    from kefu.privacy.anonymise import scrub_tickets

    return scrub_tickets(ids, cause="retention", now=now)["tickets"]


def _attachments_due(cutoff: datetime) -> QuerySet[Any]:
    from kefu.tickets.choices import Status
    from kefu.tickets.models import Attachment

    return Attachment.objects.filter(created_at__lt=cutoff, ticket__status=Status.CLOSED)


def _attachments_apply(ids: list[int], now: datetime) -> int:
    from kefu.privacy.anonymise import remove_attachments
    from kefu.tickets.models import Attachment

    return remove_attachments(Attachment.objects.filter(pk__in=ids))


def _conversations_due(cutoff: datetime) -> QuerySet[Any]:
    from kefu.conversations.choices import ConversationStatus
    from kefu.conversations.models import Conversation
    from kefu.privacy.models import ConversationScrub

    # not done yet, or continued (and closed again) since it was done
    return (Conversation.objects.filter(status=ConversationStatus.CLOSED, closed_at__lt=cutoff)
            .exclude(Exists(ConversationScrub.objects.filter(conversation_id=OuterRef("pk"),
                                                             at__gte=OuterRef("closed_at")))))


def _conversations_apply(ids: list[int], now: datetime) -> int:
    from kefu.privacy.anonymise import scrub_conversation_texts

    return scrub_conversation_texts(ids, cause="retention", now=now)["conversations"]


def register_builtin_kinds() -> None:
    register_retention_kind(RetentionKind(
        "closed_tickets", _("已关闭工单的个人文字"), default_days=1095, action=_("匿名化"),
        help=_("关闭超过保存天数的工单：标题、描述、消息正文、派单说明与结果、历史中的文字和附件被匿名化；"
               "类型、分类、状态、时间和 SLA 记录保留，统计不变"),
        due=_closed_tickets_due, apply=_closed_tickets_apply))
    register_retention_kind(RetentionKind(
        "attachments", _("工单附件"), default_days=730, action=_("删除"),
        help=_("已关闭工单上、上传超过保存天数的附件：文件从存储中删除"),
        due=_attachments_due, apply=_attachments_apply))
    register_retention_kind(RetentionKind(
        "chat_transcripts", _("会话记录（在线聊天、邮件、微信、短信）"), default_days=365, action=_("匿名化"),
        help=_("结束超过保存天数的会话：消息正文、邮件原文信息、附件、主题、评价留言和结束备注被删除；渠道、"
               "时间、接待人、送达状态和评分保留，统计不变。会话之后又继续的，再次结束后重新计算"),
        due=_conversations_due, apply=_conversations_apply))
    for key, label, days in (("call_recordings", _("通话录音"), 180),):
        if key not in KINDS:  # a channel app that holds this data may have registered the real kind already
            register_retention_kind(RetentionKind(
                key, label, default_days=days, action=_("删除"),
                help=_("该渠道接入后生效；现在 Kefu 还没有这类数据")))
