"""SMS: replies to a customer's phone through Aliyun SMS (Dysmsapi) or Tencent Cloud SMS, delivery reports and
customers' replies (上行短信) pushed back by the provider over HTTP; a console provider logs instead (development).

Mainland providers send only approved templates with a registered signature: an agent's reply is put into the
one variable of the configured reply template (e.g. Aliyun "您好，${content}", Tencent "您好，{1}").

Channel settings — config: `provider` ("aliyun", "tencent" or "console"), `sign_name` (签名), `reply_template_id`
(Aliyun TemplateCode SMS_…, Tencent TemplateId), `reply_template_param` (Aliyun: the variable's name, default
"content"), `sdk_app_id` (Tencent SmsSdkAppId), `region` (Tencent, default ap-guangzhou). Secrets:
`access_key_id` / `access_key_secret` (Aliyun), `secret_id` / `secret_key` (Tencent), `callback_token` (the
token the push URLs carry, ?token=…: the providers do not sign their pushes).

The request signatures are written here (Aliyun's HMAC-SHA1 over the canonicalised query, Tencent's
TC3-HMAC-SHA256): the providers' SDKs bring their own HTTP stacks, which would bypass Kefu's one transport.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from kefu.conversations.adapters import apiclient
from kefu.conversations.adapters.apiclient import ApiError
from kefu.conversations.adapters.base import Identity, InboundMessage, OutboundMessage, SendResult
from kefu.conversations.adapters.registry import register

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

log = logging.getLogger("kefu.conversations.sms")

PROVIDERS = ("aliyun", "tencent", "console")
BEIJING = ZoneInfo("Asia/Shanghai")  # both providers write report times in Beijing time without a zone
TEXT_MAX = 500


class BadPush(ValueError):
    """A provider's push that is not what its documentation describes."""


@dataclass(frozen=True)
class Report:
    """A delivery report: the provider's id of the sent message, "delivered" or "failed", why, when."""

    external_id: str
    state: str
    error: str = ""
    at: datetime | None = None


