"""Websocket consumer of the workspace: joins this process's live hub with the groups of the user's own
audiences (never a global group) and writes what the hub hands it (kefu.web.live)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from kefu.web.live import HUB, LocalRelay, audience_groups

QUEUE_LIMIT = 1000  # a browser this far behind is disconnected (it reconnects and reloads its counters)


class WorkspaceConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # pushes come from the live hub, not from per-socket channel-layer messages

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.writer: asyncio.Task[None] | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        await LocalRelay.ensure_started()
        self.groups_joined = await database_sync_to_async(audience_groups)(user)
        await self.accept()
        self.writer = asyncio.get_running_loop().create_task(self._write())
        HUB.join(self, self.groups_joined)

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

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        """Browsers only listen."""
