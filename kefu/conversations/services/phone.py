"""Calls as conversations of a phone channel: what the customer's history shows of each call (kefu.telephony says
what the call became; this decides what the conversation is).

One conversation per call, kept in step with the call each time it is recomputed: the PBX's events come late, twice
and out of order, so the conversation is derived from the call as a whole, never from the event that just came.
Until a person acts on it (transfers, assigns, closes it or makes an order of it), its agent, status and reason
follow the call; after that, only the call's end (closing it) and its description do. Nothing is ever sent through
a phone channel, and no other channel's message joins a phone conversation (they are found by their own channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kefu.conversations import events
from kefu.conversations.adapters.base import Identity
from kefu.conversations.choices import ChannelKind, CloseReason, ConversationStatus, IdentityKind
from kefu.conversations.models import Activity, Channel, Conversation, Participant
from kefu.conversations.services._common import SUBJECT_MAX, _bump
from kefu.conversations.services.identities import customer_for_identity
from kefu.core.actors import person


class CallOutcome:
    """What a call was, for its conversation."""

    ANSWERED = "answered"  # an agent took it: closed when the call ends
    VOICEMAIL = "voicemail"  # the caller left a message: waits in the team's inbox until someone deals with it
    MISSED = "missed"  # hung up in the queue (after the short-abandon threshold): closed, kept in the history


OUTCOMES = frozenset({CallOutcome.ANSWERED, CallOutcome.VOICEMAIL, CallOutcome.MISSED})
_DIGITS = re.compile(r"[^0-9*#]")


@dataclass(frozen=True)
class PhoneCall:
    """A call as its conversation needs it. `ref` is the PBX's call id; `customer` the one the screen pop found
    for the number (None: found or made by the number on the phone channel); `line` the hotline's name."""

    ref: str
    caller: str
    called: str
    outcome: str
    started_at: datetime
    last_at: datetime
    line: str = ""
    customer: Any = None
    agent: Any = None
    team: Any = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    summary: str = ""  # the call in a few lines: what a work order made of it is given as its description


def phone_channel(*, number: str, name: str = "", team: Any = None) -> Channel:
    """The phone channel of a called number (the hotline), made on first need: `phone-<digits>`, or `phone` for
    calls without a number. An administrator may rename it or give it a team afterwards."""
    digits = _DIGITS.sub("", number or "")[:34]
    found = Channel.objects.filter(kind=ChannelKind.PHONE, config__number=digits).order_by("pk").first()
    if found is not None:
        return found
    code = f"phone-{digits}" if digits else "phone"
    label = (name or (_("电话 %(number)s") % {"number": digits} if digits else _("电话")))[:100]
    try:
        with transaction.atomic():  # two first calls to a new number at once: one makes it, the other finds it
            return Channel.objects.create(code=code, kind=ChannelKind.PHONE, name=label, team=team,
                                          config={"number": digits})
    except IntegrityError:
        return Channel.objects.get(code=code)


def _subject(call: PhoneCall) -> str:
    """What the call was (the channel already names the hotline); a work order made of it starts with it."""
    return {CallOutcome.ANSWERED: _("电话咨询"), CallOutcome.VOICEMAIL: _("语音留言"),
            CallOutcome.MISSED: _("未接来电")}[call.outcome][:SUBJECT_MAX]


def _touched(conversation: Conversation) -> bool:
    """Whether a person has acted on it: then its agent and status are theirs, no longer the call's."""
    return bool(conversation.closed_by_id) or Activity.objects.filter(
        conversation=conversation, actor__isnull=False).exists()


def _derived(call: PhoneCall) -> dict[str, Any]:
    agent = call.agent if call.outcome == CallOutcome.ANSWERED else None
    closed = call.ended_at is not None and call.outcome != CallOutcome.VOICEMAIL
    return {
        "assignee": agent, "assigned_at": call.answered_at if agent else None,
        "status": ConversationStatus.CLOSED if closed else ConversationStatus.OPEN,
        "closed_at": call.ended_at if closed else None,
        "close_reason": (CloseReason.CALL_ENDED if call.outcome == CallOutcome.ANSWERED else CloseReason.CALL_MISSED)
        if closed else "",
    }


def _value(item: Any, name: str | None = None) -> Any:
    """A field's value as compared: a related object by its id."""
    value = getattr(item, name) if name is not None else item
    if name == "assignee":
        return item.assignee_id
    return getattr(value, "pk", value)


def _dated(conversation: Conversation, kind: str, at: datetime) -> None:
    """A history line the call wrote is dated by the call (a backlog arrives days later), not by its arrival."""
    row = Activity.objects.filter(conversation=conversation, kind=kind).order_by("-id").first()
    if row is not None:
        Activity.objects.filter(pk=row.pk).update(created_at=at)


