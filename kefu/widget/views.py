"""The widget's HTTP side, under /chat/<code>/: the script a host site includes (`widget.js`), the chat page it
frames (`frame`), and the visitor's JSON endpoints (`session`, `upload`, `leave`, `files/<id>`).

The JSON endpoints are public and cross-origin: a page may call them when its Origin is Kefu itself (the frame) or
one of the channel's allowed origins, which get CORS headers. They are authenticated by the visitor token (sent in
the body or the X-Kefu-Visitor header, never a cookie), so they need no CSRF token."""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from kefu.conversations.models import Channel
from kefu.core.errors import ApplicationError, ValidationFailed
from kefu.core.policy import PUBLIC, requires
from kefu.core.ratelimit import client_address, hit
from kefu.widget import inbound, selectors
from kefu.widget.strings import frame_strings, launcher_strings
from kefu.widget.visitors import (
    IDENTITY_SECRET,
    IdentityRefused,
    Visitor,
    frame_ancestors,
    identity_claims,
    new_visitor_id,
    origin_allowed,
    token_for,
    visitor_from_token,
)

log = logging.getLogger(__name__)

LANGUAGES = ("zh-hans", "en")
JSON_MAX = 64 * 1024  # bytes of a JSON request body
CORS_HEADERS = "Content-Type, X-Kefu-Visitor"


def visitor_signed(view: Any) -> Any:
    """Mark a view as answering only the holder of a visitor token (a signed value): the permission matrix
    expects it to refuse everybody else, signed in or not."""
    view.kefu_auth = "signature"
    return view


def language_of(request: HttpRequest, asked: Any = None) -> str:
    """The widget's language: the one the host page asked for (data-lang), else the browser's first of
    Chinese and English, else Chinese."""
    if isinstance(asked, str) and asked.lower() in LANGUAGES:
        return asked.lower()
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-hans"
        if tag.startswith("en"):
            return "en"
    return "zh-hans"


def _error(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": str(message), "details": {"field": field} if field else {}},
                        status=status, json_dumps_params={"ensure_ascii": False})


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def _cors(request: HttpRequest, response: HttpResponse, channel: Channel | None) -> HttpResponse:
    origin = request.headers.get("Origin")
    allowed = channel.config.get("allowed_origins") if channel is not None else None
    if origin and channel is not None and origin_allowed(origin, host=request.get_host(), allowed=allowed):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Headers"] = CORS_HEADERS
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
    patch_vary_headers(response, ["Origin"])
    response["Cache-Control"] = "no-store"
    return response


def visitor_endpoint(view: Callable[..., HttpResponse]) -> Any:
    """The frame of every JSON endpoint: the chat channel (404 when there is none), CORS and its preflight, the
    origin check (403), the rate limit (429), the request's language, and ApplicationError as a JSON 4xx."""

    @wraps(view)
    def wrapper(request: HttpRequest, chat_code: str, *args: Any, **kwargs: Any) -> HttpResponse:
        channel = selectors.chat_channel(chat_code)
        if channel is None:
            return _error(404, "not_found", _("没有这个在线客服渠道"))
        if request.method == "OPTIONS":
            return _cors(request, HttpResponse(status=204), channel)
        if request.method != "POST":
            return _cors(request, _error(405, "method_not_allowed", _("请用 POST 请求")), channel)
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, host=request.get_host(), allowed=channel.config.get("allowed_origins")):
            return _error(403, "origin_refused", _("此网站未获准使用该在线客服"))
        verdict = hit("public.widget", client_address(request))
        if not verdict.allowed:
            response = _error(429, "throttled", _("请求过于频繁，请 %(s)s 秒后再试") % {"s": verdict.retry_after})
            response["Retry-After"] = str(verdict.retry_after)
            return _cors(request, response, channel)
        with translation.override(language_of(request, request.GET.get("lang"))):
            try:
                response = view(request, channel, *args, **kwargs)
            except ApplicationError as exc:
                response = _error(exc.status, exc.code, exc.message, (exc.details or {}).get("field"))
        return _cors(request, response, channel)

    return wrapper


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > JSON_MAX:
        raise ApplicationError(_("请求内容过大"), code="too_large", status=413)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApplicationError(_("请求内容不是有效的 JSON"), code="bad_json") from None
    if not isinstance(data, dict):
        raise ApplicationError(_("请求内容不是有效的 JSON"), code="bad_json")
    return data


