"""The clock engine's events: a warning time reached, a target breached. Consumers (work-order escalation,
dispatch overdue alerts, notifications, webhooks) react to them; the engine knows none of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from kefu.core.events import event_type


class ClockInfo(BaseModel):
    id: int
    subject_type: str
    subject_id: int
    metric: str
    origin: str
    target_seconds: int
    calendar_id: int | None
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None


class ClockEventPayload(BaseModel):
    clock: ClockInfo
    elapsed_seconds: int
    detected: str  # "sweep": found past due by the periodic sweep; "on_stop": found late when it stopped


CLOCK_WARNED = event_type(
    "clock.warned", version=1, schema=ClockEventPayload, object_type="clocks.clock",
    description="A clock passed its warning time (e.g. 80 % of a work order's SLA target used).")
CLOCK_BREACHED = event_type(
    "clock.breached", version=1, schema=ClockEventPayload, object_type="clocks.clock",
    description="A clock passed its due time: an SLA target breached, a dispatch overdue.")
