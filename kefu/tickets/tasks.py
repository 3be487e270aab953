"""Periodic work of the tickets app, run by the Huey worker (`kefu worker`). Thin: the logic is in sla.py."""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kefu.tickets.sla import sla_sweep

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def sla_sweep_task() -> None:
    """Every minute: SLA warnings, breaches and escalations. Safe when several workers run it at once."""
    result = sla_sweep(now=timezone.now())
    if result.warned or result.breached:
        log.info("SLA sweep: %s", result)
