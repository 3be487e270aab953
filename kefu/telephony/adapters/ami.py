"""Asterisk's Manager Interface (AMI): a TCP session that signs in, reads the PBX's events and turns the ones about
calls into CTI events (the same contract as POST /api/v1/cti/events), and sends commands out: click-to-dial
(Originate) and transfer (BlindTransfer). Transport and translation only — recording them is the services'.

What becomes what (one call is the caller's channel: its Linkedid is the call id):

| AMI event | CTI event |
|---|---|
| Newchannel of the caller's channel (Uniqueid = Linkedid) | offered (caller = CallerIDNum, called = Exten) |
| QueueCallerJoin | queued (queue = Queue) |
| AgentCalled | ringing (agent = MemberName) |
| AgentConnect | answered (agent = MemberName) |
| Hold / Unhold | held / resumed |
| BlindTransfer / AttendedTransfer | transferred |
| QueueCallerAbandon | abandoned |
| Newexten running the VoiceMail application | voicemail |
| UserEvent `KefuRecording` (`URL`) | recording |
| Hangup of the caller's channel | ended |

Times: the event's `Timestamp` header (set `timestampevents = yes` in manager.conf), else the time it was read.
Queue names are Kefu queue codes and queue members' MemberName are Kefu user names (docs/telephony.md).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for connecting, signing in and a command's answer


class AmiError(Exception):
    """The AMI cannot be used now (refused sign-in, lost connection): the listener reconnects with backoff."""


@dataclass(frozen=True)
class CtiFromPbx:
    """A CTI event read from the PBX, ready for `cti_event_record` (times are aware)."""

    call_id: str
    event: str
    at: datetime
    caller: str = ""
    called: str = ""
    queue: str = ""
    agent: str = ""
    recording_url: str = ""


def read_messages(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """AMI messages from its lines: `Key: Value` lines, a blank line ends a message. The banner line
    (`Asterisk Call Manager/…`) and lines without a colon are skipped."""
    message: dict[str, str] = {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if message:
                yield message
                message = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            message[key.strip()] = value.strip()
    if message:
        yield message


def _moment(message: dict[str, str], now: Callable[[], datetime]) -> datetime:
    stamp = message.get("Timestamp", "")
    try:
        return datetime.fromtimestamp(float(stamp), tz=UTC) if stamp else now()
    except (ValueError, OverflowError, OSError):
        return now()


def translate(message: dict[str, str], *, now: Callable[[], datetime] | None = None) -> CtiFromPbx | None:
    """The CTI event an AMI event stands for, or None when it is not about a call's progress."""
    now = now or (lambda: datetime.now(tz=UTC))
    name = message.get("Event", "")
    linkedid = message.get("Linkedid", "")
    uniqueid = message.get("Uniqueid", "")
    at = _moment(message, now)

    def cti(event: str, call_id: str = linkedid, **extra: str) -> CtiFromPbx | None:
        return CtiFromPbx(call_id=call_id, event=event, at=at, **extra) if call_id else None

    if name == "Newchannel" and uniqueid and uniqueid == linkedid:
        return cti("offered", caller=message.get("CallerIDNum", ""), called=message.get("Exten", ""))
    if name == "QueueCallerJoin":
        return cti("queued", queue=message.get("Queue", ""), caller=message.get("CallerIDNum", ""))
    if name == "AgentCalled":
        return cti("ringing", queue=message.get("Queue", ""), agent=message.get("MemberName", ""))
    if name == "AgentConnect":
        return cti("answered", queue=message.get("Queue", ""), agent=message.get("MemberName", ""))
    if name in ("Hold", "Unhold"):
        return cti("held" if name == "Hold" else "resumed")
    if name in ("BlindTransfer", "AttendedTransfer"):
        return cti("transferred", call_id=message.get("TransfereeLinkedid") or message.get("OrigTransfererLinkedid")
                   or linkedid)
    if name == "QueueCallerAbandon":
        return cti("abandoned", queue=message.get("Queue", ""))
    if name == "Newexten" and message.get("Application", "").lower() == "voicemail":
        return cti("voicemail")
    if name == "UserEvent" and message.get("UserEvent") == "KefuRecording":
        return cti("recording", call_id=message.get("CallId") or linkedid, recording_url=message.get("URL", ""))
    if name == "Hangup" and uniqueid and uniqueid == linkedid:
        return cti("ended")
    return None


