"""Webhook endpoints on the administration pages and the API: registered, edited with a version check,
refused with the field named, audited; the secret rotates."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.integrations.models import WebhookEndpoint
from kefu.integrations.services import (
    WebhookEndpointData,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

pytestmark = pytest.mark.django_db


def data(**kw: Any) -> WebhookEndpointData:
    return WebhookEndpointData(**{"name": "CRM", "url": "https://crm.example.com/hook", "events": [], **kw})


def test_create_edit_and_rotate_are_audited(admin_user: Any) -> None:
    endpoint = webhook_endpoint_create(actor=admin_user, data=data(events=["ticket.created", "ticket.created"]))
    assert (endpoint.events, endpoint.version, len(endpoint.secret)) == (["ticket.created"], 1, 64)
    edited = webhook_endpoint_update(actor=admin_user, endpoint=endpoint, expected_version=1,
                                     data=data(name="CRM 正式", is_active=False))
    assert (edited.name, edited.is_active, edited.version) == ("CRM 正式", False, 2)
    old = edited.secret
    assert webhook_endpoint_rotate_secret(actor=admin_user, endpoint=edited).secret != old
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated"]
    row = AuditLog.objects.get(action="webhook_endpoint.updated")
    assert row.data["before"]["name"] == "CRM"
    assert row.data["after"]["name"] == "CRM 正式"
    assert "secret" not in str(row.data)


def test_a_stale_edit_is_a_conflict(admin_user: Any) -> None:
    endpoint = webhook_endpoint_create(actor=admin_user, data=data())
    webhook_endpoint_update(actor=admin_user, endpoint=endpoint, expected_version=1, data=data(name="甲"))
    with pytest.raises(Conflict) as caught:
        webhook_endpoint_update(actor=admin_user, endpoint=endpoint, expected_version=1, data=data(name="乙"))
    assert caught.value.details["current_version"] == 2


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": " "}, "name"),
    ({"name": "名" * 101}, "name"),
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "https://"}, "url"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"events": ["ticket.exploded"]}, "events"),
    ({"events": ["notification.created"]}, "events"),
])
def test_bad_input_names_the_field_and_writes_nothing(admin_user: Any, fields: dict[str, Any],
                                                      field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        webhook_endpoint_create(actor=admin_user, data=data(**fields))
    assert caught.value.details["field"] == field
    assert not WebhookEndpoint.objects.exists()
    assert not AuditLog.objects.exists()


def test_only_administrators_manage_endpoints(manager: Any) -> None:
    with pytest.raises(PermissionDenied):
        webhook_endpoint_create(actor=manager, data=data())


def test_the_pages_add_and_edit_an_endpoint(admin_user: Any, django_assert_max_num_queries: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    refused = client.post("/admin/webhooks/endpoints/new/", {"name": "CRM", "url": "gopher://x"})
    assert refused.status_code == 422
    assert "地址格式不正确" in refused.content.decode() or "http://" in refused.content.decode()
    response = client.post("/admin/webhooks/endpoints/new/", {"name": "CRM", "url": "https://crm.example.com/h",
                                                              "events": ["ticket.created"], "is_active": "on"})
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    page = client.get(f"/admin/webhooks/endpoints/{endpoint.pk}/").content.decode()
    assert endpoint.secret in page
    stale = client.post(f"/admin/webhooks/endpoints/{endpoint.pk}/",
                        {"name": "CRM2", "url": endpoint.url, "version": 99, "is_active": "on"})
    assert stale.status_code == 422
    assert "已被他人修改" in stale.content.decode()
    for n in range(5):
        WebhookEndpoint.objects.create(name=f"系统{n}", url=f"https://s{n}.example.com/h")
    with django_assert_max_num_queries(8):
        listing = client.get("/admin/webhooks/endpoints/")
    assert listing.status_code == 200
    assert "系统4" in listing.content.decode()


def test_the_api(admin_user: Any) -> None:
    api = api_as(admin_user)
    created = api.post("/webhooks", {"name": "ERP", "url": "https://erp.example.com/k", "events": ["ticket.created"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["events"] == ["ticket.created"]
    assert body["version"] == 1
    bad = api.post("/webhooks", {"name": "ERP", "url": "https://erp.example.com/k", "events": ["nope"]})
    assert assert_error_shape(bad, 400)["details"]["field"] == "events"
    put = api.request("put", f"/webhooks/{body['id']}", {"name": "ERP2", "url": body["url"], "version": 1})
    assert put.status_code == 200
    assert put.json()["version"] == 2
    stale = api.request("put", f"/webhooks/{body['id']}", {"name": "ERP3", "url": body["url"], "version": 1})
    assert_error_shape(stale, 409, "stale_version")
    assert api.get("/webhooks/999999").status_code == 404
