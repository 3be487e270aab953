"""The workspace websocket: signed-in users join the "workspace" group and hear "workspace.changed"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser

from kefu.tickets import services
from kefu.tickets.events import live_key
from kefu.web.consumers import WorkspaceConsumer

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(user: Any) -> ApplicationCommunicator:
    # asgiref's communicator: channels.testing would import daphne, which Kefu does not use
    scope = {"type": "websocket", "path": "/ws/workspace/", "headers": [], "subprotocols": [], "user": user}
    return ApplicationCommunicator(WorkspaceConsumer.as_asgi(), scope)


def test_anonymous_is_refused(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    async def run() -> None:
        communicator = _communicator(AnonymousUser())
        await communicator.send_input({"type": "websocket.connect"})
        assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_the_push_names_no_order_but_the_page_showing_it_recognises_it(login: Any, agent: Any) -> None:
    ticket = services.ticket_create(actor=agent, subject="空调不制冷")
    key = live_key(ticket.pk)
    assert key != live_key(ticket.pk + 1)
    page = login(agent).get(f"/tickets/{ticket.pk}/").content.decode()
    assert f'id="live-banner" class="flash" data-ticket="{key}"' in page


def test_signed_in_user_hears_changes(settings: Any, agent: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    async def run() -> None:
        communicator = _communicator(agent)
        await communicator.send_input({"type": "websocket.connect"})
        assert (await communicator.receive_output(timeout=2))["type"] == "websocket.accept"
        await get_channel_layer().group_send("workspace", {"type": "workspace.changed", "ticket": live_key(42)})
        message = await communicator.receive_output(timeout=2)
        assert json.loads(message["text"]) == {"type": "changed", "ticket": live_key(42)}
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=2)

    async_to_sync(run)()
