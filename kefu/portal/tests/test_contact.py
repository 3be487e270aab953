"""The web form that opens a work order: each bad field named, nothing partial written, the customer matched by
phone or e-mail or created, a honeypot against bots, a rate limit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from kefu.core.models import AuditLog
from kefu.customers.models import ContactPoint, Customer
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db

GOOD = {"name": "王女士", "phone": "139 1234 5678", "email": "", "ticket_type": "repair",
        "subject": "厨房水管漏水", "description": "3 栋 1202 室厨房水管漏水，下午 3 点后家里有人。"}


def test_the_form_opens_an_order_for_a_new_customer(visitor: Client) -> None:
    page = visitor.get("/help/zh/contact")
    assert page.status_code == 200
    assert 'name="website"' in page.content.decode()
    answer = visitor.post("/help/zh/contact", GOOD)
    assert answer.status_code == 302
    assert answer["Location"].startswith("/help/zh/contact/sent?t=")
    ticket = Ticket.objects.get()
    assert ticket.channel == "web"
    assert ticket.ticket_type == "repair"
    assert ticket.subject == "厨房水管漏水"
    assert ticket.description.startswith("3 栋 1202 室")
    assert "王女士 / 139 1234 5678" in ticket.description
    assert ticket.first_contact_owner is None
    assert ticket.created_by is None
    customer = ticket.customer
    assert customer.name == "王女士"
    assert ContactPoint.objects.get(customer=customer, kind="phone").normalized == "13912345678"
    assert AuditLog.objects.filter(action="ticket.opened_by_portal", object_id=str(ticket.pk)).exists()
    done = visitor.get(answer["Location"])
    assert done.status_code == 200
    assert ticket.number in done.content.decode()
    assert visitor.get("/help/zh/contact/sent?t=forged").status_code == 302


def test_an_existing_customer_is_matched_by_phone_or_email(customer: Any, visitor: Client) -> None:
    by_phone = visitor.post("/help/en/contact", {**GOOD, "name": "Zhang", "phone": "+86 138 0013 8000"})
    assert by_phone.status_code == 302
    by_email = visitor.post("/help/en/contact", {**GOOD, "phone": "", "email": "ZhangSan@example.com"})
    assert by_email.status_code == 302
    assert list(Ticket.objects.values_list("customer_id", flat=True)) == [customer.pk, customer.pk]
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": " "}, "name", "请填写您的称呼"),
    ({"name": "名" * 51}, "name", "称呼最多 50 个字"),
    ({"phone": "12"}, "phone", "手机号码格式不正确"),
    ({"phone": "", "email": "not-an-address"}, "email", "电子邮箱格式不正确"),
    ({"phone": "", "email": ""}, "phone", "请留下手机号码或电子邮箱（至少一项），方便我们联系您"),
    ({"ticket_type": "vip"}, "ticket_type", "请选择问题类型"),
    ({"ticket_type": ""}, "ticket_type", "请选择问题类型"),
    ({"subject": ""}, "subject", "请用一句话概括您的问题"),
    ({"subject": "题" * 101}, "subject", "标题最多 100 个字"),
    ({"description": "   "}, "description", "请描述您遇到的问题"),
])
def test_each_bad_field_is_named_and_nothing_is_written(visitor: Client, changes: dict[str, str], field: str,
                                                        message: str) -> None:
    answer = visitor.post("/help/zh/contact", {**GOOD, **changes})
    text = answer.content.decode()
    assert answer.status_code == 400
    assert message in text
    assert re.search(rf'<(input|select|textarea)[^>]*name="{field}"[^>]*aria-invalid="true"', text), field
    assert "请检查以下内容：" in text
    assert not Ticket.objects.exists()
    assert not Customer.objects.exists()


def test_several_bad_fields_are_all_named(visitor: Client) -> None:
    answer = visitor.post("/help/zh/contact", {**GOOD, "name": "", "subject": "", "phone": "x"})
    text = answer.content.decode()
    assert "请检查以下内容：您的称呼、手机号码、标题" in text
    assert "请填写您的称呼" in text
    assert "手机号码格式不正确" in text
    assert "请用一句话概括您的问题" in text
    assert "3 栋 1202 室" in text  # what was typed is kept


def test_the_honeypot_refuses_bots(visitor: Client) -> None:
    answer = visitor.post("/help/zh/contact", {**GOOD, "website": "http://spam.example"})
    assert answer.status_code == 400
    assert not Ticket.objects.exists()
    assert not Customer.objects.exists()


def test_nothing_partial_when_the_order_fails(visitor: Client, monkeypatch: Any) -> None:
    from kefu.core.errors import ValidationFailed
    from kefu.tickets import services as ticket_services

    def refuse(**kwargs: Any) -> Any:
        raise ValidationFailed("标题不能为空", details={"field": "subject"})

    monkeypatch.setattr(ticket_services, "ticket_create", refuse)
    answer = visitor.post("/help/zh/contact", GOOD)
    assert answer.status_code == 400
    assert "标题不能为空" in answer.content.decode()
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()
    assert not Ticket.objects.exists()


def test_the_form_needs_the_csrf_token() -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/help/zh/contact", GOOD).status_code == 403
    assert not Ticket.objects.exists()


def test_the_form_is_rate_limited(settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "portal.web_order": "2/1h"}
    one = Client(REMOTE_ADDR="203.0.113.30")
    assert [one.post("/help/zh/contact", GOOD).status_code for _ in range(2)] == [302, 302]
    refused = one.post("/help/zh/contact", GOOD)
    assert refused.status_code == 429
    assert "提交过于频繁" in refused.content.decode()
    assert Ticket.objects.count() == 2
