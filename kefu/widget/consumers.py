"""The visitor's websocket (`ws/chat/<channel code>/?token=<visitor token>`), the visitor side of the live chat
protocol (docs/conversations.md, "Web and app chat widget").

Durable things go through the services and come back through the relay: a message is acknowledged only after its
transaction has committed, and the visitor hears agents' messages, receipts and the end of the chat from the live
hub group `visitor.<conversation id>`. Typing and presence are ephemeral: the channel-layer group
`chat.<conversation id>` and the cache key `kefu:chat:online:<conversation id>`. Bad input gets an `error` frame;
the socket is closed only for a bad token (4401) or an origin the channel does not allow (4403)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext as _

from kefu.conversations.choices import ConversationStatus
from kefu.conversations.live import typing_group, visitor_group
from kefu.conversations.models import Channel, Conversation
from kefu.core.asyncdb import socket_db
from kefu.core.errors import ApplicationError
from kefu.web.live import HUB, LocalRelay
from kefu.widget import inbound, selectors
from kefu.widget.visitors import Visitor, origin_allowed, visitor_from_token

log = logging.getLogger(__name__)

BAD_TOKEN, BAD_ORIGIN, TOO_SLOW = 4401, 4403, 4408
QUEUE_LIMIT = 500  # frames waiting for a slow browser before it is disconnected (it reconnects and resumes)
FRAME_MAX = 64 * 1024  # characters of one frame
BURST, REFILL_PER_SECOND = 30, 2.0  # frames a socket may send at once, and how fast that allowance comes back
TYPING_EVERY = 1.0  # seconds between two typing signals passed on
PRESENCE_TTL, PRESENCE_REFRESH = 90, 30  # seconds


def presence_key(conversation_id: int | str) -> str:
    return f"kefu:chat:online:{conversation_id}"


@dataclass(frozen=True)
class Opened:
    channel: Channel
    visitor: Visitor
    conversation: Conversation | None


def _open(code: str, token: str, origin: str | None, host: str) -> Opened | int:
    channel = selectors.chat_channel(code)
    visitor = visitor_from_token(token, code) if channel is not None else None
    if channel is None or visitor is None:
        return BAD_TOKEN
    if not origin_allowed(origin, host=host, allowed=channel.config.get("allowed_origins")):
        return BAD_ORIGIN
    return Opened(channel, visitor, selectors.visitor_conversation(channel, visitor))


class VisitorConsumer(AsyncWebsocketConsumer):
    """One widget (or app) connection of a visitor. The live hub hands it the visitor frames of its conversation
    (`push`), written in order by one writer task; the channel layer brings typing (`chat_signal`)."""

    async def connect(self) -> None:
        self.channel: Channel | None = None
        self.visitor: Visitor | None = None
        self.token = ""
        self.conversation_id: int | None = None
        self.conversation_open = False
        self.hub_groups: list[str] = []
        self.layer_group = ""
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.writer: asyncio.Task[None] | None = None
        self.allowance, self.allowance_at = float(BURST), time.monotonic()
        self.typing_at = 0.0
        self.presence_at = 0.0
        self.language = "zh-hans"
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.token = (query.get("token") or [""])[0]
        if (query.get("lang") or [""])[0] == "en":
            self.language = "en"
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        host = headers.get(b"host", b"").decode("latin-1")
        code = str(self.scope["url_route"]["kwargs"]["code"])
        found = await socket_db(_open)(code, self.token, origin, host)
        await self.accept()  # then close with a code the page can read (a refused handshake only says 1006)
        if isinstance(found, int):
            await self.close(code=found)
            return
        self.channel, self.visitor = found.channel, found.visitor
        await LocalRelay.ensure_started()
        self.writer = asyncio.get_running_loop().create_task(self._write())
        if found.conversation is not None:
            await self._follow(found.conversation.pk, found.conversation.status == ConversationStatus.OPEN)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "visitor", None) is None:
            return
        await self._unfollow()
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer

    # --- the groups of the visitor's conversation --------------------------------------------------------

    async def _follow(self, conversation_id: int, is_open: bool) -> None:
        """Listen to a conversation (the one found at connect, or the one the visitor's message opened)."""
        if conversation_id == self.conversation_id:
            self.conversation_open = is_open
            return
        await self._unfollow()
        self.conversation_id, self.conversation_open = conversation_id, is_open
        self.hub_groups = [visitor_group(conversation_id)]
        HUB.join(self, self.hub_groups)
        if is_open and self.channel_layer is not None:
            self.layer_group = typing_group(conversation_id)
            await self.channel_layer.group_add(self.layer_group, self.channel_name)
            await self._presence(True)

    async def _unfollow(self) -> None:
        HUB.leave(self, self.hub_groups)
        self.hub_groups = []
        if self.layer_group and self.channel_layer is not None:
            group, self.layer_group = self.layer_group, ""
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)
            if self.conversation_id is not None:
                with contextlib.suppress(Exception):
                    await cache.adelete(presence_key(self.conversation_id))
                    await self._signal({"type": "presence", "online": False, "conversation": self.conversation_id},
                                       group=group)

    async def _presence(self, announce: bool = False) -> None:
        """Keep the "customer online" key fresh (at most every 30 s), and tell the agent side when it starts."""
        if not self.layer_group or self.conversation_id is None:
            return
        now = time.monotonic()
        if announce or now - self.presence_at >= PRESENCE_REFRESH:
            self.presence_at = now
            await cache.aset(presence_key(self.conversation_id), "1", PRESENCE_TTL)
        if announce:
            await self._signal({"type": "presence", "online": True, "conversation": self.conversation_id})

    async def _signal(self, signal: dict[str, Any], group: str = "") -> None:
        group = group or self.layer_group
        if group and self.channel_layer is not None:
            await self.channel_layer.group_send(group, {"type": "chat.signal", "signal": signal})

    async def chat_signal(self, event: dict[str, Any]) -> None:
        """Typing of the agent side (the visitor's own side's signals are not sent back)."""
        signal = event.get("signal") or {}
        if signal.get("from") == "agent" and signal.get("type") == "typing":
            self.push(json.dumps({"type": "typing", "from": "agent"}))

    # --- writing ----------------------------------------------------------------------------------------

    def push(self, text: str) -> None:
        """A frame for the browser (from the live hub or from this consumer), written in order."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            HUB.leave(self, self.hub_groups)
            asyncio.get_running_loop().create_task(self.close(code=TOO_SLOW))

    def answer(self, frame: dict[str, Any]) -> None:
        self.push(json.dumps(frame, ensure_ascii=False, separators=(",", ":"), default=str))

    def error(self, code: str, message: str, **extra: Any) -> None:
        self.answer({"type": "error", "code": code, "message": message,
                     **{k: v for k, v in extra.items() if v not in (None, "")}})

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            await self.send(text_data=text)

    # --- reading ----------------------------------------------------------------------------------------

    def _allowed(self) -> bool:
        now = time.monotonic()
        self.allowance = min(float(BURST), self.allowance + (now - self.allowance_at) * REFILL_PER_SECOND)
        self.allowance_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        if self.visitor is None:
            return
        with translation.override(self.language):
            await self._receive(text_data)

    async def _receive(self, text_data: Any) -> None:
        if not isinstance(text_data, str) or len(text_data) > FRAME_MAX:
            self.error("bad_frame", _("无法识别的消息"))
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            self.error("bad_frame", _("无法识别的消息"))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self.error("bad_frame", _("无法识别的消息"))
            return
        kind = frame["type"]
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        if not self._allowed():
            self.error("throttled", _("发送太频繁，请稍后再试"), client_id=client_id)
            return
        handler = self.HANDLERS.get(kind)
        if handler is None:
            self.error("bad_frame", _("无法识别的消息"), client_id=client_id)
            return
        await self._presence()
        try:
            await handler(self, frame)
        except ApplicationError as exc:
            self.error(exc.code, exc.message, field=(exc.details or {}).get("field"), client_id=client_id)
        except Exception:
            log.exception("widget frame %s failed", kind)
            self.error("server_error", _("暂时无法处理，请稍后重试"), client_id=client_id)

    def _who(self) -> tuple[Channel, Visitor]:
        if self.channel is None or self.visitor is None:
            raise ApplicationError(_("连接尚未就绪"), code="not_ready")
        return self.channel, self.visitor

    async def on_ping(self, frame: dict[str, Any]) -> None:
        self.answer({"type": "pong"})

    async def on_resume(self, frame: dict[str, Any]) -> None:
        after = frame.get("after", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            after = 0
        known = frame.get("conversation")
        channel, visitor = self._who()
        token = self.token

        def read() -> tuple[Conversation | None, list[dict[str, Any]]]:
            conversation = selectors.visitor_conversation(channel, visitor)
            if conversation is None:
                return None, []
            start = after if known in (None, conversation.pk) else 0  # another conversation: all of this one
            return conversation, selectors.history(conversation, after=start, code=channel.code, token=token)

        conversation, messages = await socket_db(read)()
        if conversation is not None:
            await self._follow(conversation.pk, conversation.status == ConversationStatus.OPEN)
        self.answer({"type": "history", "conversation": selectors.conversation_summary(conversation),
                     "messages": messages})

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_id = inbound.check_client_id(frame.get("client_id"))
        text = inbound.message_text(frame.get("text"))
        await self._store(client_id, text, meta=frame)

    async def on_prechat(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        client_id = inbound.check_client_id(client_id) if client_id is not None else uuid.uuid4().hex
        details, text = inbound.prechat_details(self._who()[0], frame)  # the channel's config: no query
        await self._store(client_id, text, details=details, meta=frame)

    async def _store(self, client_id: str, text: str, *, details: inbound.Details | None = None,
                     meta: dict[str, Any]) -> None:
        channel, visitor = self._who()
        received = await socket_db(inbound.receive)(
            channel=channel, visitor=visitor, client_id=client_id, text=text, details=details,
            meta={"page_url": meta.get("page_url")})
        # committed: only now is the visitor told
        message, conversation = received.message, received.conversation
        await self._follow(conversation.pk, conversation.status == ConversationStatus.OPEN)
        self.answer({"type": "ack", "client_id": client_id, "id": message.pk, "seq": message.seq,
                     "conversation_id": conversation.pk})

    async def on_typing(self, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        if self.conversation_open and now - self.typing_at >= TYPING_EVERY:
            self.typing_at = now
            await self._signal({"type": "typing", "from": "customer", "conversation": self.conversation_id})

    def _conversation_id(self) -> int:
        if self.conversation_id is None:
            raise ApplicationError(_("还没有会话"), code="no_conversation")
        return self.conversation_id

    @staticmethod
    def _conversation(conversation_id: int) -> Conversation:
        """The conversation (in the database thread, with the work on it: one hop per frame)."""
        found = Conversation.objects.select_related("channel").filter(pk=conversation_id).first()
        if found is None:
            raise ApplicationError(_("还没有会话"), code="no_conversation")
        return found  # type: ignore[no-any-return]

    async def on_read(self, frame: dict[str, Any]) -> None:
        conversation_id, seq = self._conversation_id(), frame.get("seq")
        await socket_db(lambda: inbound.read(conversation=self._conversation(conversation_id), seq=seq))()

    async def on_rate(self, frame: dict[str, Any]) -> None:
        conversation_id, score, comment = self._conversation_id(), frame.get("score"), frame.get("comment")
        rated = await socket_db(lambda: inbound.rate(conversation=self._conversation(conversation_id), score=score,
                                                     comment=comment))()
        self.answer({"type": "rated", "conversation": rated.pk, "score": rated.csat_score})

    async def on_end(self, frame: dict[str, Any]) -> None:
        conversation_id = self._conversation_id()
        closed = await socket_db(lambda: inbound.end(conversation=self._conversation(conversation_id)))()
        self.conversation_open = False
        # the relay says so too; the visitor who ended it need not wait for it (the page takes either once)
        self.answer({"type": "closed", "reason": closed.close_reason})

    HANDLERS = {"ping": on_ping, "resume": on_resume, "message": on_message, "prechat": on_prechat,
                "typing": on_typing, "read": on_read, "rate": on_rate, "end": on_end}
