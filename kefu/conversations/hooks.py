"""The URLs WeChat, WeCom and the SMS providers push to (/hooks/…): public, authenticated by the platform's
signature (or, for SMS providers, which sign nothing, a token in the URL). Each answers within WeChat's 5 seconds:
only what is quick happens here (check, decrypt, parse, store a text message); downloads and WeCom's pulls go
to the worker. A bad signature is 401, a message for another account 403, malformed XML 400, never a 500."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kefu.conversations import pushes
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.adapters.sms import BadPush, provider_of
from kefu.conversations.adapters.weixin import (
    BadXml,
    CryptoError,
    parse_xml,
    signature,
    signature_matches,
    timestamp_fresh,
)
from kefu.conversations.choices import ChannelKind
from kefu.conversations.models import Channel
from kefu.conversations.services import message_receive
from kefu.core.errors import ApplicationError
from kefu.core.policy import PUBLIC, requires
from kefu.core.ratelimit import rate_limited

log = logging.getLogger("kefu.conversations.hooks")

SUCCESS = "success"  # what WeChat and WeCom expect when there is no passive reply


def signed(view: Any) -> Any:
    """Mark a hook as authenticated by the platform's signature (the permission matrix expects refusals)."""
    view.kefu_auth = "signature"
    return view


def _plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _channel(code: str, kind: str) -> Channel | None:
    return Channel.objects.filter(code=code, kind=kind, is_active=True).first()


def _refuse_signature() -> HttpResponse:
    return _plain(_("签名错误"), 401)


def _refuse_stale() -> HttpResponse:
    return _plain(_("时间戳超出允许范围"), 401)


def _enqueue(task: Any, *args: Any) -> None:
    transaction.on_commit(lambda: task(*args))


# --- WeChat official account ------------------------------------------------------------------------------------


@csrf_exempt
@signed
@requires(PUBLIC)
@require_http_methods(["GET", "POST"])
@rate_limited("public.webhook")
def wechat_hook(request: HttpRequest, code: str) -> HttpResponse:
    """GET: WeChat checking the URL (echostr back). POST: a message or an event."""
    channel = _channel(code, ChannelKind.WECHAT_OA)
    if channel is None:
        return _plain(_("没有这个渠道"), 404)
    adapter: Any = adapter_for(ChannelKind.WECHAT_OA)
    query = request.GET
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not signature_matches(signature(channel.secret("token"), timestamp, nonce), query.get("signature", "")):
        return _refuse_signature()
    if not timestamp_fresh(timestamp):
        return _refuse_stale()
    if request.method == "GET":
        return _plain(query.get("echostr", ""))
    try:
        crypt = adapter.crypt(channel)
    except ValueError:
        log.error("wechat %s: the channel's EncodingAESKey is not valid", channel.code)
        return _plain(_("渠道配置不完整"), 503)
    try:
        outer = parse_xml(request.body)
        if crypt is not None:
            # with an AES key only encrypted pushes are taken: the plain signature does not cover the body
            encrypt = outer.get("Encrypt", "")
            if query.get("encrypt_type") != "aes" or not encrypt:
                return _plain(_("本渠道只接受安全模式（加密）的消息"), 403)
            if not signature_matches(crypt.signature(timestamp, nonce, encrypt), query.get("msg_signature", "")):
                return _refuse_signature()
            fields = parse_xml(crypt.decrypt(encrypt))
        elif query.get("encrypt_type") == "aes":
            return _plain(_("渠道没有配置 EncodingAESKey，无法解密"), 400)
        else:
            fields = outer
    except BadXml:
        return _plain(_("XML 格式错误"), 400)
    except CryptoError:
        return _plain(_("消息无法解密或不属于本公众号"), 403)
    original_id = str(channel.config.get("original_id", "") or "")
    if original_id and fields.get("ToUserName") != original_id:
        return _plain(_("消息不属于本公众号"), 403)
    if not adapter.relevant(fields):
        return _plain(SUCCESS)
    if adapter.needs_media(fields):
        from kefu.conversations.tasks import wechat_receive_task

        _enqueue(wechat_receive_task, channel.pk, fields)
        return _plain(SUCCESS)
    try:
        message_receive(channel=channel, inbound=adapter.inbound(channel, fields, fetch_media=False))
    except ApplicationError as exc:  # answered all the same: WeChat would only push it again
        log.warning("wechat %s: push %s not stored: %s", channel.code, adapter.external_id(fields), exc)
    return _plain(SUCCESS)


