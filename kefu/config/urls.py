"""Top-level URLs: the web UI, the REST API under /api/v1, the admin, health check."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from kefu.api import api
from kefu.core.policy import PUBLIC, requires


@requires(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("django-admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/webhooks/", include("kefu.integrations.urls")),
    path("", include("kefu.notifications.urls")),
    path("", include("kefu.identity.urls")),
    path("", include("kefu.privacy.urls")),
    path("", include("kefu.administration.urls")),
    path("", include("kefu.web.urls")),
]

# A body over the size limit (RequestDataTooBig) gets a 413 page that says so; other 400s stay Django's.
handler400 = "kefu.web.views.errors.bad_request"
