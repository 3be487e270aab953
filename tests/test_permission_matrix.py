"""The permission matrix, GENERATED: every API operation (from the OpenAPI document) and every web page
(from the URL resolver) is walked by every persona and by an anonymous visitor. Nothing lists routes by hand.

The expected answer comes from `kefu.core.policy`: each view declares its requirement (`requires(...)`, read
with `declared_requirement`; API operations publish theirs as `x-kefu-action`) and
`permits(user, requirement, obj)` decides, with obj the work order / dispatch / customer named by the path.
A route without a declaration fails.

* anonymous: API 401, web redirect to the login page (PUBLIC routes excepted);
* a role without the right: 403; with the right but the object out of scope: 403 or 404;
* allowed: a GET answers 2xx (or a redirect that is not to the login page); a write is accepted by the
  permission layer (never 401/403/404 — a business refusal such as 409 is fine);
* never a 5xx.

Each persona's request runs in a savepoint that is rolled back, so every persona sees the same world.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from kefu import conftest as personas
from kefu.apiutils.testing import PERSONAS, ApiClient, World, scope_object
from kefu.core.policy import Access, declared_requirement, has_right, permits, role_of

# The persona fixtures of kefu/conftest.py, made visible to this directory (outside the kefu package).
admin_user = personas.admin_user
agent = personas.agent
customer = personas.customer
department_user = personas.department_user
manager = personas.manager
other_agent = personas.other_agent
other_team = personas.other_team
qa = personas.qa
repair_department = personas.repair_department
service_center = personas.service_center
shift_lead = personas.shift_lead
team = personas.team
team_lead = personas.team_lead

TICKET_VARIANTS = ("team_ticket", "other_team_ticket", "dispatched_ticket")
SKIPPED_NAMESPACES = {
    "api": "API operations are walked from the OpenAPI document below",
    "admin": "Django's admin has its own staff check, walked in test_django_admin_is_for_staff_only",
}


# --- enumeration --------------------------------------------------------------------------------------------


def _pattern_params(pattern: Any) -> list[str]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters is not None:
        return list(converters)
    return list(pattern.pattern.regex.groupindex)


def web_routes() -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []

    def walk(patterns: list[Any], namespace: str, params: list[str]) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or ""
                if ns in SKIPPED_NAMESPACES:
                    continue
                walk(
                    p.url_patterns,
                    f"{namespace}:{ns}".strip(":") if ns else namespace,
                    params + _pattern_params(p),
                )
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace and p.name else p.name
                routes.append(
                    {
                        "name": name,
                        "params": params + _pattern_params(p),
                        "callback": p.callback,
                        "pattern": str(p.pattern),
                    }
                )

    walk(get_resolver().url_patterns, "", [])
    return routes


def api_operations() -> list[dict[str, Any]]:
    from kefu.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    ops = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            body_ref = (
                op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            ops.append(
                {
                    "path": path,
                    "method": method,
                    "id": op["operationId"],
                    "params": params,
                    "action": op.get("x-kefu-action"),
                    # authenticated by a signature over the body, not by a token or a session
                    "signed": op.get("x-kefu-auth") == "signature",
                    "body": body_ref,
                    "components": schema["components"],
                }
            )
    return ops


def _variants(params: list[str]) -> tuple[str | None, ...]:
    return TICKET_VARIANTS if "ticket_id" in params and "dispatch_id" not in params else (None,)


WEB = web_routes()
API = api_operations()
WEB_CASES = [
    pytest.param(r, v, id=f"{r['name'] or r['pattern']}-{v or 'plain'}")
    for r in WEB
    for v in _variants(r["params"])
]
API_CASES = [
    pytest.param(o, v, id=f"{o['method']} {o['path']}-{v or 'plain'}")
    for o in API
    for v in _variants(o["params"])
]


# --- the world and the oracle -------------------------------------------------------------------------------


@pytest.fixture
def world(request: Any, customer: Any, team: Any, repair_department: Any) -> World:
    from kefu.operations.services import heartbeat_record

    heartbeat_record()  # a running worker: /readyz answers 200 to everyone (its failures: kefu/operations/tests)
    people = {name: request.getfixturevalue(name) for name in PERSONAS}
    return World(people=people, customer=customer, team=team, repair_department=repair_department)


def expectation(user: Any, requirement: Any, obj: Any) -> str:
    """ "anonymous", "allowed", "no_right" (403) or "out_of_scope" (403/404)."""
    if requirement == Access.PUBLIC:
        return "allowed"
    if role_of(user) is None:
        return "anonymous"
    if permits(user, requirement, obj):
        return "allowed"
    if requirement != Access.AUTHENTICATED and not has_right(user, requirement):
        return "no_right"
    return "out_of_scope"


def _pks(values: dict[str, Any], world: World, user: Any) -> dict[str, Any]:
    out = {}
    for name, obj in values.items():
        if obj is None:
            owned = world.owned(name, user) if user is not None else None
            out[name] = getattr(owned, "pk", owned) if owned is not None else 999_999
        elif isinstance(obj, str):
            out[name] = obj
        else:
            out[name] = obj.pk
    return out


def _check(status: int, location: str, kind: str, *, method: str, api: bool) -> str | None:
    """None if the answer fits the expectation, else what was wrong."""
    if status >= 500:
        return f"server error {status}"
    login = reverse(settings.LOGIN_URL)
    if kind == "anonymous":
        if api:
            return None if status == 401 else f"anonymous got {status}, expected 401"
        return (
            None if status in (301, 302) and login in location else f"anonymous got {status} → {location!r}"
        )
    if kind == "no_right":
        return None if status == 403 else f"role without the right got {status}, expected 403"
    if kind == "out_of_scope":
        return None if status in (403, 404) else f"out-of-scope object got {status}, expected 403/404"
    if status in (401, 403, 404):
        return f"allowed but got {status}"
    if method == "get" and not (200 <= status < 400):
        return f"allowed GET got {status}"
    if method == "get" and 300 <= status < 400 and login in location:
        return "allowed but redirected to the login page"
    return None


# --- the API ------------------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        non_null = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _resolve(non_null[0], components) if non_null else schema
    return schema


def valid_body(op: dict[str, Any], world: World, scope: Any) -> dict[str, Any] | None:
    """A body generated from the operation's schema: its required fields with plausible values."""
    if not op["body"]:
        return None
    from kefu.tickets.lifecycle import allowed_next

    schema = _resolve(op["body"], op["components"])
    ids = {
        "department_id": world.repair_department.pk,
        "assignee_id": world.people["agent"].pk,
        "customer_id": world.customer.pk,
    }
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = _resolve(schema["properties"][name], op["components"])
        if name == "version":
            body[name] = getattr(scope, "version", 1)
        elif name in ids:
            body[name] = ids[name]
        elif name == "to" and scope is not None and hasattr(scope, "status"):
            following = allowed_next(scope.status)
            body[name] = following[0].value if following else prop["enum"][0]
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        elif prop.get("type") == "integer":
            body[name] = max(1, prop.get("minimum", 1))
        elif prop.get("type") == "boolean":
            body[name] = False
        elif prop.get("type") == "array":
            body[name] = []
        elif prop.get("format") == "date-time":
            body[name] = (timezone.now() + timedelta(days=1)).isoformat()
        else:
            body[name] = "权限矩阵测试"
    return body


