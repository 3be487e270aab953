"""A call in the customer's history: the PBX's events make one phone conversation per call (answered, voicemail,
abandoned in the queue), the same whatever their order and repeats, with the customer found by the number, the
agent who answered, the recording or voicemail linked, closed when the call ends; a work order in one step; the
after-contact work following a call counted in its interval's handle time."""

from __future__ import annotations

import csv
import itertools
import threading
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from kefu.conversations.adapters.base import Identity
from kefu.conversations.choices import ChannelKind, CloseReason, ConversationStatus
from kefu.conversations.models import Activity, Channel, Conversation
from kefu.conversations.services import InboundMessage, message_receive, message_send
from kefu.core.errors import Conflict
from kefu.core.relay import drain
from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.models import Call
from kefu.telephony.services import CtiEventIn, cti_event_record

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
NINE = datetime(2026, 11, 23, 9, 0, tzinfo=SH)
REC = "https://pbx.example.cn/rec/c1.wav"


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team,
                                                         short_abandon_seconds=5))


def post(actor: Any, call_id: str, event: str, at: datetime, now: datetime | None = None, **extra: Any) -> Any:
    extra.setdefault("caller", "13800138000")
    return cti_event_record(actor=actor, data=CtiEventIn(call_id=call_id, event=event, at=at, called="4008001234",
                                                          **extra), now=now)


def answered_events(agent: Any) -> list[tuple[str, datetime, dict[str, Any]]]:
    return [
        ("offered", NINE, {}),
        ("queued", NINE + timedelta(seconds=5), {"queue": "hotline"}),
        ("ringing", NINE + timedelta(seconds=12), {"agent": agent.username}),
        ("answered", NINE + timedelta(seconds=15), {"agent": agent.username}),
        ("held", NINE + timedelta(seconds=75), {}),
        ("resumed", NINE + timedelta(seconds=105), {}),
        ("ended", NINE + timedelta(seconds=255), {}),
        ("recording", NINE + timedelta(seconds=260), {"recording_url": REC}),
    ]


def picture(call_id: str) -> tuple[Any, ...]:
    """What anyone sees of the call's conversation: the same picture whatever order the events came in."""
    call = Call.objects.select_related("conversation").get(call_id=call_id)
    c = call.conversation
    activity = tuple(sorted((a.kind, a.created_at, a.actor_id) for a in Activity.objects.filter(conversation=c)))
    return (Conversation.objects.count(), c.channel.code, c.channel.kind, c.customer_id, c.assignee_id, c.team_id,
            c.status, c.close_reason, c.created_at, c.closed_at, c.subject, c.last_message_at, activity)


def test_an_answered_call_becomes_a_closed_phone_conversation(admin_user: Any, agent: Any, customer: Any,
                                                               hotline: Any, team: Any) -> None:
    for event, at, extra in answered_events(agent)[:4]:
        post(admin_user, "c1", event, at, **extra)
    call = Call.objects.get(call_id="c1")
    conversation = call.conversation
    assert conversation is not None  # made when answered: the agent can make an order during the call
    assert conversation.channel.kind == ChannelKind.PHONE
    assert conversation.channel.code == "phone-4008001234"
    assert conversation.customer == customer  # found by the number, as the screen pop finds them
    assert (conversation.assignee, conversation.team, conversation.status) == (agent, team, ConversationStatus.OPEN)
    assert conversation.created_at == NINE
    for event, at, extra in answered_events(agent)[4:]:
        post(admin_user, "c1", event, at, **extra)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.close_reason == CloseReason.CALL_ENDED
    assert conversation.closed_at == NINE + timedelta(seconds=255)
    assert conversation.subject == "电话咨询"
    assert Conversation.objects.count() == 1


def test_replayed_and_out_of_order_events_give_the_same_conversation_once(admin_user: Any, agent: Any,
                                                                           customer: Any, hotline: Any) -> None:
    events = answered_events(agent)
    pictures = []
    for n, order in enumerate((events, events[::-1], [events[i] for i in (6, 3, 0, 7, 1, 5, 4, 2)])):
        call_id = f"c{n}"
        for event, at, extra in order:
            post(admin_user, call_id, event, at, **extra)
        for event, at, extra in order[:3]:  # repeated: nothing changes
            assert post(admin_user, call_id, event, at, **extra).duplicate
        pictures.append(picture(call_id)[1:])
    assert pictures[0] == pictures[1] == pictures[2]
    assert Conversation.objects.count() == 3  # one per call


