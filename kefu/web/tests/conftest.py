"""Fixtures of the workspace tests: a work order with a reply, a note, a dispatch and a customer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def login(client: Client) -> Any:
    def _login(user: Any) -> Client:
        client.force_login(user)
        return client

    return _login


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
