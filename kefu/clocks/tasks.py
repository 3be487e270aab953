"""The clock engine's periodic sweep, run by the Huey worker (`kefu worker`)."""

from __future__ import annotations

import logging

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


@db_task(retries=3, retry_delay=30)
def clocks_recalendar_task(calendar_id: int, changed_at: str) -> None:
    """After a calendar edit: move the clocks running on it (idempotent: running it twice changes nothing more)."""
    from datetime import datetime

    from kefu.clocks.services import clocks_recalendar

    moved = clocks_recalendar(calendar_id=calendar_id, at=datetime.fromisoformat(changed_at))
    log.info("calendar %s changed: %s clocks moved", calendar_id, moved)
