"""The application as `kefu serve` runs it in each uvicorn process: kefu.config.asgi, loaded, then the garbage
collector set for steady latency (kefu.core.gc_tuning). Point another ASGI server here to get the same."""

from __future__ import annotations

from kefu.config.asgi import application
from kefu.core.gc_tuning import tune_for_serving

__all__ = ["application"]

tune_for_serving()
