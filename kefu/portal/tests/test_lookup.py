"""The order-status lookup: the order number and the last four digits of the customer's phone; one generic
refusal whatever was wrong; limited per address and per order number; the public side of the order only;
every lookup audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.core.models import AuditLog
from kefu.portal.services import LOOKUP_REFUSED, ORDERS_READ

pytestmark = pytest.mark.django_db

GENERIC = "工单号或手机号后四位不正确，请核对后再试。"


def test_the_right_suffix_shows_the_public_side_of_the_order(order: Any, visitor: Client) -> None:
    answer = visitor.post("/help/zh/order", {"number": order.number.lower(), "suffix": "8000"})
    text = answer.content.decode()
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    assert 'data-testid="portal-order-status"' in text
    assert "已分配" in text
    assert "宽带无法上网" in text
    assert order.number in text
    assert "您好，已安排师傅明天上午上门检查线路。" in text
    assert "客服回复" in text
    assert "内部备注" not in text
    assert "客户脾气急" not in text
    assert "李客服" not in text
    assert "agent" not in text
    assert "13800138000" not in text
    assert "zhangsan@example.com" not in text
    row = AuditLog.objects.get(action=ORDERS_READ)
    assert row.object_type == "customers.customer"
    assert row.object_id == str(order.customer_id)
    assert row.data["orders"] == [order.number]
    assert row.ip_address == "198.51.100.7"


def test_a_wrong_suffix_and_an_unknown_number_get_the_same_message(order: Any, visitor: Client) -> None:
    wrong = visitor.post("/help/zh/order", {"number": order.number, "suffix": "1234"})
    unknown = visitor.post("/help/zh/order", {"number": "GD209901019999999", "suffix": "8000"})
    for answer in (wrong, unknown):
        text = answer.content.decode()
        assert answer.status_code == 400
        assert GENERIC in text
        assert 'data-testid="portal-order-status"' not in text
        assert "宽带无法上网" not in text
    refused = list(AuditLog.objects.filter(action=LOOKUP_REFUSED).order_by("id"))
    assert [r.data["exists"] for r in refused] == [True, False]
    assert not AuditLog.objects.filter(action=ORDERS_READ).exists()


def test_an_order_without_a_customer_is_never_shown(agent: Any, visitor: Client) -> None:
    from kefu.tickets.services import ticket_create

    ticket = ticket_create(actor=agent, subject="无客户的工单")
    answer = visitor.post("/help/zh/order", {"number": ticket.number, "suffix": "0000"})
    assert answer.status_code == 400
    assert GENERIC in answer.content.decode()


@pytest.mark.parametrize(("data", "message"), [
    ({"number": "", "suffix": "8000"}, "请填写工单号"),
    ({"number": "12345", "suffix": "8000"}, "工单号格式不正确"),
    ({"number": "GD202601010000001", "suffix": ""}, "请填写手机号后四位"),
    ({"number": "GD202601010000001", "suffix": "80a0"}, "请填写手机号的后四位数字"),
    ({"number": "GD202601010000001", "suffix": "138000"}, "请填写手机号的后四位数字"),
])
def test_malformed_fields_are_named_and_cost_no_try(visitor: Client, data: dict[str, str], message: str) -> None:
    answer = visitor.post("/help/zh/order", data)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not AuditLog.objects.exists()


def test_tries_are_limited_per_order_number(order: Any, settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "portal.lookup_order": "3/15m",
                                 "portal.lookup_address": "100/15m"}
    for n in range(3):  # from three addresses: the order's own limit counts them all
        answer = Client(REMOTE_ADDR=f"203.0.113.{40 + n}").post("/help/zh/order",
                                                                {"number": order.number, "suffix": "1111"})
        assert answer.status_code == 400
    refused = Client(REMOTE_ADDR="203.0.113.50").post("/help/zh/order", {"number": order.number, "suffix": "8000"})
    text = refused.content.decode()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "尝试次数过多，请" in text
    assert "分钟后再试" in text
    assert "宽带无法上网" not in text  # even the right suffix, once over the limit
    assert not AuditLog.objects.filter(action=ORDERS_READ).exists()


def test_tries_are_limited_per_address(order: Any, agent: Any, customer: Any, settings: Any) -> None:
    from kefu.tickets.services import ticket_create

    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "portal.lookup_address": "2/15m"}
    other = ticket_create(actor=agent, subject="另一张工单", customer=customer)
    browser = Client(REMOTE_ADDR="203.0.113.60")
    assert browser.post("/help/zh/order", {"number": order.number, "suffix": "1111"}).status_code == 400
    assert browser.post("/help/zh/order", {"number": other.number, "suffix": "8000"}).status_code == 200
    refused = browser.post("/help/zh/order", {"number": order.number, "suffix": "8000"})
    assert refused.status_code == 429
    assert "尝试次数过多" in refused.content.decode()
    assert Client(REMOTE_ADDR="203.0.113.61").post(
        "/help/zh/order", {"number": order.number, "suffix": "8000"}).status_code == 200


def test_the_lookup_needs_the_csrf_token(order: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/help/zh/order", {"number": order.number, "suffix": "8000"}).status_code == 403
