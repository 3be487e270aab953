"""The FreeSWITCH event-socket adapter against a recorded stream replayed over TCP by a loopback event socket
(`auth/request`, the password, the `event plain` subscription, then the capture): three calls through mod_callcenter
— one answered by extension 1001 with a hold and a recording, one abandoned in the queue, one sent to voicemail —
end as the CTI API would have recorded them; the agent's leg, the IVR's answer and the noise are ignored; a second
replay changes nothing. The capture's Content-Length values count bytes: regenerate it rather than edit it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.adapters.esl import EslError, EslSession, Frame, parse_event, read_frames, translate
from kefu.telephony.listener import listen_esl
from kefu.telephony.models import Call, CallEvent
from kefu.telephony.tests.fake_pbx import FakeEsl

STREAM = Path(__file__).parent / "streams" / "esl-three-calls.txt"
ANSWERED = "7f4de4bc-1e2a-4a8e-9d1c-0a1b2c3d4e5f"
ABANDONED = "c3a91f52-0d6e-4b7a-9e15-3f8b2a6d4c10"
VOICEMAIL = "e90b7d21-6f3c-4a58-b1d4-8c2e5f7a9b03"


def replay() -> int:
    fake = FakeEsl(STREAM.read_bytes())
    ended: list[float] = []  # one session: when the PBX says goodbye, the listener waits to reconnect: stop there
    try:
        return listen_esl(host="127.0.0.1", port=fake.port, password="ClueCon", stop=lambda: bool(ended),
                          sleep=ended.append)
    finally:
        fake.close()


def snapshot() -> list[tuple[Any, ...]]:
    return list(Call.objects.order_by("call_id").values_list(
        "call_id", "state", "queue__code", "agent_id", "wait_seconds", "talk_seconds", "hold_seconds", "version",
        "recording_url", "pbx_channel"))


@pytest.mark.django_db
def test_a_replayed_stream_ends_in_the_calls_the_cti_api_would_record(admin_user: Any, team: Any,
                                                                       agent: Any) -> None:
    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    agent.extension = "1001"  # mod_callcenter names the agent 1001@default: Kefu finds them by extension
    agent.save(update_fields=["extension"])
    assert replay() == 18  # 8 events of the answered call, 4 of the abandoned one, 6 of the voicemail
    answered = Call.objects.get(call_id=ANSWERED)
    assert (answered.caller, answered.called, answered.queue.code, answered.agent) == (
        "13800138000", "4008001234", "hotline", agent)
    assert (answered.state, answered.wait_seconds, answered.hold_seconds, answered.talk_seconds) == (
        "ended", 15, 30, 183 - 30)
    assert answered.offered_at == datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # the PBX's own clock
    assert answered.recording_url == f"https://rec.example.cn/2026/12/04/{ANSWERED}.wav"
    assert answered.pbx_channel == ANSWERED  # FreeSWITCH moves a call by the caller's UUID
    abandoned = Call.objects.get(call_id=ABANDONED)
    assert (abandoned.state, abandoned.wait_seconds, abandoned.queue.code, abandoned.agent) == (
        "abandoned", 30, "hotline", None)
    voicemail = Call.objects.get(call_id=VOICEMAIL)
    assert (voicemail.state, voicemail.voicemail, voicemail.wait_seconds) == ("voicemail", True, 45)
    assert voicemail.recording_url == ""  # a file on the PBX's disk is no link for a browser
    assert Call.objects.count() == 3  # the agent's leg is not a call of its own
    (interval,) = IntervalStat.objects.all()
    assert (interval.offered, interval.answered, interval.abandoned, interval.voicemail) == (3, 1, 1, 1)

    before, events = snapshot(), CallEvent.objects.count()
    assert replay() == 18  # every event again: each one a duplicate
    assert (snapshot(), CallEvent.objects.count()) == (before, events)


@pytest.mark.django_db
def test_unknown_queue_and_agent_keep_the_calls(admin_user: Any) -> None:
    replay()
    call = Call.objects.get(call_id=ANSWERED)
    assert (call.queue, call.agent, call.state, call.hold_seconds) == (None, None, "ended", 30)


def test_frames_survive_any_chunking_and_headers_are_url_decoded() -> None:
    data = STREAM.read_bytes()
    whole = list(read_frames(iter([data])))
    bytewise = list(read_frames(iter([data[i:i + 7] for i in range(0, len(data), 7)])))
    assert whole == bytewise
    assert len(whole) == 25  # 24 events and FreeSWITCH's goodbye
    assert whole[-1].content_type == "text/disconnect-notice"
    first = parse_event(whole[0])
    assert first is not None
    assert (first["Event-Name"], first["Caller-Caller-ID-Name"], first["Channel-Name"]) == (
        "CHANNEL_CREATE", "张先生", "sofia/external/13800138000@10.0.0.1")
    assert list(read_frames(iter([data[:100]]))) == []  # cut mid-frame: nothing half-read


def test_an_event_with_a_body_keeps_it_apart() -> None:
    body = "Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nContent-Length: 11\n\n-ERR USER_BUSY"
    event = parse_event(Frame(headers={"Content-Type": "text/event-plain"}, body=body))
    assert event is not None
    assert (event["Job-UUID"], event["_body"]) == ("j1", "-ERR USER_B")
    assert parse_event(Frame(headers={"Content-Type": "command/reply"})) is None


def _event(name: str, **headers: str) -> dict[str, str]:
    return {"Event-Name": name, "Event-Date-Timestamp": "1796349600000000", **{
        k.replace("_", "-"): v for k, v in headers.items()}}


def test_translation_keeps_to_the_callers_call() -> None:
    park = translate(_event("CHANNEL_PARK", Unique_ID="a-1", Call_Direction="inbound",
                            Caller_Caller_ID_Number="13800138000", Caller_Destination_Number="4008001234"))
    assert park is not None
    assert (park.call_id, park.event, park.caller, park.pbx_channel) == ("a-1", "offered", "13800138000", "a-1")
    # a direct call to an extension: the answering leg names the caller's leg as its originator
    direct = translate(_event("CHANNEL_ANSWER", Unique_ID="b-1", Call_Direction="outbound", Other_Type="originator",
                              Other_Leg_Unique_ID="a-1", Caller_Callee_ID_Number="1001"))
    assert direct is not None
    assert (direct.call_id, direct.event, direct.agent) == ("a-1", "answered", "1001")
    ignored = [
        _event("CHANNEL_CREATE", Unique_ID="b-1", Call_Direction="outbound"),  # a leg Kefu made or an agent's
        _event("CHANNEL_ANSWER", Unique_ID="a-1", Call_Direction="inbound"),  # the IVR answering the caller
        _event("CHANNEL_CREATE", Unique_ID="l-1", Call_Direction="inbound", Channel_Name="loopback/1001-b"),
        _event("CHANNEL_HANGUP_COMPLETE", Unique_ID="b-1", Call_Direction="outbound"),
        _event("CHANNEL_HOLD", Unique_ID="c-1", Call_Direction="outbound"),  # a click-to-dial's leg
        _event("CUSTOM", Event_Subclass="callcenter::info", CC_Action="member-queue-end", CC_Cause="Terminated",
               CC_Member_Session_UUID="a-1"),  # it ended after an agent answered: the hangup tells
        _event("CUSTOM", Event_Subclass="callcenter::info", CC_Action="agent-status-change"),
        _event("CUSTOM", Event_Subclass="vm::maintenance", VM_Action="mwi-update", VM_UUID="a-1"),
        _event("HEARTBEAT"),
    ]
    assert [translate(e) for e in ignored] == [None] * len(ignored)
    odd = translate(_event("CHANNEL_HOLD", Unique_ID="a-1", Call_Direction="inbound",
                           Event_Date_Timestamp="yesterday"), now=lambda: datetime(2026, 12, 4, tzinfo=UTC))
    assert odd is not None
    assert odd.at == datetime(2026, 12, 4, tzinfo=UTC)  # no usable time: the time it was read
    local = translate(_event("RECORD_STOP", Unique_ID="a-1", Call_Direction="inbound",
                             Record_File_Path="/var/lib/freeswitch/recordings/a-1.wav"))
    assert local is not None
    assert local.recording_url == ""


def test_a_refused_password_is_named_and_the_listener_retries_with_backoff() -> None:
    fake = FakeEsl(b"unused")
    with pytest.raises(EslError, match="sign-in refused: -ERR invalid"):
        EslSession("127.0.0.1", fake.port, "wrong").open()
    waits: list[float] = []
    listen_esl(host="127.0.0.1", port=fake.port, password="wrong", stop=lambda: len(waits) >= 3,
               sleep=waits.append)
    fake.close()
    assert waits == [1, 2, 5]


def test_click_to_dial_and_transfer_go_out_as_commands() -> None:
    fake = FakeEsl(refuse={"uuid_transfer": "-ERR No such channel!"})
    try:
        with EslSession("127.0.0.1", fake.port, "ClueCon", context="kefu") as esl:
            job = esl.originate(extension="1001", number="13800138000", caller_id="4008001234")
            assert job == "Job-UUID: 3b0a9c2e-1d4f-4e5a-8b6c-7d8e9f0a1b2c"
            with pytest.raises(EslError, match="No such channel!"):
                esl.transfer(channel=ANSWERED, to="1002")
            with pytest.raises(EslError, match="one word"):  # a space would add an argument to the command
                esl.originate(extension="1001", number="138 &park()")
            with pytest.raises(EslError, match="one word"):
                esl.transfer(channel=ANSWERED, to="1002\n\napi shutdown")
            assert [e["Event-Name"] for e in esl.pending] == ["HEARTBEAT", "HEARTBEAT"]  # kept for events()
    finally:
        fake.close()
    assert fake.commands[1:3] == [  # each recorded before its answer came back (the closing `exit` may still be
        "bgapi originate {origination_caller_id_number=4008001234}user/1001 13800138000 XML kefu",  # in flight)
        f"api uuid_transfer {ANSWERED} 1002 XML kefu",
    ]


def test_kefu_pbx_listen_takes_an_esl_url_from_the_setting(settings: Any, monkeypatch: Any) -> None:
    from django.core.management import CommandError, call_command

    from kefu.telephony import listener

    heard: list[dict[str, Any]] = []
    monkeypatch.setattr(listener, "listen_esl", lambda **kw: heard.append(kw))
    settings.KEFU_PBX_URL = "esl://:s%40cret@10.0.0.6?context=kefu"
    call_command("pbx", "listen")
    assert heard == [{"host": "10.0.0.6", "port": 8021, "password": "s@cret"}]
    with pytest.raises(CommandError, match="url: write the event socket's password") as refused:
        call_command("pbx", "listen", "esl://10.0.0.6")
    assert refused.value.returncode == 2
