"""The clock engine's periodic sweep, run by the Huey worker (`kefu worker`)."""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def clock_sweep_task() -> None:
    """Every minute: warnings and breaches of every clock (work orders, dispatches, …). Safe in parallel."""
    from kefu.clocks.services import clock_sweep

    result = clock_sweep(now=timezone.now())
    if result.warned or result.breached:
        log.info("clock sweep: %s", result)
