"""The official-account adapter without the hook: the protocol's published vector, passive replies, settings
checks, media downloads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.adapters.weixin import BadXml, CryptoError, MsgCrypt, parse_xml, to_xml
from kefu.conversations.services import channel_create
from kefu.conversations.tests.cloudapi import sha1_sorted, wx_decrypt, wx_encrypt
from kefu.conversations.tests.wechat.conftest import AES_KEY, APPID, OPENID, ORIGINAL_ID, TOKEN, token_answer
from kefu.core.errors import ValidationFailed

# The sample of WeChat's message encryption documentation (token QDG6eK, EncodingAESKey jWmYm…, id wx5823…).
DOC_TOKEN, DOC_KEY, DOC_ID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
DOC_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5g"
    "sijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWr"
    "QUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2u"
    "yPIGHBZZIs2pDBS8R07+qN+E7Q==")


def test_the_documented_sample_decrypts_and_its_signature_matches() -> None:
    crypt = MsgCrypt(DOC_TOKEN, DOC_KEY, DOC_ID)
    assert crypt.signature("1409659813", "1372623149", DOC_ENCRYPT) == "477715d11cdb4164915debcba66cb864d751f3e6"
    fields = parse_xml(crypt.decrypt(DOC_ENCRYPT))
    assert (fields["FromUserName"], fields["Content"], fields["MsgId"]) == ("mycreate", "hello", "4561255354251345929")
    with pytest.raises(CryptoError):
        MsgCrypt(DOC_TOKEN, DOC_KEY, "wx0000000000000000").decrypt(DOC_ENCRYPT)


def test_encrypt_round_trips_with_the_protocol_written_out_in_the_tests() -> None:
    crypt = MsgCrypt(TOKEN, AES_KEY, APPID)
    assert crypt.decrypt(wx_encrypt(AES_KEY, APPID, "中文 <xml/>".encode())) == "中文 <xml/>".encode()
    for size in (0, 1, 11, 12, 31, 32, 33, 1000):  # padding at and around the 32-byte block
        message = b"x" * size
        assert wx_decrypt(AES_KEY, crypt.encrypt(message)) == (message, APPID.encode())


@pytest.mark.parametrize("encrypt", ["not base64!", "", "YWJj", "A" * 44])
def test_garbage_does_not_decrypt(encrypt: str) -> None:
    with pytest.raises(CryptoError):
        MsgCrypt(TOKEN, AES_KEY, APPID).decrypt(encrypt)


def test_xml_helpers_quote_cdata_and_refuse_doctypes() -> None:
    xml = to_xml({"Content": "a]]>b", "CreateTime": 5})
    assert parse_xml(xml) == {"Content": "a]]>b", "CreateTime": "5"}
    with pytest.raises(BadXml):
        parse_xml('<!DOCTYPE xml [<!ELEMENT xml ANY>]><xml><A>1</A></xml>')


@pytest.mark.django_db
def test_passive_reply_plain_and_encrypted(mp_safe: Any) -> None:
    adapter: Any = adapter_for("wechat_oa")
    fields = {"FromUserName": OPENID, "ToUserName": ORIGINAL_ID}
    plain = parse_xml(adapter.passive_reply(mp_safe, fields, "您好", timestamp="1700000000", nonce="n",
                                            encrypted=False))
    assert (plain["ToUserName"], plain["FromUserName"], plain["MsgType"], plain["Content"]) == (
        OPENID, ORIGINAL_ID, "text", "您好")
    outer = parse_xml(adapter.passive_reply(mp_safe, fields, "", timestamp="1700000000", nonce="n", encrypted=True))
    assert outer["MsgSignature"] == sha1_sorted(TOKEN, "1700000000", "n", outer["Encrypt"])
    inner, appid = wx_decrypt(AES_KEY, outer["Encrypt"])
    assert appid == APPID.encode()
    assert parse_xml(inner)["Content"] == ""  # an empty text is allowed


def test_settings_are_checked_by_field() -> None:
    adapter: Any = adapter_for("wechat_oa")
    assert adapter.check_config({"appid": APPID}) == {}
    assert set(adapter.check_config({"appid": "gh_123", "original_id": "abc", "token_api": "x"})) == {
        "appid", "original_id", "token_api"}
    assert adapter.check_secrets({}, {"token": TOKEN, "appsecret": "s", "encoding_aes_key": AES_KEY}) == {}
    assert set(adapter.check_secrets({}, {"token": "a!", "encoding_aes_key": "short"})) == {
        "token", "appsecret", "encoding_aes_key"}
    assert "encoding_aes_key" in adapter.check_secrets({}, {"token": TOKEN, "appsecret": "s",
                                                            "encoding_aes_key": "a" * 42 + "!"})


@pytest.mark.django_db
def test_channel_create_names_the_bad_field(admin_user: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        channel_create(actor=admin_user, kind="wechat_oa", code="mp2", config={"appid": APPID},
                       secrets_={"token": TOKEN, "appsecret": "s", "encoding_aes_key": "tooshort"})
    assert refused.value.details["field"] == "encoding_aes_key"
    channel = channel_create(actor=admin_user, kind="wechat_oa", code="mp2", config={"appid": APPID},
                             secrets_={"token": TOKEN, "appsecret": "s", "encoding_aes_key": AES_KEY})
    assert channel.kind == "wechat_oa"


@pytest.mark.django_db
def test_video_is_fetched_from_the_link_the_api_gives(mp: Any, api: Any) -> None:
    api.on("/cgi-bin/token", token_answer())
    api.on("/cgi-bin/media/get", {"video_url": "http://vweixinf.tc.qq.com/v/abc.mp4"})
    api.on("/v/abc.mp4", httpx.Response(200, content=b"mp4", headers={"Content-Type": "video/mp4"}))
    adapter: Any = adapter_for("wechat_oa")
    message = adapter.inbound(mp, {"MsgType": "video", "FromUserName": OPENID, "MsgId": "5", "MediaId": "V",
                                   "CreateTime": "1700000000"})
    assert message.kind == "file"
    assert message.attachments[0].content == b"mp4"
    assert message.attachments[0].filename.endswith(".mp4")


@pytest.mark.django_db
def test_unknown_message_types_are_kept_with_a_note(mp: Any) -> None:
    adapter: Any = adapter_for("wechat_oa")
    message = adapter.inbound(mp, {"MsgType": "hologram", "FromUserName": OPENID, "MsgId": "6"})
    assert message.text == "[暂不支持的消息类型：hologram]"


@pytest.mark.django_db
def test_command_line_sets_up_an_official_account(capsys: Any) -> None:
    from django.core.management import CommandError, call_command

    from kefu.conversations.models import Channel

    call_command("channel", "add", "wechat_oa", "mp-cli", "--set", f"appid={APPID}", "--secret-value",
                 f"token={TOKEN}", "--secret-value", "appsecret=s3", "--secret-value", f"encoding_aes_key={AES_KEY}")
    assert "URL: /hooks/wechat/mp-cli/" in capsys.readouterr().out
    channel = Channel.objects.get(code="mp-cli")
    assert channel.config == {"appid": APPID}
    assert channel.secret("encoding_aes_key") == AES_KEY
    with pytest.raises(CommandError, match="encoding_aes_key"):
        call_command("channel", "add", "wechat_oa", "mp-bad", "--set", f"appid={APPID}", "--secret-value",
                     f"token={TOKEN}", "--secret-value", "appsecret=s3", "--secret-value", "encoding_aes_key=x")
    with pytest.raises(CommandError, match="KEY=VALUE"):
        call_command("channel", "add", "wechat_oa", "mp-bad", "--set", "appid")
    assert not Channel.objects.filter(code="mp-bad").exists()
