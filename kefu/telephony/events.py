"""Call events announced through the outbox: `call.changed` each time a PBX event moves a call on (the agent's
desktop pops the caller's card on `ringing`; wallboards count from it). Payloads carry the call after the change
and the PBX event that changed it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from kefu.core.events import Audience, emit, event_type
from kefu.core.policy import rights
from kefu.telephony.models import Call, CallEvent


class CallInfo(BaseModel):
    id: int
    call_id: str
    caller: str
    called: str
    queue: str | None  # the queue's code
    agent_id: int | None
    state: str
    offered_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: float | None
    talk_seconds: float
    hold_seconds: float
    conversation_id: int | None = None  # its phone conversation (answered, voicemail, missed); null: none (yet)
    version: int


class CtiInfo(BaseModel):
    event: str
    at: datetime
    agent_id: int | None


class CallChanged(BaseModel):
    call: CallInfo
    cti: CtiInfo


CALL_CHANGED = event_type(
    "call.changed", version=1, schema=CallChanged, object_type="telephony.call",
    description="A PBX event moved a call on (`cti.event`: offered, queued, ringing, answered, held, resumed, "
                "transferred, ended, abandoned, voicemail, recording); `call` is the call after it.")


def call_info(call: Call) -> dict[str, object]:
    return {"id": call.pk, "call_id": call.call_id, "caller": call.caller, "called": call.called,
            "queue": call.queue.code if call.queue_id and call.queue else None, "agent_id": call.agent_id,
            "state": call.state, "offered_at": call.offered_at, "answered_at": call.answered_at,
            "ended_at": call.ended_at, "wait_seconds": call.wait_seconds, "talk_seconds": call.talk_seconds,
            "hold_seconds": call.hold_seconds, "conversation_id": call.conversation_id, "version": call.version}


def call_audience(call: Call, event: CallEvent) -> list[Audience]:
    """The agent the event names (ringing: the one whose screen pops), the call's agent, the queue's team and
    the roles that see every call."""
    from kefu.telephony.permissions import TelephonyRight

    audience = [Audience.role(role) for role in sorted(rights().get(TelephonyRight.VIEW_ALL, ()))]
    for user_id in (event.agent_id, call.agent_id):
        if user_id and Audience.user(user_id) not in audience:
            audience.append(Audience.user(user_id))
    if call.queue_id and call.queue and call.queue.team_id:
        audience.append(Audience.team(call.queue.team_id))
    return audience


def announce_call(call: Call, event: CallEvent) -> None:
    emit(CALL_CHANGED, obj=call, payload={"call": call_info(call),
                                          "cti": {"event": event.event, "at": event.at, "agent_id": event.agent_id}},
         audience=call_audience(call, event))


class PutThroughFailed(BaseModel):
    call: CallInfo
    agent_id: int
    extension: str
    code: str  # pbx_not_configured, no_extension, no_pbx_channel, call_ended, pbx_refused, pbx_unavailable, …
    error: str  # what went wrong, in the centre's language


CALL_PUT_THROUGH_FAILED = event_type(
    "call.put_through_failed", version=1, schema=PutThroughFailed, object_type="telephony.call",
    description="An agent accepted a routed call but the PBX could not be told to put the caller through to "
                "their extension (`code`: pbx_not_configured, no_extension, no_pbx_channel, no_call, call_ended, "
                "pbx_refused, pbx_unavailable); to that agent. The PBX's own queue may still ring them.")


def announce_put_through_failed(call: Call, *, agent_id: int, extension: str, code: str, error: str) -> None:
    emit(CALL_PUT_THROUGH_FAILED, obj=call, audience=[Audience.user(agent_id)], payload={
        "call": call_info(call), "agent_id": agent_id, "extension": extension, "code": code, "error": error})
