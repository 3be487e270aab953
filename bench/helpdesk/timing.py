"""Server-side timing for both systems, added by the benchmark harness only (no change to either product).

Two measures go back to the client as response headers:
- `X-Bench-Service`: milliseconds from the moment Django starts handling the request in its worker thread to
  the response being ready (the service time: views, middleware, templates, queries; no wait for a free thread).
- `Server-Timing: total;dur=…`: milliseconds from the ASGI server handing the request to the application to
  the response start (service time plus any wait for the process's request thread).
Both have only the standard library as dependency, so the peer's virtualenv can import this module too.
"""

from __future__ import annotations

import time
from typing import Any


class ServiceTimeMiddleware:
    """Outermost Django middleware (sync): runs in the thread that serves the request."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Bench-Service"] = f"{(time.perf_counter() - started) * 1000:.3f}"
        return response


def with_total_time(app: Any) -> Any:
    """Wrap an ASGI application: add `Server-Timing: total;dur=` to every HTTP response."""

    async def timed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_timed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                dur = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"total;dur={dur:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_timed)

    return timed
