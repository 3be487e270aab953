"""Rights on conversations and channels, and which conversations each person may see (registered with the
policy). Agents see their team's inbox and what is theirs; team leads their teams'; supervisors everything."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from kefu.accounts.choices import FRONT_LINE, LEADS, Role
from kefu.core.policy import has_right, register_rights, register_scope, role_of


class ConversationRight(StrEnum):
    VIEW = "conversation.view"
    VIEW_ALL = "conversation.view_all"
    REPLY = "conversation.reply"  # write to the customer, pick up, transfer, close, make an order
    ASSIGN = "conversation.assign"  # give a conversation to a colleague (a lead's dispatching)
    CHANNEL_MANAGE = "channel.manage"  # set up channels: mailboxes, official accounts, webhooks, widgets
    CANNED_MANAGE = "canned_reply.manage"


SUPERVISORS = {Role.SHIFT_LEAD, Role.QA, Role.MANAGER, Role.ADMIN}


def register() -> None:
    from kefu.conversations.models import Conversation

    register_rights({
        ConversationRight.VIEW: FRONT_LINE | {Role.QA},
        ConversationRight.VIEW_ALL: SUPERVISORS,
        ConversationRight.REPLY: FRONT_LINE,
        ConversationRight.ASSIGN: LEADS,
        ConversationRight.CHANNEL_MANAGE: {Role.MANAGER, Role.ADMIN},
        ConversationRight.CANNED_MANAGE: LEADS,
    })
    register_scope(Conversation, visible_to=visible_conversations, sees=_sees, sees_alike=_alike)




def visible_conversations(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    if has_right(user, ConversationRight.VIEW_ALL):
        return queryset
    if not has_right(user, ConversationRight.VIEW):
        return queryset.none()
    teams = set(user.team_ids(led=role_of(user) == Role.TEAM_LEAD))
    mine = Q(assignee_id=user.pk) | Q(participants__user_id=user.pk)
    if teams:
        mine |= Q(team_id__in=teams)
    return queryset.filter(mine).distinct()


def _sees(user: Any, conversation: Any) -> bool | None:
    if has_right(user, ConversationRight.VIEW_ALL):
        return True
    if not has_right(user, ConversationRight.VIEW):
        return False
    if conversation.assignee_id == user.pk or (user.team_id and user.team_id == conversation.team_id):
        return True
    return None  # a participant, or a lead of another of their teams: the database decides


def _alike(user: Any, conversation: Any) -> tuple[Any, ...]:
    return (role_of(user), conversation.assignee_id == user.pk, user.team_id == conversation.team_id, user.pk
            if role_of(user) == Role.TEAM_LEAD else None)
