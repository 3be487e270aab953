"""Replies by SMS: the agent's text in the reply template, signed requests to Aliyun and Tencent Cloud (faked at
the transport), answers mapped to sent / retry / give up; the console provider for development."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kefu.conversations import services
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.adapters.sms import ConsoleSms, aliyun_signature, tc3_authorization
from kefu.conversations.choices import DeliveryState
from kefu.conversations.services import AttachmentIn
from kefu.conversations.tests.sms.conftest import PHONE, conversation_on

pytestmark = pytest.mark.django_db


REFUND = "您的退款已办理，3 个工作日内到账"


def reply(agent: Any, conversation: Any, capture: Any, text: str = REFUND, **kw: Any) -> Any:
    with capture(execute=True):
        message = services.message_send(actor=agent, conversation=conversation, text=text, **kw)
    message.refresh_from_db()
    return message


def test_aliyun_send_sms_is_signed_and_uses_the_reply_template(aliyun: Any, agent: Any, api: Any,
                                                              django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "R"})
    message = reply(agent, conversation_on(aliyun), django_capture_on_commit_callbacks)
    assert (message.delivery_state, message.external_id) == (DeliveryState.SENT, "900619746936498440^0")
    (call,) = api.calls
    assert call.url.host == "dysmsapi.aliyuncs.com"
    assert call.method == "POST"
    form = api.form(call)
    assert form["Action"] == "SendSms"
    assert form["PhoneNumbers"] == PHONE
    assert form["SignName"] == "客服中心"
    assert form["TemplateCode"] == "SMS_123456789"
    assert json.loads(form["TemplateParam"]) == {"content": REFUND}
    assert form["OutId"] == str(message.pk)
    assert form["AccessKeyId"] == "LTAI-test"
    assert form["Signature"] == aliyun_signature(form, "ali-secret", "POST")


@pytest.mark.parametrize(("code", "state", "words"), [
    ("isv.MOBILE_NUMBER_ILLEGAL", DeliveryState.FAILED, "手机号码"),
    ("isv.PARAM_LENGTH_LIMIT", DeliveryState.FAILED, "长度"),
    ("isv.BUSINESS_LIMIT_CONTROL", DeliveryState.QUEUED, "isv.BUSINESS_LIMIT_CONTROL"),
    ("isv.AMOUNT_NOT_ENOUGH", DeliveryState.QUEUED, "isv.AMOUNT_NOT_ENOUGH"),
    ("SignatureDoesNotMatch", DeliveryState.QUEUED, "SignatureDoesNotMatch"),
])
def test_aliyun_errors(aliyun: Any, agent: Any, api: Any, code: str, state: str, words: str,
                       django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", {"Code": code, "Message": "refused", "RequestId": "R"})
    message = reply(agent, conversation_on(aliyun), django_capture_on_commit_callbacks)
    assert message.delivery_state == state
    assert words in message.last_error


def test_aliyun_business_limit_waits_ten_minutes(aliyun: Any, agent: Any, api: Any,
                                                 django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"})
    message = reply(agent, conversation_on(aliyun), django_capture_on_commit_callbacks)
    assert (message.next_attempt_at - message.created_at).total_seconds() >= 590


def test_tencent_send_sms_is_signed(tencent: Any, agent: Any, api: Any,
                                    django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", {"Response": {"SendStatusSet": [{"SerialNo": "5000:1045710669157053657849499619",
                                                 "PhoneNumber": "+8613800138000", "Fee": 1, "Code": "Ok",
                                                 "Message": "send success"}], "RequestId": "R"}})
    message = reply(agent, conversation_on(tencent), django_capture_on_commit_callbacks, text="您好\n\n已处理")
    assert (message.delivery_state, message.external_id) == (DeliveryState.SENT, "5000:1045710669157053657849499619")
    (call,) = api.calls
    assert call.url.host == "sms.tencentcloudapi.com"
    body = api.json(call)
    assert body == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400006666", "SignName": "客服中心",
                    "TemplateId": "1234567", "TemplateParamSet": ["您好 已处理"], "SessionContext": str(message.pk)}
    headers = call.headers
    assert (headers["X-TC-Action"], headers["X-TC-Version"], headers["X-TC-Region"]) == (
        "SendSms", "2021-01-11", "ap-guangzhou")
    assert headers["Authorization"] == tc3_authorization(
        secret_id="AKID-test", secret_key="tc-secret", service="sms", host="sms.tencentcloudapi.com",
        payload=call.content, timestamp=int(headers["X-TC-Timestamp"]))


@pytest.mark.parametrize(("answer", "state", "words"), [
    ({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}, "RequestId": "R"}},
     DeliveryState.QUEUED, "AuthFailure.SignatureFailure"),
    ({"Response": {"SendStatusSet": [{"Code": "FailedOperation.PhoneNumberInBlacklist", "Message": "blacklist"}]}},
     DeliveryState.FAILED, "退订"),
    ({"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberThirtySecondLimit", "Message": "30s"}]}},
     DeliveryState.QUEUED, "ThirtySecond"),
    (httpx.Response(503), DeliveryState.QUEUED, "503"),
])
def test_tencent_errors(tencent: Any, agent: Any, api: Any, answer: Any, state: str, words: str,
                        django_capture_on_commit_callbacks: Any) -> None:
    api.on("/", answer)
    message = reply(agent, conversation_on(tencent), django_capture_on_commit_callbacks)
    assert message.delivery_state == state
    assert words in message.last_error


def test_attachments_cannot_go_by_sms(aliyun: Any, agent: Any, api: Any,
                                      django_capture_on_commit_callbacks: Any) -> None:
    message = reply(agent, conversation_on(aliyun), django_capture_on_commit_callbacks, text="见图",
                    attachments=[AttachmentIn(filename="a.png", content_type="image/png", content=b"PNG")])
    assert message.delivery_state == DeliveryState.FAILED
    assert "附件" in message.last_error
    assert not api.calls


def test_console_provider_logs_instead_of_sending(console: Any, agent: Any, api: Any,
                                                  django_capture_on_commit_callbacks: Any) -> None:
    message = reply(agent, conversation_on(console), django_capture_on_commit_callbacks, text="开发环境的回复")
    assert (message.delivery_state, message.external_id) == (DeliveryState.SENT, f"console-{message.pk}")
    assert ConsoleSms.sent[-1] == (PHONE, "开发环境的回复")
    assert not api.calls


def test_settings_are_checked_by_field() -> None:
    adapter: Any = adapter_for("sms")
    assert set(adapter.check_config({"provider": "qq"})) == {"provider"}
    assert adapter.check_config({"provider": "console"}) == {}
    assert set(adapter.check_config({"provider": "aliyun", "reply_template_id": "123"})) == {
        "sign_name", "reply_template_id"}
    assert set(adapter.check_config({"provider": "tencent", "sign_name": "客服中心",
                                     "reply_template_id": "SMS_1", "sdk_app_id": "14"})) == {
        "reply_template_id", "sdk_app_id"}
    assert set(adapter.check_secrets({"provider": "aliyun"}, {"callback_token": "short"})) == {
        "access_key_id", "access_key_secret", "callback_token"}
    assert set(adapter.check_secrets({"provider": "tencent"}, {"callback_token": "x" * 16})) == {
        "secret_id", "secret_key"}
