"""/readyz: whether this server can serve (database, migrations, Redis, the worker's heartbeat)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from kefu.core.policy import PUBLIC, requires
from kefu.operations.readiness import readiness


@requires(PUBLIC)
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    ready, body = readiness()
    return JsonResponse(body, status=200 if ready else 503)