def _visitor(channel: Channel, token: Any) -> Visitor:
    visitor = visitor_from_token(token, channel.code)
    if visitor is None:
        raise ApplicationError(_("访客凭证无效或已过期，请刷新页面"), code="bad_token", status=401)
    return visitor


# --- the JSON endpoints -------------------------------------------------------------------------------------


@csrf_exempt
@requires(PUBLIC)
@visitor_endpoint
def session(request: HttpRequest, channel: Channel) -> HttpResponse:
    """Start or continue a visit: `{"token", "identity", "lang"}` → the visitor's token (renewed), their open
    conversation, whether agents are online and the channel in hours, and the pre-chat form's fields."""
    from kefu.widget.bot import bot_available

    data = _body(request)
    previous = visitor_from_token(data.get("token"), channel.code)
    visitor_id = previous.id if previous is not None else new_visitor_id()
    external_id, details = "", {}
    if data.get("identity") not in (None, ""):
        try:
            claims = identity_claims(data["identity"], channel.secret(IDENTITY_SECRET))
        except IdentityRefused as refused:
            message = (_("身份凭证已过期，请刷新页面") if refused.code == "identity_expired"
                       else _("身份凭证无效"))
            return _error(401 if refused.code == "identity_expired" else 400, refused.code, message, "identity")
        external_id = claims.pop("external_id")
        details = claims
    visitor = Visitor(code=channel.code, id=visitor_id, external_id=external_id, details=details)
    token = token_for(visitor)
    now = timezone.now()
    conversation = selectors.visitor_conversation(channel, visitor, at=now)
    is_open = selectors.in_hours(channel, now)
    next_opening = None if is_open else selectors.opens_at(channel, now)
    return _json({
        "token": token,
        "conversation_id": conversation.pk if conversation is not None and conversation.is_open else None,
        "conversation": selectors.conversation_summary(conversation),
        "online": selectors.agents_online(channel, now),
        "open": is_open,
        "opens_at": next_opening.isoformat() if next_opening else None,
        "prechat": [f.as_dict() for f in selectors.prechat_fields(channel)],
        "name": channel.name,
        "identified": bool(external_id),
        "bot": bot_available(channel),
    })