def test_every_order_of_a_short_call_ends_the_same(admin_user: Any, agent: Any, hotline: Any) -> None:
    short = [("queued", NINE, {"queue": "hotline"}), ("answered", NINE + timedelta(seconds=9),
                                                      {"agent": agent.username}),
             ("ended", NINE + timedelta(seconds=70), {})]
    seen = set()
    for n, order in enumerate(itertools.permutations(short)):
        for event, at, extra in order:
            post(admin_user, f"p{n}", event, at, caller="13912345678", **extra)
        seen.add(picture(f"p{n}")[2:])
    assert len(seen) == 1
    assert Channel.objects.filter(kind=ChannelKind.PHONE).count() == 1
    assert Conversation.objects.values("customer").distinct().count() == 1  # a new number: one new customer


def test_a_voicemail_waits_in_the_inbox_with_its_message(admin_user: Any, hotline: Any, team: Any,
                                                         client: Client, agent: Any) -> None:
    post(admin_user, "v1", "queued", NINE, queue="hotline")
    post(admin_user, "v1", "voicemail", NINE + timedelta(seconds=40),
         recording_url="https://pbx.example.cn/vm/v1.mp3")
    post(admin_user, "v1", "ended", NINE + timedelta(seconds=70))
    conversation = Call.objects.get(call_id="v1").conversation
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.assignee is None
    assert conversation.team == team
    assert conversation.subject == "语音留言"
    client.force_login(agent)
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert '<audio controls preload="none" src="https://pbx.example.cn/vm/v1.mp3"' in page
    assert 'data-testid="composer"' not in page  # nothing can be sent through a phone channel


def test_an_abandoned_call_is_history_unless_it_was_a_wrong_number(admin_user: Any, hotline: Any) -> None:
    post(admin_user, "a1", "queued", NINE, queue="hotline")
    post(admin_user, "a1", "abandoned", NINE + timedelta(seconds=3))
    assert Call.objects.get(call_id="a1").conversation is None  # a short abandon
    post(admin_user, "a2", "queued", NINE, queue="hotline")
    post(admin_user, "a2", "abandoned", NINE + timedelta(seconds=48))
    conversation = Call.objects.get(call_id="a2").conversation
    assert (conversation.status, conversation.close_reason) == (ConversationStatus.CLOSED, CloseReason.CALL_MISSED)
    post(admin_user, "w1", "queued", NINE, queue="hotline", caller="anonymous")
    post(admin_user, "w1", "abandoned", NINE + timedelta(seconds=48), caller="anonymous")
    assert Call.objects.get(call_id="w1").conversation is None  # withheld: nobody to put it with


def test_the_conversation_page_shows_the_calls_course_and_recording(admin_user: Any, agent: Any, customer: Any,
                                                                    hotline: Any, client: Client) -> None:
    for event, at, extra in answered_events(agent):
        post(admin_user, "c1", event, at, **extra)
    post(admin_user, "c1", "transferred", NINE + timedelta(seconds=200))
    conversation = Call.objects.get(call_id="c1").conversation
    client.force_login(agent)
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    for line in ("进入队列「服务热线」", "李客服 接听（等待 10秒）", "通话保持", "恢复通话（保持 30秒）", "通话转接",
                 "通话结束（通话 3分30秒，保持 30秒）"):
        assert line in page, line
    assert f'<audio controls preload="none" src="{REC}"' in page


def test_a_recording_that_is_not_audio_is_a_link(admin_user: Any, agent: Any, hotline: Any, client: Client) -> None:
    for event, at, extra in answered_events(agent)[:7]:
        post(admin_user, "c1", event, at, **extra)
    post(admin_user, "c1", "recording", NINE + timedelta(seconds=260),
         recording_url="https://pbx.example.cn/recordings?id=42")
    conversation = Call.objects.get(call_id="c1").conversation
    client.force_login(agent)
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "<audio" not in page
    assert 'href="https://pbx.example.cn/recordings?id=42"' in page


def test_other_channels_never_join_a_phone_conversation(admin_user: Any, agent: Any, customer: Any,
                                                        hotline: Any) -> None:
    for event, at, extra in answered_events(agent)[:4]:
        post(admin_user, "c1", event, at, **extra)
    phone = Call.objects.get(call_id="c1").conversation
    sms = Channel.objects.create(code="sms", kind=ChannelKind.SMS, name="短信")
    received = message_receive(channel=sms, inbound=InboundMessage(
        external_id="m1", identity=Identity(kind="phone", value="13800138000"), text="刚才电话断了"))
    assert received.conversation.pk != phone.pk
    assert received.conversation.channel == sms
    with pytest.raises(Conflict):
        message_send(actor=agent, conversation=phone, text="您好")


