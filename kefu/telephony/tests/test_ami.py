"""The Asterisk AMI adapter against a recorded event stream replayed over TCP by a fake AMI server (its banner,
the sign-in, then the events): two calls — one answered with a hold and a recording, one abandoned — end as the
CTI API would have recorded them, the other legs and noise ignored; the caller's channel is kept for transfers.
Click-to-dial and transfer go out as AMI actions and a refusal is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.adapters.ami import AmiError, AmiSession, translate
from kefu.telephony.adapters.registry import parse_pbx_url
from kefu.telephony.listener import listen_ami
from kefu.telephony.models import Call
from kefu.telephony.tests.fake_pbx import FakeAmi

STREAM = Path(__file__).parent / "streams" / "ami-two-calls.txt"


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
    assert answered.pbx_channel == "PJSIP/trunk-00000010"  # the caller's leg, not the agent's
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
    fake = FakeAmi(answers={"Redirect": "Error"})
    try:
        with AmiSession("127.0.0.1", fake.port, "kefu", "s3cret", context="from-kefu") as ami:
            answer = ami.originate(extension="1001", number="13800138000\r\nAction: Hangup", caller_id="4008001234")
            assert answer == "Originate successfully queued"
            with pytest.raises(AmiError, match="No such channel"):
                ami.transfer(channel="PJSIP/trunk-00000010", to="1002")
            assert [e["Event"] for e in ami.pending] == ["PeerStatus", "PeerStatus"]  # kept for the listener
    finally:
        fake.close()
    (originate,) = fake.sent("Originate")
    assert (originate["Channel"], originate["Context"], originate["Priority"]) == ("PJSIP/1001", "from-kefu", "1")
    assert originate["Exten"] == "13800138000  Action: Hangup"  # a line break cannot start another action
    assert originate["CallerID"] == "4008001234"
    assert not fake.sent("Hangup")
    (redirect,) = fake.sent("Redirect")  # the caller's channel itself moves (BlindTransfer would move the agent)
    assert (redirect["Channel"], redirect["Exten"], redirect["Context"]) == ("PJSIP/trunk-00000010", "1002",
                                                                             "from-kefu")


def test_translation_ignores_what_is_not_a_calls_progress() -> None:
    assert translate({"Event": "PeerStatus", "Peer": "PJSIP/1001"}) is None
    assert translate({"Event": "Newchannel", "Uniqueid": "2.1", "Linkedid": "1.1"}) is None  # another leg
    assert translate({"Event": "Hangup", "Uniqueid": "", "Linkedid": ""}) is None
    odd = translate({"Event": "Hold", "Linkedid": "1.1", "Timestamp": "not a number"})
    assert odd is not None
    assert odd.event == "held"


@pytest.mark.parametrize(("url", "problem"), [
    ("sip://u:p@pbx", "only ami://"), ("ami://pbx:5038", "user and secret"), ("ami://u:p@pbx:99999", "port"),
    ("ami://u:p@", "no host"), ("esl://pbx:8021", "password"), ("ami://u:p@pbx?color=red", "unknown option"),
    ("ami://u:p@pbx?agent=PJSIP/1001", "{extension}"), ("ami://u:p@pbx?caller_id=hotline", "phone number"),
    ("esl://:p@pbx?context=", "one word"),
])
def test_bad_pbx_urls_are_named(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_pbx_url(url)
    target = parse_pbx_url("ami://kefu:s%40cret@10.0.0.5?context=from-kefu&agent=SIP/{extension}")
    assert (target.kind, target.host, target.port, target.username, target.secret) == (
        "ami", "10.0.0.5", 5038, "kefu", "s@cret")
    assert target.options == {"context": "from-kefu", "agent": "SIP/{extension}"}
    assert str(target) == "ami://10.0.0.5:5038"  # no secret in logs
    assert parse_pbx_url("esl://:ClueCon@10.0.0.6").port == 8021
