"""Test helper: a work order's SLA clocks (clocks of the clock engine on the subject "tickets.ticket")."""

from __future__ import annotations

from typing import Any

from kefu.clocks.models import Clock


def sla_clocks(*conditions: Any, ticket: Any = None, **filters: Any) -> Any:
    qs = Clock.objects.filter(*conditions, subject_type="tickets.ticket", **filters)
    return qs.filter(subject_id=ticket.pk) if ticket is not None else qs
