"""The REST API under /api/v1 (Django Ninja). Routers live in each app's api module; plumbing in apiutils.

KefuAPI adds what Ninja leaves to each project: the per-operation right (checked right after authentication),
the one error shape for 404/405 too, and the error responses and rights written into the OpenAPI document.
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from django.utils.translation import gettext as _
from ninja import NinjaAPI

from kefu.apiutils import errors
from kefu.apiutils.auth import check_requirement, session_auth, token_auth
from kefu.apiutils.scopes import check_scope, scope_of

API_DESCRIPTION = """
Kefu's REST API for integrations and for the web UI's own calls.

* **Authentication** — `Authorization: Bearer kefu_…` with a personal API token (create it on your profile
  page; it is shown once), or the web session (unsafe methods need the `X-CSRFToken` header).
* **Token scopes** — a token does only what its scopes allow (`read`, `tickets`, `customers`, `admin`; each
  operation's is listed as `x-kefu-scope`), and only what its owner's role allows; tokens expire.
* **Throttling** — too many unknown tokens from one address, or a rate limit reached: 429 with `Retry-After`.
* **Errors** — every 4xx/5xx answer is `{"code": "...", "message": "...", "details": {...}}`.
* **Pagination** — work orders: `?limit=&cursor=` (keyset; follow `next`); other lists: `?page=&page_size=`.
* **Idempotency** — send `Idempotency-Key: <unique string>` on creates; a retry with the same key and body
  replays the first answer (`Idempotent-Replayed: true`).
* **Concurrency** — updates carry the `version` you read; a stale one gets 409 with `details.current`.

Each operation's required right is listed as `x-kefu-action`. See docs/api.md for examples.
"""

# Error answers documented on every operation (besides its success answer).
_COMMON_ERRORS = {
    "401": "Not authenticated: missing, invalid, expired or revoked token.",
    "403": "Authenticated, but the role lacks the right (`x-kefu-action`), the token the scope (`x-kefu-scope`), "
           "or the CSRF check failed.",
    "429": "Too many unknown tokens from this address (or a rate limit): wait `Retry-After` seconds.",
    "422": "Invalid input: `details.fields` lists each field with its message.",
    "500": "Unexpected server error (logged); the message is generic.",
}
_WRITE_ERRORS = {
    "400": "Malformed JSON body, or input the domain refuses (`details.field` names the field).",
    "409": "Conflict: stale `version` (current state in `details.current`), or a refused lifecycle move.",
}
_OBJECT_ERRORS = {"404": "The object does not exist or is not visible to you."}


class KefuAPI(NinjaAPI):
    def _get_bound_routers(self) -> Any:
        first_time = self._bound_routers_cache is None
        bound = super()._get_bound_routers()
        if first_time:
            for bound_router in bound:
                for path_view in bound_router.path_operations.values():
                    for operation in path_view.operations:
                        _guard(operation)
        return bound

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_405(pattern.callback)
        # anything else under /api/v1/ is a JSON 404, not the HTML page of the web UI
        urls.append(re_path(r"^.*$", api_not_found, name="api-not-found"))
        return urls

    def get_openapi_operation_id(self, operation: Any) -> str:
        return str(operation.view_func.__name__)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = errors.ErrorOut.model_json_schema()
        components["Error"]["description"] = "The one error shape of the API."
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for path, methods in schema["paths"].items():
            for method, operation in methods.items():
                documented = dict(_COMMON_ERRORS)
                if method in ("post", "put", "patch", "delete"):
                    documented.update(_WRITE_ERRORS)
                if "{" in path:
                    documented.update(_OBJECT_ERRORS)
                responses = operation.setdefault("responses", {})
                for status, text in documented.items():
                    responses.setdefault(status, {"description": text, **ref})
        return schema


def _guard(operation: Any) -> None:
    """Check the declared right right after authentication; publish it in the OpenAPI document."""
    requirement = getattr(operation.view_func, "kefu_action", None)
    operation_id = str(operation.view_func.__name__)
    scope = scope_of(operation_id)
    operation.openapi_extra = {
        **(operation.openapi_extra or {}),
        "x-kefu-action": str(requirement) if requirement else None,
        "x-kefu-scope": str(scope) if scope else None,
    }
    authenticate = operation._run_checks

    def run_checks(request: HttpRequest) -> HttpResponse | None:
        refused = authenticate(request)
        if refused is not None:
            return refused  # type: ignore[no-any-return]
        try:
            check_requirement(getattr(request, "auth", None), requirement)
            check_scope(request, operation_id)  # a token's scope (kefu/apiutils/scopes.py)
        except Exception as exc:
            return operation.api.on_exception(request, exc)  # type: ignore[no-any-return]
        return None

    operation._run_checks = run_checks


def _json_405(view: Any) -> Any:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            replaced = errors.error_response(
                405,
                "method_not_allowed",
                _("不支持 %(method)s 方法") % {"method": request.method},
                {"allowed": [m.strip() for m in allowed.split(",")]},
            )
            replaced["Allow"] = allowed
            return replaced
        return response

    return wrapper


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return errors.error_response(404, "not_found", _("没有这个接口：%(path)s") % {"path": request.path})


api_not_found.csrf_exempt = True  # type: ignore[attr-defined]

api = KefuAPI(
    title="Kefu API",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    auth=[token_auth, session_auth],
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)

api.add_router("/customers", "kefu.customers.api.router", tags=["customers"])
api.add_router("/tickets", "kefu.tickets.api.router", tags=["tickets"])
api.add_router("/", "kefu.accounts.api.router", tags=["directory"])
api.add_router("/webhooks", "kefu.integrations.api.router", tags=["webhooks"])
api.add_router("/notifications", "kefu.notifications.api.router", tags=["notifications"])
api.add_router("/admin", "kefu.administration.api.router", tags=["administration"])
api.add_router("/security", "kefu.identity.api.router", tags=["security"])
api.add_router("/privacy", "kefu.privacy.api.router", tags=["privacy"])
api.add_router("/", "kefu.conversations.api.router", tags=["conversations"])
api.add_router("/", "kefu.telephony.api.router", tags=["telephony"])
api.add_router("/", "kefu.routing.api.router", tags=["routing"])
api.add_router("/", "kefu.routing.api_queues.router", tags=["routing"])
api.add_router("/", "kefu.knowledge.api.router", tags=["knowledge"])
