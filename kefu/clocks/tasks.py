"""The clock engine's periodic sweep, run by the Huey worker (`kefu worker`)."""

from __future__ import annotations

import logging
import os
import threading

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def clock_sweep_task() -> None:
    """Every minute: warnings and breaches of every clock (work orders, dispatches, …). Safe in parallel."""
    from kefu.clocks.services import clock_sweep

    result = clock_sweep(now=timezone.now())
    if result.warned or result.breached:
        log.info("clock sweep: %s", result)


def sweep_seconds() -> float:
    """How often `kefu worker` sweeps the clocks (KEFU_CLOCK_SWEEP_SECONDS, default 5; 0 leaves it to the
    minute's periodic task)."""
    try:
        return max(0.0, float(os.environ.get("KEFU_CLOCK_SWEEP_SECONDS", "5")))
    except ValueError:
        return 5.0


def sweep_loop(stopped: threading.Event, seconds: float) -> None:
    """The worker's frequent sweep: a chat's first response is due 30 s after the customer wrote, and a warning
    or breach up to a minute late would be no use; and a sweep every few seconds announces a few clocks at a
    time instead of a minute's worth in one burst. The periodic task above stays as a backstop (sweeps are safe
    in parallel)."""
    from django.db import close_old_connections

    from kefu.clocks.services import clock_sweep

    while not stopped.wait(seconds):
        try:
            close_old_connections()
            result = clock_sweep(now=timezone.now())
            if result.warned or result.breached:
                log.info("clock sweep: %s", result)
        except Exception:  # the database may be back next time
            log.exception("clock sweep failed")
        finally:
            close_old_connections()


def start_sweep_thread() -> threading.Event | None:
    """Start `sweep_loop` in a daemon thread (→ the event that stops it), unless switched off."""
    seconds = sweep_seconds()
    if not seconds:
        return None
    stopped = threading.Event()
    threading.Thread(target=sweep_loop, args=(stopped, seconds), name="kefu-clock-sweep", daemon=True).start()
    return stopped


@db_task(retries=3, retry_delay=30)
def clocks_recalendar_task(calendar_id: int, changed_at: str) -> None:
    """After a calendar edit: move the clocks running on it (idempotent: running it twice changes nothing more)."""
    from datetime import datetime

    from kefu.clocks.services import clocks_recalendar

    moved = clocks_recalendar(calendar_id=calendar_id, at=datetime.fromisoformat(changed_at))
    log.info("calendar %s changed: %s clocks moved", calendar_id, moved)
