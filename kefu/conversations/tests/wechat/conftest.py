from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest

from kefu.conversations.tests.cloudapi import api, sha1_sorted  # noqa: F401  (the fake API fixture)
from kefu.conversations.tests.factories import ChannelFactory

APPID = "wx1234567890abcdef"
TOKEN = "kefuToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
OPENID = "oUser_7xk2"
ORIGINAL_ID = "gh_0123456789ab"


@pytest.fixture
def mp(team: Any) -> Any:
    """An official account in plaintext mode."""
    return ChannelFactory(kind="wechat_oa", code="mp", name="服务号", team=team, config={"appid": APPID},
                          secrets={"token": TOKEN, "appsecret": "a" * 32})


@pytest.fixture
def mp_safe(team: Any) -> Any:
    """An official account in safe mode (messages encrypted)."""
    return ChannelFactory(kind="wechat_oa", code="mp-safe", name="服务号（安全模式）", team=team,
                          config={"appid": APPID, "original_id": ORIGINAL_ID},
                          secrets={"token": TOKEN, "appsecret": "a" * 32, "encoding_aes_key": AES_KEY})


def signed(*, token: str = TOKEN, timestamp: int | None = None, nonce: str = "1372623149", **extra: str) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": sha1_sorted(token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra}


def url(code: str, query: dict[str, str]) -> str:
    return f"/hooks/wechat/{code}/?{urlencode(query)}"


def message_xml(msg_type: str = "text", *, msg_id: str = "6211000000000000001", openid: str = OPENID,
                to: str = ORIGINAL_ID, create_time: int = 1700000000, **fields: str) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    msg_id_xml = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}{msg_id_xml}</xml>")


def token_answer(value: str = "ACCESS_TOKEN_1") -> dict:
    return {"access_token": value, "expires_in": 7200}
