"""Periodic and queued work of the tickets app, run by the Huey worker (`kefu worker`). Thin: the logic is in
services.py and sla.py; the SLA sweep is the clock engine's (kefu.clocks.tasks)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="41"))
def attachment_purge_orphans_task() -> None:
    """Nightly: remove stored files that no attachment refers to (rolled-back uploads, deleted orders)."""
    from kefu.tickets.services import attachment_purge_orphans

    removed = attachment_purge_orphans()
    if removed:
        log.info("removed %s orphaned attachment files", removed)


@db_task(retries=3, retry_delay=30)
def sla_policy_changed_task(policy_id: int, changed_at: str) -> None:
    """After a policy edit: re-target its open orders (may be many: a task, not the request). Idempotent."""
    from datetime import datetime

    from kefu.tickets.models import SlaPolicy
    from kefu.tickets.sla import sla_policy_changed

    policy = SlaPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        return
    count = sla_policy_changed(policy=policy, at=datetime.fromisoformat(changed_at))
    log.info("SLA policy %s changed: %s open orders re-targeted", policy_id, count)
