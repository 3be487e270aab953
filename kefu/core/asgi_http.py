"""Django's HTTP handler under ASGI, with the whole request in one switch to the synchronous thread.

Kefu's views and several of its middleware (WhiteNoise, django-otp, the session limits…) are synchronous. Django's
own ASGIHandler builds the middleware chain for the event loop: it enters the synchronous thread at the first
sync-only middleware, comes back to the event loop for its handler (`_get_response_async`), and goes into the
thread again for the view — three switches, each a round trip through the event loop. This handler builds the
chain as under WSGI and runs all of it (middleware and view) in one `sync_to_async` call, on the same
thread-sensitive executor Django uses, so a view's database connection is the one its middleware used.

An async view still works: the synchronous handler runs it with `async_to_sync`, as under WSGI.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain = self._middleware_chain
        self._middleware_chain: Any = sync_to_async(chain, thread_sensitive=True)


def get_asgi_handler() -> SyncChainASGIHandler:
    """As `django.core.asgi.get_asgi_application`, with this handler."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