def test_every_api_operation_declares_its_right() -> None:
    undeclared = [f"{o['method'].upper()} {o['path']}" for o in API if not o["action"]]
    assert API, "no API operations found"
    assert not undeclared, f"operations without @requires(...): {undeclared}"


@pytest.mark.django_db
@pytest.mark.parametrize(("op", "ticket_key"), API_CASES)
def test_api_matrix(op: dict[str, Any], ticket_key: str | None, world: World) -> None:
    assert op["action"], "undeclared operation"
    requirement = (
        Access(op["action"]) if op["action"] in Access.__members__.values() else op["action"]
    )
    values = world.objects_for(op["params"], ticket_key)
    scope = scope_object(values)
    failures = []
    for persona in (*PERSONAS, None):
        user = world.people[persona] if persona else None
        with transaction.atomic():
            client = ApiClient(world.tokens[persona] if persona else None)  # before _pks: it owns a token
            pks = _pks(values, world, user)
            path = op["path"].format(**pks)
            response = client.request(op["method"], path, valid_body(op, world, scope))
            kind = expectation(user, requirement, scope)
            if op["signed"]:  # nobody's token or role opens it: an unsigned request is refused alike
                problem = None if response.status_code == 401 else f"unsigned request got {response.status_code}"
            else:
                problem = _check(
                    response.status_code, response.get("Location", ""), kind, method=op["method"], api=True
                )
            if problem:
                failures.append(f"{persona or 'anonymous'} ({kind}): {problem} — {response.content[:200]!r}")
            transaction.set_rollback(True)
    assert not failures, f"{op['method'].upper()} {op['path']} [{ticket_key}]:\n" + "\n".join(failures)


