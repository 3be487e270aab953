"""The ASGI handler runs a request's middleware and view in one switch to the synchronous thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from kefu.core.asgi_http import SyncChainASGIHandler

SEEN: dict[str, Any] = {}


class RecordingMiddleware:
    """Sync-only, like WhiteNoise or django-otp: notes the thread it runs on."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        SEEN["middleware"] = threading.get_ident()
        return self.get_response(request)


def sync_view(request: HttpRequest) -> HttpResponse:
    SEEN["view"] = threading.get_ident()
    return HttpResponse("ok")


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async ok")


urlpatterns = [path("sync/", sync_view), path("async/", async_view)]


def _get(app: Any, url: str) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1"],
                   MIDDLEWARE=[f"{__name__}.RecordingMiddleware"])
def test_the_middleware_and_the_view_run_on_one_thread_outside_the_event_loop(monkeypatch: Any) -> None:
    async def back_on_the_event_loop(self: Any, request: Any) -> Any:
        raise AssertionError("the chain came back to the event loop between the middleware and the view")

    # Django's own handler calls its async response path from the innermost sync middleware (a switch back
    # to the event loop, then into the thread again for the view); this one never does
    monkeypatch.setattr(SyncChainASGIHandler, "_get_response_async", back_on_the_event_loop)
    SEEN.clear()
    status, body = _get(SyncChainASGIHandler(), "/sync/")
    assert (status, body) == (200, b"ok")
    assert SEEN["middleware"] == SEEN["view"] != threading.get_ident()


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1"],
                   MIDDLEWARE=[f"{__name__}.RecordingMiddleware"])
def test_an_async_view_still_answers() -> None:
    assert _get(SyncChainASGIHandler(), "/async/") == (200, b"async ok")


@pytest.mark.django_db(transaction=True)
def test_kefu_s_own_application_uses_it() -> None:
    from kefu.config.asgi import django_asgi

    assert isinstance(django_asgi, SyncChainASGIHandler)
    status, _body = _get(django_asgi, "/healthz")
    assert status == 200
