"""Worker tasks of routing (thin: the logic lives in services)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def agent_states_expire_task() -> None:
    """After-contact work that has run its time ends (written with the exact time it ended)."""
    from kefu.routing.services import agent_states_expire

    agent_states_expire()
