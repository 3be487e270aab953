"""The worker's heartbeat, stamped by the Huey consumer of `kefu worker`: at start and every minute."""

from __future__ import annotations

import logging

from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, on_startup

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def worker_heartbeat_task() -> None:
    """Every minute: the worker is alive and its scheduler and task threads run (read by /readyz)."""
    from kefu.operations.services import heartbeat_record

    heartbeat_record()


@on_startup()
def worker_heartbeat_at_start() -> None:
    # so /readyz turns ready as soon as the worker runs, not at the next full minute
    from kefu.operations.services import heartbeat_record

    try:
        heartbeat_record()
    except Exception:  # the database may not be up yet: the periodic beat will follow
        log.warning("could not record the worker's heartbeat at start", exc_info=True)
    finally:
        close_old_connections()
