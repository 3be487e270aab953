"""Every write of telephony: a CTI event from the PBX recorded once, and the call it belongs to brought up to date.

A call is recomputed from all of its events each time one arrives, in the order the PBX stamped them: an event
that comes late (hours or days, after a PBX outage) or out of order ends in the same call as if it had come on time,
and counts in the interval of its own time. The same (call, event, at) again is one event: the answer says
`duplicate` and nothing changes. One transaction per event, with the call row locked: two workers reporting the
same call never lose each other's event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.accounts.models import User
from kefu.core.actors import system_actor
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.routing.selectors import queue_by_code
from kefu.routing.services import interval_of, interval_write
from kefu.telephony import events
from kefu.telephony.choices import EVENT_ORDER, CallState, CtiEvent
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.conversation import call_conversation_follow
from kefu.telephony.models import Call, CallEvent
from kefu.telephony.permissions import TelephonyRight
from kefu.telephony.regions import region_label
from kefu.telephony.stats import call_figures

PBX_ACTOR = system_actor("pbx", gettext_lazy("系统：电话系统"))
FUTURE_SLACK = timedelta(minutes=5)  # a PBX clock a little ahead of ours is accepted, a day ahead is not
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
_URL = re.compile(r"^https?://\S{1,490}$")


@dataclass(frozen=True)
class Recorded:
    call: Call
    event: CallEvent
    duplicate: bool


def _text(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationFailed(_("%(field)s 不能为空") % {"field": field}, details={"field": field})
    if len(text) > max_length or not _PRINTABLE.match(text):
        raise ValidationFailed(_("%(field)s 必须是不超过 %(n)s 个字符的文本") % {"field": field, "n": max_length},
                               details={"field": field})
    return text


def _moment(value: datetime, now: datetime) -> datetime:
    """The event's time: one without an offset is read in the centre's time zone (many PBXs send local time)."""
    if not isinstance(value, datetime):
        raise ValidationFailed(_("at 必须是 ISO 格式的时间"), details={"field": "at"})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > now + FUTURE_SLACK:
        raise ValidationFailed(_("at 在未来（比服务器时间晚 5 分钟以上）：请检查电话系统的时钟"),
                               details={"field": "at"})
    if value.year < 2000:
        raise ValidationFailed(_("at 早于 2000 年：请检查电话系统的时钟"), details={"field": "at"})
    return value


def _clean(data: CtiEventIn, now: datetime) -> dict[str, Any]:
    event = str(data.event or "")
    if event not in CtiEvent.values:
        raise ValidationFailed(_("event 只能是 %(names)s") % {"names": ", ".join(CtiEvent.values)},
                               details={"field": "event"})
    fields: dict[str, Any] = {
        "call_id": _text(data.call_id, "call_id", 100, required=True), "event": event,
        "at": _moment(data.at, now), "caller": _text(data.caller, "caller", 40),
        "called": _text(data.called, "called", 40)}
    code = _text(data.queue, "queue", 40)
    fields["queue"] = None
    if code:
        fields["queue"] = queue_by_code(code)
        if fields["queue"] is None:
            raise ValidationFailed(_("没有这个队列：%(code)s") % {"code": code}, details={"field": "queue"})
    username = _text(data.agent, "agent", 150)
    fields["agent"] = None
    if username:
        fields["agent"] = User.objects.filter(username=username).first()
        if fields["agent"] is None:
            raise ValidationFailed(_("没有这个坐席账号：%(u)s") % {"u": username}, details={"field": "agent"})
    url = _text(data.recording_url, "recording_url", 500)
    if url and not _URL.match(url):
        raise ValidationFailed(_("recording_url 必须是 http:// 或 https:// 地址"), details={"field": "recording_url"})
    fields["recording_url"] = url
    fields["pbx_channel"] = _text(data.pbx_channel, "pbx_channel", 200)
    return fields


def cti_event_record(*, actor: Any, data: CtiEventIn, now: datetime | None = None) -> Recorded:
    """Record one CTI event (idempotent by call, event and time) and bring its call up to date."""
    if not has_right(actor, TelephonyRight.REPORT):
        raise PermissionDenied(_("您没有权限上报电话事件"))
    fields = _clean(data, now or timezone.now())
    with transaction.atomic():
        queue = fields["queue"]
        call, _created = Call.objects.select_for_update().get_or_create(
            call_id=fields["call_id"],
            defaults={"caller": fields["caller"], "called": fields["called"], "queue": queue,
                      "offered_at": fields["at"], "last_event_at": fields["at"]})
        event, created = CallEvent.objects.get_or_create(
            call=call, event=fields["event"], at=fields["at"],
            defaults={"queue_code": queue.code if queue else "", "agent": fields["agent"],
                      "caller": fields["caller"], "called": fields["called"],
                      "recording_url": fields["recording_url"]})
        if not created:
            return Recorded(call=call, event=event, duplicate=True)
        if fields["pbx_channel"]:
            call.pbx_channel = fields["pbx_channel"]  # saved by summarise
        # the call's conversation before its interval: rows every call shares (the interval) are locked last
        summarise(call, before_counting=lambda done: call_conversation_follow(done, actor=PBX_ACTOR))
        events.announce_call(call, event)
        _agent_follows(call, event, now or timezone.now())
        _routing_follows(call)
    return Recorded(call=call, event=event, duplicate=False)


def _routing_follows(call: Call) -> None:
    """A call in a queue Kefu routes takes its place in line when it is queued, leaves it when the PBX puts it
    through to an agent, and ends with the call (abandoned if nobody answered; a callback request keeps it)."""
    from kefu.routing.services import ContactIn, contact_end, contact_enqueue, contact_taken

    if call.queue_id is None or not call.queue.routed or not call.queue.is_active:
        return
    ref = f"call:{call.call_id}"
    if call.ended_at is not None:
        contact_end(ref=ref, at=call.ended_at)
    elif call.answered_at is not None and call.agent_id:
        contact_taken(ref=ref, agent=call.agent, at=call.answered_at)
    elif call.queued_at is not None:
        from kefu.customers.selectors import customer_find_by_contact

        customer = customer_find_by_contact(PBX_ACTOR, call.caller, kind="phone").first() if call.caller else None
        contact_enqueue(data=ContactIn(ref=ref, queue=call.queue, customer=customer, at=call.queued_at))


AGENT_FOLLOWS_WITHIN = timedelta(minutes=10)  # older events are history: they do not move an agent's state now


def _agent_follows(call: Call, event: CallEvent, now: datetime) -> None:
    """The agent's state follows their calls: answered → on a contact; the call ended → after-contact work
    (which ends by itself). Events from the past (a backlog) and events older than the agent's current state
    change nothing."""
    from kefu.routing.choices import AgentStateKind, StateSource
    from kefu.routing.models import AgentState
    from kefu.routing.services import StateChange, agent_state_set

    if now - event.at > AGENT_FOLLOWS_WITHIN:
        return
    if event.event == CtiEvent.ANSWERED and event.agent_id:
        agent, state = event.agent, AgentStateKind.ON_CONTACT
    elif event.event == CtiEvent.ENDED and call.agent_id and call.answered_at:
        agent, state = call.agent, AgentStateKind.AFTER_CONTACT
    else:
        return
    since = AgentState.objects.filter(user=agent).values_list("since", flat=True).first()
    if since is not None and since > event.at:
        return
    agent_state_set(actor=PBX_ACTOR, user=agent, change=StateChange(state=state, source=StateSource.PBX,
                                                                    at=event.at, note=call.call_id[:200]))


def summarise(call: Call, *, before_counting: Callable[[Call], None] | None = None) -> Call:
    """Recompute the call from all of its events (in the PBX's order) and save it; once it has ended, its
    queue's interval is rewritten (and the one it was counted in before, when a late event moved it)."""
    from kefu.routing.models import Queue

    before = (call.queue_id, call.offered_at) if call.ended_at else None

    rows = sorted(call.events.all(), key=lambda e: (e.at, EVENT_ORDER.get(CtiEvent(e.event), 99), e.pk))
    first = {}
    for row in rows:
        first.setdefault(row.event, row)
    answered = first.get(CtiEvent.ANSWERED)
    endings = [r for r in rows if r.event in (CtiEvent.ENDED, CtiEvent.ABANDONED, CtiEvent.VOICEMAIL)]
    call.offered_at = rows[0].at
    call.last_event_at = rows[-1].at
    call.queued_at = first[CtiEvent.QUEUED].at if CtiEvent.QUEUED in first else None
    call.answered_at = answered.at if answered else None
    call.ended_at = endings[-1].at if endings else None
    call.caller = next((r.caller for r in rows if r.caller), call.caller)
    call.called = next((r.called for r in rows if r.called), call.called)
    call.region = call.region or region_label(call.caller)  # 归属地, once the number is known
    code = next((r.queue_code for r in rows if r.queue_code), "")
    if code and (call.queue is None or call.queue.code != code):
        call.queue = Queue.objects.filter(code=code).first()
    agents = [r.agent_id for r in rows if r.agent_id]
    call.agent_id = (answered.agent_id if answered and answered.agent_id else (agents[-1] if agents else None))
    call.transfers = sum(1 for r in rows if r.event == CtiEvent.TRANSFERRED)
    call.voicemail = CtiEvent.VOICEMAIL in first
    call.recording_url = next((r.recording_url for r in reversed(rows) if r.recording_url), "")
    call.hold_seconds = _hold_seconds(rows, call.ended_at)
    start = call.queued_at or call.offered_at
    abandoned = first.get(CtiEvent.ABANDONED)
    if answered:
        call.wait_seconds = max(0.0, (answered.at - start).total_seconds())
    elif abandoned:
        call.wait_seconds = max(0.0, (abandoned.at - start).total_seconds())
    else:
        call.wait_seconds = None
    call.talk_seconds = (max(0.0, (call.ended_at - answered.at).total_seconds() - call.hold_seconds)
                         if answered and call.ended_at else 0.0)
    call.state = _state(rows, answered is not None)
    call.version += 1
    call.save()
    if before_counting is not None:
        before_counting(call)
    touched = {before} if before and before[0] else set()
    if call.ended_at and call.queue_id:
        touched.add((call.queue_id, call.offered_at))
    # one interval at a time, in a fixed order: two calls moving between the same intervals never deadlock
    for queue_id, offered_at in sorted({(q, interval_of(at)) for q, at in touched}):
        interval_write(queue_id=queue_id, start=offered_at, count=call_figures)
    return call


def _hold_seconds(rows: list[CallEvent], ended_at: datetime | None) -> float:
    total, held_since = 0.0, None
    for row in rows:
        if row.event == CtiEvent.HELD and held_since is None:
            held_since = row.at
        elif row.event in (CtiEvent.RESUMED, CtiEvent.ENDED) and held_since is not None:
            total += max(0.0, (row.at - held_since).total_seconds())
            held_since = None
    if held_since is not None and ended_at is not None and ended_at > held_since:
        total += (ended_at - held_since).total_seconds()
    return total


_STATE_AFTER = {CtiEvent.OFFERED: CallState.OFFERED, CtiEvent.QUEUED: CallState.QUEUED,
                CtiEvent.RINGING: CallState.RINGING, CtiEvent.ANSWERED: CallState.TALKING,
                CtiEvent.HELD: CallState.HELD, CtiEvent.RESUMED: CallState.TALKING}


def _state(rows: list[CallEvent], answered: bool) -> str:
    kinds = {r.event for r in rows}
    if CtiEvent.VOICEMAIL in kinds and not answered:
        return CallState.VOICEMAIL
    if CtiEvent.ABANDONED in kinds and not answered:
        return CallState.ABANDONED
    if CtiEvent.ENDED in kinds or CtiEvent.ABANDONED in kinds:
        return CallState.ENDED
    for row in reversed(rows):
        if row.event in _STATE_AFTER:
            return _STATE_AFTER[CtiEvent(row.event)]
    return CallState.OFFERED
