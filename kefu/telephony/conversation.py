"""A call in the customer's history: each answered call, voicemail and call abandoned in the queue (after the
queue's short-abandon threshold: a wrong number is not history) is a conversation of the phone channel of the
number called, kept in step with the call (kefu.conversations.services.phone decides what it shows).

Run in the transaction that recomputed the call, with its row locked: whatever the order and the repeats of the
PBX's events, a call has one conversation, the same one. A call whose number was withheld has none (nobody to put
it with); it still counts in the statistics. CDR imports write history in bulk and make none."""

from __future__ import annotations

from typing import Any

from kefu.telephony.choices import CallState
from kefu.telephony.models import Call


def _outcome(call: Call) -> str | None:
    from kefu.conversations.services import CallOutcome

    if call.answered_at is not None:
        return CallOutcome.ANSWERED
    if call.state == CallState.VOICEMAIL:
        return CallOutcome.VOICEMAIL
    if call.state == CallState.ABANDONED and call.queue_id and call.wait_seconds is not None \
            and call.wait_seconds >= call.queue.short_abandon_seconds:
        return CallOutcome.MISSED
    return None


def _line_name(call: Call) -> str:
    """The hotline's name: its IVR flow's (by the number called), else the queue's."""
    from kefu.telephony.models import IvrFlow

    digits = "".join(ch for ch in call.called if ch.isdigit())
    flow = IvrFlow.objects.filter(number=digits).values_list("name", flat=True).first() if digits else None
    return str(flow or (call.queue.name if call.queue_id and call.queue else ""))


def _customer(actor: Any, caller: str) -> Any:
    """The caller as the screen pop finds them (VIPs and higher tiers first); None for a number no customer has."""
    from kefu.customers.selectors import customer_find_by_contact

    return customer_find_by_contact(actor, caller, kind="phone").first()


def _summary(call: Call) -> str:
    """The call in a few lines, for the description of a work order made of it (no caller number: the order has
    the customer, and people without the right to see numbers read it too)."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    lines = [_("通话编号：%(id)s") % {"id": call.call_id},
             _("来电时间：%(at)s") % {"at": timezone.localtime(call.offered_at).strftime("%Y-%m-%d %H:%M:%S")}]
    if call.queue_id and call.queue:
        lines.append(_("队列：%(name)s") % {"name": call.queue.name})
    if call.answered_at and call.agent_id:
        lines.append(_("接听坐席：%(name)s") % {"name": call.agent})
    if call.wait_seconds is not None:
        lines.append(_("等待 %(n)s 秒") % {"n": round(call.wait_seconds)})
    if call.answered_at and call.ended_at:
        lines.append(_("通话 %(talk)s 秒，保持 %(hold)s 秒") % {"talk": round(call.talk_seconds),
                                                           "hold": round(call.hold_seconds)})
    if call.voicemail:
        lines.append(_("客户留言"))
    if call.recording_url:
        lines.append(_("录音：%(url)s") % {"url": call.recording_url})
    return "\n".join(lines)


def call_conversation_follow(call: Call, *, actor: Any) -> None:
    """Make or update the call's conversation once the call is one the customer's history shows."""
    from kefu.conversations.services import PhoneCall, phone_conversation_sync
    from kefu.core.errors import ValidationFailed
    from kefu.customers.normalize import clean_contact

    outcome = _outcome(call)
    if outcome is None:
        return
    try:
        clean_contact("phone", call.caller)
    except ValidationFailed:
        return  # withheld or unreadable number
    data = PhoneCall(
        ref=call.call_id, caller=call.caller, called=call.called, outcome=outcome, started_at=call.offered_at,
        last_at=call.last_event_at, line=_line_name(call),
        customer=None if call.conversation_id else _customer(actor, call.caller), agent=call.agent,
        team=call.queue.team if call.queue_id and call.queue else None, answered_at=call.answered_at,
        ended_at=call.ended_at, summary=_summary(call))
    conversation = phone_conversation_sync(actor=actor, call=data, conversation_id=call.conversation_id)
    if call.conversation_id != conversation.pk:
        Call.objects.filter(pk=call.pk).update(conversation=conversation)
        call.conversation = conversation