@csrf_exempt
@requires(PUBLIC)
@visitor_signed
@visitor_endpoint
def upload(request: HttpRequest, channel: Channel) -> HttpResponse:
    """A file from the visitor (multipart `file`, `client_id`, optional `text`; header X-Kefu-Visitor) stored as
    their message, idempotent on client_id like a message frame → the same acknowledgement, with the message."""
    visitor = _visitor(channel, request.headers.get("X-Kefu-Visitor"))
    client_id = inbound.check_client_id(request.POST.get("client_id"))
    item = request.FILES.get("file")
    if item is None:
        raise ApplicationError(_("请选择要发送的文件"), details={"field": "file"})
    if item.size is not None and item.size > inbound.upload_limit():
        raise ApplicationError(_("文件不能超过 %(mb)s MB") % {"mb": inbound.upload_limit() // 1048576},
                               code="file_size", details={"field": "file"}, status=413)
    attachment = inbound.checked_file(item.name or "", item.read())
    text = inbound.message_text(request.POST.get("text"), required=False)
    received = inbound.receive(channel=channel, visitor=visitor, client_id=client_id, text=text,
                               files=(attachment,), meta={"page_url": request.POST.get("page_url")})
    token = request.headers.get("X-Kefu-Visitor", "")
    message = received.message
    row = selectors.visitor_row(message, code=channel.code, token=token)
    return _json({"type": "ack", "client_id": client_id, "id": message.pk, "seq": message.seq,
                  "conversation_id": received.conversation.pk, "message": row},
                 status=200 if received.duplicate else 201)


@csrf_exempt
@requires(PUBLIC)
@visitor_signed
@visitor_endpoint
def leave(request: HttpRequest, channel: Channel) -> HttpResponse:
    """A message left while nobody can answer: `{"token", "client_id", "name", "phone", "email", "text"}` (the
    token may come in the X-Kefu-Visitor header instead) → a work order at once; the answer names its number."""
    try:
        data, problem = _body(request), None
    except ApplicationError as exc:
        data, problem = {}, exc
    visitor = _visitor(channel, request.headers.get("X-Kefu-Visitor") or data.get("token"))  # 401 before 400
    if problem is not None:
        raise problem
    client_id = inbound.check_client_id(data.get("client_id"))
    details = inbound.details_from(data)
    if not (details.phone or details.email or visitor.details.get("phone") or visitor.details.get("email")):
        raise ValidationFailed(_("请留下手机号码或电子邮箱，方便我们联系您"), details={"field": "phone"})
    text = inbound.message_text(data.get("text"))
    left = inbound.leave_message(channel=channel, visitor=visitor, client_id=client_id, text=text, details=details,
                                 meta={"page_url": data.get("page_url")})
    return _json({"ticket_number": left.ticket_number, "conversation_id": left.received.conversation.pk,
                  "id": left.received.message.pk, "client_id": client_id},
                 status=200 if left.received.duplicate else 201)


# --- files, the script and the frame ------------------------------------------------------------------------

INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"}


@requires(PUBLIC)
@visitor_signed
@require_GET
def attachment(request: HttpRequest, chat_code: str, attachment_id: int) -> HttpResponse:
    """A file of the visitor's own conversation (`?token=` their visitor token); anybody else's: 404."""
    channel = selectors.chat_channel(chat_code)
    visitor = visitor_from_token(request.GET.get("token"), chat_code) if channel is not None else None
    found = selectors.visitor_attachment(channel, visitor, attachment_id) if channel and visitor else None
    if found is None:
        raise Http404
    try:
        handle = found.file.open("rb")
    except OSError:
        raise Http404 from None
    content_type = found.content_type if found.content_type in set(inbound.accepted_types().values()) else (
        mimetypes.guess_type(found.filename)[0] or "application/octet-stream")
    response = FileResponse(handle, content_type=content_type, filename=found.filename,
                            as_attachment=content_type not in INLINE_TYPES)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response._csp_replace = {"default-src": ["'none'"], "img-src": ["'self'"], "style-src": ["'unsafe-inline'"],  # type: ignore[attr-defined]
                             "sandbox": [""]}
    return response


def _channel_or_404(chat_code: str) -> Channel:
    channel = selectors.chat_channel(chat_code)
    if channel is None:
        raise Http404
    return channel


@requires(PUBLIC)
@require_GET
def widget_script(request: HttpRequest, chat_code: str) -> HttpResponse:
    """The one script a host site includes: it adds the launcher button and the chat frame to the page."""
    channel = _channel_or_404(chat_code)
    script = render_to_string("widget/widget.js", {
        "config": json.dumps({"code": channel.code, "labels": launcher_strings()})})
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    patch_cache_control(response, public=True, max_age=300)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@requires(PUBLIC)
@require_GET
@xframe_options_exempt
def frame(request: HttpRequest, chat_code: str) -> HttpResponse:
    """The chat page inside the host site's frame. Only the channel's allowed origins (and Kefu) may frame it."""
    channel = _channel_or_404(chat_code)
    language = language_of(request, request.GET.get("lang"))
    with translation.override(language):
        config = {
            "code": channel.code, "lang": language, "name": channel.name,
            "maxBytes": inbound.upload_limit(), "types": sorted(inbound.accepted_types()),
            "strings": frame_strings(),
        }
        response = render(request, "widget/frame.html", {
            "channel": channel, "language": language, "config": config, "stars": range(1, 6),
            "prechat": [f.as_dict() for f in selectors.prechat_fields(channel)],
            "accept": ",".join(sorted(inbound.accepted_types()))})
    response["Content-Language"] = language
    response["Cache-Control"] = "no-cache"
    response._csp_replace = {"frame-ancestors": frame_ancestors(channel.config.get("allowed_origins"))}  # type: ignore[attr-defined]
    return response

