"""The screen pop's card (GET /calls/<id>/pop/): the caller's customer with open orders and a one-step order, or
an unknown caller; only for people who may see the call. The live message carries what the page needs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.core.models import OutboxEvent
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.services import CtiEventIn, cti_event_record
from kefu.tickets import services as tickets
from kefu.web.live import build_messages

pytestmark = pytest.mark.django_db


def ring(admin: Any, agent: Any, caller: str, call_id: str = "pop-1") -> Any:
    return cti_event_record(actor=admin, data=CtiEventIn(call_id=call_id, event="ringing", at=timezone.now(),
                                                         caller=caller, called="4008001234", queue="hotline",
                                                         agent=agent.username)).call


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))


def test_the_ringing_agent_sees_the_callers_card(client: Client, admin_user: Any, agent: Any, customer: Any,
                                                  hotline: Any) -> None:
    order = tickets.ticket_create(actor=agent, subject="空调不制冷", customer=customer)
    call = ring(admin_user, agent, "+86 138-0013-8000")  # written another way: the same number
    client.force_login(agent)
    page = client.get(f"/calls/{call.pk}/pop/").content.decode()
    assert "张三" in page
    assert order.number in page
    assert f"/tickets/new/?customer={customer.pk}&amp;channel=phone" in page
    assert "服务热线" in page


def test_an_unknown_caller_gets_a_new_customer_form(client: Client, admin_user: Any, agent: Any,
                                                     hotline: Any) -> None:
    call = ring(admin_user, agent, "13912345678")
    client.force_login(agent)
    page = client.get(f"/calls/{call.pk}/pop/").content.decode()
    assert 'data-testid="screen-pop-unknown"' in page
    assert "phone=13912345678" in page
    form = client.get("/tickets/new/?channel=phone&phone=13912345678").content.decode()
    assert 'value="13912345678"' in form


def test_only_people_who_may_see_the_call(client: Client, admin_user: Any, agent: Any, other_agent: Any,
                                          manager: Any, hotline: Any) -> None:
    call = ring(admin_user, agent, "13800138000")
    client.force_login(other_agent)  # another team's agent
    assert client.get(f"/calls/{call.pk}/pop/").status_code == 404
    client.force_login(manager)
    assert client.get(f"/calls/{call.pk}/pop/").status_code == 200


def test_the_live_message_carries_the_call_and_its_event(admin_user: Any, agent: Any, hotline: Any) -> None:
    ring(admin_user, agent, "13800138000")
    event = OutboxEvent.objects.get(type="call.changed")
    ((groups, message),) = [p for p in build_messages([event]) if p[1].get("type") == "event"]
    assert f"user.{agent.pk}" in groups
    assert message["cti"]["event"] == "ringing"
    assert message["cti"]["agent_id"] == agent.pk
    assert message["call"]["caller"] == "13800138000"
