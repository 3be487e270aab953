"""Websocket consumer of the workspace: joins the groups of the user's own audiences (never a global group)
and forwards what the live relay pushes there (kefu.web.live)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kefu.web.live import LocalRelay, audience_groups


class WorkspaceConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        LocalRelay.ensure_started()
        self.groups_joined = await database_sync_to_async(audience_groups)(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def live_event(self, message: dict[str, Any]) -> None:
        await self.send_json({k: v for k, v in message.items() if k != "type"} | {"type": "event"})

    async def live_counters(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "counters", "scope": message["scope"], "counters": message["counters"]})
