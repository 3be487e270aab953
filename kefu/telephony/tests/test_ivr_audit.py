"""The IVR's order-status lookup is a read of a customer's orders, so it is audited like every read of personal
data: one row per lookup that found a customer, naming who asked (the PBX's account and its API token, or the
administrator trying the flow out), the customer, the call and the orders read out — never the number in clear.
A number that finds nobody, and the other menu steps, write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.apiutils.testing import ApiClient
from kefu.core.audit_log import action_label
from kefu.core.models import AuditLog
from kefu.telephony.ivr_selectors import ORDERS_READ, NextStepIn, ivr_next_step
from kefu.telephony.tests.ivr_world import HOTLINE_NUMBER, MONDAY_10, build_hotline
from kefu.tickets import services as tickets

pytestmark = pytest.mark.django_db
CALL = "1733302800.42"


@pytest.fixture
def hotline_ivr(admin_user: Any, team: Any) -> Any:
    return build_hotline(admin_user, team)


@pytest.fixture
def pbx_token(admin_user: Any) -> Any:
    from kefu.accounts.services import api_token_create

    return api_token_create(actor=admin_user, name="PBX 呼叫中心", scopes=["telephony"])


def _ask(client: ApiClient, caller: str, **extra: Any) -> Any:
    response = client.post("/ivr/next", {"call_id": CALL, "caller": caller, "called": HOTLINE_NUMBER, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_pbx_lookup_of_a_customers_orders_is_audited(admin_user: Any, agent: Any, customer: Any,
                                                          hotline_ivr: Any, pbx_token: Any,
                                                          monkeypatch: Any) -> None:
    monkeypatch.setattr(timezone, "now", lambda: MONDAY_10)
    order = tickets.ticket_create(actor=agent, subject="空调不制冷", customer=customer)
    pbx = ApiClient(pbx_token.key)
    _ask(pbx, "+86 138 0013 8000")  # the main menu: nothing read yet
    assert not AuditLog.objects.filter(action=ORDERS_READ).exists()
    step = _ask(pbx, "+86 138 0013 8000", node="main", digits="1")
    assert step["reason"] == "order_status"
    row = AuditLog.objects.get(action=ORDERS_READ)
    assert row.actor_id == admin_user.pk  # the account the PBX's token belongs to
    assert (row.object_type, row.object_id) == ("customers.customer", str(customer.pk))
    assert row.data["call_id"] == CALL
    assert row.data["token_id"] == pbx_token.token.pk
    assert row.data["token"] == "PBX 呼叫中心"
    assert row.data["orders"] == [order.number]
    assert row.ip_address == "127.0.0.1"
    assert customer.code in row.summary
    assert CALL in row.summary
    text = f"{row.summary} {row.data}"
    assert "13800138000" not in text  # the number only masked
    assert "0013 8000" not in text
    assert row.data["caller"] != "13800138000"
    assert action_label(ORDERS_READ) == "语音导航查询工单状态"


def test_each_lookup_is_a_row_and_a_number_that_finds_nobody_writes_none(customer: Any, hotline_ivr: Any,
                                                                         pbx_token: Any,
                                                                         monkeypatch: Any) -> None:
    monkeypatch.setattr(timezone, "now", lambda: MONDAY_10)
    pbx = ApiClient(pbx_token.key)
    first = _ask(pbx, "13800138000", node="main", digits="1")
    again = _ask(pbx, "13800138000", node="main", digits="1")
    assert first == again  # the PBX's retry gets the same answer …
    assert AuditLog.objects.filter(action=ORDERS_READ).count() == 2  # … and each reading out is recorded
    assert AuditLog.objects.get(action=ORDERS_READ, pk=AuditLog.objects.filter(
        action=ORDERS_READ).order_by("id").first().pk).data["orders"] == []  # no open order: still a read
    _ask(pbx, "13700000000", node="main", digits="1")
    _ask(pbx, "", node="main", digits="1")  # withheld
    _ask(pbx, "13800138000", node="main", digits="4")  # another menu
    assert AuditLog.objects.filter(action=ORDERS_READ).count() == 2


def test_without_an_asker_the_ivr_itself_is_named(customer: Any, hotline_ivr: Any) -> None:
    ivr_next_step(NextStepIn(call_id="c9", caller="13800138000", called=HOTLINE_NUMBER, node="main", digits="1"),
                  now=MONDAY_10)
    row = AuditLog.objects.get(action=ORDERS_READ)
    assert row.actor_id is None  # the system (the IVR), not a person
    assert (row.object_id, row.data["call_id"], row.data["token_id"]) == (str(customer.pk), "c9", None)


def test_the_editors_try_out_with_a_customers_number_is_audited_as_the_administrator(
        client: Client, admin_user: Any, customer: Any, hotline_ivr: Any) -> None:
    client.force_login(admin_user)
    page = client.get(f"/admin/ivr/{hotline_ivr.pk}/", {"try_caller": "13800138000", "try_keys": "1"})
    assert page.status_code == 200
    row = AuditLog.objects.get(action=ORDERS_READ)
    assert row.actor_id == admin_user.pk
    assert (row.object_id, row.data["call_id"], row.data["token_id"]) == (str(customer.pk), "try", None)
    client.get(f"/admin/ivr/{hotline_ivr.pk}/", {"try_caller": "13912345678", "try_keys": "1"})
    assert AuditLog.objects.filter(action=ORDERS_READ).count() == 1
