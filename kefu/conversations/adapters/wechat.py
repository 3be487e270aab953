"""WeChat official account (公众号): messages pushed by WeChat to Kefu's URL (XML, plaintext or safe mode), and
replies through the customer-service message API (客服消息, within 48 hours of the customer's last message).

Channel settings — config: `appid` (wx…), optionally `original_id` (gh_…, pushes to another account are
refused) and `token_api` ("token", the default, or "stable_token" when another system fetches tokens for the same
account too). Secrets: `token` (the URL's token), `appsecret`, and `encoding_aes_key` for safe mode (with a key,
only encrypted pushes are accepted: the plaintext signature does not cover the body).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.files.storage import default_storage
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from kefu.conversations.adapters import apiclient
from kefu.conversations.adapters.apiclient import ApiError
from kefu.conversations.adapters.base import (
    Identity,
    InboundAttachment,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    SendResult,
)
from kefu.conversations.adapters.registry import register
from kefu.conversations.adapters.weixin import (
    AccessTokens,
    MsgCrypt,
    SentParts,
    WxError,
    aes_key,
    checked,
    errcode,
    media_filename,
    to_xml,
)

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

log = logging.getLogger("kefu.conversations.wechat")

API = "https://api.weixin.qq.com/cgi-bin"
APPID_RE = re.compile(r"^wx[0-9a-zA-Z]{16}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")  # WeChat's rule for the URL token
ORIGINAL_ID_RE = re.compile(r"^gh_[0-9a-zA-Z]{6,30}$")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp")
IMAGE_MAX = 10 * 1024 * 1024  # the temporary-media limit for images
TEXT_MAX = 2000  # characters; longer replies are split (the API's limit is about 2,048 bytes of UTF-8 per message)

# Media messages are downloaded through the API before they are stored (in the worker, not in the request).
MEDIA_TYPES = {"image": "image", "voice": "voice", "video": "file", "shortvideo": "file"}
# Events that mean something in a conversation; the rest (LOCATION reports, VIEW menu links, template results…)
# are answered and dropped.
EVENTS = {"subscribe", "unsubscribe", "scan", "click"}

# errcode → (permanent, what the agent reads)
ERRORS: dict[int, tuple[bool, str]] = {
    45015: (True, N_("客户超过 48 小时未与公众号互动，微信不允许再回复（45015 reply time limit exceeded）")),
    45047: (True, N_("客户发言后公众号最多回复 20 条，已达上限，需等客户再次发言（45047）")),
    43004: (True, N_("客户已取消关注公众号（43004 require subscribe）")),
    43019: (True, N_("客户已将公众号拉黑（43019）")),
    40003: (True, N_("客户的 OpenID 不属于本公众号（40003 invalid openid）")),
    45002: (True, N_("消息内容过长（45002）")),
    40007: (True, N_("媒体文件无效或已过期（40007 invalid media_id）")),
    40004: (True, N_("不支持的媒体文件类型（40004）")),
    40008: (True, N_("不支持的消息类型（40008）")),
    48001: (True, N_("公众号没有客服消息接口权限（48001 api unauthorized）")),
    -1: (False, N_("微信系统繁忙（-1），稍后重试")),
    45009: (False, N_("公众号当日接口调用次数已用完（45009），稍后重试")),
    45011: (False, N_("接口调用过于频繁（45011），稍后重试")),
    40164: (False, N_("服务器 IP 不在公众号的 IP 白名单中（40164），请在公众平台添加后自动重试")),
    40013: (False, N_("AppID 无效（40013），请检查渠道配置")),
    40125: (False, N_("AppSecret 无效（40125），请检查渠道密钥")),
    40001: (False, N_("AppSecret 错误或 access_token 无效（40001），请检查渠道密钥")),
}
RETRY_AFTER = {45009: 3600.0, 45011: 60.0}


def send_error(exc: WxError) -> SendResult:
    known = ERRORS.get(exc.errcode)
    permanent, text = (known[0], _(known[1])) if known else (False, f"{exc.errcode} {exc.errmsg}")
    return SendResult(False, error=text[:500], permanent=permanent, retry_after=RETRY_AFTER.get(exc.errcode))


def _fetch_token(channel: Channel) -> tuple[str, int]:
    appid, secret = str(channel.config.get("appid", "")), channel.secret("appsecret")
    if channel.config.get("token_api") == "stable_token":
        data = apiclient.post(f"{API}/stable_token", content=json.dumps(
            {"grant_type": "client_credential", "appid": appid, "secret": secret}).encode(),
            headers={"Content-Type": "application/json"})
    else:
        data = apiclient.get_json(f"{API}/token",
                                  {"grant_type": "client_credential", "appid": appid, "secret": secret})
    checked(data)
    token = str(data.get("access_token") or "")
    if not token:
        raise ApiError("no access_token in the answer")
    return token, int(data.get("expires_in") or 7200)


TOKENS = AccessTokens("wechat_oa", _fetch_token,
                      lambda channel: f"{channel.config.get('appid', '')}:{channel.secret('appsecret')}")


def _sent_at(fields: dict[str, str]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(fields.get("CreateTime", "")), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register
class WechatAdapter:
    kind: ClassVar[str] = "wechat_oa"
    live: ClassVar[bool] = False

    # --- settings -------------------------------------------------------------------------------------------

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not APPID_RE.match(str(config.get("appid", ""))):
            problems["appid"] = _("AppID 格式不正确（wx 开头，共 18 位）")
        original_id = str(config.get("original_id", "") or "")
        if original_id and not ORIGINAL_ID_RE.match(original_id):
            problems["original_id"] = _("原始 ID 格式不正确（gh_ 开头）")
        if config.get("token_api", "token") not in ("token", "stable_token"):
            problems["token_api"] = _("token_api 只能是 token 或 stable_token")
        return problems

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not TOKEN_RE.match(str(secrets.get("token", ""))):
            problems["token"] = _("令牌（Token）须为 3–32 位英文字母或数字")
        if not str(secrets.get("appsecret", "")).strip():
            problems["appsecret"] = _("缺少 AppSecret")
        key = str(secrets.get("encoding_aes_key", "") or "")
        if key:
            try:
                aes_key(key)
            except ValueError:
                problems["encoding_aes_key"] = _("EncodingAESKey 须为 43 位英文字母或数字")
        return problems

    def crypt(self, channel: Channel) -> MsgCrypt | None:
        """The channel's message crypt in safe mode; None in plaintext mode."""
        key = channel.secret("encoding_aes_key")
        if not key:
            return None
        return MsgCrypt(channel.secret("token"), key, str(channel.config.get("appid", "")))

    # --- inbound ----------------------------------------------------------------------------------------------

    def relevant(self, fields: dict[str, str]) -> bool:
        """Whether a push is stored at all (messages and the events in EVENTS)."""
        msg_type = fields.get("MsgType", "")
        if msg_type == "event":
            return fields.get("Event", "").lower() in EVENTS
        return bool(msg_type) and bool(fields.get("FromUserName"))

    def needs_media(self, fields: dict[str, str]) -> bool:
        return fields.get("MsgType", "") in MEDIA_TYPES

    def external_id(self, fields: dict[str, str]) -> str:
        """MsgId; for events (which have none) FromUserName + CreateTime + Event, as WeChat advises for
        recognising its retries."""
        if fields.get("MsgId"):
            return fields["MsgId"]
        return f"{fields.get('FromUserName', '')}:{fields.get('CreateTime', '')}:{fields.get('Event', '')}"

    def inbound(self, channel: Channel, fields: dict[str, str], *, fetch_media: bool = True,
                last_try: bool = True) -> InboundMessage:
        """A push as an inbound message. Media are downloaded through the API (`fetch_media`), which is slow:
        the hook hands media messages to the worker. WeChat refusing the media (expired, invalid) keeps the message
        without them; WeChat out of reach raises ApiError unless it is the `last_try`."""
        msg_type = fields.get("MsgType", "")
        meta: dict[str, Any] = {"to_user": fields.get("ToUserName", ""), "msg_type": msg_type}
        text, kind, event, attachments = fields.get("Content", ""), "text", "", ()
        if msg_type == "event":
            kind, event = "event", fields.get("Event", "").lower()
            if fields.get("EventKey"):
                meta["event_key"] = fields["EventKey"]
            text = ""
        elif msg_type in MEDIA_TYPES:
            kind = MEDIA_TYPES[msg_type]
            media_id = fields.get("MediaId", "")
            meta["media_id"] = media_id
            text = fields.get("Recognition", "") if msg_type == "voice" else ""
            if fetch_media and media_id:
                try:
                    attachments = (self.download(channel, media_id, default_type=_default_type(msg_type)),)
                except (WxError, ApiError) as exc:  # kept without the media rather than lost
                    if isinstance(exc, ApiError) and not last_try:
                        raise
                    log.warning("wechat %s: media %s not downloaded: %s", channel.code, media_id, exc)
                    meta["media_error"] = str(exc)[:200]
            if not attachments and not text:
                text = {"image": _("[图片，无法下载]"), "voice": _("[语音，无法下载]")}.get(
                    msg_type, _("[视频，无法下载]"))
        elif msg_type == "location":
            text = _("[位置] %(label)s（%(x)s, %(y)s）") % {
                "label": fields.get("Label", ""), "x": fields.get("Location_X", ""), "y": fields.get("Location_Y", "")}
        elif msg_type == "link":
            text = " ".join(part for part in (fields.get("Title", ""), fields.get("Url", "")) if part)
        elif msg_type != "text":
            text = text or _("[暂不支持的消息类型：%(type)s]") % {"type": msg_type}
        return InboundMessage(
            external_id=self.external_id(fields),
            identity=Identity(kind="openid", value=fields.get("FromUserName", "")), text=text,
            sent_at=_sent_at(fields), attachments=attachments, kind=kind, event=event, meta=meta)

    def download(self, channel: Channel, media_id: str, *, default_type: str = "application/octet-stream"
                 ) -> InboundAttachment:
        """Temporary media by id (raises WxError when WeChat refuses, ApiError when it cannot be reached)."""
        content, headers = b"", {}

        def request(token: str) -> dict[str, Any]:
            nonlocal content, headers
            content, headers = apiclient.download(f"{API}/media/get", {"access_token": token, "media_id": media_id})
            if headers.get("content-type", "").startswith(("application/json", "text/plain")):
                try:
                    return dict(json.loads(content))
                except ValueError:
                    return {}
            return {}

        answer = TOKENS.call(channel, request)
        if errcode(answer):
            checked(answer)
        if answer.get("video_url"):  # videos come as a link
            content, headers = apiclient.download(str(answer["video_url"]))
        filename, content_type = media_filename(headers, media_id, default_type)
        return InboundAttachment(filename=filename, content_type=content_type, content=content)

    # --- outbound ---------------------------------------------------------------------------------------------

    def passive_reply(self, channel: Channel, fields: dict[str, str], text: str, *, timestamp: str, nonce: str,
                      encrypted: bool) -> str:
        """The XML answering a push with a text message (within WeChat's 5 seconds), encrypted in safe mode."""
        xml = to_xml({"ToUserName": fields.get("FromUserName", ""), "FromUserName": fields.get("ToUserName", ""),
                      "CreateTime": int(datetime.now(tz=UTC).timestamp()), "MsgType": "text", "Content": text})
        crypt = self.crypt(channel)
        if encrypted and crypt is not None:
            return crypt.encrypted_reply(xml, timestamp=timestamp, nonce=nonce)
        return xml

    def _custom_send(self, channel: Channel, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        checked(TOKENS.call(channel, lambda token: apiclient.post(
            f"{API}/message/custom/send", params={"access_token": token}, content=body,
            headers={"Content-Type": "application/json; charset=utf-8"})))

    def _upload_image(self, channel: Channel, attachment: OutboundAttachment) -> str:
        with default_storage.open(attachment.path, "rb") as handle:
            content = handle.read(IMAGE_MAX + 1)
        if len(content) > IMAGE_MAX:
            raise WxError(40006, "image larger than 10 MB")
        data = checked(TOKENS.call(channel, lambda token: apiclient.post(
            f"{API}/media/upload", params={"access_token": token, "type": "image"},
            files={"media": (attachment.filename, content, attachment.content_type)})))
        return str(data.get("media_id", ""))

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Through the customer-service message API: the text (split if long) and each image. Other files
        cannot be sent to a WeChat user by an official account: refused before anything is sent."""
        openid = message.to.value
        if message.to.kind != "openid" or not openid:
            return SendResult(False, error=_("会话没有客户的 OpenID，无法通过公众号回复"), permanent=True)
        unsupported = [a.filename for a in message.attachments if a.content_type not in IMAGE_TYPES]
        if unsupported:
            return SendResult(False, permanent=True, error=_("公众号客服消息只能发送文字和图片，不能发送：%(files)s")
                              % {"files": "、".join(unsupported)})
        parts = SentParts(self.kind, channel, message.message_id)
        done = parts.done()
        try:
            chunks = [message.text[i:i + TEXT_MAX] for i in range(0, len(message.text), TEXT_MAX)]
            for index, chunk in enumerate(chunks):
                key = f"text{index}"
                if key not in done and chunk.strip():
                    self._custom_send(channel, {"touser": openid, "msgtype": "text", "text": {"content": chunk}})
                    parts.mark(key, "")
            for index, attachment in enumerate(message.attachments):
                key = f"file{index}"
                if key not in done:
                    media_id = self._upload_image(channel, attachment)
                    self._custom_send(channel, {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})
                    parts.mark(key, "")
        except WxError as exc:
            return send_error(exc)
        except ApiError as exc:
            return SendResult(False, error=f"API: {exc}"[:500])
        except OSError as exc:
            return SendResult(False, error=_("附件无法读取：%(error)s") % {"error": exc}, permanent=True)
        return SendResult(True)


def _default_type(msg_type: str) -> str:
    return {"image": "image/jpeg", "voice": "audio/amr", "video": "video/mp4", "shortvideo": "video/mp4"}.get(
        msg_type, "application/octet-stream")
