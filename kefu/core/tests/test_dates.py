"""The one date parser (kefu.core.dates) and the inputs that go through it: out-of-range and unreadable dates are
a 4xx naming the field on the API and the web, never a 500 — on SQLite and PostgreSQL alike.

The four values the probe found giving 500s: a `created_from` of year 1 with +14:00 (SQLite's OverflowError), a
dispatch `due_at` of 9999-12-31T23:59:59-14:00 (both databases), a customer-timeline `before` of year 1 or 9999.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.dates import (
    EARLIEST_DAY,
    LATEST_DAY,
    DateInputError,
    parse_day,
    parse_moment,
    parse_optional_moment,
)
from kefu.core.errors import ValidationFailed
from kefu.core.pagination import decode_cursor

YEAR_ONE_EAST = "0001-01-01T00:00:00+14:00"
YEAR_9999_WEST = "9999-12-31T23:59:59-14:00"
EDGES = [YEAR_ONE_EAST, YEAR_9999_WEST, "0001-01-01", "9999-12-31", "0001-01-01T00:00", "9999-12-31T23:59"]


# --- the parser ----------------------------------------------------------------------------------------------


class TestParser:
    def test_dates_and_times_people_send(self, settings: Any) -> None:
        settings.TIME_ZONE = "Asia/Shanghai"
        with timezone.override("Asia/Shanghai"):
            local = parse_moment("2026-03-01", field="x")
            assert (local.isoformat(), parse_moment("2026-03-01", field="x", end=True) - local) == (
                "2026-03-01T00:00:00+08:00", timedelta(days=1))
            assert parse_moment("2026-03-01T08:00", field="x").isoformat() == "2026-03-01T08:00:00+08:00"
            assert parse_moment("2026-03-01 08:00:05", field="x").second == 5
            assert parse_moment("2026-03-01T00:00:00Z", field="x") == datetime(2026, 3, 1, tzinfo=UTC)
            assert parse_moment("2026-03-01T08:00:00.5+08:00", field="x").microsecond == 500_000
            assert parse_day("2026-02-28", field="d") == date(2026, 2, 28)

    @pytest.mark.parametrize("value", EDGES)
    def test_out_of_range_is_refused_naming_the_field(self, value: str) -> None:
        with pytest.raises(DateInputError) as caught:
            parse_moment(value, field="created_from")
        error = caught.value
        assert error.status == 422
        assert error.details["field"] == "created_from"
        assert "created_from" in error.message
        assert "1900-01-01" in error.message

    @pytest.mark.parametrize("value", ["2026-13-45", "2026-02-30", "yesterday", "2026-03-01T25:00", "1" * 41, "",
                                       "２０２６-03-01", "2026-3-1"])
    def test_unreadable_is_refused(self, value: str) -> None:
        with pytest.raises(DateInputError):
            parse_moment(value, field="due_at")

    def test_the_ends_of_the_range_are_usable(self) -> None:
        first = parse_moment(EARLIEST_DAY.isoformat(), field="x")
        last = parse_moment(LATEST_DAY.isoformat(), field="x", end=True)
        assert first < last
        assert parse_moment(f"{LATEST_DAY.isoformat()}T23:59:59-14:00", field="x").astimezone(UTC).year == 3000
        with pytest.raises(DateInputError):
            parse_day("1899-12-31", field="d")
        with pytest.raises(DateInputError):
            parse_moment(datetime(3000, 1, 1, tzinfo=UTC), field="x")

    def test_empty_means_no_value(self) -> None:
        assert parse_optional_moment("", field="x") is None
        assert parse_optional_moment(None, field="x") is None
        assert parse_optional_moment("  ", field="x") is None

    def test_a_forged_paging_cursor_far_in_time_is_refused(self) -> None:
        for at in (YEAR_ONE_EAST, YEAR_9999_WEST):
            cursor = base64.urlsafe_b64encode(json.dumps([at, 1]).encode()).decode().rstrip("=")
            with pytest.raises(ValidationFailed) as caught:
                decode_cursor(cursor, parameter="cursor")
            assert caught.value.details["fields"][0]["field"] == "cursor"


# --- the four inputs of the probe, on the API and the web ------------------------------------------------------

@pytest.mark.django_db
class TestCreatedFrom:
    @pytest.mark.parametrize("value", EDGES)
    def test_api_list_answers_422_naming_the_parameter(self, agent: Any, value: str) -> None:
        response = api_as(agent).get("/tickets", created_from=value)
        body = assert_error_shape(response, 422, "invalid")
        assert [f["field"] for f in body["details"]["fields"]] == ["created_from"]

    @pytest.mark.parametrize("name", ["created_from", "created_to", "resolved_from", "resolved_to"])
    def test_every_date_of_the_filter(self, agent: Any, name: str) -> None:
        body = assert_error_shape(api_as(agent).get("/tickets", **{name: YEAR_ONE_EAST}), 422)
        assert body["details"]["fields"][0]["field"] == name

    def test_web_list_answers_422_and_names_it(self, agent: Any) -> None:
        client = Client()
        client.force_login(agent)
        response = client.get("/tickets/", {"created_from": YEAR_ONE_EAST})
        assert response.status_code == 422
        assert [e.parameter for e in response.context["filter_errors"]] == ["created_from"]
        assert "created_from" in response.content.decode()

    def test_web_export_refuses(self, manager: Any) -> None:
        client = Client()
        client.force_login(manager)
        response = client.get("/tickets/export/", {"created_to": YEAR_9999_WEST})
        assert response.status_code == 400
        assert "created_to" in response.content.decode()

    def test_a_date_in_range_still_filters(self, agent: Any) -> None:
        assert api_as(agent).get("/tickets", created_from="2000-01-01", created_to="2999-12-31").status_code == 200


@pytest.mark.django_db
class TestDispatchDueAt:
    @pytest.fixture
    def order(self, agent: Any, customer: Any) -> Any:
        from kefu.tickets.services import ticket_create

        return ticket_create(actor=agent, subject="上门维修", ticket_type="repair", customer=customer, assignee=agent)

    @pytest.mark.parametrize("value", [YEAR_9999_WEST, YEAR_ONE_EAST, "9999-12-31", "2026-99-01"])
    def test_api_answers_422_naming_due_at(self, agent: Any, order: Any, repair_department: Any, value: str) -> None:
        response = api_as(agent).post(f"/tickets/{order.pk}/dispatches",
                                      {"department_id": repair_department.pk, "due_at": value})
        body = assert_error_shape(response, 422, "invalid")
        assert [f["field"] for f in body["details"]["fields"]] == ["due_at"]
        assert not order.dispatches.exists()

    def test_web_form_answers_422_naming_the_field(self, agent: Any, order: Any, repair_department: Any) -> None:
        client = Client()
        client.force_login(agent)
        response = client.post(f"/tickets/{order.pk}/dispatch/",
                               {"department": repair_department.pk, "due_at": "9999-12-31T23:59"},
                               headers={"HX-Request": "true"})
        assert response.status_code == 422
        assert "要求完成时间" in response.content.decode()
        assert not order.dispatches.exists()

    def test_a_due_time_in_range_is_taken(self, agent: Any, order: Any, repair_department: Any) -> None:
        due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
        response = api_as(agent).post(f"/tickets/{order.pk}/dispatches",
                                      {"department_id": repair_department.pk, "due_at": due.isoformat()})
        assert response.status_code == 201, response.content
        assert order.dispatches.get().due_at == due


@pytest.mark.django_db
class TestTimelineBefore:
    @pytest.mark.parametrize("value", [YEAR_ONE_EAST, YEAR_9999_WEST, "0001-01-01T00:00", "9999-12-31T23:59:59",
                                       "not-a-time"])
    def test_web_answers_400_naming_before(self, agent: Any, customer: Any, value: str) -> None:
        client = Client()
        client.force_login(agent)
        response = client.get(f"/customers/{customer.pk}/", {"before": value},
                              headers={"HX-Request": "true", "HX-Target": "timeline-more"})
        assert response.status_code == 400
        assert "before" in response.content.decode()

    def test_a_real_cursor_pages(self, agent: Any, customer: Any) -> None:
        client = Client()
        client.force_login(agent)
        before = (timezone.now() + timedelta(minutes=1)).isoformat()
        assert client.get(f"/customers/{customer.pk}/", {"before": before}).status_code == 200
