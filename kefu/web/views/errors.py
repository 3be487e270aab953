"""Django's error handlers: a body over the size limit is answered 413 with a page that says so (or, under
/api/, in the API's error shape), never Django's bare "Bad Request"."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views import defaults

from kefu.web.views.common import error_page


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: Django sends every SuspiciousOperation here, RequestDataTooBig among them (raised while
    a middleware or a view reads a form body over DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    if isinstance(exception, RequestDataTooBig):
        if request.path.startswith("/api/"):
            from kefu.apiutils.errors import handle_too_big

            return handle_too_big(request, exception)
        limit_mb = round(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024, 1)
        return error_page(
            request, title=_("提交的内容过大"), status=413,
            message=_("这次提交超过了 %(mb)s MB 的上限，没有保存任何内容。") % {"mb": limit_mb},
            hint=_("请缩短文字后重试；文件请用附件上传（每个附件另有大小上限）。"))
    return defaults.bad_request(request, exception)
