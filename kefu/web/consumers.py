"""Websocket consumers of the workspace: each joins this process's live hub with the groups of the user's own
audiences (never a global group) and writes what the hub hands it (kefu.web.live).

`WorkspaceConsumer` is the socket of every page: it listens, and answers the inbox badge's counts. `InboxConsumer`
is the agent's side of the live chat protocol (docs/conversations.md): it also watches one conversation (typing
and presence through the channel layer group `chat.<id>`), marks what the agent has read, and sends replies,
acknowledged once stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import DEFAULT_CHANNEL_LAYER
from django.core.cache import cache
from django.utils.translation import gettext as _

from kefu.core.asyncdb import socket_db
from kefu.web.live import BOARD_GROUP, HUB, LocalRelay, audience_groups, may_watch_board
from kefu.web.watching import TicketWatching

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # a browser this far behind is disconnected (it reconnects and reloads its counters)
COUNTS_INTERVAL = 1.0  # the inbox counts are recomputed at most once a second per socket, however many ask
FRAME_MAX = 64 * 1024  # a browser's frame longer than this is refused (a reply is at most 20,000 characters)


def _may_see_inbox(user: Any) -> bool:
    from kefu.conversations.permissions import ConversationRight
    from kefu.core.policy import has_right

    return has_right(user, ConversationRight.VIEW)


def _inbox_counts(user: Any) -> dict[str, int]:
    from kefu.conversations.selectors import inbox_counts

    return inbox_counts(user)


class WorkspaceConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # pushes come from the live hub, not from per-socket channel-layer messages

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.writer: asyncio.Task[None] | None = None
        self.inbox = False
        self.counts_pending = False
        self.counts_at = 0.0
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        await LocalRelay.ensure_started()
        self.groups_joined = await socket_db(audience_groups)(user)
        self.inbox = _may_see_inbox(user)
        await self.accept()
        self.writer = asyncio.get_running_loop().create_task(self._write())
        HUB.join(self, self.groups_joined)
        if self.inbox:  # the sidebar's badge: counted here, not by every page's request
            self._ask_counts()

    async def disconnect(self, code: int) -> None:
        HUB.leave(self, self.groups_joined)
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer

    def push(self, text: str) -> None:
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            HUB.leave(self, self.groups_joined)
            asyncio.get_running_loop().create_task(self.close(code=4408))

    async def _write(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.send(text_data=text)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        """Pages listen; they may only ask for the inbox counts again (after a conversation event), ping, or,
        on the wallboard, ask to hear that the floor changed (`board`: answered `board_joined` or an error)."""
        frame = _parse(text_data)
        kind = frame.get("type") if frame else None
        if kind == "inbox_counts" and self.inbox:
            self._ask_counts()
        elif kind == "ping":
            await self.send_frame({"type": "pong"})
        elif kind == "board":
            await self._join_board()

    async def _join_board(self) -> None:
        if not await socket_db(may_watch_board)(self.scope["user"]):
            await self.send_frame({"type": "error", "code": "forbidden", "message": _("无权查看实时监控")})
            return
        if BOARD_GROUP not in self.groups_joined:
            self.groups_joined.append(BOARD_GROUP)
            HUB.join(self, [BOARD_GROUP])
        await self.send_frame({"type": "board_joined"})

    def _ask_counts(self) -> None:
        if not self.counts_pending:
            self.counts_pending = True
            asyncio.get_running_loop().create_task(self._send_counts())

    async def _send_counts(self) -> None:
        """`{"type": "inbox_counts", "counts": {"mine", "waiting"}}`; asks made meanwhile are answered by it."""
        loop = asyncio.get_running_loop()
        wait = self.counts_at + COUNTS_INTERVAL - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.counts_pending = False
        self.counts_at = loop.time()
        try:
            counts = await socket_db(_inbox_counts)(self.scope["user"])
            await self.send_frame({"type": "inbox_counts", "counts": counts})
        except Exception:  # a closed socket or a database hiccup: the next event asks again
            log.warning("inbox counts not sent", exc_info=True)


def _parse(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or len(text) > FRAME_MAX:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


class FrameError(Exception):
    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


# --- the agent's side of the live chat ------------------------------------------------------------------------


# Run in socket_db (which, like database_sync_to_async, closes the thread's old connections before and after).


def _visible_conversation(user: Any, conversation_id: int) -> Any:
    from kefu.conversations.models import Conversation
    from kefu.core.policy import may_see

    found = Conversation.objects.select_related("channel").filter(pk=conversation_id).first()
    return found if found is not None and may_see(user, found) else None


def _send_reply(user: Any, conversation_id: int, text: str, client_id: str) -> Any:
    from kefu.conversations import services

    conversation = _visible_conversation(user, conversation_id)
    if conversation is None:
        raise FrameError("not_found", _("会话不存在或无权查看"), "conversation")
    message = services.message_send(actor=user, conversation=conversation, text=text, client_id=client_id)
    _mark_read(user, conversation, message.seq)
    return message


def _mark_read(user: Any, conversation: Any, seq: int) -> None:
    """How far the agent has read; a chat visitor also sees 已读 under the messages read (receipt frames)."""
    from kefu.conversations import services
    from kefu.conversations.choices import ChannelKind, Direction

    services.participant_read(user=user, conversation=conversation, up_to_seq=seq)
    if conversation.channel.kind == ChannelKind.CHAT:
        services.messages_mark_read(conversation=conversation, up_to_seq=seq, direction=Direction.INBOUND)


def _number(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise FrameError("bad_request", _("%(name)s 须为数字") % {"name": name}, name)
    number = int(value)
    if number > 2**31 - 1:
        raise FrameError("bad_request", _("%(name)s 须为数字") % {"name": name}, name)
    return number


class InboxConsumer(TicketWatching, WorkspaceConsumer):
    """`ws/inbox/`: the agent's inbox. Client frames `watch`, `typing`, `read`, `send`, `ping`,
    `inbox_counts`; answers `presence`, `ack`, `error`, `pong`, `inbox_counts`; forwards the customer's
    `typing` and `presence` of the watched conversation, and the hub's events of the user's audiences.
    `ws/watch/` (the work-order page) is the same socket: `watch`, `typing` and `unwatch` with a `ticket`
    instead of a `conversation` say who is viewing the order (kefu.web.watching), answered by `viewers`."""

    channel_layer_alias = DEFAULT_CHANNEL_LAYER

    async def connect(self) -> None:
        self.watching: Any = None  # the watched conversation (visible to the user when it was watched)
        await super().connect()

    async def disconnect(self, code: int) -> None:
        await self._unwatch()
        await self.unwatch_ticket()
        await super().disconnect(code)

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        frame = _parse(text_data)
        if frame is None:
            await self.send_frame({"type": "error", "code": "bad_frame", "message": _("无法识别的消息格式")})
            return
        kind = frame.get("type")
        handler = {"watch": self._watch, "typing": self._typing, "read": self._read, "send": self._send,
                   "ping": self._ping, "inbox_counts": self._counts,
                   "unwatch": self._unwatch_frame}.get(kind if isinstance(kind, str) else "")
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        try:
            if handler is None:
                raise FrameError("bad_request", _("未知的消息类型"), "type")
            await handler(frame)
        except FrameError as error:
            await self._error(error.code, error.message, error.field, client_id)
        except Exception as error:
            from kefu.core.errors import ApplicationError

            if isinstance(error, ApplicationError):
                field = str((error.details or {}).get("field", ""))
                await self._error(error.code, error.message, field, client_id)
                return
            log.exception("inbox frame %s failed", kind)
            await self._error("server_error", _("处理失败，请稍后重试"), "", client_id)

    async def _error(self, code: str, message: str, field: str = "", client_id: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": str(message)}
        if field:
            frame["field"] = field
        if client_id is not None:
            frame["client_id"] = client_id[:64]
        await self.send_frame(frame)

    async def _conversation(self, frame: dict[str, Any]) -> Any:
        """The frame's conversation if the user may see it: the watched one without a query."""
        conversation_id = _number(frame, "conversation")
        if self.watching is not None and self.watching.pk == conversation_id:
            return self.watching
        found = await socket_db(_visible_conversation)(self.scope["user"], conversation_id)
        if found is None:
            raise FrameError("not_found", _("会话不存在或无权查看"), "conversation")
        return found

    async def _unwatch(self) -> None:
        if self.watching is not None and self.channel_layer is not None:
            from kefu.conversations.live import typing_group

            await self.channel_layer.group_discard(typing_group(self.watching.pk), self.channel_name)
        self.watching = None

    async def _watch(self, frame: dict[str, Any]) -> None:
        from kefu.conversations.live import typing_group
        from kefu.web.inbox import online_key

        if "ticket" in frame:
            if not await self.watch_ticket(_number(frame, "ticket")):
                raise FrameError("not_found", _("工单不存在或无权查看"), "ticket")
            return
        conversation = await self._conversation(frame)
        if self.watching is None or self.watching.pk != conversation.pk:
            await self._unwatch()
            await self.channel_layer.group_add(typing_group(conversation.pk), self.channel_name)
            self.watching = conversation
        online = bool(await cache.aget(online_key(conversation.pk)))
        await self.send_frame({"type": "presence", "conversation": conversation.pk, "online": online})

    async def _typing(self, frame: dict[str, Any]) -> None:
        from kefu.conversations.live import typing_group

        if "ticket" in frame:
            if not await self.ticket_typing(_number(frame, "ticket")):
                raise FrameError("not_found", _("工单不存在或无权查看"), "ticket")
            return
        conversation = await self._conversation(frame)
        await self.channel_layer.group_send(typing_group(conversation.pk), {
            "type": "chat.signal", "signal": {"type": "typing", "from": "agent", "conversation": conversation.pk}})

    async def _unwatch_frame(self, frame: dict[str, Any]) -> None:
        """The page goes: what it watched is not watched any more (its viewers are told)."""
        await self._unwatch()
        await self.unwatch_ticket()

    async def _read(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        await socket_db(_mark_read)(self.scope["user"], conversation, _number(frame, "seq"))

    async def _send(self, frame: dict[str, Any]) -> None:
        conversation_id = _number(frame, "conversation")
        text, client_id = frame.get("text"), frame.get("client_id", "")
        if not isinstance(text, str):
            raise FrameError("bad_request", _("回复内容不能为空"), "text")
        if not isinstance(client_id, str) or len(client_id) > 64:
            raise FrameError("bad_request", _("client_id 须为不超过 64 个字符的文本"), "client_id")
        message = await socket_db(_send_reply)(self.scope["user"], conversation_id, text, client_id)
        # after the commit (the service's transaction has ended): the reply is stored
        await self.send_frame({"type": "ack", "client_id": client_id, "id": message.pk, "seq": message.seq,
                               "conversation": conversation_id})

    async def _ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    async def _counts(self, frame: dict[str, Any]) -> None:
        if self.inbox:
            self._ask_counts()

    async def chat_signal(self, event: dict[str, Any]) -> None:
        """Typing and presence of the watched conversation, from the channel layer: the customer's side only."""
        signal = event.get("signal")
        if not isinstance(signal, dict) or signal.get("from") == "agent":
            return
        if self.watching is None or signal.get("conversation") != self.watching.pk:
            return
        await self.send_frame(signal)