# --- WeCom customer service -------------------------------------------------------------------------------------


@csrf_exempt
@signed
@requires(PUBLIC)
@require_http_methods(["GET", "POST"])
@rate_limited("public.webhook")
def wecom_hook(request: HttpRequest, code: str) -> HttpResponse:
    """GET: WeCom checking the URL (the decrypted echostr back). POST: "there is something new" with a token for
    kf/sync_msg, which the worker calls."""
    channel = _channel(code, ChannelKind.WECOM_KF)
    if channel is None:
        return _plain(_("没有这个渠道"), 404)
    adapter: Any = adapter_for(ChannelKind.WECOM_KF)
    try:
        crypt = adapter.crypt(channel)
    except ValueError:
        log.error("wecom %s: the channel's EncodingAESKey is not valid", channel.code)
        return _plain(_("渠道配置不完整"), 503)
    query = request.GET
    timestamp, nonce, given = query.get("timestamp", ""), query.get("nonce", ""), query.get("msg_signature", "")
    try:
        if request.method == "GET":
            echostr = query.get("echostr", "").replace(" ", "+")  # a "+" sent unencoded arrives as a space
            if not echostr or not signature_matches(crypt.signature(timestamp, nonce, echostr), given):
                return _refuse_signature()
            if not timestamp_fresh(timestamp):
                return _refuse_stale()
            return _plain(crypt.decrypt(echostr).decode("utf-8", "replace"))
        encrypt = parse_xml(request.body).get("Encrypt", "")
        if not encrypt or not signature_matches(crypt.signature(timestamp, nonce, encrypt), given):
            return _refuse_signature()
        if not timestamp_fresh(timestamp):
            return _refuse_stale()
        fields = parse_xml(crypt.decrypt(encrypt))
    except BadXml:
        return _plain(_("XML 格式错误"), 400)
    except CryptoError:
        return _plain(_("消息无法解密或不属于本企业"), 403)
    if fields.get("MsgType") == "event" and fields.get("Event") == "kf_msg_or_event":
        open_kfid = fields.get("OpenKfId", "")
        if adapter.serves(channel, open_kfid):
            from kefu.conversations.tasks import wecom_sync_task

            _enqueue(wecom_sync_task, channel.pk, fields.get("Token", ""), open_kfid)
    return _plain(SUCCESS)


# --- SMS ------------------------------------------------------------------------------------------------------------


def _sms_channel(request: HttpRequest, code: str) -> tuple[Channel | None, HttpResponse | None]:
    channel = _channel(code, ChannelKind.SMS)
    if channel is None:
        return None, _plain(_("没有这个渠道"), 404)
    expected = channel.secret("callback_token")
    given = request.GET.get("token", "")
    if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
        return None, _plain(_("回调令牌错误"), 401)
    try:
        provider_of(channel)
    except KeyError:
        return None, _plain(_("渠道没有配置短信服务商"), 503)
    return channel, None


@csrf_exempt
@signed
@requires(PUBLIC)
@require_http_methods(["POST"])
@rate_limited("public.webhook")
def sms_report_hook(request: HttpRequest, code: str) -> HttpResponse:
    """Delivery reports (Aliyun SmsReport, Tencent status callback)."""
    channel, refused = _sms_channel(request, code)
    if channel is None:
        return refused  # type: ignore[return-value]
    provider = provider_of(channel)
    try:
        reports = provider.reports(request.body)
    except BadPush as exc:
        return JsonResponse({**provider.nack, "detail": str(exc)}, status=400)
    pushes.sms_reports(channel=channel, reports=reports)
    return JsonResponse(provider.ack)


@csrf_exempt
@signed
@requires(PUBLIC)
@require_http_methods(["POST"])
@rate_limited("public.webhook")
def sms_inbound_hook(request: HttpRequest, code: str) -> HttpResponse:
    """Customers' replies (Aliyun SmsUp, Tencent reply callback)."""
    channel, refused = _sms_channel(request, code)
    if channel is None:
        return refused  # type: ignore[return-value]
    provider = provider_of(channel)
    try:
        messages = provider.replies(request.body)
    except BadPush as exc:
        return JsonResponse({**provider.nack, "detail": str(exc)}, status=400)
    try:
        pushes.sms_replies(channel=channel, messages=messages)
    except ApplicationError as exc:
        return JsonResponse({**provider.nack, "detail": exc.message}, status=400)
    return JsonResponse(provider.ack)
