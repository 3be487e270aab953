"""Asterisk's Manager Interface (AMI): a TCP session that signs in, reads the PBX's events and turns the ones about
calls into CTI events (the same contract as POST /api/v1/cti/events), and sends commands out: click-to-dial
(Originate) and transfer (Redirect of the caller's channel). Transport and translation only — recording them is the
services'.

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

Newchannel and QueueCallerJoin also carry pbx_channel, the caller's Channel: what a transfer moves.
Times: the event's `Timestamp` header (set `timestampevents = yes` in manager.conf), else the time it was read.
Queue names are Kefu queue codes and queue members' MemberName are Kefu user names (docs/telephony.md).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from kefu.telephony.adapters.base import PbxError, PbxRefused, PbxSession, clean_argument
from kefu.telephony.contract import CtiEventIn

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for connecting, signing in and a command's answer
CONTEXT = "from-internal"  # where click-to-dial numbers and transfer targets are dialled
AGENT_CHANNEL = "PJSIP/{extension}"  # the agent's phone, from their extension


class AmiError(PbxError):
    """The AMI cannot be used now (refused sign-in, lost connection): the listener reconnects with backoff."""


class AmiRefused(AmiError, PbxRefused):
    """An action answered with `Response: Error`."""


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


def translate(message: dict[str, str], *, now: Callable[[], datetime] | None = None) -> CtiEventIn | None:
    """The CTI event an AMI event stands for, or None when it is not about a call's progress."""
    now = now or (lambda: datetime.now(tz=UTC))
    name = message.get("Event", "")
    linkedid = message.get("Linkedid", "")
    uniqueid = message.get("Uniqueid", "")
    at = _moment(message, now)

    def cti(event: str, call_id: str = linkedid, **extra: str) -> CtiEventIn | None:
        return CtiEventIn(call_id=call_id, event=event, at=at, **extra) if call_id else None

    if name == "Newchannel" and uniqueid and uniqueid == linkedid:
        return cti("offered", caller=message.get("CallerIDNum", ""), called=message.get("Exten", ""),
                   pbx_channel=message.get("Channel", ""))
    if name == "QueueCallerJoin":
        return cti("queued", queue=message.get("Queue", ""), caller=message.get("CallerIDNum", ""),
                   pbx_channel=message.get("Channel", ""))
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


class AmiSession(PbxSession):
    """One signed-in AMI connection: `with AmiSession(host, port, user, secret) as ami: ami.events()`."""

    error = AmiError
    goodbye = b"Action: Logoff\r\n\r\n"

    def __init__(self, host: str, port: int, username: str, secret: str, *, timeout: float = TIMEOUT,
                 context: str = CONTEXT, agent: str = AGENT_CHANNEL) -> None:
        super().__init__(host, port, timeout=timeout)
        self.username, self.secret = username, secret
        self.context, self.agent = context, agent
        self._reader: Iterator[dict[str, str]] | None = None
        self._ids = itertools.count(1)

    def open(self) -> None:
        try:
            self._connect()
            self._reader = read_messages(self._lines())
            answer = self.command("Login", Username=self.username, Secret=self.secret, Events="on")
        except OSError as exc:
            self.close()
            raise self._failed(exc) from exc
        if answer.get("Response") != "Success":
            self.close()
            raise AmiError(f"sign-in refused: {answer.get('Message', 'no reason given')}")

    def _lines(self) -> Iterator[str]:
        buffer = b""
        for chunk in self._chunks():
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", "replace")
        if buffer:
            yield buffer.decode("utf-8", "replace")

    def _next(self) -> dict[str, str]:
        assert self._reader is not None
        try:
            return next(self._reader)
        except StopIteration:
            raise AmiError("the PBX closed the connection") from None

    def command(self, action: str, **fields: str) -> dict[str, str]:
        """Send an action and wait for its answer (events read meanwhile are kept for `events`)."""
        action_id = f"kefu-{next(self._ids)}"
        lines = [f"Action: {clean_argument(action)}", f"ActionID: {action_id}"]
        lines += [f"{key}: {clean_argument(str(value))}" for key, value in fields.items()]
        self._sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        with self._waiting():
            while True:
                message = self._next()
                if message.get("ActionID") == action_id and "Response" in message:
                    return message
                if "Event" in message:
                    self.pending.append(message)

    def events(self) -> Iterator[dict[str, str]]:
        """Every event the PBX sends, until the connection ends (then AmiError)."""
        yield from self._pending_events()
        while True:
            message = self._next()
            if "Event" in message:
                yield message

    # --- commands out ------------------------------------------------------------------------------------------

    def originate(self, *, extension: str, number: str, caller_id: str = "") -> str:
        """Click-to-dial: ring the agent's phone (`agent` with their extension), and when they pick up, call
        `number` in the dial context. Async: the answer is the PBX's acceptance, not the call's outcome."""
        fields = {"Channel": self.agent.format(extension=extension), "Exten": number, "Context": self.context,
                  "Priority": "1", "Async": "true"}
        if caller_id:
            fields["CallerID"] = caller_id
        return self._checked(self.command("Originate", **fields))

    def transfer(self, *, channel: str, to: str) -> str:
        """Blind transfer: the caller's `channel` leaves its bridge for `to` in the dial context (Redirect; the
        agent's leg ends). BlindTransfer would move the channels bridged *to* the one named: the agent."""
        return self._checked(self.command("Redirect", Channel=channel, Exten=to, Context=self.context,
                                          Priority="1"))

    @staticmethod
    def _checked(answer: dict[str, str]) -> str:
        if answer.get("Response") != "Success":
            raise AmiRefused(answer.get("Message", "no reason given"))
        return answer.get("Message", "")
