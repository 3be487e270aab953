"""The official account's push URL: signature refusal, the time window, XML parsing (every message type,
malformed, entity bombs), safe mode decrypted in the view, duplicates answered alike and stored once."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.test import Client

from kefu.conversations.choices import IdentityKind
from kefu.conversations.models import ChannelIdentity, Message
from kefu.conversations.tests.cloudapi import sha1_sorted, wx_encrypt
from kefu.conversations.tests.wechat.conftest import (
    AES_KEY,
    APPID,
    OPENID,
    ORIGINAL_ID,
    TOKEN,
    message_xml,
    signed,
    token_answer,
    url,
)

pytestmark = pytest.mark.django_db


def post(client: Client, code: str, xml: str | bytes, query: dict[str, str]) -> Any:
    return client.post(url(code, query), data=xml, content_type="text/xml")


# --- the URL check and the signature ----------------------------------------------------------------------------


def test_url_check_echoes_echostr(client: Client, mp: Any) -> None:
    response = client.get(url("mp", signed(echostr="8151237012973409612")))
    assert response.status_code == 200
    assert response.content == b"8151237012973409612"


@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_or_missing_signature_is_refused_and_nothing_stored(client: Client, mp: Any, method: str) -> None:
    bad = {**signed(echostr="1"), "signature": "0" * 40}
    for query in (bad, {}, signed(token="another")):
        if method == "get":
            response = client.get(url("mp", query))
        else:
            response = post(client, "mp", message_xml(Content="你好"), query)
        assert response.status_code == 401
        assert response["Content-Type"].startswith("text/plain")
        assert "签名错误".encode() in response.content
    assert not Message.objects.exists()


def test_stale_timestamp_is_refused(client: Client, mp: Any) -> None:
    old = int(time.time()) - 3600
    response = post(client, "mp", message_xml(Content="你好"), signed(timestamp=old))
    assert response.status_code == 401
    assert "时间戳".encode() in response.content
    assert client.get(url("mp", signed(timestamp=int(time.time()) + 3600, echostr="1"))).status_code == 401
    assert not Message.objects.exists()


def test_unknown_or_disabled_channel_is_404(client: Client, mp: Any) -> None:
    assert client.get(url("nope", signed(echostr="1"))).status_code == 404
    mp.is_active = False
    mp.save(update_fields=["is_active"])
    assert client.get(url("mp", signed(echostr="1"))).status_code == 404


def test_other_methods_are_refused(client: Client, mp: Any) -> None:
    assert client.put(url("mp", signed()), data="x").status_code == 405


# --- plaintext messages -----------------------------------------------------------------------------------------


def test_text_message_is_stored_and_answered_success(client: Client, mp: Any) -> None:
    response = post(client, "mp", message_xml(Content="我的订单还没到 <急>", msg_id="6211000000000000001"), signed())
    assert response.status_code == 200
    assert response.content == b"success"
    message = Message.objects.get()
    assert message.body == "我的订单还没到 <急>"
    assert message.external_id == "6211000000000000001"
    assert message.kind == "text"
    assert message.meta["to_user"] == ORIGINAL_ID
    assert message.sent_at.timestamp() == 1700000000
    conversation = message.conversation
    assert (conversation.identity_kind, conversation.identity_value) == (IdentityKind.OPENID, OPENID)
    assert conversation.team == mp.team
    assert ChannelIdentity.objects.get(channel=mp).value == OPENID


def test_wechat_retries_get_the_same_answer_and_store_nothing_more(client: Client, mp: Any) -> None:
    xml = message_xml(Content="在吗")
    answers = [post(client, "mp", xml, signed(nonce=str(n))) for n in range(3)]  # WeChat tries three times
    assert {(a.status_code, a.content) for a in answers} == {(200, b"success")}
    assert Message.objects.count() == 1


def test_a_second_message_continues_the_conversation(client: Client, mp: Any) -> None:
    post(client, "mp", message_xml(Content="在吗", msg_id="1"), signed())
    post(client, "mp", message_xml(Content="订单 123", msg_id="2"), signed())
    first, second = Message.objects.order_by("seq")
    assert first.conversation_id == second.conversation_id
    assert second.seq == 2


@pytest.mark.parametrize(("xml", "kind", "event", "text"), [
    (message_xml("event", msg_id="", Event="subscribe", EventKey="qrscene_123"), "event", "subscribe", ""),
    (message_xml("event", msg_id="", Event="unsubscribe"), "event", "unsubscribe", ""),
    (message_xml("event", msg_id="", Event="CLICK", EventKey="HUMAN"), "event", "click", ""),
    (message_xml("location", Location_X="23.134521", Location_Y="113.358803", Scale="20", Label="广州市天河区"),
     "text", "", "[位置] 广州市天河区（23.134521, 113.358803）"),
    (message_xml("link", Title="订单截图", Description="", Url="https://example.com/o/1"),
     "text", "", "订单截图 https://example.com/o/1"),
])
def test_events_and_other_types(client: Client, mp: Any, xml: str, kind: str, event: str, text: str) -> None:
    assert post(client, "mp", xml, signed()).content == b"success"
    message = Message.objects.get()
    assert (message.kind, message.body) == (kind, text)
    if kind == "event":
        # events have no MsgId: FromUserName + CreateTime + Event, as WeChat advises for its retries
        assert message.external_id == f"{OPENID}:1700000000:{xml.split('<Event><![CDATA[')[1].split(']')[0]}"
        assert post(client, "mp", xml, signed(nonce="2")).content == b"success"
        assert Message.objects.count() == 1


def test_events_without_meaning_for_a_conversation_are_answered_and_dropped(client: Client, mp: Any) -> None:
    for event in ("LOCATION", "VIEW", "TEMPLATESENDJOBFINISH"):
        xml = message_xml("event", msg_id="", Event=event, Latitude="23.1", Longitude="113.3")
        assert post(client, "mp", xml, signed()).content == b"success"
    assert not Message.objects.exists()


def test_image_and_voice_are_downloaded_by_the_worker(client: Client, mp: Any, api: Any,
                                                     django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/get",
           lambda r: httpx.Response(200, content=b"\x89PNG-bytes", headers={
               "Content-Type": "image/png", "Content-disposition": 'attachment; filename="pic.png"'}),
           lambda r: httpx.Response(200, content=b"#!AMR", headers={"Content-Type": "audio/amr"}))
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, "mp", message_xml("image", msg_id="11", PicUrl="http://mmbiz/x", MediaId="MEDIA_1"),
                      signed())
    assert answer.content == b"success"
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "mp", message_xml("voice", msg_id="12", MediaId="MEDIA_2", Format="amr",
                                       Recognition="我要退货"), signed())
    image, voice = Message.objects.order_by("seq")
    assert image.kind == "image"
    attachment = image.attachments.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == ("pic.png", "image/png", 10)
    assert voice.kind == "voice"
    assert voice.body == "我要退货"  # WeChat's speech recognition, when the account has it on
    assert voice.attachments.get().content_type == "audio/amr"
    media = api.to("/cgi-bin/media/get")
    assert [r.url.params["media_id"] for r in media] == ["MEDIA_1", "MEDIA_2"]
    assert {r.url.params["access_token"] for r in media} == {"ACCESS_TOKEN_1"}
    assert len(api.to("/cgi-bin/token")) == 1  # fetched once, then cached


def test_a_redelivered_media_message_is_not_downloaded_again(client: Client, mp: Any, api: Any,
                                                           django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/get", httpx.Response(200, content=b"jpg", headers={"Content-Type": "image/jpeg"}))
    xml = message_xml("image", msg_id="21", MediaId="M")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "mp", xml, signed(nonce="1"))
        post(client, "mp", xml, signed(nonce="2"))
    assert Message.objects.count() == 1
    assert len(api.to("/cgi-bin/media/get")) == 1


def test_expired_media_keep_the_message_with_a_note(client: Client, mp: Any, api: Any,
                                                   django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/get", {"errcode": 40007, "errmsg": "invalid media_id"})
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "mp", message_xml("image", msg_id="31", MediaId="OLD"), signed())
    message = Message.objects.get()
    assert message.body == "[图片，无法下载]"
    assert "40007" in message.meta["media_error"]
    assert not message.attachments.exists()


# --- malformed XML ------------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol4;</Content><MsgId>99</MsgId></xml>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>oUser</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>98</MsgId></xml>"""


