"""WeCom customer service: the callback's verification and refusals, then kf/sync_msg from the cursor kept in
the channel's state, each message type, duplicates, failed sends reported by WeCom."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import time_machine
from django.test import Client

from kefu.conversations.choices import DeliveryState, IdentityKind
from kefu.conversations.models import Message
from kefu.conversations.pushes import wecom_cursor
from kefu.conversations.tests.cloudapi import sha1_sorted
from kefu.conversations.tests.factories import ChannelFactory
from kefu.conversations.tests.wecom.conftest import (
    AES_KEY,
    CUSTOMER,
    OPEN_KFID,
    SYNC,
    TOKEN,
    callback,
    gettoken,
    page,
    text_item,
    url,
)

pytestmark = pytest.mark.django_db


def push(client: Client, capture: Any, body: str, query: dict[str, str], code: str = "kf") -> Any:
    with capture(execute=True):
        return client.post(url(code, query), data=body, content_type="text/xml")


# --- verification and refusals --------------------------------------------------------------------------------


def test_url_verification_with_the_documented_sample(client: Client, team: Any) -> None:
    ChannelFactory(kind="wecom_kf", code="doc", config={"corpid": "wx5823bf96d3bd56c7"},
                   secrets={"secret": "s", "token": "QDG6eK",
                            "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"})
    query = {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
             "nonce": "263014780",
             "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}
    with time_machine.travel(1409659600, tick=False):
        response = client.get(url("doc", query))
    assert (response.status_code, response.content) == (200, b"1616140317555161061")
    assert client.get(url("doc", query)).status_code == 401  # the same request years later: too old
    bad = {**query, "msg_signature": "0" * 40}
    with time_machine.travel(1409659600, tick=False):
        assert client.get(url("doc", bad)).status_code == 401


def test_callback_with_a_bad_signature_is_refused(client: Client, kf: Any, api: Any,
                                                  django_capture_on_commit_callbacks: Any) -> None:
    body, query = callback()
    for changed in ({"msg_signature": "f" * 40}, {"msg_signature": ""}, {"nonce": "other"}):
        assert push(client, django_capture_on_commit_callbacks, body, {**query, **changed}).status_code == 401
    assert not api.calls


def test_stale_callback_is_refused(client: Client, kf: Any, api: Any,
                                   django_capture_on_commit_callbacks: Any) -> None:
    import time

    body, query = callback(timestamp=int(time.time()) - 3600)
    assert push(client, django_capture_on_commit_callbacks, body, query).status_code == 401
    assert not api.calls


def test_callback_for_another_corp_is_refused(client: Client, kf: Any, api: Any,
                                              django_capture_on_commit_callbacks: Any) -> None:
    body, query = callback(corpid="ww0000000000000000")
    assert push(client, django_capture_on_commit_callbacks, body, query).status_code == 403
    assert not api.calls


@pytest.mark.parametrize("body", [
    "<xml><Encrypt>", "", "<!DOCTYPE x [<!ENTITY a 'b'>]><xml><Encrypt>&a;</Encrypt></xml>"])
def test_malformed_callback_is_400(client: Client, kf: Any, body: str) -> None:
    response = client.post(url("kf", {"msg_signature": "x", "timestamp": "1", "nonce": "1"}), data=body,
                           content_type="text/xml")
    assert response.status_code == 400


def test_malformed_inner_xml_is_400(client: Client, kf: Any, api: Any,
                                    django_capture_on_commit_callbacks: Any) -> None:
    body, query = callback(inner="<xml><Event>unclosed</xml>")
    assert push(client, django_capture_on_commit_callbacks, body, query).status_code == 400


# --- sync ------------------------------------------------------------------------------------------------------


def test_callback_pulls_the_new_messages_and_keeps_the_cursor(client: Client, kf: Any, api: Any,
                                                              django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("m1", "我要退款"), next_cursor="C1"),
           page(text_item("m2", "订单号 123"), next_cursor="C2"))
    body, query = callback(token="T-1")
    response = push(client, django_capture_on_commit_callbacks, body, query)
    assert (response.status_code, response.content) == (200, b"success")
    message = Message.objects.get()
    assert message.body == "我要退款"
    assert message.external_id == "m1"
    conversation = message.conversation
    assert (conversation.identity_kind, conversation.identity_value) == (IdentityKind.EXTERNAL, CUSTOMER)
    assert conversation.context["open_kfid"] == OPEN_KFID
    (sync,) = api.to(SYNC)
    assert sync.url.params["access_token"] == "KF_TOKEN"
    assert api.json(sync) == {"cursor": "", "token": "T-1", "limit": 1000, "voice_format": 0,
                              "open_kfid": OPEN_KFID}
    kf.refresh_from_db()
    assert wecom_cursor(kf, OPEN_KFID) == "C1"
    (gettoken_call,) = api.to("/cgi-bin/gettoken")
    assert dict(gettoken_call.url.params) == {"corpid": "ww1234567890abcdef", "corpsecret": "kf-secret"}

    body, query = callback(token="T-2")
    push(client, django_capture_on_commit_callbacks, body, query)
    assert api.json(api.to(SYNC)[1])["cursor"] == "C1"
    assert Message.objects.count() == 2
    kf.refresh_from_db()
    assert wecom_cursor(kf, OPEN_KFID) == "C2"
    assert len(api.to("/cgi-bin/gettoken")) == 1


def test_a_lost_callback_is_caught_up_within_minutes_from_the_cursor(client: Client, kf: Any, api: Any,
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    """The periodic catch-up pulls every account already pulled once, from its cursor and without a callback
    token; a channel never pulled is left alone (an empty cursor would bring back days of history), and a
    channel being pulled right now is skipped."""
    from huey.contrib.djhuey import HUEY

    from kefu.conversations.tasks import wecom_catch_up_task

    never = ChannelFactory(kind="wecom_kf", code="kf-new", config={"corpid": "ww1234567890abcdee"},
                           secrets={"secret": "s2", "token": TOKEN, "encoding_aes_key": AES_KEY})
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("m1", "我要退款"), next_cursor="C1"),
           page(text_item("m2", "有人在吗"), next_cursor="C2"), page(next_cursor="C2"))
    body, query = callback(token="T-1")
    push(client, django_capture_on_commit_callbacks, body, query)
    assert Message.objects.count() == 1

    # WeCom had a second message, but its callback never arrived
    wecom_catch_up_task.call_local()
    assert list(Message.objects.order_by("pk").values_list("body", flat=True)) == ["我要退款", "有人在吗"]
    catch_up = api.json(api.to(SYNC)[1])
    assert catch_up == {"cursor": "C1", "limit": 1000, "voice_format": 0, "open_kfid": OPEN_KFID}
    assert all(c.url.params.get("access_token") == "KF_TOKEN" for c in api.to(SYNC))
    kf.refresh_from_db()
    assert wecom_cursor(kf, OPEN_KFID) == "C2"
    assert wecom_cursor(never, "") == ""
    assert len(api.to(SYNC)) == 2  # nothing asked for the channel never pulled

    with HUEY.lock_task(f"wecom-sync-{kf.pk}"):  # a callback's pull is running
        wecom_catch_up_task.call_local()
    assert len(api.to(SYNC)) == 2
    wecom_catch_up_task.call_local()
    assert len(api.to(SYNC)) == 3
    assert Message.objects.count() == 2


def test_a_catch_up_that_cannot_reach_wecom_waits_for_the_next_round(client: Client, kf: Any, api: Any,
                                                                    django_capture_on_commit_callbacks: Any) -> None:
    from kefu.conversations.tasks import wecom_catch_up_task

    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("m1"), next_cursor="C1"), httpx.Response(502))
    body, query = callback(token="T-1")
    push(client, django_capture_on_commit_callbacks, body, query)
    wecom_catch_up_task.call_local()  # logged, not raised
    kf.refresh_from_db()
    assert wecom_cursor(kf, OPEN_KFID) == "C1"


def test_has_more_pulls_the_next_page_in_the_same_run(client: Client, kf: Any, api: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("a"), text_item("b", "第二条"), next_cursor="P1", has_more=1),
           page(text_item("c", "第三条"), next_cursor="P2"))
    body, query = callback()
    push(client, django_capture_on_commit_callbacks, body, query)
    assert [api.json(r)["cursor"] for r in api.to(SYNC)] == ["", "P1"]
    assert list(Message.objects.order_by("seq").values_list("external_id", flat=True)) == ["a", "b", "c"]
    kf.refresh_from_db()
    assert kf.state["wecom_cursors"] == {OPEN_KFID: "P2"}


def test_a_message_pulled_again_is_not_stored_twice(client: Client, kf: Any, api: Any,
                                                    django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("m1"), next_cursor="C1"), page(text_item("m1"), next_cursor="C1"))
    for _ in range(2):
        body, query = callback()
        push(client, django_capture_on_commit_callbacks, body, query)
    assert Message.objects.count() == 1


def test_each_message_type(client: Client, kf: Any, api: Any, django_capture_on_commit_callbacks: Any) -> None:
    base = {"open_kfid": OPEN_KFID, "external_userid": CUSTOMER, "send_time": 1700000000, "origin": 3}
    api.on("/cgi-bin/gettoken", gettoken())
    api.on("/cgi-bin/media/get",
           httpx.Response(200, content=b"JPEG", headers={"Content-Type": "image/jpeg"}),
           httpx.Response(200, content=b"AMR", headers={"Content-Type": "audio/amr"}),
           httpx.Response(200, content=b"%PDF", headers=[  # WeCom writes the name in UTF-8 bytes
               (b"Content-Type", b"application/pdf"),
               (b"Content-Disposition", 'attachment; filename="发票.pdf"'.encode())]))
    api.on(SYNC, page(
        {**base, "msgid": "e1", "origin": 4, "msgtype": "event",
         "event": {"event_type": "enter_session", "open_kfid": OPEN_KFID, "external_userid": CUSTOMER,
                   "scene": "123", "scene_param": "order=9"}},
        {**base, "msgid": "i1", "msgtype": "image", "image": {"media_id": "MI"}},
        {**base, "msgid": "v1", "msgtype": "voice", "voice": {"media_id": "MV"}},
        {**base, "msgid": "f1", "msgtype": "file", "file": {"media_id": "MF"}},
        {**base, "msgid": "l1", "msgtype": "location",
         "location": {"latitude": 23.1, "longitude": 113.3, "name": "天河城", "address": "天河路 208 号"}},
        {**base, "msgid": "k1", "msgtype": "link", "link": {"title": "商品", "url": "https://example.com/p/1"}},
        {**base, "msgid": "s1", "origin": 5, "msgtype": "text", "text": {"content": "接待人员在企业微信里发的"}},
        {**base, "msgid": "x1", "origin": 4, "msgtype": "event", "event": {"event_type": "servicer_status_change"}},
        {**base, "msgid": "u1", "msgtype": "channels_shop_product", "channels_shop_product": {}},
    ))
    body, query = callback()
    push(client, django_capture_on_commit_callbacks, body, query)
    got = {m.external_id: m for m in Message.objects.all()}
    assert set(got) == {"e1", "i1", "v1", "f1", "l1", "k1", "u1"}  # not the servicer's, not other events
    assert (got["e1"].kind, got["e1"].meta["scene_param"]) == ("event", "order=9")
    assert (got["i1"].kind, got["i1"].attachments.get().content_type) == ("image", "image/jpeg")
    assert got["v1"].kind == "voice"
    assert got["f1"].attachments.get().filename == "发票.pdf"
    assert got["l1"].body == "[位置] 天河城 天河路 208 号（23.1, 113.3）"
    assert got["k1"].body == "商品 https://example.com/p/1"
    assert got["u1"].body == "[暂不支持的消息类型：channels_shop_product]"
    assert [r.url.params["media_id"] for r in api.to("/cgi-bin/media/get")] == ["MI", "MV", "MF"]


def test_an_expired_callback_token_pulls_without_it(client: Client, kf: Any, api: Any,
                                                    django_capture_on_commit_callbacks: Any) -> None:
    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, {"errcode": 95007, "errmsg": "invalid msg token"}, page(text_item("m1")))
    body, query = callback(token="OLD")
    push(client, django_capture_on_commit_callbacks, body, query)
    assert ["token" in api.json(r) for r in api.to(SYNC)] == [True, False]
    assert Message.objects.count() == 1


def test_an_account_the_channel_does_not_serve_is_not_pulled(client: Client, kf: Any, api: Any,
                                                             django_capture_on_commit_callbacks: Any) -> None:
    kf.config = {**kf.config, "open_kfid": "wkOnlyThisAccount01"}
    kf.save(update_fields=["config"])
    body, query = callback(open_kfid=OPEN_KFID)
    assert push(client, django_capture_on_commit_callbacks, body, query).content == b"success"
    assert not api.calls


def test_wecom_reporting_a_failed_send_marks_the_message_failed(client: Client, kf: Any, api: Any, agent: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
    from kefu.conversations import services

    api.on("/cgi-bin/gettoken", gettoken())
    api.on(SYNC, page(text_item("m1"), next_cursor="C1"), page({
        "msgid": "ev9", "open_kfid": OPEN_KFID, "send_time": 1700000100, "origin": 4, "msgtype": "event",
        "event": {"event_type": "msg_send_fail", "open_kfid": OPEN_KFID, "external_userid": CUSTOMER,
                  "fail_msgid": "SENT_1", "fail_type": 4}}, next_cursor="C2"))
    api.on("/cgi-bin/kf/send_msg", {"errcode": 0, "errmsg": "ok", "msgid": "SENT_1"})
    body, query = callback()
    push(client, django_capture_on_commit_callbacks, body, query)
    conversation = Message.objects.get().conversation
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.message_send(actor=agent, conversation=conversation, text="您好")
    sent.refresh_from_db()
    assert (sent.delivery_state, sent.external_id) == (DeliveryState.SENT, "SENT_1")
    body, query = callback()
    push(client, django_capture_on_commit_callbacks, body, query)
    sent.refresh_from_db()
    assert sent.delivery_state == DeliveryState.FAILED
    assert "4" in sent.last_error


def test_the_callback_uses_the_token_and_key_of_its_channel(client: Client, kf: Any, api: Any,
                                                            django_capture_on_commit_callbacks: Any) -> None:
    body, query = callback(key="Z" * 43)  # encrypted with another key, signed with the right token
    assert push(client, django_capture_on_commit_callbacks, body, query).status_code == 403
    assert sha1_sorted(TOKEN, "1", "2", "3") != sha1_sorted("other", "1", "2", "3")
    assert AES_KEY != "Z" * 43


def test_echostr_with_an_unencoded_plus_is_still_verified(client: Client, kf: Any) -> None:
    import time
    from urllib.parse import quote

    from kefu.conversations.tests.cloudapi import wx_encrypt
    from kefu.conversations.tests.wecom.conftest import CORPID

    echostr = next(e for e in (wx_encrypt(AES_KEY, CORPID, b"4242") for _ in range(200)) if "+" in e)
    ts, nonce = str(int(time.time())), "9"
    signature = sha1_sorted(TOKEN, ts, nonce, echostr)
    raw_echostr = quote(echostr, safe="+/=")  # the "+" left as it is
    response = client.get(f"/hooks/wecom/kf/?msg_signature={signature}&timestamp={ts}&nonce={nonce}"
                          f"&echostr={raw_echostr}")
    assert (response.status_code, response.content) == (200, b"4242")


def test_a_channel_with_a_broken_key_answers_503_not_500(client: Client, kf: Any) -> None:
    kf.secrets = {**kf.secrets, "encoding_aes_key": "broken"}
    kf.save(update_fields=["secrets"])
    body, query = callback()
    assert client.post(url("kf", query), data=body, content_type="text/xml").status_code == 503
