"""Every operation of the REST API answers generated input (valid, boundary and malformed: strings where numbers
go, dates of year 1 and 9999, huge numbers, unknown fields) without a server error. Schemathesis generates the
requests from the OpenAPI document and sends them in-process, one test per operation; the run is short and
derandomized (the same requests every time). `bench/api_fuzz.py` runs a long one against a served Kefu.

Schemathesis' own pytest plugin does not run under pytest 9 (it renames test nodes through a private attribute),
so the operations are parametrized here and each draws its cases with Hypothesis directly."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import schemathesis
from django.apps import apps
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.accounts.choices import TokenScope
from kefu.accounts.services import api_token_create
from kefu.api import api
from kefu.customers.tests.factories import CustomerFactory
from kefu.tickets import services as tickets

EXAMPLES_PER_OPERATION = 16
METHODS = ("get", "post", "put", "patch", "delete")
# Path parameters that name stored objects: half of the cases use an id that exists, so the operations are
# exercised past their 404 (the other half keep the generated, mostly unknown, values).
KNOWN = {
    "customer_id": ("customers.Customer", "pk"), "ticket_id": ("tickets.Ticket", "pk"),
    "dispatch_id": ("tickets.Dispatch", "pk"), "user_id": ("accounts.User", "pk"),
    "team_id": ("accounts.Team", "pk"), "department_id": ("accounts.Department", "pk"),
    "skill_id": ("accounts.Skill", "pk"), "token_id": ("accounts.ApiToken", "pk"),
    "endpoint_id": ("integrations.WebhookEndpoint", "pk"), "notification_id": ("notifications.Notification", "pk"),
    "calendar_id": ("core.BusinessCalendar", "pk"), "day": ("core.CalendarDay", "date"),
    "category_id": ("tickets.Category", "pk"), "policy_id": ("tickets.SlaPolicy", "pk"),
    "ticket_type": ("tickets.TicketTypeSetting", "ticket_type"),
}


@cache
def _schema() -> Any:
    schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
    schema.app = get_wsgi_application()
    return schema


def _known(name: str) -> list[Any]:
    if name not in KNOWN:
        return []
    model, field = KNOWN[name]
    rows = apps.get_model(model).objects.order_by(field)
    if name == "token_id":  # the spare ones: revoking the run's own token would end the run
        rows = rows.filter(name="spare")
    return [str(v) for v in rows.values_list(field, flat=True)[:20]]


def _operations() -> list[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item if method in METHODS]


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """The requests go through Django's WSGI handler, whose end-of-request signal closes a connection past its
    age: on PostgreSQL that would close the test's own transaction under it. Django's test client does the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(admin_user: Any, agent: Any, customer: Any, repair_department: Any) -> str:
    # Something for the lists and the known ids: an order dispatched to a department, another customer.
    ticket = tickets.ticket_create(actor=agent, subject="咨询", customer=customer)
    tickets.ticket_dispatch(actor=admin_user, ticket=ticket, department=repair_department, instructions="上门")
    CustomerFactory()
    api_token_create(actor=admin_user, name="spare", scopes=TokenScope.values)
    return api_token_create(actor=admin_user, name="fuzz", scopes=TokenScope.values).key


@pytest.mark.parametrize(("method", "path"), _operations(), ids=[f"{m} {p}" for m, p in _operations()])
def test_no_operation_answers_a_server_error(method: str, path: str, admin_token: str) -> None:
    operation = _schema()[path][method]
    headers = {"Authorization": f"Bearer {admin_token}"}
    answers: list[int] = []

    @given(case=operation.as_strategy(), data=st.data())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any, data: Any) -> None:
        for name in list(case.path_parameters or {}):
            known = _known(name)
            if known and data.draw(st.booleans(), label=f"existing {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
        response = case.call(headers=headers)
        answers.append(response.status_code)
        assert response.status_code < 500, (
            f"{method} {path} answered {response.status_code} to {case.as_curl_command()}:\n{response.text[:2000]}")

    run()
    assert answers, f"{method} {path}: no request was generated"
