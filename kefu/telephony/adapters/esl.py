"""FreeSWITCH's event socket (mod_event_socket, inbound mode): a TCP session that authenticates, subscribes to the
events about calls, turns them into CTI events (the contract of POST /api/v1/cti/events), and sends commands out:
click-to-dial (`bgapi originate`) and transfer (`uuid_transfer`). Transport and translation only — recording them
is the services'. Written here rather than taken from an ESL library: those are asyncio or gevent frameworks, and
the plain-text framing is a few lines beside the AMI adapter's synchronous loop.

The call id is the UUID of the caller's leg (the inbound channel), which is also its pbx_channel.

| FreeSWITCH event | CTI event |
|---|---|
| CHANNEL_CREATE / CHANNEL_PARK of an inbound leg | offered (caller, called = the destination number) |
| CUSTOM callcenter::info member-queue-start | queued (queue = CC-Queue before its `@`) |
| CUSTOM callcenter::info agent-offering | ringing (agent = CC-Agent before its `@`) |
| CUSTOM callcenter::info bridge-agent-start | answered (agent) |
| CUSTOM callcenter::info member-queue-end, CC-Cause Cancel | abandoned (any reason: hung up, timed out, left) |
| CHANNEL_ANSWER of a leg the caller's leg dialled (Other-Type originator) | answered (agent = the number dialled) |
| CHANNEL_HOLD / CHANNEL_UNHOLD | held / resumed |
| RECORD_STOP | recording (Record-File-Path as recording_url only when it is an http(s) URL) |
| CUSTOM vm::maintenance, VM-Action leave-message | voicemail (the call is VM-UUID: the leg that left it) |
| CHANNEL_HANGUP_COMPLETE of the caller's leg | ended |

The caller's own CHANNEL_ANSWER is not an answer by an agent (the IVR or the queue answers the caller first), and
legs Kefu cannot tie to a caller (a click-to-dial's legs, an agent's other calls) are left out.
Times: `Event-Date-Timestamp` (microseconds since the epoch, the PBX's clock).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from kefu.telephony.adapters.base import PbxError, PbxRefused, PbxSession, clean_argument
from kefu.telephony.contract import CtiEventIn

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for connecting, authenticating and a command's answer
CONTEXT = "default"  # the dialplan context click-to-dial numbers and transfer targets are dialled in
AGENT_ENDPOINT = "user/{extension}"  # the agent's phone, from their extension
EVENTS = ("CHANNEL_CREATE CHANNEL_PARK CHANNEL_ANSWER CHANNEL_HOLD CHANNEL_UNHOLD CHANNEL_HANGUP_COMPLETE "
          "RECORD_STOP CUSTOM callcenter::info vm::maintenance")
MAX_BODY = 16 * 1024 * 1024  # mod_event_socket's own limit on a Content-Length
_WORD = re.compile(r"^[^\s{}'\",]{1,200}$")  # one argument of a command line: no spaces, quotes or braces
_URL = re.compile(r"^https?://\S+$")


class EslError(PbxError):
    """The event socket cannot be used now (refused auth, lost connection): the listener reconnects."""


class EslRefused(EslError, PbxRefused):
    """A command answered with `-ERR`."""


@dataclass(frozen=True)
class Frame:
    """One message of the socket: its outer headers and its body (Content-Length bytes)."""

    headers: dict[str, str]
    body: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def read_frames(chunks: Iterator[bytes]) -> Iterator[Frame]:
    """Frames from the socket's bytes: `Key: Value` lines up to a blank line, then `Content-Length` bytes of body.
    A stream that ends mid-frame ends there."""
    buffer = b""
    source = iter(chunks)

    def fill() -> bool:
        nonlocal buffer
        chunk = next(source, b"")
        buffer += chunk
        return bool(chunk)

    while True:
        while b"\n\n" not in buffer:
            if not fill():
                return
        head, buffer = buffer.split(b"\n\n", 1)
        headers = _headers(head.decode("utf-8", "replace"), encoded=False)
        if not headers:
            continue  # stray blank lines between frames
        length = _length(headers.get("Content-Length", "0"))
        while len(buffer) < length:
            if not fill():
                return
        body, buffer = buffer[:length], buffer[length:]
        yield Frame(headers=headers, body=body.decode("utf-8", "replace"))


def _length(value: str) -> int:
    try:
        length = int(value)
    except ValueError:
        raise EslError(f"bad Content-Length {value!r}") from None
    if not 0 <= length <= MAX_BODY:
        raise EslError(f"Content-Length {length} out of range")
    return length


def _headers(text: str, *, encoded: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            value = value.strip()
            headers[key.strip()] = unquote(value) if encoded else value
    return headers


def parse_event(frame: Frame) -> dict[str, str] | None:
    """The headers of a `text/event-plain` frame, URL-decoded (an event's own body, if any, as `_body`)."""
    if frame.content_type != "text/event-plain":
        return None
    head, _sep, body = frame.body.replace("\r\n", "\n").partition("\n\n")
    event = _headers(head, encoded=True)
    if body and "Content-Length" in event:
        event["_body"] = body[:_length(event["Content-Length"])]
    return event


def _moment(event: dict[str, str], now: Callable[[], datetime]) -> datetime:
    stamp = event.get("Event-Date-Timestamp", "")
    try:
        micro = int(stamp)
    except ValueError:
        return now()
    if micro <= 0:
        return now()
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micro)


