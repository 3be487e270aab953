"""The clock engine follows its calendars: when a calendar's hours or days change, the clocks running on it get
new due times (in a task: a busy calendar may carry thousands of clocks)."""

from __future__ import annotations

from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer


def handle(batch: list[OutboxEvent]) -> None:
    from kefu.clocks.tasks import clocks_recalendar_task

    for calendar_id in dict.fromkeys(e.payload["calendar_id"] for e in batch):
        changed_at = max(e.payload["changed_at"] for e in batch if e.payload["calendar_id"] == calendar_id)
        clocks_recalendar_task(calendar_id, changed_at)


def register() -> None:
    register_consumer(Consumer(name="clocks.calendars", handle=handle, types=frozenset({"calendar.changed"}),
                               description="new due times for clocks on a calendar that changed"))
