"""A body over the size limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 12 MB) is a 413 — in the API's error shape under
/api/v1, a page that says so on the web — never a 500, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import AsyncClient, Client

from kefu.apiutils.testing import api_as, assert_error_shape, token_for

pytestmark = pytest.mark.django_db(transaction=False)

THIRTEEN_MB = 13 * 1024 * 1024


def test_a_13_mb_json_body_is_413_in_the_error_shape(agent: Any) -> None:
    body = json.dumps({"subject": "长" * (THIRTEEN_MB // 3)}).encode()
    assert len(body) > THIRTEEN_MB
    response = api_as(agent).request("post", "/tickets", raw=body)
    shape = assert_error_shape(response, 413, "payload_too_large")
    assert shape["details"]["max_bytes"] == 12 * 1024 * 1024


@pytest.mark.django_db(transaction=True)
def test_the_same_through_the_asgi_handler(agent: Any) -> None:
    from asgiref.sync import async_to_sync

    token = token_for(agent)

    async def send() -> Any:
        return await AsyncClient().post("/api/v1/tickets", data=b"{" + b" " * THIRTEEN_MB + b"}",
                                        content_type="application/json",
                                        headers={"Authorization": f"Bearer {token}"})

    response = async_to_sync(send)()
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_a_form_over_the_limit_gets_a_413_page(agent: Any, ticket: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = Client()
    client.force_login(agent)
    before = ticket.messages.count()
    response = client.post(f"/tickets/{ticket.pk}/note/", {"body": "长" * 20_000})
    assert response.status_code == 413
    page = response.content.decode()
    assert 'data-testid="error-page"' in page
    assert "提交的内容过大" in page
    assert ticket.messages.count() == before


def test_the_413_page_speaks_english_too(agent: Any, ticket: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    agent.language = "en"
    agent.save(update_fields=["language"])
    client = Client()
    client.force_login(agent)
    response = client.post(f"/tickets/{ticket.pk}/note/", {"body": "x" * 20_000})
    assert response.status_code == 413
    assert "too large" in response.content.decode()


def test_a_form_post_to_the_api_over_the_limit_is_413_json(agent: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = Client()
    response = client.post("/api/v1/tickets", {"subject": "x" * 20_000},
                           headers={"Authorization": f"Bearer {token_for(agent)}"})
    assert_error_shape(response, 413, "payload_too_large")
