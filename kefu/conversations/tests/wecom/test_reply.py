"""Replies to a WeCom customer-service customer: kf/send_msg with the open_kfid of the conversation, errors
mapped to retry or give up, and the channel's settings checked by field."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations import services
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.choices import DeliveryState
from kefu.conversations.services import AttachmentIn
from kefu.conversations.tests.wecom.conftest import AES_KEY, CORPID, CUSTOMER, OPEN_KFID, SEND, gettoken, text_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(kf: Any) -> Any:
    inbound = adapter_for("wecom_kf").inbound(kf, text_item("m1", "发票怎么开"))  # type: ignore[attr-defined]
    return services.message_receive(channel=kf, inbound=inbound).conversation


def reply(agent: Any, conversation: Any, capture: Any, text: str = "请稍等", **kw: Any) -> Any:
    with capture(execute=True):
        message = services.message_send(actor=agent, conversation=conversation, text=text, **kw)
    message.refresh_from_db()
    return message


def test_reply_goes_out_with_send_msg(agent: Any, conversation: Any, api: Any,
                                      django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken("K1"))
    api.on(SEND, {"errcode": 0, "errmsg": "ok", "msgid": "MSG_A"})
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert (message.delivery_state, message.external_id) == (DeliveryState.SENT, "MSG_A")
    (send,) = api.to(SEND)
    assert send.url.params["access_token"] == "K1"
    assert api.json(send) == {"touser": CUSTOMER, "open_kfid": OPEN_KFID, "msgtype": "text",
                              "text": {"content": "请稍等"}}


def test_expired_token_is_replaced(agent: Any, conversation: Any, api: Any,
                                   django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken("OLD"), gettoken("NEW"))
    api.on(SEND, {"errcode": 42001, "errmsg": "access_token expired"}, {"errcode": 0, "msgid": "M"})
    assert reply(agent, conversation, django_capture_on_commit_callbacks).delivery_state == DeliveryState.SENT
    assert [r.url.params["access_token"] for r in api.to(SEND)] == ["OLD", "NEW"]


@pytest.mark.parametrize(("code", "state", "words"), [
    (95001, DeliveryState.FAILED, "5 条"),
    (95018, DeliveryState.FAILED, "95018"),
    (95099, DeliveryState.FAILED, "95099"),
    (-1, DeliveryState.QUEUED, "繁忙"),
    (60020, DeliveryState.QUEUED, "可信 IP"),
])
def test_errors_are_given_up_or_retried(agent: Any, conversation: Any, api: Any, code: int, state: str,
                                        words: str, django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SEND, {"errcode": code, "errmsg": "refused"})
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == state
    assert words in message.last_error


def test_images_and_files_are_uploaded_and_sent(agent: Any, conversation: Any, api: Any,
                                                django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on("/cgi-bin/media/upload", {"errcode": 0, "type": "image", "media_id": "MI"},
           {"errcode": 0, "type": "file", "media_id": "MF"})
    api.on(SEND, {"errcode": 0, "msgid": "T"}, {"errcode": 0, "msgid": "I"}, {"errcode": 0, "msgid": "F"})
    message = reply(agent, conversation, django_capture_on_commit_callbacks, text="见附件", attachments=[
        AttachmentIn(filename="a.png", content_type="image/png", content=b"PNG"),
        AttachmentIn(filename="清单.xlsx", content_type="application/vnd.ms-excel", content=b"XLS")])
    assert message.delivery_state == DeliveryState.SENT
    assert [r.url.params["type"] for r in api.to("/cgi-bin/media/upload")] == ["image", "file"]
    bodies = [api.json(r) for r in api.to(SEND)]
    assert [b["msgtype"] for b in bodies] == ["text", "image", "file"]
    assert bodies[1]["image"] == {"media_id": "MI"}
    assert bodies[2]["file"] == {"media_id": "MF"}
    assert message.external_id == "T"


def test_without_open_kfid_the_reply_cannot_go_out(agent: Any, conversation: Any, api: Any,
                                                   django_capture_on_commit_callbacks: Any) -> None:
    conversation.context = {}
    conversation.save(update_fields=["context"])
    conversation.messages.update(meta={})
    message = reply(agent, conversation, django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.FAILED
    assert "open_kfid" in message.last_error
    assert not api.calls


def test_settings_are_checked_by_field() -> None:
    adapter: Any = adapter_for("wecom_kf")
    assert adapter.check_config({"corpid": CORPID}) == {}
    assert set(adapter.check_config({"corpid": "123", "open_kfid": "nope"})) == {"corpid", "open_kfid"}
    assert adapter.check_secrets({}, {"secret": "s", "token": "abc", "encoding_aes_key": AES_KEY}) == {}
    assert set(adapter.check_secrets({}, {"token": "a b", "encoding_aes_key": AES_KEY[:-1]})) == {
        "secret", "token", "encoding_aes_key"}
