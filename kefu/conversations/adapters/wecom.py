"""WeCom customer service (企业微信「微信客服」): how companies serve WeChat users from a customer-service account.
WeCom's callback only says that there is something new (with a short-lived Token); the messages are pulled with
`kf/sync_msg` from a cursor kept in the channel's state, and replies go out with `kf/send_msg` (at most 5 within
48 hours of the customer's last message).

Channel settings — config: `corpid` (企业 ID) and optionally `open_kfid` (serve only this customer-service account;
by default every account the callback names). Secrets: `secret` (the 微信客服 Secret), `token` and
`encoding_aes_key` (the callback's, set on the same page).
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
)

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

log = logging.getLogger("kefu.conversations.wecom")

API = "https://qyapi.weixin.qq.com/cgi-bin"
CORPID_RE = re.compile(r"^w[wx][0-9a-zA-Z]{16}$")
OPEN_KFID_RE = re.compile(r"^wk[0-9A-Za-z_-]{6,64}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
SYNC_LIMIT = 1000  # messages per sync_msg page (the API's maximum)
TEXT_MAX = 2000
MEDIA_MAX = {"image": 10 * 1024 * 1024, "file": 20 * 1024 * 1024}

ORIGIN_CUSTOMER, ORIGIN_SYSTEM, ORIGIN_SERVICER = 3, 4, 5
MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "file", "file": "file"}
DEFAULT_TYPES = {"image": "image/jpeg", "voice": "audio/amr", "video": "video/mp4", "file": "application/octet-stream"}

ERRORS: dict[int, tuple[bool, str]] = {
    95001: (True, N_("已达企业微信的回复限制（客户发言后 48 小时内最多 5 条），需等客户再次发言（95001）")),
    95018: (True, N_("会话当前状态不允许通过接口回复（95018）：可能已在企业微信中由接待人员接待或已结束")),
    40096: (True, N_("客户的 external_userid 无效（40096）")),
    40007: (True, N_("媒体文件无效（40007）")),
    -1: (False, N_("企业微信系统繁忙（-1），稍后重试")),
    45009: (False, N_("接口调用过于频繁（45009），稍后重试")),
    45033: (False, N_("接口并发调用超过限制（45033），稍后重试")),
    60020: (False, N_("服务器 IP 不在企业微信的可信 IP 中（60020），请在管理后台添加后自动重试")),
    40013: (False, N_("企业 ID（corpid）无效（40013），请检查渠道配置")),
    40001: (False, N_("Secret 错误（40001），请检查渠道密钥")),
    48002: (False, N_("该 Secret 没有微信客服接口权限（48002），请使用「微信客服」的 Secret")),
}
RETRY_AFTER = {45009: 60.0, 45033: 10.0}


def send_error(exc: WxError) -> SendResult:
    known = ERRORS.get(exc.errcode)
    if known is None:
        # other 95xxx codes are the customer-service session's own refusals: retrying will not help
        permanent, text = 95000 <= exc.errcode < 96000, f"{exc.errcode} {exc.errmsg}"
    else:
        permanent, text = known[0], _(known[1])
    return SendResult(False, error=text[:500], permanent=permanent, retry_after=RETRY_AFTER.get(exc.errcode))


def _fetch_token(channel: Channel) -> tuple[str, int]:
    data = checked(apiclient.get_json(f"{API}/gettoken", {"corpid": str(channel.config.get("corpid", "")),
                                                          "corpsecret": channel.secret("secret")}))
    token = str(data.get("access_token") or "")
    if not token:
        raise ApiError("no access_token in the answer")
    return token, int(data.get("expires_in") or 7200)


TOKENS = AccessTokens("wecom_kf", _fetch_token,
                      lambda channel: f"{channel.config.get('corpid', '')}:{channel.secret('secret')}")


def _json_post(channel: Channel, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return checked(TOKENS.call(channel, lambda token: apiclient.post(
        f"{API}/{path}", params={"access_token": token}, content=body,
        headers={"Content-Type": "application/json; charset=utf-8"})))


def _at(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register
class WecomAdapter:
    kind: ClassVar[str] = "wecom_kf"
    live: ClassVar[bool] = False

    # --- settings -------------------------------------------------------------------------------------------

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not CORPID_RE.match(str(config.get("corpid", ""))):
            problems["corpid"] = _("企业 ID（corpid）格式不正确（ww 开头，共 18 位）")
        open_kfid = str(config.get("open_kfid", "") or "")
        if open_kfid and not OPEN_KFID_RE.match(open_kfid):
            problems["open_kfid"] = _("客服账号 ID（open_kfid）格式不正确（wk 开头）")
        return problems

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not str(secrets.get("secret", "")).strip():
            problems["secret"] = _("缺少微信客服的 Secret")
        if not TOKEN_RE.match(str(secrets.get("token", ""))):
            problems["token"] = _("回调令牌（Token）须为 1–32 位英文字母或数字")
        try:
            aes_key(str(secrets.get("encoding_aes_key", "") or ""))
        except ValueError:
            problems["encoding_aes_key"] = _("EncodingAESKey 须为 43 位英文字母或数字")
        return problems

    def crypt(self, channel: Channel) -> MsgCrypt:
        return MsgCrypt(channel.secret("token"), channel.secret("encoding_aes_key"),
                        str(channel.config.get("corpid", "")))

    def serves(self, channel: Channel, open_kfid: str) -> bool:
        only = str(channel.config.get("open_kfid", "") or "")
        return not only or only == open_kfid

    # --- inbound: the callback, then sync_msg -------------------------------------------------------------

    def sync_page(self, channel: Channel, *, cursor: str, token: str, open_kfid: str
                  ) -> tuple[list[dict[str, Any]], str, bool]:
        """One page of kf/sync_msg after `cursor`: (messages, next cursor, whether more follow)."""
        payload: dict[str, Any] = {"cursor": cursor, "limit": SYNC_LIMIT, "voice_format": 0}
        if token:
            payload["token"] = token
        if open_kfid:
            payload["open_kfid"] = open_kfid
        data = _json_post(channel, "kf/sync_msg", payload)
        messages = [m for m in data.get("msg_list") or [] if isinstance(m, dict)]
        return messages, str(data.get("next_cursor") or cursor), bool(data.get("has_more"))

    def failed_send(self, item: dict[str, Any]) -> tuple[str, str] | None:
        """A `msg_send_fail` event as (the failed message's id, why), else None."""
        event = item.get("event") or {}
        if item.get("msgtype") != "event" or event.get("event_type") != "msg_send_fail":
            return None
        return str(event.get("fail_msgid", "")), _("企业微信投递失败（原因代码 %(type)s）") % {
            "type": event.get("fail_type", "")}

    def inbound(self, channel: Channel, item: dict[str, Any], *, fetch_media: bool = True,
                last_try: bool = True) -> InboundMessage | None:
        """A synced message as an inbound message: the customer's messages and the enter_session event; None for
        the rest (what agents sent from the WeCom client, other system events)."""
        try:
            origin = int(item.get("origin") or 0)
        except (TypeError, ValueError):
            return None
        msg_type = str(item.get("msgtype", ""))
        open_kfid = str(item.get("open_kfid", ""))
        meta: dict[str, Any] = {"open_kfid": open_kfid, "msg_type": msg_type}
        if origin == ORIGIN_SYSTEM and msg_type == "event":
            event = item.get("event") or {}
            if event.get("event_type") != "enter_session" or not event.get("external_userid"):
                return None
            meta.update({k: event[k] for k in ("scene", "scene_param") if event.get(k)})
            meta["open_kfid"] = str(event.get("open_kfid") or open_kfid)
            return InboundMessage(
                external_id=str(item.get("msgid", "")), identity=Identity(kind="external",
                                                                          value=str(event["external_userid"])),
                text="", sent_at=_at(item.get("send_time")), kind="event", event="enter_session", meta=meta)
        if origin != ORIGIN_CUSTOMER or not item.get("external_userid") or not item.get("msgid"):
            return None
        body = item.get(msg_type) or {}
        if not isinstance(body, dict):
            body = {}
        text, kind, attachments = "", "text", ()
        if msg_type == "text":
            text = str(body.get("content", ""))
            if body.get("menu_id"):
                meta["menu_id"] = body["menu_id"]
        elif msg_type in MEDIA_KINDS:
            kind = MEDIA_KINDS[msg_type]
            media_id = str(body.get("media_id", ""))
            meta["media_id"] = media_id
            if fetch_media and media_id:
                try:
                    attachments = (self.download(channel, media_id, default_type=DEFAULT_TYPES[msg_type]),)
                except (WxError, ApiError) as exc:
                    if isinstance(exc, ApiError) and not last_try:
                        raise
                    log.warning("wecom %s: media %s not downloaded: %s", channel.code, media_id, exc)
                    meta["media_error"] = str(exc)[:200]
            if not attachments:
                text = {"image": _("[图片，无法下载]"), "voice": _("[语音，无法下载]"),
                        "video": _("[视频，无法下载]")}.get(msg_type, _("[文件，无法下载]"))
        elif msg_type == "location":
            text = _("[位置] %(name)s %(address)s（%(lat)s, %(lng)s）") % {
                "name": body.get("name", ""), "address": body.get("address", ""),
                "lat": body.get("latitude", ""), "lng": body.get("longitude", "")}
        elif msg_type == "link":
            text = " ".join(str(body.get(k, "")) for k in ("title", "url") if body.get(k))
        elif msg_type == "miniprogram":
            text = _("[小程序] %(title)s") % {"title": body.get("title", "")}
        else:
            text = _("[暂不支持的消息类型：%(type)s]") % {"type": msg_type}
        return InboundMessage(
            external_id=str(item["msgid"]), identity=Identity(kind="external", value=str(item["external_userid"])),
            text=text, sent_at=_at(item.get("send_time")), attachments=attachments, kind=kind, meta=meta)

    def download(self, channel: Channel, media_id: str, *, default_type: str) -> InboundAttachment:
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
        filename, content_type = media_filename(headers, media_id, default_type)
        return InboundAttachment(filename=filename, content_type=content_type, content=content)

    # --- outbound ---------------------------------------------------------------------------------------------

    def _upload(self, channel: Channel, attachment: OutboundAttachment, media_type: str) -> str:
        with default_storage.open(attachment.path, "rb") as handle:
            content = handle.read(MEDIA_MAX[media_type] + 1)
        if len(content) > MEDIA_MAX[media_type]:
            raise WxError(40006, f"{attachment.filename} is too large")
        data = checked(TOKENS.call(channel, lambda token: apiclient.post(
            f"{API}/media/upload", params={"access_token": token, "type": media_type},
            files={"media": (attachment.filename, content, attachment.content_type)})))
        return str(data.get("media_id", ""))

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """With kf/send_msg to the customer (external_userid) on the customer-service account the customer
        wrote to (`open_kfid` from the conversation's context): the text, then each image or file."""
        to = message.to.value
        open_kfid = str(message.context.get("open_kfid") or channel.config.get("open_kfid") or "")
        if message.to.kind != "external" or not to:
            return SendResult(False, error=_("会话没有客户的 external_userid，无法通过企业微信回复"), permanent=True)
        if not open_kfid:
            return SendResult(False, error=_("不知道客户联系的是哪个客服账号（open_kfid）"), permanent=True)
        parts = SentParts(self.kind, channel, message.message_id)
        done = parts.done()
        base = {"touser": to, "open_kfid": open_kfid}
        try:
            chunks = [message.text[i:i + TEXT_MAX] for i in range(0, len(message.text), TEXT_MAX)]
            for index, chunk in enumerate(chunks):
                key = f"text{index}"
                if key not in done and chunk.strip():
                    data = _json_post(channel, "kf/send_msg", {**base, "msgtype": "text", "text": {"content": chunk}})
                    parts.mark(key, str(data.get("msgid", "")))
            for index, attachment in enumerate(message.attachments):
                key = f"file{index}"
                if key not in done:
                    media_type = "image" if attachment.content_type in ("image/jpeg", "image/png") else "file"
                    media_id = self._upload(channel, attachment, media_type)
                    data = _json_post(channel, "kf/send_msg",
                                      {**base, "msgtype": media_type, media_type: {"media_id": media_id}})
                    parts.mark(key, str(data.get("msgid", "")))
        except WxError as exc:
            return send_error(exc)
        except ApiError as exc:
            return SendResult(False, error=f"API: {exc}"[:500])
        except OSError as exc:
            return SendResult(False, error=_("附件无法读取：%(error)s") % {"error": exc}, permanent=True)
        sent = [external_id for external_id in parts.done().values() if external_id]
        return SendResult(True, external_id=sent[0] if sent else "")
