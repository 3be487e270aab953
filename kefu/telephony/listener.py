"""The PBX listener (`kefu pbx listen`): reads the PBX's event stream through its adapter and records each call
event as the CTI API would. A queue or agent Kefu does not know is left out of the event (and logged once), not a
reason to lose the call; the database being away holds the stream until it is back; a lost connection is
reopened with backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import InterfaceError, OperationalError

from kefu.core.errors import ValidationFailed
from kefu.telephony.adapters.ami import AmiError, AmiSession, CtiFromPbx, translate
from kefu.telephony.services import PBX_ACTOR as PBX
from kefu.telephony.services import CtiEventIn, cti_event_record

log = logging.getLogger(__name__)

BACKOFF = (1, 2, 5, 10, 30, 60)  # seconds between reconnections, then every minute
_warned: set[tuple[str, str]] = set()


def record(cti: CtiFromPbx, *, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Record one event from the PBX. False when it cannot be (logged). Waits while the database is away."""
    data = CtiEventIn(call_id=cti.call_id, event=cti.event, at=cti.at, caller=cti.caller, called=cti.called,
                      queue=cti.queue, agent=cti.agent, recording_url=cti.recording_url)
    for attempt in range(len(BACKOFF) + 1):
        try:
            cti_event_record(actor=PBX, data=data)
            return True
        except ValidationFailed as exc:
            field = (exc.details or {}).get("field", "")
            if field in ("queue", "agent") and getattr(data, field):
                if (field, getattr(data, field)) not in _warned:
                    _warned.add((field, getattr(data, field)))
                    log.warning("PBX %s %r is not known to Kefu: its events are kept without it", field,
                                getattr(data, field))
                data = CtiEventIn(**{**data.__dict__, field: ""})
                continue
            log.warning("PBX event %s of call %s not recorded: %s", cti.event, cti.call_id, exc.message)
            return False
        except (OperationalError, InterfaceError):
            wait = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            log.exception("database unavailable; PBX event %s of call %s held %ss", cti.event, cti.call_id, wait)
            sleep(wait)
    return False


def consume(messages: Iterable[dict[str, str]]) -> int:
    """Record the call events among AMI messages; returns how many were recorded."""
    recorded = 0
    for message in messages:
        cti = translate(message)
        if cti is not None and record(cti):
            recorded += 1
    return recorded


def listen_ami(*, host: str, port: int, username: str, secret: str, stop: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep, session: Any = AmiSession) -> int:
    """Sign in, record events until the connection ends, then reconnect with backoff, until `stop()`."""
    recorded, failures = 0, 0
    while not stop():
        try:
            with session(host, port, username, secret) as ami:
                failures = 0
                log.info("connected to the AMI at %s:%s", host, port)
                for message in ami.events():
                    cti = translate(message)
                    if cti is not None and record(cti, sleep=sleep):
                        recorded += 1
                    if stop():
                        break
        except AmiError as exc:
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            log.warning("AMI at %s:%s: %s; reconnecting in %ss", host, port, exc, wait)
            if not stop():
                sleep(wait)
    return recorded