def _beijing(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except (TypeError, ValueError):
        return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadPush("the body is not JSON") from None


def _items(body: bytes) -> list[dict[str, Any]]:
    data = _json(body)
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise BadPush("expected a JSON object or an array of objects")
    return items


def phone_identity(value: str) -> str:
    """A phone number as Kefu keeps it (digits, no +86; other countries 00…), or "" if it is not one."""
    from kefu.core.errors import ValidationFailed
    from kefu.customers.normalize import normalize_phone

    try:
        return normalize_phone(value)
    except ValidationFailed:
        return ""


def e164(phone: str) -> str:
    """+8613800138000 from 13800138000; +85261234567 from 0085261234567."""
    digits = re.sub(r"\D", "", phone)
    return "+" + digits[2:] if digits.startswith("00") else "+86" + digits


# --- Aliyun -------------------------------------------------------------------------------------------------------


def percent_encode(value: Any) -> str:
    """RFC 3986 as Aliyun's signature wants it: only A–Z a–z 0–9 - _ . ~ left as they are (space is %20)."""
    return quote(str(value), safe="~")


def aliyun_signature(params: dict[str, Any], secret: str, method: str = "POST") -> str:
    """Aliyun RPC signature (SignatureMethod HMAC-SHA1, SignatureVersion 1.0): HMAC-SHA1 with key
    `secret + "&"` of METHOD & %2F & percent-encoded canonicalised query, base64."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()) if k != "Signature")
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


ALIYUN_PERMANENT = {
    "isv.MOBILE_NUMBER_ILLEGAL": N_("手机号码格式不正确"),
    "isv.MOBILE_COUNT_OVER_LIMIT": N_("手机号码数量超过上限"),
    "isv.BLACK_KEY_CONTROL_LIMIT": N_("回复内容含有禁止发送的词语"),
    "isv.PARAM_LENGTH_LIMIT": N_("回复超过短信模板变量的长度上限"),
    "isv.PARAM_NOT_SUPPORT_URL": N_("短信模板变量不能包含链接"),
    "isv.TEMPLATE_PARAMS_ILLEGAL": N_("回复内容不符合短信模板变量的规范"),
    "isv.DAY_LIMIT_CONTROL": N_("已超过该号码当日的发送上限"),
    "isv.SMS_CONTENT_ILLEGAL": N_("短信内容违规"),
}
ALIYUN_RETRY_AFTER = {"isv.BUSINESS_LIMIT_CONTROL": 600.0, "Throttling.User": 60.0, "isp.SYSTEM_ERROR": 30.0}


class AliyunSms:
    name = "aliyun"
    endpoint = "https://dysmsapi.aliyuncs.com/"
    ack = {"code": 0, "msg": "成功"}
    nack = {"code": 1, "msg": "失败"}

    secret_names = (("access_key_id", "AccessKey ID"), ("access_key_secret", "AccessKey Secret"))

    def check(self, config: dict[str, Any]) -> dict[str, str]:
        problems = {}
        if not re.match(r"^SMS_\d+$", str(config.get("reply_template_id", ""))):
            problems["reply_template_id"] = _("阿里云短信模板编号格式为 SMS_ 加数字")
        return problems

    def send(self, channel: Channel, phone: str, text: str, message_id: int, *, nonce: str = "",
             now: datetime | None = None) -> SendResult:
        config = channel.config
        params = {
            "AccessKeyId": channel.secret("access_key_id"), "Action": "SendSms", "Format": "JSON",
            "Version": "2017-05-25", "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0", "SignatureNonce": nonce or uuid.uuid4().hex,
            "Timestamp": (now or datetime.now(tz=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": phone[2:] if phone.startswith("00") else phone,
            "SignName": str(config.get("sign_name", "")), "TemplateCode": str(config.get("reply_template_id", "")),
            "TemplateParam": json.dumps({str(config.get("reply_template_param") or "content"): text},
                                        ensure_ascii=False),
            "OutId": str(message_id),
        }
        params["Signature"] = aliyun_signature(params, channel.secret("access_key_secret"))
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items()).encode()
        try:
            data = apiclient.post(self.endpoint, content=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        except ApiError as exc:
            return SendResult(False, error=f"API: {exc}"[:500])
        code = str(data.get("Code", ""))
        if code == "OK":
            return SendResult(True, external_id=str(data.get("BizId", "")))
        detail = f"{code} {data.get('Message', '')}".strip()
        if code in ALIYUN_PERMANENT:
            return SendResult(False, error=f"{_(ALIYUN_PERMANENT[code])}（{detail}）"[:500], permanent=True)
        error = _("阿里云短信：%(detail)s") % {"detail": detail}
        return SendResult(False, error=error[:500], retry_after=ALIYUN_RETRY_AFTER.get(code))

    def reports(self, body: bytes) -> list[Report]:
        reports = []
        for item in _items(body):
            biz_id = str(item.get("biz_id") or "")
            if not biz_id:
                raise BadPush("a report without biz_id")
            ok = item.get("success") in (True, "true", "True", 1)
            reports.append(Report(external_id=biz_id, state="delivered" if ok else "failed",
                                  error="" if ok else f"{item.get('err_code', '')} {item.get('err_msg', '')}".strip(),
                                  at=_beijing(item.get("report_time"))))
        return reports

    def replies(self, body: bytes) -> list[InboundMessage]:
        messages = []
        for item in _items(body):
            phone = phone_identity(str(item.get("phone_number", "")))
            if not phone or "content" not in item:
                raise BadPush("an up-link message without phone_number or content")
            sequence = str(item.get("sequence_id") or "")
            text = str(item.get("content", ""))
            key = sequence or hashlib.sha1(f"{phone}:{item.get('send_time')}:{text}".encode()).hexdigest()[:16]  # noqa: S324
            messages.append(InboundMessage(
                external_id=f"aliyun-up:{key}", identity=Identity(kind="phone", value=phone), text=text,
                sent_at=_beijing(item.get("send_time")),
                meta={"sign_name": str(item.get("sign_name", "")), "dest_code": str(item.get("dest_code", ""))}))
        return messages


# --- Tencent Cloud ------------------------------------------------------------------------------------------------


def tc3_authorization(*, secret_id: str, secret_key: str, service: str, host: str, payload: bytes, timestamp: int,
                      content_type: str = "application/json; charset=utf-8") -> str:
    """The Authorization header of Tencent Cloud API 3.0 (TC3-HMAC-SHA256), signing content-type and host, for a
    POST of `payload`."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(("POST", "/", "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
                           hashlib.sha256(payload).hexdigest()))
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(("TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()))

    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing = sign(sign(sign(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
            f"Signature={signature}")


TENCENT_PERMANENT = {
    "InvalidParameterValue.IncorrectPhoneNumber": N_("手机号码格式不正确"),
    "FailedOperation.PhoneNumberInBlacklist": N_("客户已退订短信（号码在黑名单中）"),
    "InvalidParameterValue.TemplateParameterLengthLimit": N_("回复超过短信模板变量的长度上限"),
    "InvalidParameterValue.TemplateParameterFormatError": N_("回复内容不符合短信模板变量的规范"),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": N_("短信模板变量不能包含链接"),
    "FailedOperation.ContainSensitiveWord": N_("回复内容含有敏感词"),
    "LimitExceeded.PhoneNumberDailyLimit": N_("已超过该号码当日的发送上限"),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": N_("已超过该号码当日相同内容的发送上限"),
}
TENCENT_RETRY_AFTER = {"LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
                       "LimitExceeded.PhoneNumberOneHourLimit": 3600.0, "RequestLimitExceeded": 5.0}


class TencentSms:
    name = "tencent"
    host = "sms.tencentcloudapi.com"
    ack = {"result": 0, "errmsg": "OK"}
    nack = {"result": 1, "errmsg": "bad request"}

    secret_names = (("secret_id", "SecretId"), ("secret_key", "SecretKey"))

    def check(self, config: dict[str, Any]) -> dict[str, str]:
        problems = {}
        if not re.match(r"^\d{1,12}$", str(config.get("reply_template_id", ""))):
            problems["reply_template_id"] = _("腾讯云短信模板 ID 为数字")
        if not re.match(r"^\d{10}$", str(config.get("sdk_app_id", ""))):
            problems["sdk_app_id"] = _("腾讯云短信 SdkAppId 为 10 位数字（如 1400006666）")
        return problems

    def send(self, channel: Channel, phone: str, text: str, message_id: int, *, now: datetime | None = None
             ) -> SendResult:
        config = channel.config
        payload = json.dumps({
            "PhoneNumberSet": [e164(phone)], "SmsSdkAppId": str(config.get("sdk_app_id", "")),
            "SignName": str(config.get("sign_name", "")), "TemplateId": str(config.get("reply_template_id", "")),
            "TemplateParamSet": [text], "SessionContext": str(message_id),
        }, ensure_ascii=False).encode()
        timestamp = int((now or datetime.now(tz=UTC)).timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8", "Host": self.host, "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11", "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": str(config.get("region") or "ap-guangzhou"),
            "Authorization": tc3_authorization(secret_id=channel.secret("secret_id"),
                                               secret_key=channel.secret("secret_key"), service="sms",
                                               host=self.host, payload=payload, timestamp=timestamp),
        }
        try:
            data = apiclient.post(f"https://{self.host}/", content=payload, headers=headers)
        except ApiError as exc:
            return SendResult(False, error=f"API: {exc}"[:500])
        answer = data.get("Response") if isinstance(data.get("Response"), dict) else {}
        error = answer.get("Error") if isinstance(answer.get("Error"), dict) else None
        if error is None:
            statuses = answer.get("SendStatusSet") or [{}]
            status = statuses[0] if isinstance(statuses[0], dict) else {}
            if str(status.get("Code", "")).lower() == "ok":
                return SendResult(True, external_id=str(status.get("SerialNo", "")))
            error = {"Code": status.get("Code", "unknown"), "Message": status.get("Message", "")}
        code = str(error.get("Code", ""))
        detail = f"{code} {error.get('Message', '')}".strip()
        if code in TENCENT_PERMANENT:
            return SendResult(False, error=f"{_(TENCENT_PERMANENT[code])}（{detail}）"[:500], permanent=True)
        error = _("腾讯云短信：%(detail)s") % {"detail": detail}
        return SendResult(False, error=error[:500], retry_after=TENCENT_RETRY_AFTER.get(code))

    def reports(self, body: bytes) -> list[Report]:
        reports = []
        for item in _items(body):
            sid = str(item.get("sid") or "")
            if not sid:
                raise BadPush("a report without sid")
            ok = str(item.get("report_status", "")).upper() == "SUCCESS"
            reports.append(Report(
                external_id=sid, state="delivered" if ok else "failed",
                error="" if ok else f"{item.get('errmsg', '')} {item.get('description', '')}".strip(),
                at=_beijing(item.get("user_receive_time"))))
        return reports

    def replies(self, body: bytes) -> list[InboundMessage]:
        messages = []
        for item in _items(body):
            nation = re.sub(r"\D", "", str(item.get("nationcode") or "86"))
            phone = phone_identity(f"+{nation}{item.get('mobile', '')}")
            if not phone or "text" not in item:
                raise BadPush("a reply without mobile or text")
            text = str(item.get("text", ""))
            try:
                sent_at: datetime | None = datetime.fromtimestamp(int(item.get("time") or 0), tz=UTC)
            except (TypeError, ValueError, OverflowError, OSError):
                sent_at = None
            # the push carries no id: the same reply pushed again has the same number, time and text
            key = hashlib.sha1(f"{phone}:{item.get('time')}:{text}".encode()).hexdigest()[:20]  # noqa: S324
            messages.append(InboundMessage(
                external_id=f"tencent-up:{key}", identity=Identity(kind="phone", value=phone), text=text,
                sent_at=sent_at, meta={"sign_name": str(item.get("sign", "")), "extend": str(item.get("extend", ""))}))
        return messages


# --- console (development) ----------------------------------------------------------------------------------------


class ConsoleSms:
    name = "console"
    ack = {"result": 0}
    nack = {"result": 1}
    sent: ClassVar[list[tuple[str, str]]] = []
    secret_names = ()

    def check(self, config: dict[str, Any]) -> dict[str, str]:
        return {}

    def send(self, channel: Channel, phone: str, text: str, message_id: int) -> SendResult:
        log.info("SMS (console) on %s to %s: %s", channel.code, phone, text)
        ConsoleSms.sent = [*ConsoleSms.sent[-99:], (phone, text)]
        return SendResult(True, external_id=f"console-{message_id}")

    def reports(self, body: bytes) -> list[Report]:
        return []

    def replies(self, body: bytes) -> list[InboundMessage]:
        return []


class Provider(Protocol):
    name: str
    ack: dict[str, Any]
    nack: dict[str, Any]
    secret_names: tuple[tuple[str, str], ...]

    def check(self, config: dict[str, Any]) -> dict[str, str]: ...
    def send(self, channel: Channel, phone: str, text: str, message_id: int) -> SendResult: ...
    def reports(self, body: bytes) -> list[Report]: ...
    def replies(self, body: bytes) -> list[InboundMessage]: ...


_PROVIDERS: dict[str, Provider] = {"aliyun": AliyunSms(), "tencent": TencentSms(), "console": ConsoleSms()}


def provider_of(channel: Channel) -> Provider:
    return _PROVIDERS[str(channel.config.get("provider", ""))]


@register
class SmsAdapter:
    kind: ClassVar[str] = "sms"
    live: ClassVar[bool] = False

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        provider = str(config.get("provider", ""))
        if provider not in _PROVIDERS:
            return {"provider": _("短信服务商须为 aliyun、tencent 或 console")}
        problems: dict[str, str] = {}
        if provider != "console" and not 2 <= len(str(config.get("sign_name", "")).strip()) <= 20:
            problems["sign_name"] = _("缺少短信签名（2–20 个字）")
        problems.update(_PROVIDERS[provider].check(config))
        return problems

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
        provider = _PROVIDERS.get(str(config.get("provider", "")))
        if provider is None or provider.name == "console":
            return {}
        problems = {key: _("缺少 %(name)s") % {"name": label}
                    for key, label in provider.secret_names if not str(secrets.get(key, "")).strip()}
        if len(str(secrets.get("callback_token", ""))) < 16:
            problems["callback_token"] = _("回调令牌至少 16 个字符（写在回执和上行推送地址的 token 参数中）")
        return problems

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """The reply text in the provider's reply template, to the customer's phone."""
        if message.to.kind != "phone" or not message.to.value:
            return SendResult(False, error=_("会话没有客户的手机号，无法发送短信"), permanent=True)
        if message.attachments:
            return SendResult(False, error=_("短信不能发送附件"), permanent=True)
        text = " ".join(message.text.split())
        if not text:
            return SendResult(False, error=_("短信内容不能为空"), permanent=True)
        if len(text) > TEXT_MAX:
            return SendResult(False, error=_("短信回复不能超过 %(n)s 字") % {"n": TEXT_MAX}, permanent=True)
        try:
            provider = provider_of(channel)
        except KeyError:
            return SendResult(False, error=_("渠道没有配置短信服务商"), permanent=True)
        return provider.send(channel, message.to.value, text, message.message_id)
