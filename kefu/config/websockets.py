"""Websocket routes of every app, in one list for the ASGI router."""

from __future__ import annotations

from django.urls import path

from kefu.identity.websocket import SecondFactorGuard
from kefu.web.consumers import InboxConsumer, WorkspaceConsumer

# Every route behind the second-factor guard: a half-signed-in session is refused like an anonymous one.
websocket_urlpatterns = [
    path("ws/workspace/", SecondFactorGuard(WorkspaceConsumer.as_asgi())),
    path("ws/inbox/", SecondFactorGuard(InboxConsumer.as_asgi())),
]
