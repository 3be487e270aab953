from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest

from kefu.conversations.tests.cloudapi import api, sha1_sorted, wx_encrypt  # noqa: F401  (the fake API fixture)
from kefu.conversations.tests.factories import ChannelFactory

CORPID = "ww1234567890abcdef"
TOKEN = "kfToken7"
AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
OPEN_KFID = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"
CUSTOMER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
SYNC = "/cgi-bin/kf/sync_msg"
SEND = "/cgi-bin/kf/send_msg"


@pytest.fixture
def kf(team: Any) -> Any:
    return ChannelFactory(kind="wecom_kf", code="kf", name="微信客服", team=team, config={"corpid": CORPID},
                          secrets={"secret": "kf-secret", "token": TOKEN, "encoding_aes_key": AES_KEY})


def url(code: str, query: dict[str, str]) -> str:
    return f"/hooks/wecom/{code}/?{urlencode(query)}"


SYNC_TOKEN = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"


def callback(*, token: str = SYNC_TOKEN, open_kfid: str = OPEN_KFID,
             corpid: str = CORPID, key: str = AES_KEY, timestamp: int | None = None,
             inner: str | None = None) -> tuple[str, dict[str, str]]:
    """WeCom's "there is something new" push, encrypted and signed as WeCom does."""
    inner = inner if inner is not None else (
        f"<xml><ToUserName><![CDATA[{corpid}]]></ToUserName><CreateTime>1348831860</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>")
    encrypt = wx_encrypt(key, corpid, inner.encode())
    ts, nonce = str(int(time.time()) if timestamp is None else timestamp), "5836275"
    query = {"msg_signature": sha1_sorted(TOKEN, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    body = (f"<xml><ToUserName><![CDATA[{corpid}]]></ToUserName><AgentID><![CDATA[]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    return body, query


def text_item(msgid: str, content: str = "你好", *, origin: int = 3, customer: str = CUSTOMER,
              send_time: int = 1700000000) -> dict:
    return {"msgid": msgid, "open_kfid": OPEN_KFID, "external_userid": customer, "send_time": send_time,
            "origin": origin, "msgtype": "text", "text": {"content": content}}


def page(*items: dict, next_cursor: str = "C1", has_more: int = 0) -> dict:
    return {"errcode": 0, "errmsg": "ok", "next_cursor": next_cursor, "has_more": has_more, "msg_list": list(items)}


def gettoken(value: str = "KF_TOKEN") -> dict:
    return {"errcode": 0, "errmsg": "ok", "access_token": value, "expires_in": 7200}
