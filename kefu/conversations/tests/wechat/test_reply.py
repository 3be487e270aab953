"""An agent's reply to an official-account customer: message_send → the deliver task → the customer-service
message API (faked at the transport), with the access token fetched once, cached, and replaced when refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kefu.conversations import services
from kefu.conversations.adapters.apiclient import TOKEN_EARLY
from kefu.conversations.choices import DeliveryState
from kefu.conversations.services import AttachmentIn
from kefu.conversations.tests.wechat.conftest import APPID, OPENID, token_answer

pytestmark = pytest.mark.django_db

SEND = "/cgi-bin/message/custom/send"
OK = {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def conversation(mp: Any) -> Any:
    from kefu.conversations.adapters.registry import adapter_for

    fields = {"ToUserName": "gh_0123456789ab", "FromUserName": OPENID, "CreateTime": "1700000000",
              "MsgType": "text", "Content": "我的快递到哪了", "MsgId": "7001"}
    inbound = adapter_for("wechat_oa").inbound(mp, fields)  # type: ignore[attr-defined]
    return services.message_receive(channel=mp, inbound=inbound).conversation


def reply(agent: Any, conversation: Any, capture: Any, text: str = "您好，已为您查询", **kw: Any) -> Any:
    with capture(execute=True):
        message = services.message_send(actor=agent, conversation=conversation, text=text, **kw)
    message.refresh_from_db()
    return message


def test_reply_goes_out_through_the_customer_service_api(agent: Any, conversation: Any, api: Any,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer("T1"))
    api.on(SEND, OK)
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.SENT
    (token_call,) = api.to("/cgi-bin/token")
    assert dict(token_call.url.params) == {"grant_type": "client_credential", "appid": APPID, "secret": "a" * 32}
    (send,) = api.to(SEND)
    assert send.url.params["access_token"] == "T1"
    assert api.json(send) == {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，已为您查询"}}
    assert "您好".encode() in send.content  # UTF-8 on the wire, not \\u escapes


def test_token_is_fetched_once_and_cached(agent: Any, conversation: Any, api: Any,
                                          django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer("T1"))
    api.on(SEND, OK)
    for text in ("一", "二", "三"):
        assert reply(agent, conversation, django_capture_on_commit_callbacks, text=text).delivery_state == "sent"
    assert len(api.to("/cgi-bin/token")) == 1
    assert len(api.to(SEND)) == 3


def test_token_is_kept_until_shortly_before_it_expires(agent: Any, conversation: Any, api: Any, monkeypatch: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    from kefu.conversations.adapters import weixin

    kept: list[tuple[str, int]] = []
    real_set = weixin.cache.set
    monkeypatch.setattr(weixin.cache, "set", lambda key, value, timeout: (
        kept.append((value, timeout)) if "wxtoken" in key else None, real_set(key, value, timeout))[1])
    api.on("/cgi-bin/token", {"access_token": "T1", "expires_in": 7200})
    api.on(SEND, OK)
    reply(agent, conversation, django_capture_on_commit_callbacks)
    assert kept == [("T1", 7200 - TOKEN_EARLY)]


@pytest.mark.parametrize("code", [40001, 42001, 40014])
def test_a_refused_token_is_replaced_and_the_message_sent_once(agent: Any, conversation: Any, api: Any, code: int,
                                                               django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer("OLD"), token_answer("NEW"))
    api.on(SEND, {"errcode": code, "errmsg": "invalid credential"}, OK)
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.SENT
    assert [r.url.params["access_token"] for r in api.to(SEND)] == ["OLD", "NEW"]
    assert len(api.to("/cgi-bin/token")) == 2
    # the new token is the cached one from now on
    reply(agent, conversation, django_capture_on_commit_callbacks, text="再来一条")
    assert api.to(SEND)[-1].url.params["access_token"] == "NEW"
    assert len(api.to("/cgi-bin/token")) == 2


def test_reply_time_limit_exceeded_is_permanent_with_a_clear_error(agent: Any, conversation: Any, api: Any,
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on(SEND, {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"})
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.FAILED
    assert message.attempts == 1
    assert "48 小时" in message.last_error
    assert "45015" in message.last_error


@pytest.mark.parametrize("answer", [
    {"errcode": -1, "errmsg": "system error"},
    httpx.Response(502, text="bad gateway"),
    httpx.Response(200, text="<html>not json</html>"),
])
def test_busy_or_unreachable_api_is_retried(agent: Any, conversation: Any, api: Any, answer: Any,
                                            django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on(SEND, answer)
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.QUEUED
    assert message.next_attempt_at is not None
    assert message.last_error


def test_network_error_is_retried(agent: Any, conversation: Any, api: Any,
                                  django_capture_on_commit_callbacks: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.on("/cgi-bin/token", down)
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.QUEUED
    assert "ConnectError" in message.last_error


def test_ip_not_in_the_allow_list_is_retried_and_says_so(agent: Any, conversation: Any, api: Any,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", {"errcode": 40164, "errmsg": "invalid ip 1.2.3.4, not in whitelist"})
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.QUEUED
    assert "白名单" in message.last_error


def test_image_is_uploaded_then_sent(agent: Any, conversation: Any, api: Any,
                                     django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/upload", {"type": "image", "media_id": "MEDIA_9", "created_at": 1700000000})
    api.on(SEND, OK)
    message = reply(agent, conversation, django_capture_on_commit_callbacks, text="请看截图",
                    attachments=[AttachmentIn(filename="shot.png", content_type="image/png", content=b"PNG")])
    assert message.delivery_state == DeliveryState.SENT
    (upload,) = api.to("/cgi-bin/media/upload")
    assert upload.url.params["type"] == "image"
    assert b'name="media"; filename="shot.png"' in upload.content
    assert b"PNG" in upload.content
    text, image = api.to(SEND)
    assert api.json(text)["text"]["content"] == "请看截图"
    assert api.json(image) == {"touser": OPENID, "msgtype": "image", "image": {"media_id": "MEDIA_9"}}


def test_a_retry_does_not_send_the_parts_that_went_out(agent: Any, conversation: Any, api: Any,
                                                       django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/upload", {"errcode": -1, "errmsg": "busy"}, {"media_id": "M"})
    api.on(SEND, OK)
    message = reply(agent, conversation, django_capture_on_commit_callbacks, text="文字",
                    attachments=[AttachmentIn(filename="a.jpg", content_type="image/jpeg", content=b"J")])
    assert message.delivery_state == DeliveryState.QUEUED
    services.message_deliver(message_id=message.pk, now=message.next_attempt_at)
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.SENT
    sent = [api.json(r)["msgtype"] for r in api.to(SEND)]
    assert sent == ["text", "image"]  # the text once


def test_files_other_than_images_are_refused_before_anything_is_sent(
        agent: Any, conversation: Any, api: Any, django_capture_on_commit_callbacks: Any) -> None:
    message = reply(agent, conversation, django_capture_on_commit_callbacks, text="合同",
                    attachments=[AttachmentIn(filename="合同.pdf", content_type="application/pdf", content=b"%PDF")])
    assert message.delivery_state == DeliveryState.FAILED
    assert "合同.pdf" in message.last_error
    assert not api.calls


def test_long_replies_are_split(agent: Any, conversation: Any, api: Any,
                                django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on(SEND, OK)
    reply(agent, conversation, django_capture_on_commit_callbacks, text="长" * 4500)
    assert [len(api.json(r)["text"]["content"]) for r in api.to(SEND)] == [2000, 2000, 500]


def test_stable_token_api_when_configured(agent: Any, conversation: Any, mp: Any, api: Any,
                                          django_capture_on_commit_callbacks: Any) -> None:
    mp.config = {**mp.config, "token_api": "stable_token"}
    mp.save(update_fields=["config"])
    api.on("/cgi-bin/stable_token", token_answer("S1"))
    api.on(SEND, OK)
    reply(agent, conversation, django_capture_on_commit_callbacks)
    (call,) = api.to("/cgi-bin/stable_token")
    assert api.json(call) == {"grant_type": "client_credential", "appid": APPID, "secret": "a" * 32}
    assert api.to(SEND)[0].url.params["access_token"] == "S1"