def _name(value: str) -> str:
    """A queue's or agent's name as Kefu knows it: mod_callcenter's `hotline@default` is `hotline`."""
    return value.split("@", 1)[0].strip()


def _caller_leg(event: dict[str, str]) -> str:
    """The UUID of the caller's leg an event belongs to, or "" for a leg not tied to a caller."""
    member = event.get("variable_cc_member_session_uuid", "")
    if member:  # an agent's leg of a queue call (mod_callcenter sets it on the legs it makes)
        return member
    if event.get("Other-Type") == "originator" and event.get("Call-Direction") == "outbound":
        return event.get("Other-Leg-Unique-ID", "")  # a leg the caller's leg dialled
    if event.get("Call-Direction") == "inbound":
        return event.get("Unique-ID", "")
    return ""


def _is_callers_own(event: dict[str, str]) -> bool:
    """The caller's own leg: inbound, and neither an agent's side nor the inner half of a loopback channel."""
    return (event.get("Call-Direction") == "inbound" and event.get("variable_cc_side") != "agent"
            and not event.get("Channel-Name", "").startswith("loopback/") and bool(event.get("Unique-ID")))


def translate(event: dict[str, str], *, now: Callable[[], datetime] | None = None) -> CtiEventIn | None:
    """The CTI event a FreeSWITCH event stands for, or None when it is not about a caller's call."""
    now = now or (lambda: datetime.now(tz=UTC))
    name = event.get("Event-Name", "")
    at = _moment(event, now)

    def cti(kind: str, call_id: str, **extra: str) -> CtiEventIn | None:
        return CtiEventIn(call_id=call_id, event=kind, at=at, **extra) if call_id else None

    if name == "CUSTOM":
        return _custom(event, cti)
    if name in ("CHANNEL_CREATE", "CHANNEL_PARK") and _is_callers_own(event):
        uuid = event["Unique-ID"]
        return cti("offered", uuid, caller=event.get("Caller-Caller-ID-Number", ""),
                   called=event.get("Caller-Destination-Number", ""), pbx_channel=uuid)
    if name == "CHANNEL_ANSWER":
        if event.get("variable_cc_member_session_uuid") or event.get("Call-Direction") != "outbound":
            return None  # a queue's agent (bridge-agent-start tells) or the caller answered by the IVR
        return cti("answered", _caller_leg(event),
                   agent=event.get("Caller-Callee-ID-Number") or event.get("Caller-Destination-Number", ""))
    if name in ("CHANNEL_HOLD", "CHANNEL_UNHOLD"):
        return cti("held" if name == "CHANNEL_HOLD" else "resumed", _caller_leg(event))
    if name == "RECORD_STOP":
        path = event.get("Record-File-Path", "")
        return cti("recording", _caller_leg(event), recording_url=path if _URL.match(path) else "")
    if name == "CHANNEL_HANGUP_COMPLETE" and _is_callers_own(event):
        return cti("ended", event["Unique-ID"])
    return None


def _custom(event: dict[str, str], cti: Callable[..., CtiEventIn | None]) -> CtiEventIn | None:
    subclass = event.get("Event-Subclass", "")
    if subclass == "callcenter::info":
        action = event.get("CC-Action", "")
        call_id = event.get("CC-Member-Session-UUID", "")
        queue = _name(event.get("CC-Queue", ""))
        if action == "member-queue-start":
            return cti("queued", call_id, queue=queue, caller=event.get("CC-Member-CID-Number", ""),
                       pbx_channel=call_id)
        if action == "agent-offering":
            return cti("ringing", call_id, queue=queue, agent=_name(event.get("CC-Agent", "")))
        if action == "bridge-agent-start":
            return cti("answered", call_id, queue=queue, agent=_name(event.get("CC-Agent", "")))
        if action == "member-queue-end" and event.get("CC-Cause") == "Cancel":
            return cti("abandoned", call_id, queue=queue)
        return None
    if subclass == "vm::maintenance" and event.get("VM-Action") == "leave-message":
        # no channel data on this event: VM-UUID is the UUID of the leg that left the message (the caller's)
        return cti("voicemail", event.get("VM-UUID", ""), caller=event.get("VM-Caller-ID-Number", ""))
    return None


