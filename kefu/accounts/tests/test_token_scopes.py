"""API tokens: every operation has a scope (so none is forgotten), scopes and expiry are enforced, one revokes only
one's own tokens through /me/tokens (administrators included), an administrator revokes others' through the
administration, audited; the profile page creates (shown once), lists and revokes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kefu.accounts.models import ApiToken
from kefu.accounts.services import api_token_create
from kefu.apiutils.scopes import OPERATION_SCOPES
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape
from kefu.core.models import AuditLog

pytestmark = pytest.mark.django_db


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    from kefu.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    return [(method, path, op) for path, methods in schema["paths"].items() for method, op in methods.items()]


def test_every_api_operation_has_a_scope() -> None:
    operations = _operations()
    ids = [op["operationId"] for _m, _p, op in operations]
    assert len(ids) == len(set(ids)), "operation ids must be unique: the scope map is keyed by them"
    missing = [f"{m.upper()} {p} ({op['operationId']})" for m, p, op in operations
               if op["operationId"] not in OPERATION_SCOPES]
    assert not missing, f"add these to kefu/apiutils/scopes.py OPERATION_SCOPES: {missing}"
    assert all(op.get("x-kefu-scope") for _m, _p, op in operations)
    stale = set(OPERATION_SCOPES) - set(ids)
    assert not stale, f"no such operations any more: {sorted(stale)}"


def test_every_read_outside_the_administration_is_read_scope_and_writes_are_not() -> None:
    for method, path, op in _operations():
        scope = OPERATION_SCOPES[op["operationId"]]
        # the administration, sign-in security and personal data (a customer's complete, unmasked export) need
        # the admin scope even to read
        admin_area = path.startswith(("/api/v1/admin", "/api/v1/webhooks", "/api/v1/security", "/api/v1/privacy")) \
            or path.endswith("/personal-data")
        if method == "get" and not admin_area:
            assert scope == "read", path
        if method != "get":
            assert scope != "read", f"{method} {path} writes with a read-only token"


def _token(user: Any, *scopes: str, days: int | None = None) -> ApiClient:
    return ApiClient(api_token_create(actor=user, name="t", scopes=list(scopes), expires_in_days=days).key)


def test_a_read_only_token_reads_and_writes_nothing(agent: Any, customer: Any) -> None:
    api = _token(agent, "read")
    assert api.get("/tickets").status_code == 200
    assert api.get(f"/customers/{customer.pk}").status_code == 200
    body = assert_error_shape(api.post("/tickets", {"subject": "x"}), 403, "scope_missing")
    assert body["details"]["scope"] == "tickets"
    assert_error_shape(api.post("/me/tokens", {"name": "more"}), 403, "scope_missing")


def test_a_tickets_token_changes_orders_but_not_customers(agent: Any) -> None:
    api = _token(agent, "read", "tickets")
    assert api.post("/tickets", {"subject": "从 CRM 来的工单"}).status_code == 201
    assert_error_shape(api.post("/customers", {"name": "王五"}), 403, "scope_missing")


def test_scope_never_adds_to_the_role(agent: Any) -> None:
    api = _token(agent, "read", "admin")
    assert_error_shape(api.get("/admin/staff"), 403, "forbidden")  # the agent's role has no staff right


def test_new_tokens_are_read_only_and_expire_in_90_days_by_default(agent: Any) -> None:
    created = api_as(agent).post("/me/tokens", {"name": "报表"})
    assert created.status_code == 201
    body = created.json()
    assert body["scopes"] == ["read"]
    token = ApiToken.objects.get(pk=body["id"])
    assert abs((token.expires_at - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)
    assert AuditLog.objects.get(action="api_token.created", object_id=str(token.pk)).data["scopes"] == ["read"]


def test_bad_scopes_and_expiry_are_refused_naming_the_field(agent: Any) -> None:
    api = api_as(agent)
    body = assert_error_shape(api.post("/me/tokens", {"name": "x", "scopes": ["everything"]}), 422, "invalid")
    assert body["details"]["fields"][0]["field"].startswith("scopes")
    assert_error_shape(api.post("/me/tokens", {"name": "x", "scopes": []}), 422, "invalid")
    body = assert_error_shape(api.post("/me/tokens", {"name": "x", "expires_in_days": 400}), 400, "invalid")
    assert body["details"]["field"] == "expires_in_days"
    assert_error_shape(api.post("/me/tokens", {"name": "x", "expires_in_days": 0}), 422, "invalid")


def test_an_expired_token_is_401_saying_so(agent: Any) -> None:
    api = _token(agent, "read", days=1)
    assert api.get("/me").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1), tick=False):
        body = assert_error_shape(api.get("/me"), 401, "token_expired")
    assert "expired_at" in body["details"]


def test_an_administrator_cannot_revoke_others_tokens_through_me_tokens(agent: Any, admin_user: Any) -> None:
    victim = _token(agent, "read")
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(victim.token))
    assert_error_shape(api_as(admin_user).delete(f"/me/tokens/{token.pk}"), 404, "not_found")
    assert victim.get("/me").status_code == 200


def test_an_administrator_revokes_others_tokens_through_the_administration(agent: Any, admin_user: Any,
                                                                           manager: Any) -> None:
    victim = _token(agent, "read")
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(victim.token))
    listed = api_as(admin_user).get("/admin/tokens", user=agent.pk).json()
    assert [row["id"] for row in listed] == [token.pk]
    assert listed[0]["username"] == "agent"
    assert_error_shape(api_as(manager).delete(f"/admin/tokens/{token.pk}"), 403, "forbidden")
    assert api_as(admin_user).delete(f"/admin/tokens/{token.pk}").status_code == 204
    assert_error_shape(victim.get("/me"), 401, "unauthenticated")
    row = AuditLog.objects.get(action="api_token.revoked", object_id=str(token.pk))
    assert row.actor == admin_user
    assert row.data["owner"] == agent.pk


def test_the_administration_page_revokes_a_token(agent: Any, admin_user: Any) -> None:
    victim = _token(agent, "read")
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(victim.token))
    client = Client()
    client.force_login(admin_user)
    assert "t" in client.get(reverse("administration:security")).content.decode()
    answer = client.post(reverse("administration:security_token_revoke", kwargs={"token_id": token.pk}), follow=True)
    assert "已吊销" in answer.content.decode()
    assert victim.get("/me").status_code == 401


def test_the_profile_page_creates_shows_once_lists_and_revokes(agent: Any, other_agent: Any) -> None:
    client = Client()
    client.force_login(agent)
    answer = client.post(reverse("web:account_token_create"),
                         {"name": "CRM 同步", "scopes": ["read", "tickets"], "days": "30"})
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=agent)
    page = answer.content.decode()
    key_start = page.index('data-testid="token-key"')
    assert "kefu_" in page[key_start - 200:key_start]
    assert token.scopes == ["read", "tickets"]
    assert abs((token.expires_at - timezone.now()) - timedelta(days=30)) < timedelta(minutes=1)
    again = client.get(reverse("web:account_security")).content.decode()
    assert "CRM 同步" in again
    assert 'data-testid="token-key"' not in again
    refused = client.post(reverse("web:account_token_create"), {"name": "", "scopes": [], "days": "30"})
    assert refused.status_code == 422
    assert "请填写令牌用途" in refused.content.decode()
    refused = client.post(reverse("web:account_token_create"), {"name": "x", "days": "30"})
    assert refused.status_code == 422
    assert "请至少选择一个权限范围" in refused.content.decode()
    refused = client.post(reverse("web:account_token_create"), {"name": "x", "scopes": ["read"], "days": "9999"})
    assert refused.status_code == 422
    assert "有效期" in refused.content.decode()
    theirs = api_token_create(actor=other_agent, name="他的", scopes=["read"]).token
    assert client.post(reverse("web:account_token_revoke", kwargs={"token_id": theirs.pk})).status_code == 404
    assert client.post(reverse("web:account_token_revoke", kwargs={"token_id": token.pk})).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
