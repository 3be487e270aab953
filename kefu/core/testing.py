"""Helpers for tests of async code (websocket consumers) that needs the database."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.db import connections

# How long a socket test waits for a frame, a close or a consumer's end: a ceiling, not a measure (a frame that
# comes returns at once). A loaded CI machine (two test processes, the database, the knowledge index embedding
# questions) has taken more than 5 s to deliver one.
FRAME_WAIT = 30.0


async def in_thread(work: Any) -> Any:
    """Run ORM work in a thread of its own, committed as a request's would be, then close its connection; the
    event loop keeps running meanwhile (a consumer under test can answer)."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.01)
    if errors:
        raise errors[0]
    return result[0]
