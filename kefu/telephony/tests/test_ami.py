"""The Asterisk AMI adapter against a recorded event stream replayed over TCP by a fake AMI server (its banner,
the sign-in, then the events): two calls — one answered with a hold and a recording, one abandoned — end as the
CTI API would have recorded them, the other legs and noise ignored. Click-to-dial and transfer go out as AMI
actions and a refusal is named."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.adapters.ami import AmiError, AmiSession, read_messages, translate
from kefu.telephony.listener import listen_ami
from kefu.telephony.management.commands.pbx import parse_pbx_url
from kefu.telephony.models import Call

STREAM = Path(__file__).parent / "streams" / "ami-two-calls.txt"


class FakeAmi:
    """A loopback AMI: banner, sign-in (secret `s3cret`), then `stream` sent once; answers actions with
    `answers[action]` (Success by default) and records them."""

    def __init__(self, stream: bytes = b"", answers: dict[str, str] | None = None) -> None:
        self.stream = stream
        self.answers = answers or {}
        self.actions: list[dict[str, str]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"Asterisk Call Manager/5.0.1\r\n")
                reader = read_messages(iter(conn.makefile("r", encoding="utf-8", newline="")))
                login = next(reader)
                self.actions.append(login)
                ok = login.get("Secret") == "s3cret"
                conn.sendall((f"Response: {'Success' if ok else 'Error'}\r\nActionID: {login.get('ActionID')}\r\n"
                              f"Message: Authentication {'accepted' if ok else 'failed'}\r\n\r\n").encode())
                if not ok:
                    continue
                if self.stream:
                    conn.sendall(self.stream)
                    conn.shutdown(socket.SHUT_WR)
                    continue
                for action in reader:
                    self.actions.append(action)
                    if action.get("Action") == "Logoff":
                        break
                    answer = self.answers.get(action.get("Action", ""), "Success")
                    why = "Originate successfully queued" if answer == "Success" else "No such channel"
                    conn.sendall((f"Event: PeerStatus\r\nPeer: PJSIP/1002\r\n\r\n"
                                  f"Response: {answer}\r\nActionID: {action.get('ActionID')}\r\n"
                                  f"Message: {why}\r\n\r\n").encode())

    def close(self) -> None:
        self.server.close()


@pytest.mark.django_db
def test_a_replayed_stream_ends_in_the_calls_the_cti_api_would_record(admin_user: Any, team: Any,
                                                                       agent: Any) -> None:
    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    fake = FakeAmi(STREAM.read_bytes())
    ended: list[float] = []  # one session: when the PBX closes it, the listener waits to reconnect: stop there
    try:
        recorded = listen_ami(host="127.0.0.1", port=fake.port, username="kefu", secret="s3cret",
                              stop=lambda: bool(ended), sleep=ended.append)
    finally:
        fake.close()
    assert recorded == 12  # 8 events of the answered call, 4 of the abandoned one
    answered = Call.objects.get(call_id="1796346000.10")
    assert (answered.caller, answered.called, answered.queue.code, answered.agent) == (
        "13800138000", "4008001234", "hotline", agent)
    assert (answered.state, answered.wait_seconds, answered.hold_seconds, answered.talk_seconds) == (
        "ended", 15, 30, 200 - 17 - 30)
    assert answered.recording_url == "https://pbx.example.cn/rec/1796346000.10.wav"
    abandoned = Call.objects.get(call_id="1796346120.20")
    assert (abandoned.state, abandoned.wait_seconds) == ("abandoned", 30)
    assert Call.objects.count() == 2  # the agent's leg is not a call of its own
    (interval,) = IntervalStat.objects.all()
    assert (interval.offered, interval.answered, interval.abandoned) == (2, 1, 1)


@pytest.mark.django_db
def test_an_unknown_queue_or_agent_keeps_the_call(admin_user: Any) -> None:
    """No queue `hotline` and no user `agent` in this Kefu: the calls are kept without them (logged once)."""
    fake = FakeAmi(STREAM.read_bytes())
    ended: list[float] = []
    try:
        listen_ami(host="127.0.0.1", port=fake.port, username="kefu", secret="s3cret",
                   stop=lambda: bool(ended), sleep=ended.append)
    finally:
        fake.close()
    call = Call.objects.get(call_id="1796346000.10")
    assert (call.queue, call.agent, call.state) == (None, None, "ended")


def test_a_refused_sign_in_is_named_and_the_listener_retries_with_backoff() -> None:
    fake = FakeAmi(b"Event: Hangup\r\n\r\n")
    with pytest.raises(AmiError, match="sign-in refused: Authentication failed"):
        AmiSession("127.0.0.1", fake.port, "kefu", "wrong").open()
    waits: list[float] = []
    listen_ami(host="127.0.0.1", port=fake.port, username="kefu", secret="wrong", stop=lambda: len(waits) >= 3,
               sleep=waits.append)
    fake.close()
    assert waits == [1, 2, 5]


def test_click_to_dial_and_transfer_go_out_as_actions() -> None:
    fake = FakeAmi(answers={"BlindTransfer": "Error"})
    try:
        with AmiSession("127.0.0.1", fake.port, "kefu", "s3cret") as ami:
            answer = ami.originate(agent_channel="PJSIP/1001", number="13800138000\r\nAction: Hangup",
                                   context="from-internal", caller_id="4008001234")
            assert answer["Response"] == "Success"
            with pytest.raises(AmiError, match="No such channel"):
                ami.transfer(channel="PJSIP/trunk-00000010", number="1002", context="from-internal")
            assert [e["Event"] for e in ami.pending] == ["PeerStatus", "PeerStatus"]  # kept for the listener
    finally:
        fake.close()
    originate = next(a for a in fake.actions if a.get("Action") == "Originate")
    assert originate["Channel"] == "PJSIP/1001"
    assert originate["Exten"] == "13800138000  Action: Hangup"  # a line break cannot start another action
    assert originate["CallerID"] == "4008001234"
    assert not any(a.get("Action") == "Hangup" for a in fake.actions)


def test_translation_ignores_what_is_not_a_calls_progress() -> None:
    assert translate({"Event": "PeerStatus", "Peer": "PJSIP/1001"}) is None
    assert translate({"Event": "Newchannel", "Uniqueid": "2.1", "Linkedid": "1.1"}) is None  # another leg
    assert translate({"Event": "Hangup", "Uniqueid": "", "Linkedid": ""}) is None
    odd = translate({"Event": "Hold", "Linkedid": "1.1", "Timestamp": "not a number"})
    assert odd is not None
    assert odd.event == "held"


@pytest.mark.parametrize(("url", "problem"), [
    ("sip://u:p@pbx", "only ami://"), ("ami://pbx:5038", "user and secret"), ("ami://u:p@pbx:99999", "port"),
    ("ami://u:p@", "no host"),
])
def test_bad_pbx_urls_are_named(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_pbx_url(url)
    assert parse_pbx_url("ami://kefu:s%40cret@10.0.0.5") == {"host": "10.0.0.5", "port": 5038, "username": "kefu",
                                                             "secret": "s@cret"}
