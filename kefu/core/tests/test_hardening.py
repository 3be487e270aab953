"""Smaller holes of the probe: django-admin could delete the webhook delivery log (and would show the audit log
for editing once registered); the language cookie lacked the Secure flag in production."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from kefu.core.audit import audit_record
from kefu.core.checks import language_cookie_secure
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(admin_user: Any) -> dict[str, Any]:
    endpoint = WebhookEndpoint.objects.create(name="CRM", url="http://127.0.0.1:9/hook")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="ticket.created", payload={}, state="gave_up")
    entry = audit_record(actor=admin_user, action="customer.exported", object_type="customers.export",
                         summary="导出客户 3 条")
    return {"integrations_webhookdelivery": delivery, "core_auditlog": entry}


@pytest.mark.parametrize("name", ["integrations_webhookdelivery", "core_auditlog"])
def test_no_one_can_add_change_or_delete_in_django_admin(admin_user: Any, rows: dict[str, Any], name: str) -> None:
    assert admin_user.is_superuser
    row = rows[name]
    model_admin = admin.site._registry[type(row)]
    client = Client()
    client.force_login(admin_user)
    request = client.get(reverse("admin:index")).wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert model_admin.get_actions(request) == {}  # no "delete selected"
    assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200  # reading is fine
    assert client.get(reverse(f"admin:{name}_add")).status_code == 403
    assert client.post(reverse(f"admin:{name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    changed = client.post(reverse(f"admin:{name}_change", args=[row.pk]), {"state": "delivered", "action": "x"})
    assert changed.status_code in (200, 403)  # a read-only page: the post saves nothing
    bulk = client.post(reverse(f"admin:{name}_changelist"),
                       {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert type(row).objects.filter(pk=row.pk).exists()
    if isinstance(row, WebhookDelivery):
        row.refresh_from_db()
        assert row.state == "gave_up"


def test_the_language_cookie_is_secure_when_the_session_cookie_is(client: Client, settings: Any) -> None:
    settings.LANGUAGE_COOKIE_SECURE = True
    response = client.post(reverse("web:set_language"), {"language": "en", "next": "/"})
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["secure"]
    assert cookie["samesite"] == "Lax"


def test_the_deploy_check_asks_for_it(settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.LANGUAGE_COOKIE_SECURE = False
    assert [w.id for w in language_cookie_secure(None)] == ["kefu.W001"]
    settings.LANGUAGE_COOKIE_SECURE = True
    assert language_cookie_secure(None) == []


def test_production_settings_set_it(tmp_path: Any) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kefu.config.settings.production", "KEFU_DATA_DIR": str(tmp_path),
           "KEFU_SECRET_KEY": "x" * 50}
    code = ("import django; from django.conf import settings; django.setup(); "
            "print(settings.LANGUAGE_COOKIE_SECURE, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,  # noqa: S603
                         timeout=120)
    assert out.stdout.split() == ["True", "True", "True"]
    assert not settings.LANGUAGE_COOKIE_SECURE  # this test run is not production


def test_django_admin_shows_customers_masked(admin_user: Any, customer: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "138****8000" in page
    assert "13800138000" not in page
    assert "110101199003071233" not in page
    listing = client.get(reverse("admin:customers_customer_changelist"), {"q": "1380013"}).content.decode()
    assert customer.code not in listing  # a part of a number finds no one
    listing = client.get(reverse("admin:customers_customer_changelist"), {"q": "13800138000"}).content.decode()
    assert customer.code in listing
