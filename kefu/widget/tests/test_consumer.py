"""The visitor's websocket, through Kefu's real websocket router: refusals (token, origin), messages stored before
they are acknowledged and stored once however often they are sent, resuming after the last seq seen, the agent's
reply arriving through the relay, typing both ways on the chat group, presence, closing, rating, read receipts, and
bad frames answered with an error frame on a socket that stays open."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

from kefu.conversations import services
from kefu.conversations.choices import CloseReason, ConversationStatus, DeliveryState, Direction
from kefu.conversations.models import Conversation, Message
from kefu.core.testing import FRAME_WAIT, in_thread
from kefu.widget.consumers import BAD_ORIGIN, BAD_TOKEN, presence_key
from kefu.widget.tests.conftest import SHOP
from kefu.widget.visitors import Visitor, new_visitor_id, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def run(coroutine: Any) -> Any:
    return async_to_sync(coroutine)()


def cid() -> str:
    return uuid.uuid4().hex


# --- refusals -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "not-a-token", "x" * 5000])
def test_a_connection_without_a_valid_token_is_closed_4401(chat: Any, socket: Any, bad: str) -> None:
    async def go() -> None:
        assert await socket(chat.code, bad).refused() == BAD_TOKEN

    run(go)


def test_a_token_of_another_channel_or_an_unknown_channel_is_refused(chat: Any, socket: Any, team: Any) -> None:
    from kefu.conversations.tests.factories import ChannelFactory

    other = ChannelFactory(chat=True, code="other-site", team=team)
    foreign = token_for(Visitor(code=other.code, id=new_visitor_id()))

    async def go() -> None:
        assert await socket(chat.code, foreign).refused() == BAD_TOKEN
        assert await socket("nowhere", foreign).refused() == BAD_TOKEN

    run(go)


def test_an_origin_the_channel_does_not_allow_is_closed_4403(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        assert await socket(chat.code, token, origin="https://evil.example").refused() == BAD_ORIGIN
        assert await socket(chat.code, token, origin=None).refused() == BAD_ORIGIN
        for allowed in (SHOP, "http://testserver"):  # the channel's site, and Kefu's own frame
            sock = socket(chat.code, token, origin=allowed)
            await sock.connect()
            assert (await sock.ask({"type": "ping"}, "pong")) == {"type": "pong"}
            await sock.close()

    run(go)


def test_a_channel_open_to_every_site_takes_any_origin_and_apps_without_one(chat: Any, socket: Any,
                                                                             token: str) -> None:
    chat.config = {"allowed_origins": ["*"]}
    chat.save()

    async def go() -> None:
        for origin in ("https://anyone.example", None):
            sock = socket(chat.code, token, origin=origin)
            await sock.connect()
            assert (await sock.ask({"type": "ping"}, "pong"))["type"] == "pong"
            await sock.close()

    run(go)


def test_staff_websockets_keep_the_host_check_and_the_session(chat: Any) -> None:
    """The widget's route has its own origin check; the workspace's is still refused from a foreign origin."""
    from kefu.widget.tests.conftest import Socket

    async def go() -> None:
        staff = Socket("/ws/workspace/", origin="https://evil.example")
        await staff.communicator.send_input({"type": "websocket.connect"})
        assert (await staff.communicator.receive_output(timeout=FRAME_WAIT))["type"] == "websocket.close"
        await staff.close()
        anonymous = Socket("/ws/workspace/", origin="http://testserver")
        await anonymous.communicator.send_input({"type": "websocket.connect"})
        closed = await anonymous.communicator.receive_output(timeout=FRAME_WAIT)
        assert closed == {"type": "websocket.close", "code": 4401}
        await anonymous.close()

    run(go)


# --- messages -----------------------------------------------------------------------------------------------


def test_a_message_is_acknowledged_after_it_is_stored_and_stored_once_when_resent(chat: Any, socket: Any,
                                                                               token: str, visitor: Visitor,
                                                                               team: Any) -> None:
    client_id = cid()

    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        history = await sock.ask({"type": "resume", "after": 0}, "history")
        assert history == {"type": "history", "conversation": None, "messages": []}
        ack = await sock.ask({"type": "message", "client_id": client_id, "text": "你好，我家漏水了"}, "ack")
        stored = await in_thread(lambda: Message.objects.get(pk=ack["id"]))
        assert (stored.body, stored.seq, stored.direction) == ("你好，我家漏水了", 1, Direction.INBOUND)
        assert stored.external_id == f"visitor:{visitor.id}:{client_id}"
        assert ack == {"type": "ack", "client_id": client_id, "id": stored.pk, "seq": 1,
                       "conversation_id": stored.conversation_id}
        again = await sock.ask({"type": "message", "client_id": client_id, "text": "你好，我家漏水了"}, "ack")
        assert again == ack
        await sock.close()
        # a new connection (a reconnect) resending it: the same answer still
        sock = socket(chat.code, token)
        await sock.connect()
        assert await sock.ask({"type": "message", "client_id": client_id, "text": "你好，我家漏水了"}, "ack") == ack
        await sock.close()

    run(go)
    conversation = Conversation.objects.get()
    assert Message.objects.count() == 1
    assert (conversation.identity_kind, conversation.identity_value, conversation.team_id) == (
        "visitor", visitor.id, team.pk)
    assert conversation.status == ConversationStatus.OPEN


def test_the_first_message_opens_the_conversation_and_starts_the_first_response_clock(chat: Any, socket: Any,
                                                                                      token: str) -> None:
    from kefu.clocks.models import Clock

    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        await sock.ask({"type": "message", "client_id": cid(), "text": "在吗"}, "ack")
        await sock.close()

    run(go)
    clock = Clock.objects.get(metric=services.FIRST_RESPONSE)
    assert clock.target_seconds == 30


def test_resume_answers_the_messages_after_the_last_seq_seen(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        acks = [await sock.ask({"type": "message", "client_id": cid(), "text": f"第 {n} 条"}, "ack")
                for n in (1, 2, 3)]
        conversation_id = acks[0]["conversation_id"]
        await sock.close()
        sock = socket(chat.code, token)
        await sock.connect()
        history = await sock.ask({"type": "resume", "after": 1, "conversation": conversation_id}, "history")
        assert history["conversation"] == {"id": conversation_id, "status": "open", "csat_score": None}
        assert [(m["seq"], m["body"], m["direction"]) for m in history["messages"]] == [
            (2, "第 2 条", "in"), (3, "第 3 条", "in")]
        assert history["messages"][0]["id"] == acks[1]["id"]
        # a client that knew another conversation gets all of this one
        history = await sock.ask({"type": "resume", "after": 2, "conversation": conversation_id + 1000}, "history")
        assert [m["seq"] for m in history["messages"]] == [1, 2, 3]
        await sock.close()

    run(go)


def test_the_agents_reply_arrives_through_the_relay(chat: Any, socket: Any, token: str, agent: Any) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        ack = await sock.ask({"type": "message", "client_id": cid(), "text": "请问物业电话？"}, "ack")
        conversation = await in_thread(lambda: Conversation.objects.get(pk=ack["conversation_id"]))
        reply = await in_thread(lambda: services.message_send(actor=agent, conversation=conversation,
                                                              text="您好，物业电话是 8888-6666"))
        for _ in range(20):  # the visitor's own message may come back first: dedupe by id
            frame = await sock.receive_type("message")
            if frame["message"]["id"] == reply.pk:
                break
        assert frame["message"]["body"] == "您好，物业电话是 8888-6666"
        assert (frame["message"]["direction"], frame["message"]["author"], frame["message"]["seq"]) == (
            "out", "agent", 2)
        assert frame["message"]["name"] == str(agent)  # the name customers see, never the login
        joined = await sock.receive_type("agent_joined")  # replying picked the conversation up
        assert joined == {"type": "agent_joined"}
        await sock.close()

    run(go)


def test_prechat_details_reach_the_customer_record(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        error = await sock.ask({"type": "prechat", "name": "张三", "phone": "13800001111", "text": ""}, "error")
        assert (error["code"], error["field"]) == ("invalid", "text")  # the question is required by default
        ack = await sock.ask({"type": "prechat", "client_id": cid(), "name": "张三", "phone": "13800001111",
                              "email": "", "text": "电梯坏了"}, "ack")
        assert ack["seq"] == 1
        await sock.close()

    run(go)
    conversation = Conversation.objects.select_related("customer").get()
    assert conversation.customer.name == "张三"
    assert list(conversation.customer.contacts.values_list("kind", "value")) == [("phone", "13800001111")]


# --- typing and presence ------------------------------------------------------------------------------------


def test_typing_passes_between_the_visitor_and_the_agent_side_of_the_chat_group(chat: Any, socket: Any,
                                                                              token: str) -> None:
    from kefu.conversations.live import typing_group

    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        ack = await sock.ask({"type": "message", "client_id": cid(), "text": "你好"}, "ack")
        conversation_id = ack["conversation_id"]
        layer = get_channel_layer()
        agent_side = await layer.new_channel()
        await layer.group_add(typing_group(conversation_id), agent_side)
        await sock.send({"type": "typing"})
        for _ in range(5):
            signal = (await asyncio.wait_for(layer.receive(agent_side), 10))["signal"]
            if signal["type"] == "typing":
                break
        assert signal == {"type": "typing", "from": "customer", "conversation": conversation_id}
        await layer.group_send(typing_group(conversation_id), {"type": "chat.signal", "signal": {
            "type": "typing", "from": "agent", "conversation": conversation_id}})
        assert await sock.receive_type("typing") == {"type": "typing", "from": "agent"}
        # the visitor's own side is not sent back to it
        await layer.group_send(typing_group(conversation_id), {"type": "chat.signal", "signal": {
            "type": "typing", "from": "customer", "conversation": conversation_id}})
        assert await sock.none_of_type("typing")
        await sock.close()
        await layer.group_discard(typing_group(conversation_id), agent_side)

    run(go)


def test_presence_is_kept_in_the_cache_while_the_visitor_is_connected(chat: Any, socket: Any, token: str) -> None:
    from kefu.conversations.live import typing_group

    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        ack = await sock.ask({"type": "message", "client_id": cid(), "text": "你好"}, "ack")
        key = presence_key(ack["conversation_id"])
        assert await cache.aget(key) == "1"
        await sock.close()
        assert await cache.aget(key) is None
        layer = get_channel_layer()
        agent_side = await layer.new_channel()
        await layer.group_add(typing_group(ack["conversation_id"]), agent_side)
        sock = socket(chat.code, token)
        await sock.connect()  # a returning visitor with an open conversation is online at once
        signal = (await asyncio.wait_for(layer.receive(agent_side), 10))["signal"]
        assert signal == {"type": "presence", "online": True, "conversation": ack["conversation_id"]}
        assert await cache.aget(key) == "1"
        await sock.close()
        signal = (await asyncio.wait_for(layer.receive(agent_side), 10))["signal"]
        assert signal == {"type": "presence", "online": False, "conversation": ack["conversation_id"]}

    run(go)


# --- read receipts ------------------------------------------------------------------------------------------


def test_read_receipts_both_ways(chat: Any, socket: Any, token: str, agent: Any) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        ack = await sock.ask({"type": "message", "client_id": cid(), "text": "你好"}, "ack")
        conversation = await in_thread(lambda: Conversation.objects.get(pk=ack["conversation_id"]))
        # the agent reads the visitor's message: a receipt under it
        await in_thread(lambda: services.messages_mark_read(conversation=conversation, up_to_seq=1,
                                                            direction=Direction.INBOUND))
        receipt = await sock.receive_type("receipt")
        assert receipt == {"type": "receipt", "id": ack["id"], "seq": 1, "state": "read"}
        reply = await in_thread(lambda: services.message_send(actor=agent, conversation=conversation, text="您好"))
        await sock.send({"type": "read", "seq": reply.seq})
        for _ in range(10):
            receipt = await sock.receive_type("receipt")
            if receipt["id"] == reply.pk:
                break
        assert receipt["state"] == "read"
        await sock.close()
        assert (await in_thread(lambda: Message.objects.get(pk=reply.pk).delivery_state)) == DeliveryState.READ

    run(go)


# --- the end and the rating -----------------------------------------------------------------------------------


def test_the_agent_closing_reaches_the_visitor_who_then_rates(chat: Any, socket: Any, token: str,
                                                              agent: Any) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        ack = await sock.ask({"type": "message", "client_id": cid(), "text": "谢谢"}, "ack")
        error = await sock.ask({"type": "rate", "score": 5}, "error")
        assert error["code"] == "not_closed"
        conversation = await in_thread(lambda: Conversation.objects.get(pk=ack["conversation_id"]))
        await in_thread(lambda: services.conversation_close(actor=agent, conversation=conversation,
                                                            reason=CloseReason.RESOLVED))
        assert await sock.receive_type("closed") == {"type": "closed", "reason": "resolved"}
        error = await sock.ask({"type": "rate", "score": 6}, "error")
        assert (error["code"], error["field"]) == ("invalid", "score")
        rated = await sock.ask({"type": "rate", "score": 5, "comment": "很快就解决了"}, "rated")
        assert rated == {"type": "rated", "conversation": conversation.pk, "score": 5}
        again = await sock.ask({"type": "rate", "score": 1}, "error")
        assert again["code"] == "already_rated"
        await sock.close()

    run(go)
    conversation = Conversation.objects.get()
    assert (conversation.csat_score, conversation.csat_comment) == (5, "很快就解决了")


def test_the_visitor_ends_the_chat_as_the_widget(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        error = await sock.ask({"type": "end"}, "error")
        assert error["code"] == "no_conversation"
        await sock.ask({"type": "message", "client_id": cid(), "text": "不用了"}, "ack")
        assert await sock.ask({"type": "end"}, "closed") == {"type": "closed", "reason": "customer_left"}
        history = await sock.ask({"type": "resume", "after": 0}, "history")  # a reload: still shown, to rate
        assert history["conversation"]["status"] == "closed"
        await sock.close()

    run(go)
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.close_reason, conversation.closed_by) == (
        ConversationStatus.CLOSED, CloseReason.CUSTOMER_LEFT, None)
    from kefu.core.models import OutboxEvent

    closed = OutboxEvent.objects.get(type="conversation.closed")
    assert closed.payload["data"] == {"reason": "customer_left", "by_id": None}


def test_a_message_after_the_end_opens_a_new_conversation(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        first = await sock.ask({"type": "message", "client_id": cid(), "text": "一"}, "ack")
        await sock.ask({"type": "end"}, "closed")
        second = await sock.ask({"type": "message", "client_id": cid(), "text": "二"}, "ack")
        assert second["conversation_id"] != first["conversation_id"]
        assert second["seq"] == 1
        await sock.close()

    run(go)


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "code"), [
    ("not json", "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ({"no": "type"}, "bad_frame"),
    ({"type": "dance"}, "bad_frame"),
    ({"type": "message", "text": "没有编号"}, "bad_client_id"),
    ({"type": "message", "client_id": "../../etc", "text": "x"}, "bad_client_id"),
    ({"type": "message", "client_id": "abc", "text": "   "}, "invalid"),
    ({"type": "message", "client_id": "abc", "text": 42}, "invalid"),
    ({"type": "message", "client_id": "abc", "text": "长" * 5001}, "invalid"),
    ({"type": "read", "seq": "x"}, "no_conversation"),
    ({"type": "prechat", "client_id": "abc", "name": "x", "phone": "not a phone", "text": "问"}, "invalid"),
])
def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(chat: Any, socket: Any, token: str, frame: Any,
                                                                  code: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        await sock.send(frame)
        error = await sock.receive()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        assert "Traceback" not in error["message"]
        assert (await sock.ask({"type": "ping"}, "pong"))["type"] == "pong"
        await sock.close()

    run(go)
    assert not Message.objects.exists()


def test_a_client_sending_too_fast_is_told_so_not_disconnected(chat: Any, socket: Any, token: str) -> None:
    async def go() -> None:
        sock = socket(chat.code, token)
        await sock.connect()
        for _ in range(40):
            await sock.send({"type": "ping"})
        answers = [await sock.receive() for _ in range(40)]
        assert {a["type"] for a in answers} == {"pong", "error"}
        assert {a["code"] for a in answers if a["type"] == "error"} == {"throttled"}
        await sock.close()

    run(go)


def test_error_messages_follow_the_widgets_language(chat: Any, token: str) -> None:
    from kefu.widget.tests.conftest import Socket

    async def go() -> None:
        sock = Socket(f"/ws/chat/{chat.code}/?lang=en&token={token}")
        await sock.connect()
        error = await sock.ask("nonsense", "error")
        assert error["message"] == "Unrecognised message"
        await sock.close()

    run(go)


def test_an_idle_chat_socket_outlasts_the_channel_layers_blocking_read() -> None:
    """With Redis, the channel layer waits in a blocking pop of 5 s; redis-py 8 gives up reading after 5 s unless told
    otherwise, which would close every idle chat socket (an error every 5 s). Kefu reads without a timeout."""
    from django.conf import settings

    layer = get_channel_layer()
    if not settings.REDIS_URL:
        pytest.skip("the in-memory channel layer reads nothing from a socket")
    assert all("socket_timeout" in host and host["socket_timeout"] is None for host in layer.hosts), layer.hosts
