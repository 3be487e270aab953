"""The one error shape, and bad input on EVERY API operation (generated from the OpenAPI document): missing
fields, wrong types, unknown enum values, too-long strings, out-of-range ids, NUL characters, malformed JSON.
Each must answer 4xx with {"code", "message", "details"} naming the field — never a 500."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kefu.apiutils.testing import ApiClient, World, api_as, assert_error_shape

pytestmark = pytest.mark.django_db

MAX_BIGINT = 9_223_372_036_854_775_807


def _operations() -> list[dict[str, Any]]:
    from kefu.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    out = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out.append({"path": path, "method": method, "op": op, "components": schema["components"]})
    return out


OPERATIONS = _operations()


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        non_null = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _resolve(non_null[0], components) if non_null else schema
    return schema


def bad_values(prop: dict[str, Any]) -> list[tuple[str, Any]]:
    """Values of the wrong kind for a property, by its JSON schema."""
    kind = prop.get("type")
    values: list[tuple[str, Any]] = []
    if "enum" in prop:
        values.append(("unknown enum value", "no-such-value"))
    if kind == "string":
        values.append(("wrong type", {"nested": 1}))
        if "maxLength" in prop:
            values.append(("too long", "长" * (prop["maxLength"] + 1)))
        if prop.get("format") in ("date-time", "date"):
            values.append(("not a date", "2024-13-45"))
        if "enum" not in prop and prop.get("format") is None:
            values.append(("NUL character", "a\x00b"))
    elif kind == "integer":
        values += [("wrong type", "abc"), ("fraction", 1.5), ("too large", MAX_BIGINT + 1)]
        if "minimum" in prop:
            values.append(("below minimum", prop["minimum"] - 1))
    elif kind == "boolean":
        values.append(("wrong type", "maybe"))
    elif kind == "array":
        values.append(("wrong type", "not-a-list"))
    return values


def _body_cases() -> list[Any]:
    cases = []
    for o in OPERATIONS:
        ref = o["op"].get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if not ref:
            continue
        schema = _resolve(ref, o["components"])
        for name, raw in schema.get("properties", {}).items():
            prop = _resolve(raw, o["components"])
            for label, value in bad_values(prop):
                cases.append(pytest.param(o, name, value, id=f"{o['method']} {o['path']} {name}: {label}"))
    return cases


def _query_cases() -> list[Any]:
    cases = []
    for o in OPERATIONS:
        for param in o["op"].get("parameters", []):
            if param["in"] not in ("query", "path"):
                continue
            prop = _resolve(param["schema"], o["components"])
            if prop.get("type") == "array":
                prop = _resolve(prop["items"], o["components"])
            for label, value in bad_values(prop):
                if isinstance(value, dict):
                    continue  # a query string has no nested values
                cases.append(
                    pytest.param(
                        o,
                        param["name"],
                        param["in"],
                        value,
                        id=f"{o['method']} {o['path']} {param['in']} {param['name']}: {label}",
                    )
                )
    return cases


@pytest.fixture
def world(
    agent: Any,
    team_lead: Any,
    shift_lead: Any,
    qa: Any,
    manager: Any,
    admin_user: Any,
    department_user: Any,
    other_agent: Any,
    customer: Any,
    team: Any,
    repair_department: Any,
) -> World:
    people = {
        "agent": agent,
        "team_lead": team_lead,
        "shift_lead": shift_lead,
        "qa": qa,
        "manager": manager,
        "admin_user": admin_user,
        "department_user": department_user,
        "other_agent": other_agent,
    }
    return World(people=people, customer=customer, team=team, repair_department=repair_department)


def _path(o: dict[str, Any], world: World) -> str:
    values = world.objects_for(
        [p["name"] for p in o["op"].get("parameters", []) if p["in"] == "path"], "team_ticket"
    )
    pks = {
        k: (v if isinstance(v, str) else v.pk if v is not None else world.owned(k, world.people["admin_user"]).pk)
        for k, v in values.items()
    }
    return o["path"].format(**pks)


def _fields(body: dict[str, Any]) -> list[str]:
    return [f["field"] for f in body["details"].get("fields", [])]


@pytest.mark.parametrize(("o", "field", "value"), _body_cases())
def test_bad_body_field_is_a_4xx_naming_the_field(
    o: dict[str, Any], field: str, value: Any, world: World
) -> None:
    api = ApiClient(world.tokens["admin_user"])
    response = api.request(o["method"], _path(o, world), {field: value})
    body = assert_error_shape(response, 422, "invalid")
    assert field in _fields(body), body
    assert field in body["message"]


@pytest.mark.parametrize(("o", "name", "where", "value"), _query_cases())
def test_bad_query_or_path_value_is_a_4xx(
    o: dict[str, Any], name: str, where: str, value: Any, world: World
) -> None:
    api = ApiClient(world.tokens["admin_user"])
    path = _path(o, world)
    if where == "path":
        template = o["path"]
        real = _path(o, world).split("/")
        parts = template.split("/")
        path = "/".join(str(value) if part == "{" + name + "}" else real[i] for i, part in enumerate(parts))
        response = api.request(o["method"], path, {} if o["method"] != "get" else None)
    else:
        response = (
            api.request(o["method"], path, **{name: value})
            if o["method"] == "get"
            else api.request(o["method"], f"{path}?{name}={value}", {})
        )
    body = assert_error_shape(response, 422, "invalid")
    assert name in _fields(body), body


def _content(o: dict[str, Any]) -> dict[str, Any]:
    return o["op"].get("requestBody", {}).get("content", {})  # type: ignore[no-any-return]


WRITES = [pytest.param(o, id=f"{o['method']} {o['path']}") for o in OPERATIONS if "application/json" in _content(o)]
UPLOADS = [pytest.param(o, id=f"{o['method']} {o['path']}") for o in OPERATIONS
           if "multipart/form-data" in _content(o)]


def test_the_uploads_are_found() -> None:
    assert {o.values[0]["path"] for o in UPLOADS} >= {"/api/v1/admin/staff/import",
                                                     "/api/v1/admin/calendars/{calendar_id}/days/import"}


@pytest.mark.parametrize("o", UPLOADS)
def test_an_upload_without_its_file_names_the_field(o: dict[str, Any], world: World) -> None:
    api = ApiClient(world.tokens["admin_user"])
    missing = api.client.post(_path(o, world), {}, headers=api._headers(None))
    body = assert_error_shape(missing, 422, "invalid")
    assert "file" in _fields(body)
    as_json = api.request(o["method"], _path(o, world), {"file": "a,b"})
    assert 400 <= as_json.status_code < 500
    garbage = api.client.post(_path(o, world), {"file": SimpleUploadedFile("x.xlsx", b"\xff\xfe not a workbook")},
                              headers=api._headers(None))
    assert_error_shape(garbage, 400)
    # a multipart body whose Content-Type has no boundary cannot be parsed at all (found by schemathesis)
    unparsable = api.client.generic("POST", _path(o, world), b"--x\r\n", content_type="multipart/form-data",
                                    headers=api._headers(None))
    assert_error_shape(unparsable, 400, "malformed_body")


@pytest.mark.parametrize("o", WRITES)
@pytest.mark.parametrize(
    "raw", ['{"subject": ', "not json", "\xff\xfe", '{"a": NaN'], ids=["cut", "text", "binary", "nan"]
)
def test_malformed_json_is_400(o: dict[str, Any], raw: str, world: World) -> None:
    api = ApiClient(world.tokens["admin_user"])
    response = api.request(o["method"], _path(o, world), raw=raw.encode("latin-1"))
    assert_error_shape(response, 400, "malformed_json")


@pytest.mark.parametrize("o", WRITES)
def test_missing_required_fields_are_listed(o: dict[str, Any], world: World) -> None:
    schema = _resolve(_content(o)["application/json"]["schema"], o["components"])
    required = schema.get("required", [])
    api = ApiClient(world.tokens["admin_user"])
    response = api.request(o["method"], _path(o, world), {})
    if not required:
        assert response.status_code < 500
        return
    body = assert_error_shape(response, 422, "invalid")
    assert set(required) <= set(_fields(body))


@pytest.mark.parametrize("o", WRITES)
def test_a_json_array_instead_of_an_object(o: dict[str, Any], world: World) -> None:
    api = ApiClient(world.tokens["admin_user"])
    response = api.request(o["method"], _path(o, world), [1, 2, 3])
    assert 400 <= response.status_code < 500
    assert_error_shape(response, response.status_code)


# --- the shape for everything else --------------------------------------------------------------------------


def test_unknown_path_is_a_json_404(agent: Any) -> None:
    from kefu.apiutils.testing import api_as

    assert_error_shape(api_as(agent).get("/no-such-thing"), 404, "not_found")
    assert_error_shape(ApiClient().get("/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_json_405(agent: Any) -> None:
    from kefu.apiutils.testing import api_as

    response = api_as(agent).request("put", "/tickets")
    body = assert_error_shape(response, 405, "method_not_allowed")
    assert set(body["details"]["allowed"]) == {"GET", "POST"}
    assert "GET" in response["Allow"]


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nonsense", "Bearer kefu_wrong", "Basic dXNlcjpwYXNz", "Token kefu_x"]
)
def test_missing_or_bad_credentials_are_401(header: str | None) -> None:
    client = ApiClient()
    response = client.get("/tickets", headers={"Authorization": header} if header else None)
    body = assert_error_shape(response, 401, "unauthenticated")
    assert "Bearer" in response["WWW-Authenticate"]
    assert body["details"] == {}


def test_a_body_over_the_size_limit_is_413(agent: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_as(agent).request("post", "/tickets", raw=json.dumps({"subject": "长" * 20_000}).encode())
    body = assert_error_shape(response, 413, "payload_too_large")
    assert body["details"]["max_bytes"] == 10_000


def test_unexpected_errors_are_a_generic_500_and_logged(agent: Any, monkeypatch: Any, caplog: Any) -> None:
    from kefu.apiutils.testing import api_as
    from kefu.tickets import api as tickets_api

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(tickets_api.selectors, "filter_tickets", boom)
    with caplog.at_level(logging.ERROR, logger="kefu.api"):
        response = api_as(agent).get("/tickets")
    body = assert_error_shape(response, 500, "server_error")
    assert "secret" not in body["message"]
    assert any("secret internals" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_openapi_document_and_docs(agent: Any) -> None:
    from django.test import Client

    schema = Client().get("/api/v1/openapi.json").json()
    assert "Error" in schema["components"]["schemas"]
    assert set(schema["components"]["securitySchemes"]) == {"TokenAuth", "SessionAuth"}
    for methods in schema["paths"].values():
        for op in methods.values():
            assert op["x-kefu-action"]
            assert "401" in op["responses"]
            assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert Client().get("/api/v1/docs").status_code == 200


def test_api_messages_follow_the_token_users_language(agent: Any) -> None:
    # A token call never reads the web session; the token's user chose English, so errors come in English.
    api = api_as(agent)
    assert "不存在" in assert_error_shape(api.get("/tickets/999999"), 404)["message"]
    agent.language = "en"
    agent.save(update_fields=["language"])
    assert assert_error_shape(api.get("/tickets/999999"), 404)["message"] == (
        "The work order does not exist or you may not see it"
    )


@pytest.mark.parametrize("path", ["/users/999999", "/teams/999999", "/departments/999999"])
def test_directory_misses_are_worded_in_english_for_an_english_user(team_lead: Any, path: str) -> None:
    team_lead.language = "en"
    team_lead.save(update_fields=["language"])
    message = assert_error_shape(api_as(team_lead).get(path), 404, "not_found")["message"]
    assert message.startswith("No such"), message