@pytest.mark.parametrize("body", [
    "not xml at all", "<xml><Content>unclosed</xml>", "", "<html><body/></html>", BILLION_LAUGHS, EXTERNAL_ENTITY,
    b"\xff\xfe\x00garbage",
], ids=["text", "unclosed", "empty", "not-xml-root", "billion-laughs", "external-entity", "bytes"])
def test_malformed_xml_is_400_and_writes_nothing(client: Client, mp: Any, body: Any) -> None:
    response = post(client, "mp", body, signed())
    assert response.status_code == 400
    assert b"XML" in response.content
    assert not Message.objects.exists()


# --- safe mode ----------------------------------------------------------------------------------------------------


def encrypted_push(inner: str, *, appid: str = APPID, key: str = AES_KEY, token: str = TOKEN,
                   timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    encrypt = wx_encrypt(key, appid, inner.encode())
    query = signed(timestamp=timestamp, openid=OPENID, encrypt_type="aes")
    query["msg_signature"] = sha1_sorted(token, query["timestamp"], query["nonce"], encrypt)
    body = f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return body, query


def test_safe_mode_message_is_decrypted_in_the_view(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="加密的你好", msg_id="41"))
    response = post(client, "mp-safe", body, query)
    assert (response.status_code, response.content) == (200, b"success")
    assert Message.objects.get().body == "加密的你好"


