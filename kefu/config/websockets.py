"""Websocket routes of every app, for the ASGI router (kefu/config/asgi.py)."""

from __future__ import annotations

from django.urls import path

from kefu.identity.websocket import SecondFactorGuard
from kefu.web.consumers import InboxConsumer, WorkspaceConsumer
from kefu.widget.consumers import VisitorConsumer

# Staff routes: behind the session, the allowed-hosts origin check and the second-factor guard (a half-signed-in
# session is refused like an anonymous one).
websocket_urlpatterns = [
    path("ws/workspace/", SecondFactorGuard(WorkspaceConsumer.as_asgi())),
    path("ws/inbox/", SecondFactorGuard(InboxConsumer.as_asgi())),
    # the work-order page: the inbox's socket, for who is viewing the order (kefu.web.watching)
    path("ws/watch/", SecondFactorGuard(InboxConsumer.as_asgi())),
]

# Public routes: no session, no staff guard. Each checks the Origin itself: the chat widget against its channel's
# allowed origins (the sites embedding it are not Kefu's hosts).
public_websocket_urlpatterns = [
    path("ws/chat/<slug:code>/", VisitorConsumer.as_asgi()),
]