def _field(value: str) -> str:
    """A header value: no line breaks (they would start another header or end the action)."""
    return value.replace("\r", " ").replace("\n", " ").strip()


class AmiSession:
    """One signed-in AMI connection: `with AmiSession(host, port, user, secret) as ami: ami.events()`."""

    def __init__(self, host: str, port: int, username: str, secret: str, *, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.username, self.secret, self.timeout = host, port, username, secret, timeout
        self.sock: socket.socket | None = None
        self._reader: Iterator[dict[str, str]] | None = None
        self._ids = itertools.count(1)
        self.pending: list[dict[str, str]] = []  # events read while waiting for a command's answer

    def __enter__(self) -> AmiSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._reader = read_messages(self._lines())
            answer = self.command("Login", Username=self.username, Secret=self.secret, Events="on")
        except OSError as exc:
            self.close()
            raise AmiError(f"{type(exc).__name__}: {exc}") from exc
        if answer.get("Response") != "Success":
            self.close()
            raise AmiError(f"sign-in refused: {answer.get('Message', 'no reason given')}")

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.sendall(b"Action: Logoff\r\n\r\n")
            with contextlib.suppress(OSError):
                sock.close()

    def _lines(self) -> Iterator[str]:
        assert self.sock is not None
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue  # a quiet PBX: keep waiting (the socket stays open)
            if not chunk:
                if buffer:
                    yield buffer.decode("utf-8", "replace")
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", "replace")

    def _next(self) -> dict[str, str]:
        assert self._reader is not None
        try:
            return next(self._reader)
        except StopIteration:
            raise AmiError("the PBX closed the connection") from None

    def command(self, action: str, **fields: str) -> dict[str, str]:
        """Send an action and wait for its answer (events read meanwhile are kept for `events`)."""
        if self.sock is None:
            raise AmiError("not connected")
        action_id = f"kefu-{next(self._ids)}"
        lines = [f"Action: {_field(action)}", f"ActionID: {action_id}"]
        lines += [f"{key}: {_field(str(value))}" for key, value in fields.items()]
        try:
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError as exc:
            raise AmiError(f"{type(exc).__name__}: {exc}") from exc
        while True:
            message = self._next()
            if message.get("ActionID") == action_id and "Response" in message:
                return message
            if "Event" in message:
                self.pending.append(message)

    def events(self) -> Iterator[dict[str, str]]:
        """Every event the PBX sends, until the connection ends (then AmiError)."""
        while self.pending:
            yield self.pending.pop(0)
        while True:
            message = self._next()
            if "Event" in message:
                yield message

    # --- commands out ------------------------------------------------------------------------------------------

    def originate(self, *, agent_channel: str, number: str, context: str, caller_id: str = "") -> dict[str, str]:
        """Click-to-dial: ring the agent's phone, and when they pick up, call `number` from `context`."""
        fields = {"Channel": agent_channel, "Exten": number, "Context": context, "Priority": "1", "Async": "true"}
        if caller_id:
            fields["CallerID"] = caller_id
        return self._checked(self.command("Originate", **fields))

    def transfer(self, *, channel: str, number: str, context: str) -> dict[str, str]:
        """Blind transfer of a call's channel to `number` (an extension, a queue's number, a mobile)."""
        return self._checked(self.command("BlindTransfer", Channel=channel, Exten=number, Context=context))

    @staticmethod
    def _checked(answer: dict[str, str]) -> dict[str, str]:
        if answer.get("Response") != "Success":
            raise AmiError(f"refused: {answer.get('Message', 'no reason given')}")
        return answer