def test_safe_mode_refuses_a_bad_msg_signature(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x"))
    query["msg_signature"] = "f" * 40
    assert post(client, "mp-safe", body, query).status_code == 401
    assert not Message.objects.exists()


def test_safe_mode_refuses_a_message_for_another_appid(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x"), appid="wx0000000000000000")
    response = post(client, "mp-safe", body, query)
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_safe_mode_refuses_a_message_encrypted_with_another_key(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x"), key="Z" * 43)
    assert post(client, "mp-safe", body, query).status_code == 403


def test_safe_mode_refuses_plaintext_even_correctly_signed(client: Client, mp_safe: Any) -> None:
    # the plain signature covers token, timestamp and nonce only: a captured URL could carry any body
    response = post(client, "mp-safe", message_xml(Content="伪造"), signed())
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_safe_mode_refuses_a_push_to_another_original_id(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x", to="gh_ffffffffffff"))
    assert post(client, "mp-safe", body, query).status_code == 403


def test_safe_mode_refuses_malformed_inner_xml(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(BILLION_LAUGHS)
    assert post(client, "mp-safe", body, query).status_code == 400
    assert not Message.objects.exists()


def test_safe_mode_stale_timestamp_is_refused(client: Client, mp_safe: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x"), timestamp=int(time.time()) - 1000)
    assert post(client, "mp-safe", body, query).status_code == 401


def test_plaintext_channel_cannot_decrypt(client: Client, mp: Any) -> None:
    body, query = encrypted_push(message_xml(Content="x"))
    assert post(client, "mp", body, query).status_code == 400


def test_a_channel_with_a_broken_key_answers_503_not_500(client: Client, mp_safe: Any) -> None:
    mp_safe.secrets = {**mp_safe.secrets, "encoding_aes_key": "broken"}
    mp_safe.save(update_fields=["secrets"])
    body, query = encrypted_push(message_xml(Content="x"))
    assert post(client, "mp-safe", body, query).status_code == 503


def test_media_download_is_retried_then_kept_without_media(mp: Any, api: Any) -> None:
    from kefu.conversations.adapters.apiclient import ApiError
    from kefu.conversations.pushes import wechat_receive

    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/get", httpx.Response(502))
    fields = {"ToUserName": ORIGINAL_ID, "FromUserName": OPENID, "CreateTime": "1700000000", "MsgType": "image",
              "MediaId": "M", "MsgId": "51"}
    with pytest.raises(ApiError):
        wechat_receive(channel=mp, fields=fields, last_try=False)  # the task is retried
    assert not Message.objects.exists()
    received = wechat_receive(channel=mp, fields=fields, last_try=True)
    assert received is not None
    assert received.message.body == "[图片，无法下载]"
    assert "502" in received.message.meta["media_error"]
