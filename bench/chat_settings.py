"""Kefu's settings as installed (kefu.config.settings.base), for bench/chat_load.py, with the Redis channel layer's
connections set back to what they were before redis-py 8. Since 2026-12-06 the installed settings say the same
(this module found both); it stays so that the runs recorded before then and after compare like with like:

* `socket_timeout` None: redis-py 8 made it 5 s by default. The channel layer (channels_redis) reads each process's
  channel with a blocking BZPOPMIN of 5 s; the client gives up at the same moment, raises TimeoutError inside the
  consumer, and the websocket is torn down — every socket on the channel layer (the widget's `ws/chat/`, the
  inbox's `ws/inbox/`) that hears nothing for 5 s (channels_redis issue #422, redis-py issue #4091).
* `max_connections` 1000: redis-py 8's asyncio pool holds at most 100 connections by default (it was 2^31) and
  raises MaxConnectionsError at once beyond that: with a few hundred sockets per process, a burst of typing
  signals (one group_send each) fails.

`chat_load.py --as-configured` runs without this module, to show what happens then.
"""

from __future__ import annotations

from kefu.config.settings.base import *  # noqa: F403  (the installed settings, whole)
from kefu.config.settings.base import CHANNEL_LAYERS

_layer = CHANNEL_LAYERS["default"]
if _layer["BACKEND"] == "channels_redis.core.RedisChannelLayer":
    _layer["CONFIG"]["hosts"] = [
        {"socket_timeout": None, "max_connections": 1000, **(host if isinstance(host, dict) else {"address": host})}
        for host in _layer["CONFIG"]["hosts"]
    ]
