"""Top-level URLs: the web UI, the REST API under /api/v1, the admin, the liveness and readiness checks."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache

from kefu.api import api
from kefu.core.policy import PUBLIC, requires
from kefu.operations.views import readyz
from kefu.portal import views as portal_views


@requires(PUBLIC)
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    # Liveness only: the process answers. What it depends on (database, Redis, the worker) is /readyz's, so a
    # database outage does not make a supervisor restart every healthy server.
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/", api.urls),
    path("django-admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/webhooks/", include("kefu.integrations.urls")),
    path("hooks/", include("kefu.conversations.hook_urls")),
    path("chat/", include("kefu.widget.urls")),
    path("help/", include("kefu.portal.urls")),
    path("robots.txt", portal_views.robots, name="robots"),
    path("", include("kefu.notifications.urls")),
    path("", include("kefu.identity.urls")),
    path("", include("kefu.privacy.urls")),
    path("", include("kefu.administration.urls")),
    path("", include("kefu.web.urls")),
]

# A body over the size limit (RequestDataTooBig) gets a 413 page that says so; other 400s stay Django's.
handler400 = "kefu.web.views.errors.bad_request"
