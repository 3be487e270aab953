"""What the SMS providers push: delivery reports (delivered / failed, only forward, twice is once) and customers'
replies (stored once, the customer found by phone), behind the token of the channel's push URLs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from kefu.conversations import services
from kefu.conversations.choices import DeliveryState, IdentityKind
from kefu.conversations.models import Message
from kefu.conversations.tests.sms.conftest import CALLBACK, PHONE, conversation_on
from kefu.customers.models import ContactPoint
from kefu.customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def post(client: Client, code: str, what: str, body: Any, token: str = CALLBACK) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
    return client.post(f"/hooks/sms/{code}/{what}/?token={token}", data=data, content_type="application/json")


@pytest.fixture
def sent(aliyun: Any, agent: Any, api: Any, django_capture_on_commit_callbacks: Any) -> Any:
    api.on("/", {"Code": "OK", "BizId": "BIZ-1"})
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(actor=agent, conversation=conversation_on(aliyun), text="已处理")
    message.refresh_from_db()
    assert message.external_id == "BIZ-1"
    return message


def aliyun_report(biz_id: str = "BIZ-1", *, success: bool = True, err_code: str = "DELIVERED") -> dict:
    return {"phone_number": PHONE, "send_time": "2030-01-01 10:00:00", "report_time": "2030-01-01 10:00:05",
            "success": success, "err_code": err_code, "err_msg": "用户接收成功" if success else "用户关机",
            "sms_size": "1", "biz_id": biz_id, "out_id": "1"}


def test_delivery_report_marks_the_reply_delivered(client: Client, aliyun: Any, sent: Any) -> None:
    response = post(client, "sms-ali", "report", [aliyun_report(), aliyun_report("UNKNOWN")])
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "成功"}
    sent.refresh_from_db()
    assert sent.delivery_state == DeliveryState.DELIVERED
    assert sent.delivered_at.isoformat() == "2030-01-01T02:00:05+00:00"  # Beijing time in the report
    # the same report again, or a late failure after delivery, changes nothing
    post(client, "sms-ali", "report", [aliyun_report()])
    post(client, "sms-ali", "report", [aliyun_report(success=False, err_code="MK:0001")])
    sent.refresh_from_db()
    assert sent.delivery_state == DeliveryState.DELIVERED


def test_failed_delivery_report(client: Client, aliyun: Any, sent: Any) -> None:
    post(client, "sms-ali", "report", [aliyun_report(success=False, err_code="IC:0001")])
    sent.refresh_from_db()
    assert sent.delivery_state == DeliveryState.FAILED
    assert "IC:0001" in sent.last_error


def test_tencent_status_callback(client: Client, tencent: Any, agent: Any, api: Any,
                                 django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", {"Response": {"SendStatusSet": [{"SerialNo": "SID-1", "Code": "Ok"}]}})
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(actor=agent, conversation=conversation_on(tencent), text="好的")
    response = post(client, "sms-tc", "report", [{
        "user_receive_time": "2030-01-01 08:03:04", "nationcode": "86", "mobile": PHONE,
        "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功", "sid": "SID-1"}])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.DELIVERED


@pytest.mark.parametrize("token", ["", "wrong-token-value", CALLBACK + "x"])
def test_push_without_the_channel_token_is_refused(client: Client, aliyun: Any, sent: Any, token: str) -> None:
    assert post(client, "sms-ali", "report", [aliyun_report()], token=token).status_code == 401
    assert post(client, "sms-ali", "inbound", [], token=token).status_code == 401
    sent.refresh_from_db()
    assert sent.delivery_state == DeliveryState.SENT


def test_a_channel_without_a_callback_token_takes_no_push(client: Client, aliyun: Any) -> None:
    aliyun.secrets = {k: v for k, v in aliyun.secrets.items() if k != "callback_token"}
    aliyun.save(update_fields=["secrets"])
    assert post(client, "sms-ali", "report", [], token="").status_code == 401


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '[{"success": true}]', '{"phone_number": "x"}'])
def test_malformed_pushes_are_400(client: Client, aliyun: Any, body: str) -> None:
    what = "inbound" if "phone_number" in body else "report"
    response = post(client, "sms-ali", what, body)
    assert response.status_code == 400
    assert response.json()["code"] == 1
    assert not Message.objects.exists()


def test_get_is_not_allowed_and_unknown_channels_are_404(client: Client, aliyun: Any) -> None:
    assert client.get(f"/hooks/sms/sms-ali/report/?token={CALLBACK}").status_code == 405
    assert post(client, "nope", "report", []).status_code == 404


def test_aliyun_reply_is_stored_once_and_finds_the_customer_by_phone(client: Client, aliyun: Any) -> None:
    customer = CustomerFactory(name="老客户")
    ContactPoint.objects.create(customer=customer, kind="phone", value=PHONE, normalized=PHONE)
    up = [{"phone_number": PHONE, "send_time": "2030-01-01 10:00:00", "content": "TD 不要再发了",
           "sign_name": "客服中心", "dest_code": "1234", "sequence_id": 1234567}]
    assert post(client, "sms-ali", "inbound", up).json() == {"code": 0, "msg": "成功"}
    assert post(client, "sms-ali", "inbound", up).status_code == 200  # pushed again
    message = Message.objects.get()
    assert (message.body, message.external_id) == ("TD 不要再发了", "aliyun-up:1234567")
    conversation = message.conversation
    assert conversation.customer == customer
    assert (conversation.identity_kind, conversation.identity_value) == (IdentityKind.PHONE, PHONE)


def test_tencent_reply_is_stored_once(client: Client, tencent: Any) -> None:
    reply = {"extend": "", "mobile": PHONE, "nationcode": "86", "sign": "客服中心", "text": "好的谢谢",
             "time": 1893456000}
    assert post(client, "sms-tc", "inbound", reply).json() == {"result": 0, "errmsg": "OK"}
    assert post(client, "sms-tc", "inbound", reply).status_code == 200
    message = Message.objects.get()
    assert message.body == "好的谢谢"
    assert message.conversation.identity_value == PHONE
    assert message.sent_at.timestamp() == 1893456000


def test_reply_continues_the_conversation_the_agent_wrote_in(client: Client, aliyun: Any, sent: Any) -> None:
    post(client, "sms-ali", "inbound", [{"phone_number": PHONE, "send_time": "2030-01-01 10:05:00",
                                         "content": "收到", "sequence_id": 9}])
    latest = Message.objects.order_by("-id").first()
    assert latest.conversation_id == sent.conversation_id


def test_command_line_sets_up_an_sms_channel_and_prints_the_push_urls(client: Client, capsys: Any) -> None:
    from django.core.management import call_command

    from kefu.conversations.models import Channel

    call_command("channel", "add", "sms", "sms-cli", "--set", "provider=tencent", "--set", "sign_name=客服中心",
                 "--set", "reply_template_id=1234567", "--set", "sdk_app_id=1400006666",
                 "--secret-value", "secret_id=AKID", "--secret-value", "secret_key=k")
    out = capsys.readouterr().out
    token = Channel.objects.get(code="sms-cli").secret("callback_token")
    assert len(token) >= 32
    assert f"/hooks/sms/sms-cli/report/?token={token}" in out
    assert post(client, "sms-cli", "report", [], token=token).status_code == 200
