"""Periodic work of the tickets app, run by the Huey worker (`kefu worker`). Thin: the logic is in sla.py."""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from kefu.tickets.sla import sla_sweep

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def sla_sweep_task() -> None:
    """Every minute: SLA warnings, breaches and escalations. Safe when several workers run it at once."""
    result = sla_sweep(now=timezone.now())
    if result.warned or result.breached:
        log.info("SLA sweep: %s", result)


@db_periodic_task(crontab(hour="3", minute="41"))
def attachment_purge_orphans_task() -> None:
    """Nightly: remove stored files that no attachment refers to (rolled-back uploads, deleted orders)."""
    from kefu.tickets.services import attachment_purge_orphans

    removed = attachment_purge_orphans()
    if removed:
        log.info("removed %s orphaned attachment files", removed)


@db_task()
def sla_policy_changed_task(policy_id: int, changed_at: str, previous_calendar_id: int | None = None) -> None:
    """After a policy edit: re-target its open orders (may be many: a task, not the request)."""
    from datetime import datetime

    from kefu.core.models import BusinessCalendar
    from kefu.tickets.models import SlaPolicy
    from kefu.tickets.sla import sla_policy_changed

    policy = SlaPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        return
    previous = None
    if previous_calendar_id is not None:
        previous = BusinessCalendar.objects.filter(pk=previous_calendar_id).first()
    count = sla_policy_changed(policy=policy, at=datetime.fromisoformat(changed_at),
                               previous_calendar=previous)
    log.info("SLA policy %s changed: %s open orders re-targeted", policy_id, count)
