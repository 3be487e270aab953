"""The one shape of a call event from a PBX, whichever way it comes: the CTI API's body, the Asterisk (AMI) and
FreeSWITCH (ESL) adapters all hand `cti_event_record` a `CtiEventIn`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CtiEventIn:
    """One event as the PBX reports it (the contract of POST /api/v1/cti/events; times are aware or read in the
    centre's time zone)."""

    call_id: str
    event: str
    at: datetime
    caller: str = ""
    called: str = ""
    queue: str = ""
    agent: str = ""
    recording_url: str = ""
    # the caller's leg as the PBX names it (Asterisk's Channel, FreeSWITCH's UUID): what a transfer moves
    pbx_channel: str = ""