def _word(value: str, what: str) -> str:
    """One argument of a command line: a space would start the next argument."""
    value = clean_argument(value)
    if not _WORD.match(value):
        raise EslRefused(f"{what} must be one word without spaces, quotes or braces: {value!r}")
    return value


class EslSession(PbxSession):
    """One authenticated event-socket connection: `with EslSession(host, port, password) as esl: esl.events()`."""

    error = EslError
    goodbye = b"exit\n\n"

    def __init__(self, host: str, port: int, password: str, *, timeout: float = TIMEOUT, context: str = CONTEXT,
                 agent: str = AGENT_ENDPOINT, events: str = EVENTS) -> None:
        super().__init__(host, port, timeout=timeout)
        self.password = password
        self.context, self.agent, self.subscription = context, agent, events
        self._frames: Iterator[Frame] | None = None
        self._subscribed = False

    def open(self) -> None:
        try:
            self._connect()
            self._frames = read_frames(self._chunks())
            with self._waiting():
                greeting = self._next()
            if greeting.content_type == "text/rude-rejection":
                raise EslError(f"refused by the event socket's ACL: {greeting.body.strip()}")
            if greeting.content_type != "auth/request":
                raise EslError(f"not an event socket (it said {greeting.content_type or 'nothing'})")
            answer = self._reply(f"auth {clean_argument(self.password)}")
        except OSError as exc:
            self.close()
            raise self._failed(exc) from exc
        except EslError:
            self.close()
            raise
        if not answer.startswith("+OK"):
            self.close()
            raise EslError(f"sign-in refused: {answer or 'no reason given'}")

    def _next(self) -> Frame:
        if self._frames is None:
            raise EslError("not connected")
        frame = next(self._frames, None)
        if frame is None or frame.content_type == "text/disconnect-notice":
            raise EslError("the PBX closed the connection")
        return frame

    def _reply(self, line: str) -> str:
        """Send a command and wait for its answer: `Reply-Text` of a command/reply, the body of an api/response.
        Events read meanwhile are kept for `events`."""
        self._sendall(f"{clean_argument(line)}\n\n".encode())
        with self._waiting():
            while True:
                frame = self._next()
                if frame.content_type == "command/reply":
                    return frame.headers.get("Reply-Text", "").strip()
                if frame.content_type == "api/response":
                    return frame.body.strip()
                event = parse_event(frame)
                if event is not None:
                    self.pending.append(event)

    def _checked(self, line: str) -> str:
        answer = self._reply(line)
        if not answer.startswith("+OK"):
            raise EslRefused(answer.removeprefix("-ERR").strip() or "no reason given")
        return answer.removeprefix("+OK").strip()

    def events(self) -> Iterator[dict[str, str]]:
        """Every event the PBX sends after subscribing, until the connection ends (then EslError)."""
        if not self._subscribed:
            self._checked(f"event plain {self.subscription}")
            self._subscribed = True
        yield from self._pending_events()
        while True:
            event = parse_event(self._next())
            if event is not None:
                yield event

    # --- commands out ------------------------------------------------------------------------------------------

    def originate(self, *, extension: str, number: str, caller_id: str = "") -> str:
        """Click-to-dial: ring the agent's phone (`agent` with their extension); once they pick up, `number` is
        dialled in the context. In the background: the answer is the job's id, not the call's outcome."""
        endpoint = clean_argument(self.agent.replace("{extension}", _word(extension, "extension")))
        if not endpoint or any(c.isspace() for c in endpoint):  # the operator's template may hold {var=value}
            raise EslRefused(f"the agent endpoint must be one word: {endpoint!r}")
        variables = f"{{origination_caller_id_number={_word(caller_id, 'caller_id')}}}" if caller_id else ""
        return self._checked(f"bgapi originate {variables}{endpoint} {_word(number, 'number')} XML "
                             f"{_word(self.context, 'context')}")

    def transfer(self, *, channel: str, to: str) -> str:
        """Blind transfer: the caller's leg (its UUID) goes to `to` in the dialplan context; the agent's leg ends."""
        return self._checked(f"api uuid_transfer {_word(channel, 'channel')} {_word(to, 'to')} XML "
                             f"{_word(self.context, 'context')}")
