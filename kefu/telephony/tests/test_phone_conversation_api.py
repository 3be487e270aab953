"""A call and its phone conversation name each other: the call's API payload and its `call.changed` events carry
`conversation_id` (null while it has none), a conversation's API output its `call` (null for other channels);
and the conversation page says which call it follows, so its card and lines refresh on that call's events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kefu.apiutils.testing import ApiClient, api_as
from kefu.conversations.models import Conversation
from kefu.core.models import OutboxEvent
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.models import Call
from kefu.telephony.services import CtiEventIn, cti_event_record

pytestmark = pytest.mark.django_db
NINE = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team,
                                                         short_abandon_seconds=5))


@pytest.fixture
def pbx(admin_user: Any) -> ApiClient:
    from kefu.accounts.services import api_token_create

    return ApiClient(api_token_create(actor=admin_user, name="PBX", scopes=["telephony"]).key)


def report(pbx: ApiClient, call_id: str, event: str, seconds: int, **extra: Any) -> dict[str, Any]:
    response = pbx.post("/cti/events", {"call_id": call_id, "event": event,
                                        "at": (NINE + timedelta(seconds=seconds)).isoformat(),
                                        "caller": "13800138000", "called": "4008001234", "queue": "hotline",
                                        **extra})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_calls_payload_names_its_conversation_once_it_has_one(pbx: ApiClient, agent: Any, customer: Any,
                                                                  hotline: Any) -> None:
    assert report(pbx, "c1", "offered", 0)["call"]["conversation_id"] is None
    assert report(pbx, "c1", "queued", 5)["call"]["conversation_id"] is None  # not history yet
    answered = report(pbx, "c1", "answered", 15, agent=agent.username)["call"]
    conversation = Call.objects.get(call_id="c1").conversation
    assert conversation is not None
    assert answered["conversation_id"] == conversation.pk
    assert report(pbx, "c1", "held", 60)["call"]["conversation_id"] == conversation.pk
    # the events say it too: the answer's, and every one after it
    pushed = [e.payload["call"]["conversation_id"]
              for e in OutboxEvent.objects.filter(type="call.changed").order_by("pk")]
    assert pushed == [None, None, conversation.pk, conversation.pk]


def test_a_short_abandon_has_no_conversation(pbx: ApiClient, hotline: Any) -> None:
    report(pbx, "c2", "offered", 0)
    report(pbx, "c2", "queued", 1)
    assert report(pbx, "c2", "abandoned", 3)["call"]["conversation_id"] is None


def test_a_phone_conversation_names_its_call_and_others_none(pbx: ApiClient, agent: Any, manager: Any,
                                                             customer: Any, hotline: Any) -> None:
    from kefu.conversations.adapters.base import Identity
    from kefu.conversations.models import Channel
    from kefu.conversations.services import InboundMessage, message_receive

    for event, seconds, extra in (("offered", 0, {}), ("queued", 5, {}), ("answered", 15, {"agent": agent.username}),
                                  ("ended", 200, {})):
        report(pbx, "c1", event, seconds, **extra)
    call = Call.objects.get(call_id="c1")
    chat = Channel.objects.create(code="web", kind="chat", name="官网咨询", team=agent.team)
    other = message_receive(channel=chat, inbound=InboundMessage(
        identity=Identity(kind="visitor", value="v-1", name="访客"), text="你好", external_id="m1")).conversation
    api = api_as(manager)
    one = api.get(f"/conversations/{call.conversation_id}").json()
    assert (one["channel_kind"], one["call"]) == ("phone", {"id": call.pk, "call_id": "c1"})
    assert api.get(f"/conversations/{other.pk}").json()["call"] is None
    with CaptureQueriesContext(connection) as listed_queries:
        listed = api.get("/conversations?view=all").json()["items"]
    by_id = {row["id"]: row["call"] for row in listed}
    assert by_id == {call.conversation_id: {"id": call.pk, "call_id": "c1"}, other.pk: None}
    with CaptureQueriesContext(connection) as more_queries:  # the call is read with the page, not per row
        for n in range(2, 6):
            report(pbx, f"c{n}", "offered", n * 300)
            report(pbx, f"c{n}", "answered", n * 300 + 10, agent=agent.username)
    assert more_queries  # (the calls above)
    with CaptureQueriesContext(connection) as again:
        assert len(api.get("/conversations?view=all").json()["items"]) == 6
    assert len(again.captured_queries) == len(listed_queries.captured_queries)
    # an action's answer too
    closed = api.post(f"/conversations/{Call.objects.get(call_id='c3').conversation_id}/close",
                      {"reason": "resolved"}).json()
    assert closed["call"]["call_id"] == "c3"


def test_a_call_deleted_leaves_its_conversation_without_one(pbx: ApiClient, agent: Any, manager: Any,
                                                            customer: Any, hotline: Any) -> None:
    report(pbx, "c1", "offered", 0)
    report(pbx, "c1", "answered", 15, agent=agent.username)
    conversation_id = Call.objects.get(call_id="c1").conversation_id
    Call.objects.filter(call_id="c1").delete()
    assert Conversation.objects.filter(pk=conversation_id).exists()
    body = api_as(manager).get(f"/conversations/{conversation_id}").json()
    assert (body["channel_kind"], body["call"]) == ("phone", None)


def test_the_page_of_a_phone_conversation_says_which_call_it_follows(admin_user: Any, agent: Any, customer: Any,
                                                                     hotline: Any, client: Client) -> None:
    for event, seconds, extra in (("offered", 0, {}), ("queued", 5, {"queue": "hotline"}),
                                  ("answered", 15, {"agent": agent.username})):
        cti_event_record(actor=admin_user, data=CtiEventIn(call_id="c1", event=event,
                                                           at=NINE + timedelta(seconds=seconds),
                                                           caller="13800138000", called="4008001234", **extra))
    call = Call.objects.get(call_id="c1")
    client.force_login(agent)
    page = client.get(f"/conversations/{call.conversation_id}/").content.decode()
    assert f'data-call="{call.pk}"' in page
    assert "data-call-card" in page
    # the fragment the page asks for on each call.changed: the pane, with the call's latest line
    cti_event_record(actor=admin_user, data=CtiEventIn(call_id="c1", event="held", at=NINE + timedelta(seconds=60),
                                                       caller="13800138000", called="4008001234"))
    fragment = client.get(f"/conversations/{call.conversation_id}/", HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="conv-pane").content.decode()
    assert "<html" not in fragment
    for part in ("通话保持", "data-call-card", "data-messages"):
        assert part in fragment, part
    # the call's event reaches the agent's socket groups: its agent and the queue's team
    changed = OutboxEvent.objects.filter(type="call.changed").latest("pk")
    assert {f"user.{agent.pk}", f"team.{hotline.team_id}"} <= set(changed.audience)
