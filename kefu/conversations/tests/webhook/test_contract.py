"""The app / mini-program webhook contract, exactly as docs/conversations.md promises it: signed inbound
messages, the replay window, duplicate ids, the conversation API and signed outbound replies retried until a
2xx. Over HTTP through the Django test client; outbound HTTP through the transport double."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from kefu.conversations import services
from kefu.conversations.models import Channel, Message

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound/app"


def _signed(body: bytes, *, secret: str = "s3cret", at: int | None = None) -> dict[str, str]:  # noqa: S107  (the test channel's)
    timestamp = str(int(time.time()) if at is None else at)
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_KEFU_TIMESTAMP": timestamp, "HTTP_X_KEFU_SIGNATURE": f"sha256={mac}"}


def _body(message_id: str = "app-1", **overrides: Any) -> bytes:
    data = {"message_id": message_id, "customer": {"external_id": "user-42", "name": "韩梅梅", "phone": "13900001111"},
            "text": "订单什么时候发货？", "sent_at": "2026-12-06T08:00:00+08:00", **overrides}
    return json.dumps(data, ensure_ascii=False).encode()


def _post(client: Any, body: bytes, headers: dict[str, str], url: str = URL) -> Any:
    return client.post(url, data=body, content_type="application/json", **headers)


def test_signed_message_is_stored_and_answered_with_ids(client: Any, app_channel: Any) -> None:
    body = _body()
    response = _post(client, body, _signed(body))
    assert response.status_code == 200, response.content
    data = response.json()
    message = Message.objects.get(pk=data["message_id"])
    assert message.conversation_id == data["conversation_id"]
    assert message.body == "订单什么时候发货？"
    assert message.conversation.customer.name == "韩梅梅"
    assert message.conversation.customer.contacts.filter(kind="phone", normalized="13900001111").exists()


def test_same_message_id_gets_the_same_answer_and_no_new_message(client: Any, app_channel: Any) -> None:
    body = _body()
    first = _post(client, body, _signed(body)).json()
    again = _post(client, body, _signed(body))
    assert again.status_code == 200
    assert again.json() == first
    assert Message.objects.count() == 1


@pytest.mark.parametrize("case", ["bad_signature", "wrong_secret", "no_headers", "too_old", "too_new",
                                  "not_a_number", "body_changed"])
def test_bad_signature_or_timestamp_is_401_and_stores_nothing(client: Any, app_channel: Any, case: str) -> None:
    body = _body()
    now = int(time.time())
    headers = {
        "bad_signature": {**_signed(body), "HTTP_X_KEFU_SIGNATURE": "sha256=" + "0" * 64},
        "wrong_secret": _signed(body, secret="other"),
        "no_headers": {},
        "too_old": _signed(body, at=now - 400),
        "too_new": _signed(body, at=now + 400),
        "not_a_number": {**_signed(body), "HTTP_X_KEFU_TIMESTAMP": "yesterday"},
        "body_changed": _signed(_body(text="别的")),
    }[case]
    response = _post(client, body, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not Message.objects.exists()


def test_within_the_window_is_accepted(client: Any, app_channel: Any) -> None:
    body = _body()
    assert _post(client, body, _signed(body, at=int(time.time()) - 280)).status_code == 200


@pytest.mark.parametrize(("payload", "field"), [
    (b"not json", "body"),
    (json.dumps({"customer": {"external_id": "u"}, "text": "x"}).encode(), "message_id"),
    (json.dumps({"message_id": "m", "customer": {}, "text": "x"}).encode(), "customer.external_id"),
    (json.dumps({"message_id": "m", "customer": {"external_id": "u"}, "text": ""}).encode(), "text"),
    (json.dumps({"message_id": "m", "customer": {"external_id": "u"}, "text": "x", "sent_at": "soon"}).encode(),
     "sent_at"),
])
def test_malformed_bodies_are_4xx_naming_the_field(client: Any, app_channel: Any, payload: bytes,
                                                    field: str) -> None:
    response = _post(client, payload, _signed(payload))
    assert response.status_code in (400, 422), response.content
    if field != "body":
        assert response.json()["details"]["field"] == field
    assert not Message.objects.exists()


def test_unknown_or_other_kind_channel_is_404(client: Any, app_channel: Any, chat_channel: Any) -> None:
    body = _body()
    assert _post(client, body, _signed(body), url="/api/v1/inbound/nope").status_code == 404
    assert _post(client, body, _signed(body), url="/api/v1/inbound/web").status_code == 404


def test_list_conversations_and_messages_and_reply_goes_out_signed(
        client: Any, app_channel: Any, agent: Any, login: Any, transport: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    body = _body()
    ids = _post(client, body, _signed(body)).json()
    login(agent)
    listed = client.get("/api/v1/conversations", {"channel": "app"}).json()
    assert [c["id"] for c in listed["items"]] == [ids["conversation_id"]]
    messages = client.get(f"/api/v1/conversations/{ids['conversation_id']}/messages").json()
    assert [m["body"] for m in messages] == ["订单什么时候发货？"]
    transport.statuses = [502, 200]
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(f"/api/v1/conversations/{ids['conversation_id']}/messages",
                           data={"text": "今天下午发出"}, content_type="application/json")
    assert sent.status_code == 201
    assert sent.json()["delivery_state"] == "queued"
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.delivery_state == "queued"
    assert message.attempts == 1
    services.message_deliver(message_id=message.pk, now=message.next_attempt_at)
    message.refresh_from_db()
    assert message.delivery_state == "sent"
    url, raw, headers = transport.calls[-1]
    assert url == "http://127.0.0.1:9/hook"
    expected = hmac.new(b"s3cret", f"{headers['X-Kefu-Timestamp']}.".encode() + raw, hashlib.sha256).hexdigest()
    assert headers["X-Kefu-Signature"] == f"sha256={expected}"
    out = json.loads(raw)
    assert out["text"] == "今天下午发出"
    assert out["customer"]["external_id"] == "user-42"
    assert out["conversation_id"] == ids["conversation_id"]
    after = client.get(f"/api/v1/conversations/{ids['conversation_id']}/messages", {"after": 1}).json()
    assert [m["seq"] for m in after] == [2]


def test_outsider_sees_nothing(client: Any, app_channel: Any, other_agent: Any, login: Any) -> None:
    body = _body()
    ids = _post(client, body, _signed(body)).json()
    login(other_agent)
    assert client.get("/api/v1/conversations").json()["items"] == []
    assert client.get(f"/api/v1/conversations/{ids['conversation_id']}").status_code == 404
    refused = client.post(f"/api/v1/conversations/{ids['conversation_id']}/messages", data={"text": "x"},
                          content_type="application/json")
    assert refused.status_code == 404


def test_cli_adds_a_webhook_channel_and_prints_a_generated_secret(capsys: Any, team: Any) -> None:
    call_command("channel", "add", "webhook", "shop-app", "--outbound-url", "http://127.0.0.1:8080/kefu")
    printed = capsys.readouterr().out
    channel = Channel.objects.get(code="shop-app")
    assert channel.kind == "webhook"
    assert channel.config["outbound_url"] == "http://127.0.0.1:8080/kefu"
    assert f"secret: {channel.secret('secret')}" in printed
    assert len(channel.secret("secret")) >= 32
    call_command("channel", "add", "webhook", "given", "--secret", "mine")
    assert Channel.objects.get(code="given").secret("secret") == "mine"


def test_cli_bad_input_exits_2_and_writes_nothing(team: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as bad:
        call_command("channel", "add", "webhook", "Bad Code")
    assert bad.value.returncode == 2
    assert "code" in str(bad.value)
    with pytest.raises(CommandError) as bad_url:
        call_command("channel", "add", "webhook", "ok-code", "--outbound-url", "gopher://x")
    assert "outbound_url" in str(bad_url.value)
    assert not Channel.objects.exists()


def test_retry_due_picks_up_a_message_whose_handover_was_lost(app_channel: Any, agent: Any, transport: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=services.InboundMessage(
        external_id="m1", identity=services.Identity(kind="external", value="u1"), text="hi")).conversation
    message = services.message_send(actor=agent, conversation=conversation, text="好")  # no commit: no task ran
    assert services.messages_retry_due(now=timezone.now()) == 1
    message.refresh_from_db()
    assert message.delivery_state == "sent"
