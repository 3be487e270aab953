"""Websocket consumer of the agent workspace: pushes live SLA counters and work-order changes."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class WorkspaceConsumer(AsyncJsonWebsocketConsumer):
    group = "workspace"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def workspace_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "ticket": event.get("ticket")})
