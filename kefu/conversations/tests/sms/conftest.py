from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations.tests.cloudapi import api  # noqa: F401  (the fake API fixture)
from kefu.conversations.tests.factories import ChannelFactory

CALLBACK = "cb-0123456789abcdef"
PHONE = "13800138000"


@pytest.fixture
def aliyun(team: Any) -> Any:
    return ChannelFactory(kind="sms", code="sms-ali", name="短信（阿里云）", team=team, config={
        "provider": "aliyun", "sign_name": "客服中心", "reply_template_id": "SMS_123456789",
        "reply_template_param": "content"},
        secrets={"access_key_id": "LTAI-test", "access_key_secret": "ali-secret", "callback_token": CALLBACK})


@pytest.fixture
def tencent(team: Any) -> Any:
    return ChannelFactory(kind="sms", code="sms-tc", name="短信（腾讯云）", team=team, config={
        "provider": "tencent", "sign_name": "客服中心", "reply_template_id": "1234567", "sdk_app_id": "1400006666"},
        secrets={"secret_id": "AKID-test", "secret_key": "tc-secret", "callback_token": CALLBACK})


@pytest.fixture
def console(team: Any) -> Any:
    return ChannelFactory(kind="sms", code="sms-dev", name="短信（开发）", team=team, config={"provider": "console"},
                          secrets={})


def conversation_on(channel: Any, phone: str = PHONE) -> Any:
    from kefu.conversations import services
    from kefu.conversations.adapters.base import Identity, InboundMessage

    return services.message_receive(channel=channel, inbound=InboundMessage(
        external_id=f"up-{channel.code}", identity=Identity(kind="phone", value=phone), text="我想咨询")).conversation
