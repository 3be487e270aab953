"""Garbage-collector settings of a serving process (`kefu serve`'s uvicorn processes), for steady latency.

A server holding a thousand websockets keeps a few hundred thousand long-lived objects (its modules, their
consumers, the channel layer's state). With CPython's defaults (a young collection every 700 allocations) the
short-lived objects of requests in flight — a message waiting on its database thread — survive two young
collections, are promoted, and soon trigger a full collection: measured at 200–340 ms every 10–50 s in the
live-chat benchmark, each one a pause of every socket of that process. Here:

- everything loaded at start (Django, the apps, their modules) is frozen: full collections no longer walk it;
- a young collection every `KEFU_GC_THRESHOLD` allocations (default 50,000): objects of requests in flight have
  usually been freed by then, so few are promoted and full collections are rare. Cyclic garbage lives a little
  longer; reference counting still frees everything else at once.

`KEFU_GC_THRESHOLD=0` keeps CPython's defaults.
"""

from __future__ import annotations

import gc
import os

DEFAULT_THRESHOLD = 50_000


def threshold() -> int:
    raw = os.environ.get("KEFU_GC_THRESHOLD", "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"KEFU_GC_THRESHOLD must be a whole number of allocations, not {raw!r}") from None
    if value < 0:
        raise ValueError("KEFU_GC_THRESHOLD must be 0 (CPython's defaults) or more")
    return value


def tune_for_serving() -> bool:
    """Apply the settings above (once the application is loaded) → whether anything changed."""
    young = threshold()
    if young == 0:
        return False
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
    return True
