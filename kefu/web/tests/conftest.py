"""Fixtures of the workspace tests: a work order with a reply, a note, a dispatch and a customer."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def ticket(agent: Any, customer: Any) -> Any:
    from kefu.tickets.services import ticket_create

    return ticket_create(
        actor=agent,
        subject="空调不制冷",
        description="客户反映空调开机后不制冷。",
        ticket_type="repair",
        customer=customer,
        assignee=agent,
    )
