"""Worker tasks of routing (thin: the logic lives in services)."""

from __future__ import annotations

import logging
import threading

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def agent_states_expire_task() -> None:
    """After-contact work that has run its time ends (written with the exact time it ended)."""
    from kefu.routing.services import agent_states_expire

    agent_states_expire()


@db_periodic_task(crontab(minute="*"))
def routing_tick_task() -> None:
    """Backstop of the worker's routing loop: offers that rang out, overflows, long-wait priority, a dispatch."""
    from kefu.routing.services import routing_tick

    routing_tick()


def tick_seconds() -> float:
    """How often `kefu worker` runs the routing tick (KEFU_ROUTING_TICK_SECONDS, default 1; 0 leaves it to the
    minute's periodic task). An offer rings for 20 s and an overflow is due to the second: a minute is too coarse."""
    import os

    try:
        return max(0.0, float(os.environ.get("KEFU_ROUTING_TICK_SECONDS", "1")))
    except ValueError:
        return 1.0


def tick_loop(stopped: threading.Event, seconds: float) -> None:
    from django.db import close_old_connections

    from kefu.routing.services import routing_tick

    while not stopped.wait(seconds):
        try:
            close_old_connections()
            result = routing_tick()
            if result.timed_out or result.overflowed:
                log.info("routing tick: %s", result)
        except Exception:  # the database may be back next time
            log.exception("routing tick failed")
        finally:
            close_old_connections()


def start_tick_thread() -> threading.Event | None:
    seconds = tick_seconds()
    if not seconds:
        return None
    stopped = threading.Event()
    threading.Thread(target=tick_loop, args=(stopped, seconds), name="kefu-routing-tick", daemon=True).start()
    return stopped