def test_a_work_order_in_one_step_from_the_call(admin_user: Any, agent: Any, customer: Any, hotline: Any,
                                                client: Client) -> None:
    for event, at, extra in answered_events(agent)[:4]:
        post(admin_user, "c1", event, at, **extra)
    call = Call.objects.get(call_id="c1")
    client.force_login(agent)
    pop = client.get(f"/calls/{call.pk}/pop/").content.decode()
    assert f'action="/conversations/{call.conversation_id}/ticket/"' in pop
    response = client.post(f"/conversations/{call.conversation_id}/ticket/")
    assert response.status_code in (200, 302)
    conversation = Conversation.objects.select_related("ticket").get(pk=call.conversation_id)
    ticket = conversation.ticket
    assert ticket is not None
    assert (ticket.channel, ticket.customer) == ("phone", customer)
    assert "c1" in ticket.description
    assert "13800138000" not in ticket.subject
    for event, at, extra in answered_events(agent)[4:]:  # the call goes on and ends: the order stays linked
        post(admin_user, "c1", event, at, **extra)
    conversation.refresh_from_db()
    assert (conversation.ticket, conversation.status) == (ticket, ConversationStatus.CLOSED)
    from kefu.tickets.services import ticket_reply

    ticket_reply(actor=agent, ticket=ticket, body="已安排师傅上门")
    drain()  # the order's reply is not sent through the call's conversation
    assert not conversation.messages.exists()


def test_after_contact_work_counts_in_the_calls_interval(admin_user: Any, agent: Any, hotline: Any,
                                                         tmp_path: Path) -> None:
    for event, at, extra in answered_events(agent)[:7]:  # reported live: the agent's state follows
        post(admin_user, "c1", event, at, now=at, **extra)
    ended = NINE + timedelta(seconds=255)
    from kefu.routing.services import StateChange, agent_state_set

    agent_state_set(actor=agent, user=agent, change=StateChange(state="available", at=ended + timedelta(seconds=25)))
    drain()
    stat = IntervalStat.objects.get(queue=hotline, start=NINE)
    assert (stat.talk_seconds, stat.hold_seconds, stat.acw_seconds) == (210, 30, 25)
    assert Call.objects.get(call_id="c1").acw_seconds == 25
    drain()  # nothing again
    assert IntervalStat.objects.get(queue=hotline, start=NINE).acw_seconds == 25
    out = tmp_path / "history.csv"
    call_command("stats", "intervals", "--queue", "hotline", "--from", "2026-11-23", "--to", "2026-11-23",
                 "--out", str(out), stdout=StringIO())
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["interval_start"], r["answered"], r["aht_seconds"]) for r in rows] == [
        ("2026-11-23T09:00+08:00", "1", "265.0")]  # talk 210 + hold 30 + after-contact work 25


def test_after_contact_work_that_runs_out_counts_its_whole_time(admin_user: Any, agent: Any, hotline: Any,
                                                                 settings: Any) -> None:
    from kefu.routing.services import agent_states_expire

    settings.KEFU_AFTER_CONTACT_SECONDS = 30
    for event, at, extra in answered_events(agent)[:7]:
        post(admin_user, "c1", event, at, now=at, **extra)
    agent_states_expire(now=NINE + timedelta(minutes=10))
    drain()
    assert IntervalStat.objects.get(queue=hotline, start=NINE).acw_seconds == 30


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs a database with real concurrent connections: runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_events_of_two_calls_of_a_new_number_at_once(admin_user: Any, agent: Any, team: Any) -> None:
    """Two first calls of a number nobody has, each answered and ended at the same moment by racing workers, to a
    hotline with no phone channel yet: one channel, one new customer, one conversation per call, no error."""
    from django.db import connections

    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def report(call_id: str, event: str, seconds: int) -> None:
        try:
            start.wait(timeout=60)
            post(admin_user, call_id, event, NINE + timedelta(seconds=seconds), caller="13700001111",
                 queue="hotline", agent=agent.username if event == "answered" else "")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=args) for args in (
        ("r1", "answered", 10), ("r1", "ended", 90), ("r2", "answered", 12), ("r2", "ended", 95))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert Channel.objects.filter(kind=ChannelKind.PHONE).count() == 1
    conversations = list(Conversation.objects.all())
    assert len(conversations) == 2
    assert len({c.customer_id for c in conversations}) == 1
    assert {c.status for c in conversations} == {ConversationStatus.CLOSED}
    assert set(Call.objects.values_list("conversation_id", flat=True)) == {c.pk for c in conversations}
