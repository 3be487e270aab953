"""The websocket's share of the second step: a half-signed-in session (password given, second step not yet) is
refused like an anonymous one (close code 4401). Wraps the websocket routes inside Channels' AuthMiddlewareStack,
which has put the session and the user into the scope."""

from __future__ import annotations

from typing import Any

from kefu.core.asyncdb import socket_db
from kefu.identity.second_factor import Step, session_verified, step_for

REFUSED = 4401


def _step(scope: dict[str, Any]) -> Step:
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not getattr(user, "is_authenticated", False):
        return Step.DONE  # anonymous: the consumer itself refuses
    if session is None:
        return Step.VERIFY  # no session to tell: never assume the second step was done
    return step_for(user, session, verified=session_verified(user, session))


class SecondFactorGuard:
    """ASGI middleware: a half-signed-in websocket is closed before it reaches the consumer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and await socket_db(_step)(scope) != Step.DONE:
            message = await receive()
            if message.get("type") == "websocket.connect":
                await send({"type": "websocket.close", "code": REFUSED})
            return None
        return await self.inner(scope, receive, send)
