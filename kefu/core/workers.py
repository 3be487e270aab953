"""Threads of `kefu worker` besides the relay loops and Huey's consumer, registered by the apps that own them
(from their ready()): each starter starts its daemon thread, or returns without one when switched off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_STARTERS: dict[str, Callable[[], Any]] = {}


def register_worker_thread(name: str, start: Callable[[], Any]) -> None:
    _STARTERS[name] = start


def start_worker_threads() -> list[str]:
    """Start every registered thread → the names started."""
    started = []
    for name, start in _STARTERS.items():
        start()
        started.append(name)
    return started
