"""The floor of bench/chat_load.py: a bare Channels server that relays each chat frame to its conversation's pair
over the Redis channel layer — no database, no sessions, no Kefu. It speaks just enough of the live chat protocol
(docs/conversations.md) for the same clients to drive it: a `message` (visitor) or `send` (agent) frame is
acknowledged at once and published to the pair's group, whose two sockets write it out as the visitor's
`message` frame and the agent's `event` frame; `typing` goes to the partner. chat_load.py serves it with the same
uvicorn settings as Kefu:

    CHATBENCH_REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python -m uvicorn chat_echo:application \\
        --app-dir bench --port 8001 --workers 2 --lifespan off --log-level warning

Websocket routes: `/echo/<pair>/visitor/` and `/echo/<pair>/agent/`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # as for Kefu in chat_settings.py: redis-py 8's defaults (5 s socket timeout, 100 connections) break the layer
        "CONFIG": {"hosts": [{"address": os.environ.get("CHATBENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
                              "socket_timeout": None, "max_connections": 1000}],
                   "prefix": "chatbench-echo"},
    }},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402  (settings first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

VISITOR, AGENT = "visitor", "agent"


def _dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class PairConsumer(AsyncWebsocketConsumer):
    """One side of a conversation: both sides join the group `pair.<n>`; what one sends, both hear (as in Kefu,
    where the sender's own message comes back through the relay too)."""

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.side = VISITOR if kwargs["side"] == VISITOR else AGENT
        self.group = f"pair.{int(kwargs['pair'])}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind in ("message", "send"):
            client_id = str(frame.get("client_id", ""))
            await self.send(_dump({"type": "ack", "client_id": client_id, "id": client_id, "seq": 0,
                                   "conversation_id": int(self.group.partition(".")[2])}))
            await self.channel_layer.group_send(self.group, {"type": "chat.relay", "from": self.side,
                                                             "client_id": client_id,
                                                             "text": str(frame.get("text", ""))})
        elif kind == "typing":
            await self.channel_layer.group_send(self.group, {"type": "chat.typing", "from": self.side})
        elif kind == "resume":
            await self.send(_dump({"type": "history", "conversation": None, "messages": []}))
        elif kind == "ping":
            await self.send(_dump({"type": "pong"}))

    async def chat_relay(self, event: dict[str, Any]) -> None:
        from_visitor = event["from"] == VISITOR
        message = {"id": event["client_id"], "seq": 0, "direction": "in" if from_visitor else "out",
                   "body": event["text"], "client_id": event["client_id"]}
        if self.side == VISITOR:
            frame: dict[str, Any] = {"type": "message", "message": message}
        else:
            frame = {"type": "event", "event": "conversation.message_received" if from_visitor
                     else "conversation.message_sent", "message": message}
        await self.send(_dump(frame))

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["from"] != self.side:
            await self.send(_dump({"type": "typing", "from": event["from"]}))


async def healthz(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any HTTP request: 200 "ok" (the bench waits for it before connecting)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter({
    "http": healthz,
    "websocket": URLRouter([path("echo/<int:pair>/<str:side>/", PairConsumer.as_asgi())]),
})
