"""Database work of websocket consumers, run in threads of a pool instead of Django's one sync thread.

`database_sync_to_async` runs every call of a server process in the same thread, one after the other: with a
few hundred chat sockets a process, a message waits behind every other socket's read receipt, and the thread
spends most of its time waiting for PostgreSQL's answers. Each call of a consumer is self-contained (its own
transaction, nothing kept in thread-locals between calls), so on PostgreSQL they run in a pool of threads, each
with a connection from the process's connection pool: the waits overlap and a message no longer queues behind
the others. On SQLite writers are serialised by the database anyway, and the in-memory test database answers a
second writer with "table is locked" instead of waiting: there the calls keep to the one thread.

KEFU_SOCKET_DB_THREADS (default 8) sizes the pool; keep it below the connection pool (KEFU_DB_POOL_SIZE)."""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.db import connection

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_guard = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _guard:
        if _executor is None:
            size = max(1, int(os.environ.get("KEFU_SOCKET_DB_THREADS", "8")))
            _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="kefu-socket-db")
        return _executor


def parallel() -> bool:
    """Whether consumers' database calls may run side by side (PostgreSQL), or keep to one thread (SQLite)."""
    return connection.vendor != "sqlite"


def socket_db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`await socket_db(f)(...)`: `f` run as database_sync_to_async runs it (old connections closed before and
    after), in the pool on PostgreSQL."""
    if parallel():
        wrapped: Any = DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())
    else:
        wrapped = DatabaseSyncToAsync(func)
    return wrapped  # type: ignore[no-any-return]
