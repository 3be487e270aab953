"""Masked personal data cannot be recovered through search.

The probe: a role that sees phone numbers masked (质检 / QA: customer.view without customer.view_phone) searched
customers with `q=` and a growing prefix of digits; whether the customer appeared spelled out the number (the
full number in 21 requests, a masked e-mail in 206). Now such a role finds a contact only by its whole value, in
every search (API and web customer lists, the create form's autocomplete, work orders by the caller's number),
and each such lookup is an audit row with the kind and masked value — never the value in clear. Roles that
may see contacts keep searching by a part of one.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from django.test import Client

from kefu.apiutils.testing import api_as
from kefu.core.audit import LOOKUP, lookup_digest
from kefu.core.models import AuditLog
from kefu.customers import selectors
from kefu.customers.selectors import CustomerFilters
from kefu.customers.tests.factories import CustomerFactory
from kefu.tickets import selectors as ticket_selectors
from kefu.tickets.services import ticket_create

pytestmark = pytest.mark.django_db

PHONE = "13800138000"
EMAIL = "zhangsan@example.com"


_CLIENTS: dict[int, Any] = {}


def api_finds(user: Any, customer: Any, q: str) -> bool:
    if user.pk not in _CLIENTS:
        _CLIENTS[user.pk] = api_as(user)
    response = _CLIENTS[user.pk].get("/customers", q=q)
    assert response.status_code == 200, response.content
    return customer.pk in {c["id"] for c in response.json()["items"]}


def prefix_attack(found: Any, known: str, alphabet: str, length: int, budget: int) -> tuple[str, int]:
    """The probe's attack: extend the known start one character at a time, keeping the character with which
    the customer still appears. Returns what it learnt and the requests it spent."""
    learnt, spent = known, 0
    while len(learnt) < length and spent < budget:
        for ch in alphabet:
            spent += 1
            if found(learnt + ch):
                learnt += ch
                break
        else:
            return learnt, spent  # no character kept the customer in the list: nothing more to learn
    return learnt, spent


def no_value_in_clear(rows: Any, *values: str) -> None:
    for row in rows:
        text = json.dumps(row.data, ensure_ascii=False) + row.summary + row.object_id
        for value in values:
            assert value not in text, (value, text)


class TestPhonePrefixAttack:
    def test_a_role_that_may_see_numbers_keeps_searching_by_a_part(self, agent: Any, customer: Any) -> None:
        for part in ("1380013", "8000", "0013 8000"):  # a prefix, the last four digits a caller reads out
            assert api_finds(agent, customer, part), part
        assert not AuditLog.objects.filter(action=LOOKUP).exists()

    def test_qa_learns_nothing_from_a_growing_prefix(self, qa: Any, customer: Any) -> None:
        learnt, spent = prefix_attack(lambda q: api_finds(qa, customer, q), "138", string.digits, 11, 200)
        assert learnt == "138"  # nothing beyond what the mask shows
        assert spent == 10
        for part in ("1380013", "13800138", "8000", "0013 8000", "1380013800"):
            assert not api_finds(qa, customer, part), part

    def test_qa_finds_the_customer_by_the_whole_number_and_it_is_audited(self, qa: Any, customer: Any) -> None:
        for form in (PHONE, "+86 138 0013 8000", "138-0013-8000"):
            assert api_finds(qa, customer, form), form
        rows = list(AuditLog.objects.filter(action=LOOKUP).order_by("id"))
        assert len(rows) == 3
        row = rows[0]
        assert row.actor == qa
        assert row.object_type == "customers.search"
        assert row.data["kind"] == "phone"
        assert row.data["masked"] == "138****8000"
        assert row.data["whole_value"] is True
        assert row.data["digest"] == lookup_digest("phone", PHONE)
        assert row.ip_address == "127.0.0.1"
        no_value_in_clear(rows, PHONE, "13800138")

    def test_every_attempt_is_audited_without_the_digits(self, qa: Any, customer: Any) -> None:
        prefix_attack(lambda q: api_finds(qa, customer, q), "138", string.digits, 11, 200)
        rows = list(AuditLog.objects.filter(action=LOOKUP, actor=qa))
        assert len(rows) == 10
        assert all(r.data["whole_value"] is False and "digest" not in r.data for r in rows)
        no_value_in_clear(rows, "13800", "13810")

    def test_the_web_list_and_the_autocomplete_too(self, qa: Any, customer: Any) -> None:
        client = Client()
        client.force_login(qa)

        def web_finds(q: str) -> bool:
            page = client.get("/customers/", {"q": q})
            assert page.status_code == 200
            return customer.pk in {row.id for row in page.context["rows"]}

        learnt, _spent = prefix_attack(web_finds, "138", string.digits, 11, 200)
        assert learnt == "138"
        assert web_finds(PHONE)
        autocomplete = client.get("/customers/search/", {"q": "1380013800"})
        assert customer.code not in autocomplete.content.decode()
        assert AuditLog.objects.filter(action=LOOKUP, actor=qa).count() == 10 + 1 + 1


class TestEmailPrefixAttack:
    def test_qa_learns_nothing_from_parts_of_an_address(self, qa: Any, customer: Any) -> None:
        alphabet = string.ascii_lowercase + string.digits + "._-"
        learnt, _spent = prefix_attack(lambda q: api_finds(qa, customer, q + "@example.com"), "z", alphabet, 8, 400)
        assert learnt == "z"  # the mask shows z***@example.com; no guess of the rest kept it in the list
        for part in ("zhangsan@", "zhangsan@example", "@example.com", "hangsan@example.com", "zhangsan@example.co"):
            assert not api_finds(qa, customer, part), part
        assert api_finds(qa, customer, "ZhangSan@Example.com")
        rows = AuditLog.objects.filter(action=LOOKUP, actor=qa)
        assert rows.filter(data__kind="email").count() == rows.count()
        whole = [r for r in rows if r.data["whole_value"] and r.data.get("digest") == lookup_digest("email", EMAIL)]
        assert [r.data["masked"] for r in whole] == ["z***@example.com"]
        no_value_in_clear(list(rows), "zhangsan")

    def test_an_agent_keeps_searching_by_a_part(self, agent: Any, customer: Any) -> None:
        assert api_finds(agent, customer, "zhangsan@")


class TestOtherContactsAndSearches:
    def test_a_wechat_id_only_whole_and_audited_when_it_is_one(self, qa: Any) -> None:
        from kefu.customers.tests.factories import ContactPointFactory

        wang = CustomerFactory(name="王五")
        ContactPointFactory(customer=wang, kind="wechat", value="WangWu88")

        def ids(q: str) -> list[int]:
            return [c.pk for c in selectors.customer_list(qa, CustomerFilters(q=q))]

        assert ids("wangwu") == []
        assert ids("WangWu88") == [wang.pk]
        assert ids("王五") == [wang.pk]  # names are not masked: found by a part, and no audit row
        rows = list(AuditLog.objects.filter(action=LOOKUP).order_by("id"))
        assert [(r.data["kind"], r.data["masked"]) for r in rows] == [("wechat", "wa***")]

    def test_names_and_codes_are_searched_as_before_without_audit(self, qa: Any, customer: Any) -> None:
        assert [c.pk for c in selectors.customer_list(qa, CustomerFilters(q="张"))] == [customer.pk]
        assert [c.pk for c in selectors.customer_list(qa, CustomerFilters(q=customer.code))] == [customer.pk]
        assert not AuditLog.objects.filter(action=LOOKUP).exists()

    def test_work_orders_by_the_callers_number(self, agent: Any, qa: Any, customer: Any) -> None:
        order = ticket_create(actor=agent, subject="来电咨询", customer=customer, assignee=agent)

        def found(user: Any, q: str) -> bool:
            return ticket_selectors.filter_tickets(user, ticket_selectors.TicketFilter(q=q)).filter(
                pk=order.pk).exists()

        assert not found(qa, "1380013800")
        assert found(qa, PHONE)
        assert found(agent, PHONE)
        rows = list(AuditLog.objects.filter(action=LOOKUP).order_by("id"))
        assert [(r.actor, r.object_type, r.data["whole_value"]) for r in rows] == [
            (qa, "tickets.search", False), (qa, "tickets.search", True)]
        no_value_in_clear(rows, PHONE, "1380013800")

    def test_the_web_header_search_of_work_orders(self, agent: Any, qa: Any, customer: Any) -> None:
        ticket_create(actor=agent, subject="来电咨询", customer=customer, assignee=agent)
        client = Client()
        client.force_login(qa)
        assert client.get("/tickets/", {"q": "138001380"}).context["rows"] == []
        assert len(client.get("/tickets/", {"q": PHONE}).context["rows"]) == 1
        assert AuditLog.objects.filter(action=LOOKUP, actor=qa, object_type="tickets.search").count() == 2


@pytest.fixture(autouse=True)
def _fresh_clients() -> Any:
    _CLIENTS.clear()
    yield
    _CLIENTS.clear()