@transaction.atomic
def phone_conversation_sync(*, actor: Any, call: PhoneCall, conversation_id: int | None = None) -> Conversation:
    """Make or bring up to date the conversation of a call (`conversation_id`: the one made before). The caller's
    number finds the customer when the screen pop did not; a number never seen makes a new customer. Run by the
    system, in the transaction that recomputed the call (its row locked: one conversation per call)."""
    if call.outcome not in OUTCOMES:
        raise ValueError(f"unknown call outcome {call.outcome!r}")
    derived = _derived(call)
    if conversation_id is None or not Conversation.objects.filter(pk=conversation_id).exists():
        return _create(actor, call, derived)
    # its own row only: every call of a hotline shares the channel row, which must not be locked with it
    conversation = Conversation.objects.select_for_update(of=("self",)).select_related("channel").get(
        pk=conversation_id)
    wanted: dict[str, Any] = {
        "subject": _subject(call), "context": {**conversation.context, "call_id": call.ref[:100],
                                               "summary": call.summary},
        "last_message_at": max(conversation.last_message_at or call.last_at, call.last_at)}
    before_assignee, before_status = conversation.assignee_id, conversation.status
    if not _touched(conversation):
        wanted.update(derived)
    elif conversation.status == ConversationStatus.OPEN and derived["status"] == ConversationStatus.CLOSED:
        wanted.update({name: derived[name] for name in ("status", "closed_at", "close_reason")})
    fields = [name for name, value in wanted.items() if _value(conversation, name) != _value(value)]
    for name in fields:
        setattr(conversation, name, wanted[name])
    if fields:  # an event that changes nothing of the conversation (a recording's arrival) leaves it as it is
        _bump(conversation, *fields)
    if conversation.created_at != call.started_at:  # an earlier event of the call came late
        Conversation.objects.filter(pk=conversation.pk).update(created_at=call.started_at)
        conversation.created_at = call.started_at
    if conversation.assignee_id and conversation.assignee_id != before_assignee:
        Participant.objects.get_or_create(conversation=conversation, user=conversation.assignee)
        events.announce(events.CONVERSATION_ASSIGNED, conversation, actor=actor, extra_users=(before_assignee or 0,),
                        data={"from_id": before_assignee, "to_id": conversation.assignee_id,
                              "from_team_id": conversation.team_id, "how": "answered"})
        _dated(conversation, events.CONVERSATION_ASSIGNED.name, call.answered_at or call.last_at)
    if before_status == ConversationStatus.OPEN and conversation.status == ConversationStatus.CLOSED:
        _announce_closed(conversation, actor, conversation.closed_at or call.last_at)
    return conversation


def _create(actor: Any, call: PhoneCall, derived: dict[str, Any]) -> Conversation:
    channel = phone_channel(number=call.called, name=call.line, team=call.team)
    digits = _DIGITS.sub("", call.caller)[:200]
    customer = call.customer
    if customer is None:
        identity = Identity(kind=IdentityKind.PHONE, value=digits, name=_("来电客户 %(tail)s") % {"tail": digits[-4:]})
        try:
            with transaction.atomic():
                customer, _row = customer_for_identity(channel=channel, identity=identity)
        except IntegrityError:  # two first calls of a new number at once: the other one made the customer
            customer, _row = customer_for_identity(channel=channel, identity=identity)
    conversation = Conversation.objects.create(
        channel=channel, customer=customer, identity_kind=IdentityKind.PHONE, identity_value=digits,
        subject=_subject(call), team=call.team or channel.team, last_message_at=call.last_at,
        context={"call_id": call.ref[:100], "summary": call.summary}, **derived)
    # the conversation began with the call, however late the PBX told us of it
    Conversation.objects.filter(pk=conversation.pk).update(created_at=call.started_at)
    conversation.created_at = call.started_at
    if conversation.assignee_id:
        Participant.objects.get_or_create(conversation=conversation, user=conversation.assignee)
    events.announce(events.CONVERSATION_OPENED, conversation, actor=actor)
    if conversation.status == ConversationStatus.CLOSED:
        _announce_closed(conversation, actor, conversation.closed_at or call.last_at)
    return conversation


def _announce_closed(conversation: Conversation, actor: Any, at: datetime) -> None:
    events.announce(events.CONVERSATION_CLOSED, conversation, actor=actor,
                    data={"reason": conversation.close_reason, "by_id": person(actor).pk if person(actor) else None})
    _dated(conversation, events.CONVERSATION_CLOSED.name, at)
