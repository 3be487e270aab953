"""REST API for customers: masked lists and cards, audited reveal, create (idempotent), stale update → 409
with the current state, rights per persona, query counts."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.models import AuditLog
from kefu.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_list_is_masked_and_searchable(agent: Any, customer: Any) -> None:
    from kefu.customers.tests.factories import CustomerFactory

    CustomerFactory(name="李四", tier="A")
    api = api_as(agent)
    page = api.get("/customers", q="张三").json()
    assert [c["code"] for c in page["items"]] == [customer.code]
    assert page["items"][0]["phone"] != "13800138000"
    assert page["items"][0]["phone"].endswith("8000")
    assert page["count"] == 1
    assert [c["name"] for c in api.get("/customers", tier="A").json()["items"]] == ["李四"]


def test_detail_masked_by_default_and_reveal_is_audited(agent: Any, manager: Any, customer: Any) -> None:
    api = api_as(agent)
    masked = api.get(f"/customers/{customer.pk}").json()
    assert masked["revealed_fields"] == []
    assert all(c["masked"] for c in masked["contacts"])
    assert masked["id_number"] != customer.id_number
    assert not AuditLog.objects.filter(action="customer.viewed_unmasked").exists()
    revealed = api.get(f"/customers/{customer.pk}", reveal="true").json()
    assert "13800138000" in [c["value"] for c in revealed["contacts"]]
    assert revealed["id_number"] != customer.id_number  # agents never see the ID number
    row = AuditLog.objects.get(action="customer.viewed_unmasked")
    assert row.actor == agent
    assert row.object_id == str(customer.pk)
    manager_view = api_as(manager).get(f"/customers/{customer.pk}", reveal="true").json()
    assert manager_view["id_number"] == customer.id_number


def test_qa_cannot_reveal_and_department_cannot_see(qa: Any, department_user: Any, customer: Any) -> None:
    assert api_as(qa).get(f"/customers/{customer.pk}").status_code == 200
    assert_error_shape(api_as(qa).get(f"/customers/{customer.pk}", reveal="true"), 403, "forbidden")
    assert_error_shape(api_as(department_user).get("/customers"), 403, "forbidden")
    assert_error_shape(api_as(qa).post("/customers", {"name": "x"}), 403, "forbidden")


def test_create_with_contacts_and_idempotency(agent: Any) -> None:
    api = api_as(agent)
    body = {
        "name": "王五",
        "tier": "B",
        "contacts": [{"kind": "phone", "value": "139 1234 5678"}],
        "sites": [{"address": "人民路 1 号", "city": "杭州"}],
        "tags": ["老客户"],
    }
    first = api.post("/customers", body, headers={"Idempotency-Key": "c-1"})
    assert first.status_code == 201, first.content
    again = api.post("/customers", body, headers={"Idempotency-Key": "c-1"})
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(name="王五").count() == 1
    created = first.json()
    assert created["tags"] == ["老客户"]
    assert created["sites"][0]["city"] == "杭州"
    assert created["contacts"][0]["masked"] is True
    reused = api.post("/customers", {**body, "name": "赵六"}, headers={"Idempotency-Key": "c-1"})
    assert_error_shape(reused, 422, "idempotency_key_reused")


def test_duplicate_code_and_bad_contact_are_4xx(agent: Any, customer: Any) -> None:
    api = api_as(agent)
    duplicate = api.post("/customers", {"name": "x", "code": customer.code})
    assert assert_error_shape(duplicate, 409, "duplicate_code")["details"]["field"] == "code"
    bad_phone = api.post("/customers", {"name": "x", "contacts": [{"kind": "phone", "value": "abc"}]})
    assert 400 <= bad_phone.status_code < 500
    assert_error_shape(bad_phone, bad_phone.status_code)


def test_stale_update_gets_409_with_current_state(agent: Any, customer: Any) -> None:
    api = api_as(agent)
    version = customer.version
    ok = api.patch(f"/customers/{customer.pk}", {"version": version, "tier": "A", "is_vip": True})
    assert ok.status_code == 200, ok.content
    assert ok.json()["tier"] == "A"
    assert ok.json()["version"] == version + 1
    stale = api.patch(f"/customers/{customer.pk}", {"version": version, "name": "别人"})
    body = assert_error_shape(stale, 409, "stale_version")
    assert body["details"]["current"]["tier"] == "A"
    assert body["details"]["current"]["version"] == version + 1
    assert Customer.objects.get(pk=customer.pk).name == "张三"


def test_null_for_a_required_field_is_422(agent: Any, customer: Any) -> None:
    response = api_as(agent).patch(f"/customers/{customer.pk}", {"version": customer.version, "name": None})
    assert "name" in [f["field"] for f in assert_error_shape(response, 422, "invalid")["details"]["fields"]]


def test_list_query_count(agent: Any, django_assert_max_num_queries: Any) -> None:
    from kefu.customers.tests.factories import CustomerFactory

    for i in range(25):
        CustomerFactory(phone=f"1390000{i:04d}", email=f"c{i}@example.com")
    api = api_as(agent)
    with django_assert_max_num_queries(7):
        page = api.get("/customers", page_size=25).json()
    assert len(page["items"]) == 25
