"""The PBX listener (`kefu pbx listen`): reads the PBX's event stream through its adapter (Asterisk's AMI,
FreeSWITCH's event socket) and records each call event as the CTI API would. A queue or agent Kefu does not know
is left out of the event (and logged once), not a reason to lose the call; the database being away holds the
stream until it is back; a lost connection is reopened with backoff."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import InterfaceError, OperationalError

from kefu.core.errors import ValidationFailed
from kefu.telephony.adapters import ami, esl
from kefu.telephony.adapters.base import PbxError
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.selectors import username_for_extension
from kefu.telephony.services import PBX_ACTOR as PBX
from kefu.telephony.services import cti_event_record

log = logging.getLogger(__name__)

BACKOFF = (1, 2, 5, 10, 30, 60)  # seconds between reconnections, then every minute
_warned: set[tuple[str, str]] = set()


def _known_agent(data: CtiEventIn) -> CtiEventIn:
    """A PBX that names agents by their extension (FreeSWITCH's `1001@default`): the user with that extension."""
    username = username_for_extension(data.agent) if data.agent else None
    return dataclasses.replace(data, agent=username) if username else data


def record(data: CtiEventIn, *, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Record one event from the PBX. False when it cannot be (logged). Waits while the database is away."""
    for attempt in range(len(BACKOFF) + 1):
        try:
            cti_event_record(actor=PBX, data=data)
            return True
        except ValidationFailed as exc:
            field = (exc.details or {}).get("field", "")
            if field == "agent" and data.agent and (fixed := _known_agent(data)) != data:
                data = fixed
                continue
            if field in ("queue", "agent") and getattr(data, field):
                if (field, getattr(data, field)) not in _warned:
                    _warned.add((field, getattr(data, field)))
                    log.warning("PBX %s %r is not known to Kefu: its events are kept without it", field,
                                getattr(data, field))
                data = dataclasses.replace(data, **{field: ""})
                continue
            log.warning("PBX event %s of call %s not recorded: %s", data.event, data.call_id, exc.message)
            return False
        except (OperationalError, InterfaceError):
            wait = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            log.exception("database unavailable; PBX event %s of call %s held %ss", data.event, data.call_id, wait)
            sleep(wait)
    return False


def consume(messages: Iterable[dict[str, str]], translate: Callable[[dict[str, str]], CtiEventIn | None]
            = ami.translate) -> int:
    """Record the call events among a PBX's messages; returns how many were recorded."""
    recorded = 0
    for message in messages:
        cti = translate(message)
        if cti is not None and record(cti):
            recorded += 1
    return recorded


def _listen(open_session: Callable[[], Any], translate: Callable[[dict[str, str]], CtiEventIn | None], where: str,
            *, stop: Callable[[], bool], sleep: Callable[[float], None]) -> int:
    """Sign in, record events until the connection ends, then reconnect with backoff, until `stop()`."""
    recorded, failures = 0, 0
    while not stop():
        try:
            with open_session() as pbx:
                failures = 0
                log.info("connected to %s", where)
                stream: Iterator[dict[str, str]] = pbx.events()
                for message in stream:
                    cti = translate(message)
                    if cti is not None and record(cti, sleep=sleep):
                        recorded += 1
                    if stop():
                        break
        except PbxError as exc:
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            log.warning("%s: %s; reconnecting in %ss", where, exc, wait)
            if not stop():
                sleep(wait)
    return recorded


def listen_ami(*, host: str, port: int, username: str, secret: str, stop: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep, session: Any = ami.AmiSession) -> int:
    """Asterisk: the AMI's events, until `stop()`."""
    return _listen(lambda: session(host, port, username, secret), ami.translate, f"the AMI at {host}:{port}",
                   stop=stop, sleep=sleep)


def listen_esl(*, host: str, port: int, password: str, stop: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep, session: Any = esl.EslSession) -> int:
    """FreeSWITCH: the event socket's events, until `stop()`."""
    return _listen(lambda: session(host, port, password), esl.translate, f"the event socket at {host}:{port}",
                   stop=stop, sleep=sleep)
