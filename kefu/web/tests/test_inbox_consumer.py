"""The agent's socket `ws/inbox/` (the live chat protocol's agent side): watch (refused for a conversation one may
not see), presence from the cache, send → ack after the commit and stored once on a resend, typing both ways
through the channel layer, read marks, the inbox counts, events of one's audiences, and bad frames answered
with errors on an open socket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from kefu.conversations import services
from kefu.conversations.live import typing_group
from kefu.conversations.models import Message, Participant
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.core.testing import FRAME_WAIT
from kefu.core.testing import in_thread as _in_thread
from kefu.web.consumers import InboxConsumer
from kefu.web.inbox import online_key

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(user: Any) -> ApplicationCommunicator:
    # asgiref's communicator (channels.testing.WebsocketCommunicator would import daphne, which Kefu does not use)
    scope = {"type": "websocket", "path": "/ws/inbox/", "headers": [], "subprotocols": [], "user": user}
    return ApplicationCommunicator(InboxConsumer.as_asgi(), scope)


class Socket:
    """A browser on ws/inbox/: send frames, wait for the frame of a type (others are kept for later)."""

    def __init__(self, user: Any) -> None:
        self.communicator = _communicator(user)
        self.seen: list[dict[str, Any]] = []

    async def connect(self) -> Socket:
        await self.communicator.send_input({"type": "websocket.connect"})
        assert (await self.communicator.receive_output(timeout=FRAME_WAIT))["type"] == "websocket.accept"
        return self

    async def send(self, frame: Any) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def expect(self, kind: str, **match: Any) -> dict[str, Any]:
        for i, frame in enumerate(self.seen):
            if frame["type"] == kind and match.items() <= frame.items():
                return self.seen.pop(i)
        for _attempt in range(50):
            output = await self.communicator.receive_output(timeout=FRAME_WAIT)
            assert output["type"] == "websocket.send", output
            frame = json.loads(output["text"])
            if frame["type"] == kind and match.items() <= frame.items():
                return frame
            self.seen.append(frame)
        raise AssertionError(f"no {kind} frame; got {self.seen}")

    async def nothing(self, kind: str) -> bool:
        while not await self.communicator.receive_nothing(timeout=0.3):
            self.seen.append(json.loads((await self.communicator.receive_output(timeout=1))["text"]))
        return not any(f["type"] == kind for f in self.seen)

    async def close(self) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(timeout=FRAME_WAIT)


@pytest.fixture
def channel(team: Any) -> Any:
    return ChannelFactory(code="app", name="会员 App", team=team)


@pytest.fixture
def conversation(channel: Any, agent: Any) -> Any:
    conversation = services.message_receive(channel=channel, inbound=inbound("m1", text="在吗")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    return conversation


@pytest.fixture
def outside(other_team: Any) -> Any:
    other = ChannelFactory(code="app2", team=other_team)
    return services.message_receive(channel=other, inbound=inbound("o1", external_id="o", text="二组")).conversation


def test_anonymous_is_refused() -> None:
    async def run() -> None:
        communicator = _communicator(AnonymousUser())
        await communicator.send_input({"type": "websocket.connect"})
        assert await communicator.receive_output(timeout=FRAME_WAIT) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_counts_on_connect_and_watch_refused_for_an_invisible_conversation(agent: Any, conversation: Any,
                                                                           outside: Any) -> None:
    async def run() -> None:
        socket = await Socket(agent).connect()
        counts = await socket.expect("inbox_counts")
        assert counts["counts"] == {"mine": 1, "waiting": 0}
        await socket.send({"type": "watch", "conversation": outside.pk})
        refused = await socket.expect("error")
        assert (refused["code"], refused["field"]) == ("not_found", "conversation")
        cache.set(online_key(conversation.pk), "1", 90)
        await socket.send({"type": "watch", "conversation": conversation.pk})
        assert (await socket.expect("presence"))["online"] is True
        await socket.close()

    async_to_sync(run)()


def test_send_is_acknowledged_and_stored_once_on_a_resend(agent: Any, conversation: Any) -> None:
    async def run() -> None:
        socket = await Socket(agent).connect()
        frame = {"type": "send", "conversation": conversation.pk, "client_id": "c-42", "text": "您好，马上为您查询"}
        await socket.send(frame)
        ack = await socket.expect("ack", client_id="c-42")
        await socket.send(frame)  # the browser did not hear the ack and sends again
        again = await socket.expect("ack", client_id="c-42")
        assert (again["id"], again["seq"]) == (ack["id"], ack["seq"])
        message = await _in_thread(lambda: Message.objects.get(pk=ack["id"]))
        assert (message.body, message.seq, message.author_id) == ("您好，马上为您查询", ack["seq"], agent.pk)
        assert await _in_thread(lambda: Message.objects.filter(client_id="c-42").count()) == 1
        read = await _in_thread(lambda: Participant.objects.get(conversation=conversation, user=agent).last_read_seq)
        assert read == ack["seq"]
        await socket.close()

    async_to_sync(run)()


def test_a_refused_send_names_its_client_id(agent: Any, other_agent: Any, conversation: Any) -> None:
    async def run() -> None:
        socket = await Socket(agent).connect()
        await socket.send({"type": "send", "conversation": conversation.pk, "client_id": "c-1", "text": "   "})
        error = await socket.expect("error", client_id="c-1")
        assert (error["code"], error["field"]) == ("invalid", "text")
        outsider = await Socket(other_agent).connect()
        await outsider.send({"type": "send", "conversation": conversation.pk, "client_id": "c-2", "text": "插话"})
        assert (await outsider.expect("error", client_id="c-2"))["code"] == "not_found"
        assert await _in_thread(lambda: Message.objects.filter(client_id__in=["c-1", "c-2"]).count()) == 0
        await socket.close()
        await outsider.close()

    async_to_sync(run)()


def test_typing_goes_to_the_chat_group_and_the_customer_typing_comes_back(agent: Any, conversation: Any) -> None:
    async def run() -> None:
        layer = get_channel_layer()
        listener = await layer.new_channel()
        await layer.group_add(typing_group(conversation.pk), listener)
        socket = await Socket(agent).connect()
        await socket.send({"type": "watch", "conversation": conversation.pk})
        await socket.expect("presence")
        await socket.send({"type": "typing", "conversation": conversation.pk})
        heard = await layer.receive(listener)
        assert heard == {"type": "chat.signal",
                         "signal": {"type": "typing", "from": "agent", "conversation": conversation.pk}}
        assert await socket.nothing("typing")  # one's own side is not echoed
        await layer.group_send(typing_group(conversation.pk), {
            "type": "chat.signal", "signal": {"type": "typing", "from": "customer", "conversation": conversation.pk}})
        assert (await socket.expect("typing"))["from"] == "customer"
        await layer.group_send(typing_group(conversation.pk), {
            "type": "chat.signal", "signal": {"type": "presence", "online": False, "conversation": conversation.pk}})
        assert (await socket.expect("presence"))["online"] is False
        await layer.group_discard(typing_group(conversation.pk), listener)
        await socket.close()

    async_to_sync(run)()


def test_read_marks_how_far_the_agent_has_read(agent: Any, conversation: Any, channel: Any) -> None:
    async def run() -> None:
        await _in_thread(lambda: services.message_receive(channel=channel, inbound=inbound("m2", text="还在吗")))
        socket = await Socket(agent).connect()
        await socket.send({"type": "read", "conversation": conversation.pk, "seq": 2})
        await socket.send({"type": "ping"})
        await socket.expect("pong")
        read = await _in_thread(lambda: Participant.objects.get(conversation=conversation, user=agent).last_read_seq)
        assert read == 2
        await socket.close()

    async_to_sync(run)()


def test_events_of_ones_audiences_arrive_with_the_message(agent: Any, other_agent: Any, conversation: Any,
                                                          channel: Any) -> None:
    """A customer's message on the agent's conversation reaches the agent's inbox socket with the conversation
    and the message (the relay of this process, or with Redis the one run after commit), not another team's."""

    async def run() -> None:
        socket = await Socket(agent).connect()
        outsider = await Socket(other_agent).connect()
        await _in_thread(lambda: services.message_receive(channel=channel, inbound=inbound("m3", text="订单号 123")))
        event = await socket.expect("event", event="conversation.message_received")
        assert event["conversation"]["id"] == conversation.pk
        assert (event["message"]["body"], event["message"]["seq"]) == ("订单号 123", 2)
        assert await outsider.nothing("event")
        await socket.close()
        await outsider.close()

    async_to_sync(run)()


