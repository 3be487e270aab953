"""One error shape for the whole API: `{"code", "message", "details"}`, whatever went wrong."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kefu.core.errors import ApplicationError

logger = logging.getLogger("kefu.api")


class ErrorOut(Schema):
    """Every 4xx/5xx answer of the API has this shape."""

    code: str
    message: str
    details: dict[str, Any]


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": str(message), "details": details or {}},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


# Names of the schema parameters of our operations: Ninja puts them in front of the field's location.
_PARAM_NAMES = {"payload", "filters", "paging", "query"}


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ninja/pydantic errors as [{field, location, message, type}], the field as a dotted path."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc else ""
        parts = loc[1:]
        if len(parts) > 1 and parts[0] in _PARAM_NAMES:
            parts = parts[1:]
        if location == "query":
            while len(parts) > 1 and parts[-1].isdigit():  # ?status=a&status=b: the parameter, not its index
                parts = parts[:-1]
        out.append(
            {
                "field": ".".join(parts) or location,
                "location": location,
                "message": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return out


def handle_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = _field_errors(exc.errors)
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return error_response(422, "invalid", _("输入有误：%(fields)s") % {"fields": names}, {"fields": fields})


def handle_application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # kefu.core.ratelimit.Throttled: 429 says when to try again
        response["Retry-After"] = str(retry_after)
    return response


def handle_authentication(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = error_response(
        401, "unauthenticated", _("未登录或令牌无效：请提供有效的 Authorization: Bearer 令牌")
    )
    response["WWW-Authenticate"] = 'Bearer realm="kefu"'
    return response


def handle_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, "malformed_json", _("请求体不是合法的 JSON"))
    codes = {
        400: "bad_request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        429: "throttled",
    }
    return error_response(exc.status_code, codes.get(exc.status_code, "error"), str(exc))


def handle_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, "not_found", _("资源不存在"))


def handle_forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(403, "forbidden", _("您没有权限执行此操作"))


def handle_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(413, "payload_too_large",
                          _("请求内容过大（上限 %(mb)s MB）；文件请用上传接口") % {"mb": round(limit / 1024 / 1024, 1)},
                          {"max_bytes": limit})


def handle_too_many_fields(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(400, "too_many_fields", _("请求中的字段太多"))


def handle_malformed_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(400, "malformed_body",
                          _("请求内容无法解析：multipart/form-data 须带 boundary，且各部分完整"))


def handle_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path)
    return error_response(500, "server_error", _("服务器内部错误，请稍后重试；问题已记录"))


def install(api: NinjaAPI) -> None:
    api.add_exception_handler(ValidationError, handle_validation)
    api.add_exception_handler(ApplicationError, handle_application_error)
    api.add_exception_handler(AuthenticationError, handle_authentication)
    api.add_exception_handler(HttpError, handle_http_error)
    api.add_exception_handler(Http404, handle_not_found)
    api.add_exception_handler(ObjectDoesNotExist, handle_not_found)
    api.add_exception_handler(DjangoPermissionDenied, handle_forbidden)
    api.add_exception_handler(RequestDataTooBig, handle_too_big)
    api.add_exception_handler(TooManyFieldsSent, handle_too_many_fields)
    api.add_exception_handler(MultiPartParserError, handle_malformed_body)
    api.add_exception_handler(Exception, handle_unexpected)
