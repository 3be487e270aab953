"""REST API of telephony: the PBX reports what happens to calls (the CTI event contract, docs/telephony.md); agents
command the PBX (click-to-dial, transfer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import Id, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.core.policy import visible
from kefu.customers.models import Customer
from kefu.telephony import commands
from kefu.telephony.choices import CtiEvent
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.events import CallInfo, call_info
from kefu.telephony.models import Call
from kefu.telephony.permissions import TelephonyRight
from kefu.telephony.services import cti_event_record

router = Router()


class CtiEventBody(InSchema):
    call_id: str = Field(min_length=1, max_length=100, description="The PBX's id of the call (its uniqueid, "
                                                                   "its UUID)")
    event: CtiEvent
    at: datetime = Field(description="When it happened, ISO 8601; without an offset it is read in the centre's "
                                     "time zone. Late events (hours or days) are accepted")
    caller: str = Field(max_length=40, description="The calling number")
    called: str = Field(max_length=40, description="The number called")
    queue: str | None = Field(default=None, max_length=40, description="A queue code (kefu queue list)")
    agent: str | None = Field(default=None, max_length=150, description="The agent's user name")
    recording_url: str | None = Field(default=None, max_length=500, description="Where the recording is")
    pbx_channel: str | None = Field(default=None, max_length=200, description="The caller's leg as the PBX names "
                                    "it (Asterisk's channel, FreeSWITCH's UUID): what a transfer moves")


class CtiEventOut(Schema):
    call_id: str
    event: str
    duplicate: bool = Field(description="The same call, event and time was reported before: nothing changed")
    call: CallInfo


@router.post("/cti/events", response=CtiEventOut, summary="Report a call event from the PBX (CTI)")
@requires(TelephonyRight.REPORT)
def cti_event(request: HttpRequest, payload: CtiEventBody) -> Any:
    """Idempotent by (`call_id`, `event`, `at`): a retry gets the same answer with `duplicate: true`."""
    recorded = cti_event_record(actor=request.auth, data=CtiEventIn(  # type: ignore[attr-defined]
        call_id=payload.call_id, event=payload.event, at=payload.at, caller=payload.caller,
        called=payload.called, queue=payload.queue or "", agent=payload.agent or "",
        recording_url=payload.recording_url or "", pbx_channel=payload.pbx_channel or ""))
    return {"call_id": recorded.call.call_id, "event": recorded.event.event, "duplicate": recorded.duplicate,
            "call": call_info(recorded.call)}


# --- IVR: the PBX asks what to do next at each turn of a call (docs/telephony.md, "IVR") ------------------------


class IvrNextBody(InSchema):
    call_id: str = Field(min_length=1, max_length=100, description="The PBX's id of the call")
    caller: str = Field(max_length=40, description="The calling number (empty when withheld)")
    called: str = Field(min_length=1, max_length=40, description="The number dialled: it picks the IVR flow")
    node: str | None = Field(default=None, max_length=40, description="The menu the caller is in (the last "
                                                                      "answer's `node`); empty: the call has just "
                                                                      "arrived")
    digits: str | None = Field(default=None, max_length=20, pattern=r"^[0-9*#]*$",
                               description="The keys pressed in that menu; \"\" when none came in time")
    attempt: int = Field(default=0, ge=0, le=20, description="The last answer's `attempt`, sent back")
    speech: str | None = Field(default=None, max_length=500,
                               description="What the caller said in `node`, where the PBX recognises speech: in a "
                                           "menu that takes questions, answered from the knowledge base "
                                           "(reason kb_answer) or sent to people (kb_handoff)")


class IvrStepOut(Schema):
    call_id: str
    action: str = Field(description="play, queue, voicemail, transfer, hangup or reject")
    reason: str = Field(description="Why: start, choice, timeout, invalid, retries_exhausted, order_status, "
                                    "kb_answer, kb_handoff, out_of_hours, holiday, blacklisted, …")
    prompt: str = Field(description="Everything to say, for text-to-speech")
    notice: str = Field(description="The sentence to say before `audio` when playing the recording instead")
    audio: str = Field(description="The menu's recording as the PBX names it; empty: speak `prompt`")
    node: str = Field(description="With play: the menu to send back with the digits")
    attempt: int
    timeout_seconds: int | None = Field(description="With play: how long to wait for a key")
    digits_allowed: str = Field(description="With play: the keys that have a choice")
    queue: str | None = Field(description="With queue: the queue code")
    number: str | None = Field(description="With transfer: the number to transfer to")


@router.post("/ivr/next", response=IvrStepOut, summary="Ask what the PBX does next with a call in the IVR")
@requires(TelephonyRight.REPORT)
def ivr_next(request: HttpRequest, payload: IvrNextBody) -> Any:
    """Stateless and idempotent: the same question gets the same answer, so a PBX may retry freely. A caller on
    the blacklist gets `reject`; a number without an active flow gets 422 `no_flow` (keep the PBX's own route).
    An order-status lookup that finds the caller's customer is written to the audit log (this token, the
    customer, the call)."""
    from kefu.core.errors import ValidationFailed
    from kefu.telephony.ivr_selectors import Asker, NextStepIn, NoFlow, ivr_next_step

    question = NextStepIn(call_id=payload.call_id.strip(), caller=payload.caller.strip(),
                          called=payload.called.strip(), node=(payload.node or "").strip().lower(),
                          digits=payload.digits, attempt=payload.attempt, speech=payload.speech or "")
    try:
        token = getattr(request, "api_token", None)  # None: a signed-in session trying the API
        step = ivr_next_step(question, asker=Asker(
            actor=request.auth, token_id=token.pk if token else None,  # type: ignore[attr-defined]
            token_name=token.name if token else "", ip=request.META.get("REMOTE_ADDR")))
    except NoFlow:
        raise ValidationFailed(_("没有启用的语音导航接听这个号码：%(n)s") % {"n": question.called[:40]},
                               code="no_flow", details={"field": "called"}, status=422) from None
    return step.as_dict(question.call_id)


# --- commands out to the PBX (docs/telephony.md, "Click-to-dial and transfer") -----------------------------------


class CallDialIn(InSchema):
    number: str = Field(max_length=40, description="The number to call: digits, a leading + and * #; spaces, "
                                                   "dashes, dots and brackets are ignored")
    customer_id: Id | None = Field(default=None, description="The customer being called (named in the audit log)")


class CallDialOut(Schema):
    number: str = Field(description="The number as dialled")
    extension: str = Field(description="Your extension, which the PBX rings first")
    reference: str = Field(description="The PBX's reference of the command")


class CallTransferIn(InSchema):
    to: str = Field(max_length=40, description="An extension, a phone number, or a phone queue's code")


class CallTransferOut(Schema):
    to: str
    queue: str | None = Field(description="The queue's code when `to` is a queue")
    reference: str
    call: CallInfo


@router.post("/calls/dial", response=CallDialOut, summary="Click-to-dial: ring my extension, then the number")
@requires(TelephonyRight.DIAL)
def call_dial(request: HttpRequest, payload: CallDialIn) -> Any:
    """Needs a PBX (KEFU_PBX_URL) and an extension in your staff record. The PBX rings your phone; when you pick
    up, it calls the number. Refused by the PBX or not reachable: 409 with `pbx_refused` / `pbx_unavailable`."""
    actor = request.auth  # type: ignore[attr-defined]
    customer = None
    if payload.customer_id is not None:
        customer = visible(actor, Customer.objects.filter(merged_into__isnull=True)).filter(
            pk=payload.customer_id).first()
        if customer is None:
            raise NotFound(_("客户不存在"), details={"field": "customer_id"})
    dialled = commands.call_dial(actor=actor, number=payload.number, customer=customer)
    return {"number": dialled.number, "extension": dialled.extension, "reference": dialled.reference}


@router.post("/calls/{call_id}/transfer", response=CallTransferOut, summary="Transfer an answered call")
@requires(TelephonyRight.TRANSFER)
def call_transfer(request: HttpRequest, call_id: PathId, payload: CallTransferIn) -> Any:
    """Blind transfer: the caller goes to `to` and your leg ends. The call's agent, or a lead who sees the call."""
    actor = request.auth  # type: ignore[attr-defined]
    call = visible(actor, Call.objects.select_related("queue")).filter(pk=call_id).first()
    if call is None:
        raise NotFound(_("通话不存在"))
    done = commands.call_transfer(actor=actor, call=call, to=payload.to)
    return {"to": done.to, "queue": done.queue or None, "reference": done.reference, "call": call_info(done.call)}