def test_bad_frames_get_errors_and_the_socket_stays_open(agent: Any, conversation: Any) -> None:
    async def run() -> None:
        socket = await Socket(agent).connect()
        for frame, code in (("not json", "bad_frame"), ("[1, 2]", "bad_frame"), ({"type": "dance"}, "bad_request"),
                            ({"type": "watch", "conversation": "x"}, "bad_request"),
                            ({"type": "watch", "conversation": 10**12}, "bad_request"),
                            ({"type": "read", "conversation": conversation.pk, "seq": -1}, "bad_request"),
                            ({"type": "send", "conversation": conversation.pk, "text": 5}, "bad_request"),
                            ({"type": "watch", "conversation": 999999}, "not_found")):
            await socket.send(frame)
            assert (await socket.expect("error"))["code"] == code, frame
        await socket.send({"type": "ping"})
        await socket.expect("pong")
        await socket.close()

    async_to_sync(run)()


def test_every_pages_socket_fills_the_inbox_badge(agent: Any, department_user: Any, conversation: Any,
                                                 channel: Any) -> None:
    """The sidebar's badge costs the page's request nothing: the workspace socket counts on connecting, and
    again when asked (after a conversation event); department staff, who have no inbox, get no counts."""
    from kefu.web.consumers import WorkspaceConsumer

    def workspace(user: Any) -> Socket:
        socket = Socket(user)
        socket.communicator = ApplicationCommunicator(WorkspaceConsumer.as_asgi(), {
            "type": "websocket", "path": "/ws/workspace/", "headers": [], "subprotocols": [], "user": user})
        return socket

    async def run() -> None:
        page = await workspace(agent).connect()
        assert (await page.expect("inbox_counts"))["counts"] == {"mine": 1, "waiting": 0}
        await _in_thread(lambda: services.message_receive(channel=channel, inbound=inbound(
            "n1", external_id="new", text="新客户")))
        await page.send({"type": "inbox_counts"})
        assert (await page.expect("inbox_counts"))["counts"] == {"mine": 1, "waiting": 1}
        department = await workspace(department_user).connect()
        await department.send({"type": "inbox_counts"})
        assert await department.nothing("inbox_counts")
        await page.close()
        await department.close()

    async_to_sync(run)()
