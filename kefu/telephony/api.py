"""REST API of telephony: the PBX reports what happens to calls (the CTI event contract, docs/telephony.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import InSchema
from kefu.telephony.choices import CtiEvent
from kefu.telephony.events import CallInfo, call_info
from kefu.telephony.permissions import TelephonyRight
from kefu.telephony.services import CtiEventIn, cti_event_record

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
        recording_url=payload.recording_url or ""))
    return {"call_id": recorded.call.call_id, "event": recorded.event.event, "duplicate": recorded.duplicate,
            "call": call_info(recorded.call)}
