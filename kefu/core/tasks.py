"""Housekeeping of the outbox, run by the Huey worker."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(hour="4", minute="13"))
def outbox_purge_task() -> None:
    """Nightly: delete events older than 30 days that every consumer has handled."""
    from kefu.core.relay import purge

    purge()


@db_periodic_task(crontab(minute="*/30"))
def rate_counter_purge_task() -> None:
    """Every half hour: delete finished windows of the database's rate-limit counters (Redis expires its own)."""
    from kefu.core.ratelimit import purge_expired

    purge_expired()
