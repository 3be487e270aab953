"""Pick-up (claimed atomically), assignment by a lead, transfer to a colleague or a team, closing with a reason, the
customer's rating."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.conversations import events
from kefu.conversations.choices import (
    BotState,
    CloseReason,
    ConversationStatus,
)
from kefu.conversations.models import (
    Conversation,
    Participant,
)
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services._common import (
    CHANNEL_ACTOR,
    _bump,
    _check_version,
    _lock,
    _require,
    _stop_first_response_clock,
    _text,
)
from kefu.conversations.services.lines import line_back, line_end, line_taken, lock_contact
from kefu.core.actors import person
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.routing.services import ROUTING

log = logging.getLogger("kefu.conversations.services")


def conversation_claim(*, actor: Any, conversation: Conversation, at: datetime | None = None) -> Conversation:
    """An agent picks up a waiting conversation. Atomic: of two agents picking up at once, one gets it and the
    other a conflict naming who has it."""
    _require(actor, ConversationRight.REPLY, conversation)
    at = at or timezone.now()
    with transaction.atomic():
        lock_contact(conversation.pk)  # a chat in line: one pick-up or accept at a time
        taken = Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True,
                                            status=ConversationStatus.OPEN).update(
            assignee=actor, assigned_at=at, version=F("version") + 1,
            bot_state=Case(When(bot_state=BotState.ACTIVE, then=Value(BotState.HANDED_OVER)),
                           default=F("bot_state")))  # a person took it from the bot
        if not taken:
            current = Conversation.objects.select_related("assignee").get(pk=conversation.pk)
            if current.status == ConversationStatus.CLOSED:
                raise Conflict(_("会话已结束"), code="conversation_closed")
            who = str(current.assignee) if current.assignee else ""
            raise Conflict(_("会话已被 %(name)s 接入") % {"name": who}, code="already_assigned",
                           details={"assignee_id": current.assignee_id})
        conversation = Conversation.objects.select_related("channel").get(pk=conversation.pk)
        Participant.objects.get_or_create(conversation=conversation, user=actor)
        line_taken(conversation, actor, at)
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
    if actor is not ROUTING:
        lock_contact(conversation.pk)
    conversation = _lock(conversation)
    _check_version(conversation, expected_version)
    if conversation.status == ConversationStatus.CLOSED:
        raise Conflict(_("会话已结束"), code="conversation_closed")
    if assignee is not None:
        _check_agent(assignee)
    before = conversation.assignee_id
    conversation.assignee, conversation.assigned_at = assignee, (at or timezone.now()) if assignee else None
    fields = ["assignee", "assigned_at"]
    if assignee is not None and conversation.bot_state == BotState.ACTIVE:  # a person takes it from the bot
        conversation.bot_state = BotState.HANDED_OVER
        fields.append("bot_state")
    _bump(conversation, *fields)
    if assignee is not None:
        Participant.objects.get_or_create(conversation=conversation, user=assignee)
    if actor is not ROUTING:  # when routing gives it, its contact is already the agent's
        if assignee is not None:
            line_taken(conversation, assignee, conversation.assigned_at)
        elif before is not None:
            line_back(conversation, at or timezone.now())
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
    lock_contact(conversation.pk)
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
    if to_user is None:
        line_back(conversation, at or timezone.now())
    else:
        line_taken(conversation, to_user, conversation.assigned_at)
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
    lock_contact(conversation.pk)
    conversation = _lock(conversation)
    if conversation.status == ConversationStatus.CLOSED:
        return conversation  # closing twice (a double click, the customer and the agent at once) is one close
    conversation.status, conversation.closed_at = ConversationStatus.CLOSED, at
    conversation.closed_by, conversation.close_reason = person(actor), reason
    conversation.close_note = _text(note, field="note", label=_("结束说明"), max_length=500, required=False)
    _bump(conversation, "status", "closed_at", "closed_by", "close_reason", "close_note")
    _stop_first_response_clock(conversation, at, cancel=True)
    line_end(conversation, at)
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
