"""Personal-data housekeeping run by the Huey worker (`kefu worker`)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="37"))
def retention_apply_task() -> None:
    """Nightly: apply the enabled retention rules in batches (idempotent: a second run finds nothing to do), and
    mark erasure requests past their deadline expired."""
    from kefu.privacy.services import erasure_requests_expire, retention_apply

    expired = erasure_requests_expire()
    for outcome in retention_apply():
        log.info("retention %s (%s days): %s rows in %s batches", outcome.kind, outcome.keep_days, outcome.removed,
                 outcome.batches)
    if expired:
        log.info("erasure requests expired: %s", expired)