# --- the web pages ------------------------------------------------------------------------------------------


def test_every_web_page_declares_its_requirement() -> None:
    undeclared = [r["name"] or r["pattern"] for r in WEB if declared_requirement(r["callback"]) is None]
    assert WEB, "no web routes found"
    assert not undeclared, f"views without @requires(...) / PUBLIC: {undeclared}"


def test_every_web_route_is_named() -> None:
    assert not [r["pattern"] for r in WEB if not r["name"]], "name every URL so the matrix can reverse it"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "ticket_key"), WEB_CASES)
def test_web_matrix(route: dict[str, Any], ticket_key: str | None, world: World) -> None:
    requirement = declared_requirement(route["callback"])
    assert requirement is not None, f"{route['name']} declares no requirement"
    values = world.objects_for(route["params"], ticket_key)
    scope = scope_object(values)
    failures = []
    for persona in (*PERSONAS, None):
        user = world.people[persona] if persona else None
        with transaction.atomic():
            url = reverse(route["name"], kwargs=_pks(values, world, user))
            client = Client()
            if user is not None:
                client.force_login(user)
            method = "get"
            response = client.get(url)
            if response.status_code == 405:
                method = "post"
                response = client.post(url, {})
            kind = expectation(user, requirement, scope)
            if getattr(route["callback"], "kefu_auth", "") == "signature":  # a platform's push URL (/hooks/…)
                refused = response.status_code in (401, 403, 404)
                problem = None if refused else f"unsigned request got {response.status_code}"
            else:
                problem = _check(
                    response.status_code, response.get("Location", ""), kind, method=method, api=False
                )
            if problem:
                failures.append(f"{persona or 'anonymous'} ({kind}) {method.upper()}: {problem}")
            transaction.set_rollback(True)
    assert not failures, f"{route['name']} {url} [{ticket_key}]:\n" + "\n".join(failures)


# --- the Django admin (its own rule: active staff only) -----------------------------------------------------

ADMIN_NOT_WALKED = {
    "login",
    "logout",
    "jsi18n",
    "autocomplete",
    "password_change",
    "password_change_done",
    "app_list",
}


def _admin_names(patterns: list[Any]) -> list[str]:
    names = []
    for q in patterns:
        if isinstance(q, URLResolver):
            if not _pattern_params(q):
                names += _admin_names(q.url_patterns)
        elif q.name and not _pattern_params(q) and q.name not in ADMIN_NOT_WALKED:
            names.append(f"admin:{q.name}")
    return names


def admin_routes() -> list[str]:
    for p in get_resolver().url_patterns:
        if isinstance(p, URLResolver) and p.namespace == "admin":
            return _admin_names(p.url_patterns)
    return []


@pytest.mark.django_db
def test_django_admin_is_for_staff_only(world: World) -> None:
    routes = admin_routes()
    assert "admin:index" in routes
    assert "admin:integrations_webhookdelivery_changelist" in routes
    failures = []
    for name in routes:
        url = reverse(name)
        for persona in (*PERSONAS, None):
            user = world.people[persona] if persona else None
            client = Client()
            if user is not None:
                client.force_login(user)
            status = client.get(url).status_code
            staff = user is not None and user.is_active and user.is_staff
            # a model admin may switch a page off for everyone (e.g. no "add" for the delivery log): 403
            ok = status in (200, 403) if staff else status == 302
            if status >= 500 or not ok or (name == "admin:index" and staff and status != 200):
                failures.append(f"{name} {persona or 'anonymous'}: {status}")
    assert not failures, "\n".join(failures)
