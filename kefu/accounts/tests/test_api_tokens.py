"""Personal API tokens: shown once, stored as a hash, revocable (then 401), last use recorded once a minute;
the session works for the UI's own calls with CSRF; the read-only directory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.accounts.models import ApiToken
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape, token_for

pytestmark = pytest.mark.django_db


def test_token_is_shown_once_and_stored_hashed(agent: Any) -> None:
    api = api_as(agent)
    created = api.post("/me/tokens", {"name": "CRM 同步"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("kefu_")
    stored = ApiToken.objects.get(pk=created.json()["id"])
    assert stored.key_hash == ApiToken.hash_key(key)
    assert key not in {stored.key_hash, stored.key_prefix}
    listed = api.get("/me/tokens").json()
    assert all("key" not in t for t in listed)
    assert ApiClient(key).get("/me").json()["username"] == agent.username


def test_replayed_token_create_does_not_reveal_the_key_again(agent: Any) -> None:
    api = api_as(agent)
    first = api.post("/me/tokens", {"name": "a"}, headers={"Idempotency-Key": "t1"})
    again = api.post("/me/tokens", {"name": "a"}, headers={"Idempotency-Key": "t1"})
    assert first.json()["key"]
    assert again.json()["key"] is None
    assert again.json()["id"] == first.json()["id"]
    from kefu.core.models import IdempotencyRecord

    assert first.json()["key"] not in str(IdempotencyRecord.objects.get(key="t1").response)


def test_revoked_token_is_401(agent: Any) -> None:
    key = token_for(agent)
    client = ApiClient(key)
    assert client.get("/tickets").status_code == 200
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(key))
    assert api_as(agent).delete(f"/me/tokens/{token.pk}").status_code == 204
    assert_error_shape(client.get("/tickets"), 401, "unauthenticated")


def test_cannot_revoke_someone_elses_token(agent: Any, other_agent: Any) -> None:
    key = token_for(other_agent)
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(key))
    assert_error_shape(api_as(agent).delete(f"/me/tokens/{token.pk}"), 404, "not_found")
    assert ApiClient(key).get("/me").status_code == 200


def test_inactive_user_token_is_401(agent: Any) -> None:
    key = token_for(agent)
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    assert_error_shape(ApiClient(key).get("/me"), 401, "unauthenticated")


def test_last_used_is_written_at_most_once_a_minute(agent: Any, django_assert_max_num_queries: Any) -> None:
    key = token_for(agent)
    client = ApiClient(key)
    client.get("/me")
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(key))
    first_use = token.last_used_at
    assert first_use is not None
    client.get("/me")
    token.refresh_from_db()
    assert token.last_used_at == first_use  # within the minute: no write
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/me")
    token.refresh_from_db()
    assert token.last_used_at > first_use


def test_session_auth_needs_csrf_on_writes(agent: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get("/api/v1/me").status_code == 200
    refused = client.post("/api/v1/tickets", '{"subject": "x"}', content_type="application/json")
    assert_error_shape(refused, 403, "csrf_failed")
    client.get("/api/v1/me")
    csrf = client.cookies.get("csrftoken")
    if csrf is None:  # no page has set the cookie yet: ask Django for one like the UI does
        from django.middleware.csrf import _get_new_csrf_string

        client.cookies["csrftoken"] = _get_new_csrf_string()
        csrf = client.cookies["csrftoken"]
    accepted = client.post(
        "/api/v1/tickets",
        '{"subject": "x"}',
        content_type="application/json",
        headers={"X-CSRFToken": csrf.value},
    )
    assert accepted.status_code == 201, accepted.content


def test_anonymous_session_is_401_not_csrf(db: Any) -> None:
    response = Client(enforce_csrf_checks=True).post("/api/v1/tickets", "{}", content_type="application/json")
    assert_error_shape(response, 401, "unauthenticated")


def test_directory(agent: Any, team: Any, department_user: Any, django_assert_max_num_queries: Any) -> None:
    api = api_as(department_user)
    users = api.get("/users", team=str(team.pk)).json()
    assert [u["username"] for u in users["items"]] == ["agent"]
    assert "phone" not in users["items"][0]
    assert api.get(f"/users/{agent.pk}").json()["role"] == "agent"
    assert api.get(f"/teams/{team.pk}").json()["name"] == team.name
    assert api.get("/departments").json()["count"] >= 2
    assert_error_shape(api.get("/users/999999"), 404, "not_found")
    me = api.get("/me").json()
    assert "dispatch.acknowledge" in me["rights"]
    assert "ticket.create" not in me["rights"]
    with django_assert_max_num_queries(5):
        api.get("/users", page_size=50)
