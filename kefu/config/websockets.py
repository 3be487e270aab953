"""Websocket routes of every app, in one list for the ASGI router."""

from __future__ import annotations

from django.urls import path

from kefu.web.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
