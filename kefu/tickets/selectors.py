"""Reads of work orders and dispatches that other apps and the web layer use."""

from __future__ import annotations

from typing import Any

from kefu.tickets.choices import DispatchStatus
from kefu.tickets.models import Dispatch


def open_dispatches_of(department_id: int) -> Any:
    """The department's dispatches not yet done (pending or acknowledged)."""
    return Dispatch.objects.filter(department_id=department_id,
                                   status__in=[DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED])
