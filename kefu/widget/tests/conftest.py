"""Fixtures of the widget's tests: a chat channel of the personas' team that allows one shop's site, a visitor
and their token, and a websocket client speaking the protocol through Kefu's real ASGI router."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from kefu.conversations.tests.factories import ChannelFactory
from kefu.core.testing import FRAME_WAIT
from kefu.widget.visitors import Visitor, new_visitor_id, token_for

SHOP = "https://shop.example.com"
IDENTITY_SECRET = "host-site-secret"


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Any:
    """Each test runs its own event loop (async_to_sync); the Redis channel layer keeps per-loop locks and
    connections, so each test gets a layer of its own (a server has one loop and one layer)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def chat(team: Any) -> Any:
    return ChannelFactory(chat=True, code="web", team=team, config={"allowed_origins": [SHOP]},
                          secrets={"identity_secret": IDENTITY_SECRET})


@pytest.fixture
def visitor(chat: Any) -> Visitor:
    return Visitor(code=chat.code, id=new_visitor_id())


@pytest.fixture
def token(visitor: Visitor) -> str:
    return token_for(visitor)


class Socket:
    """One websocket connection to Kefu's ASGI websocket router (asgiref's communicator: channels.testing would
    import daphne, which Kefu does not use)."""

    def __init__(self, path: str, *, origin: str | None = SHOP, host: str = "testserver") -> None:
        from kefu.config.asgi import websocket

        route, _sep, query = path.partition("?")
        headers = [(b"host", host.encode())]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        scope = {"type": "websocket", "path": route, "raw_path": route.encode(), "query_string": query.encode(),
                 "headers": headers, "subprotocols": [], "client": ("127.0.0.1", 5000)}
        self.communicator = ApplicationCommunicator(websocket, scope)

    async def connect(self) -> None:
        """The handshake: Kefu accepts every well-formed connection, then closes a refused one with its code."""
        await self.communicator.send_input({"type": "websocket.connect"})
        assert (await self.communicator.receive_output(timeout=FRAME_WAIT))["type"] == "websocket.accept"

    async def refused(self) -> int:
        """The close code of a connection Kefu refused (it closes right after accepting)."""
        await self.connect()
        message = await self.communicator.receive_output(timeout=FRAME_WAIT)
        assert message["type"] == "websocket.close", message
        await self.close()  # as a server does once the socket is closed: the consumer ends
        return int(message["code"])

    async def send(self, frame: Any) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    # A ceiling, not a measure: a frame that comes returns at once; a loaded CI machine (two test processes, the
    # database, the knowledge index embedding questions) once took more than 5 s to deliver one.
    async def receive(self, timeout: float = FRAME_WAIT) -> dict[str, Any]:
        message = await self.communicator.receive_output(timeout=timeout)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])  # type: ignore[no-any-return]

    async def receive_type(self, kind: str, timeout: float = FRAME_WAIT, limit: int = 50) -> dict[str, Any]:
        """The next frame of this type (others before it are skipped)."""
        for _ in range(limit):
            frame = await self.receive(timeout)
            if frame.get("type") == kind:
                return frame
        raise AssertionError(f"no {kind} frame")

    async def none_of_type(self, kind: str, timeout: float = 0.3) -> bool:
        """True when no frame of this type arrives within the timeout. Other frames (a delivery report or the
        live copy of the visitor's own message, which may come late on a loaded machine) are read and skipped."""
        while not await self.communicator.receive_nothing(timeout=timeout):
            if (await self.receive())["type"] == kind:
                return False
        return True

    async def ask(self, frame: Any, kind: str) -> dict[str, Any]:
        await self.send(frame)
        return await self.receive_type(kind)

    async def close(self) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(timeout=10)


@pytest.fixture
def socket() -> Any:
    """socket(code, token, origin=SHOP) → a Socket, connected by `await s.connect()`."""

    def make(code: str, token: str, **kwargs: Any) -> Socket:
        return Socket(f"/ws/chat/{code}/?token={token}", **kwargs)

    return make

