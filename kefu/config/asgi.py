"""ASGI entry point: HTTP through Django, websockets through Channels (routes added by each app)."""

from __future__ import annotations

import os

from kefu.core.asgi_http import get_asgi_handler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.config.settings.base")
django_asgi = get_asgi_handler()  # one switch into the synchronous thread per request (kefu.core.asgi_http)

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from kefu.config.websockets import public_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402

# The public routes first (the chat widget checks the Origin against its channel's allowed origins); everything
# else is staff's: only from Kefu's own hosts, with the session.
websocket = URLRouter([
    *public_websocket_urlpatterns,
    re_path(r"^", AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
])

application = ProtocolTypeRouter({"http": django_asgi, "websocket": websocket})
