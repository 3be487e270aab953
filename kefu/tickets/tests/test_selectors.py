"""Reads of work orders: one filter for the web list, the API and the export; search by the caller's full phone
or e-mail; counters that equal the lists they link to; one plain dict per order; the export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.pagination import decode_cursor, encode_cursor, keyset_page
from kefu.tickets import selectors, services
from kefu.tickets.choices import DispatchStatus, SlaStanding, Status
from kefu.tickets.models import Dispatch, Ticket

pytestmark = pytest.mark.django_db


def make(actor: Any, n: int = 1, **kwargs: Any) -> list[Ticket]:
    subject = kwargs.pop("subject", None)
    return [services.ticket_create(actor=actor, subject=subject or f"工单{i}", **kwargs) for i in range(n)]


def q(text: str) -> QueryDict:
    return QueryDict(text)


# --- parsing ------------------------------------------------------------------------------------------------


class TestParsing:
    def test_every_parameter(self) -> None:
        found, errors = selectors.parse_ticket_filter(q(
            "scope=team&q=漏水&status=open&type=complaint&type=repair&priority=high&channel=phone&sla=breached"
            "&tier=b&assignee=none&team=3&customer=4&category=5&dispatch=overdue&created_from=2026-03-01"
            "&created_to=2026-03-01&resolved_from=2026-03-01T08:00"
        ))
        assert errors == []
        assert found.view == "team"
        assert found.q == "漏水"
        assert found.statuses == ("open",)
        assert found.types == ("complaint", "repair")
        assert found.tier == "B"
        assert found.assignee == "none"
        assert (found.team, found.customer, found.category, found.dispatch) == (3, 4, 5, "overdue")
        # a date is local midnight; an end date means the end of that day
        assert found.created_to - found.created_from == timedelta(days=1)
        assert timezone.localtime(found.created_from).hour == 0
        # and back to the same parameters
        again, errors = selectors.parse_ticket_filter(QueryDict(found.query_string()))
        assert errors == []
        assert again == found

    def test_the_web_lists_old_name_for_due_soon(self) -> None:
        assert selectors.parse_ticket_filter(q("sla=soon"))[0].sla == "due_soon"

    @pytest.mark.parametrize(("query", "parameter"), [
        ("scope=everything", "scope"), ("status=bogus", "status"), ("type=<script>", "type"),
        ("sla=late", "sla"), ("tier=Z", "tier"), ("assignee=abc", "assignee"), ("team=x", "team"),
        ("customer=-1", "customer"), ("dispatch=maybe", "dispatch"), ("created_from=yesterday", "created_from"),
        ("resolved_to=2026-13-45", "resolved_to"), ("q=" + "x" * 101, "q"),
    ])
    def test_a_bad_parameter_is_named_and_left_out(self, query: str, parameter: str) -> None:
        _found, errors = selectors.parse_ticket_filter(q(query))
        assert [e.parameter for e in errors] == [parameter]
        assert parameter in errors[0].message
        with pytest.raises(ValidationFailed) as refused:
            selectors.ticket_filter_from(q(query))
        assert refused.value.status == 422
        assert refused.value.details["fields"][0]["field"] == parameter

    def test_the_api_refuses_a_bad_parameter_by_name(self, agent: Any) -> None:
        body = assert_error_shape(api_as(agent).get("/tickets", dispatch="maybe"), 422, "invalid")
        assert body["details"]["fields"][0]["field"] == "dispatch"


# --- search ---------------------------------------------------------------------------------------------------


class TestSearch:
    def test_number_subject_name_and_the_full_phone_or_email(self, agent: Any, customer: Any) -> None:
        theirs = make(agent, subject="空调不制冷", customer=customer, assignee=agent)[0]
        other = make(agent, subject="咨询缴费", assignee=agent)[0]

        def found(text: str) -> set[int]:
            return set(selectors.filter_tickets(agent, selectors.TicketFilter(q=text)).values_list("pk", flat=True))

        assert found(theirs.number) == {theirs.pk}
        assert found(theirs.number.lower()) == {theirs.pk}
        assert found("不制冷") == {theirs.pk}
        assert found(customer.name) == {theirs.pk}
        # the caller's number as it shows on the phone, in any common form
        for phone in ("13800138000", "138 0013 8000", "+86 138-0013-8000", "0086 13800138000"):
            assert found(phone) == {theirs.pk}, phone
        assert found("ZhangSan@Example.com") == {theirs.pk}
        # never a part of personal data
        for part in ("1380013", "8000", "zhangsan@", "example.com", "13800138001"):
            assert found(part) == set(), part
        assert other.pk not in found(customer.name)

    def test_the_web_list_and_the_api_find_the_same_orders(
        self, client: Any, agent: Any, customer: Any, login: Any
    ) -> None:
        make(agent, subject="空调不制冷", customer=customer, assignee=agent)
        make(agent, subject="咨询缴费", assignee=agent)
        for query in ("q=13800138000", "q=空调", "status=open&q=张三", "sla=breached", "type=repair"):
            web = {r["id"] for r in login(agent).get(f"/tickets/?scope=all&{query}").context["rows"]}
            api = {t["id"] for t in api_as(agent).get(f"/tickets?{query}").json()["items"]}
            assert web == api, query

    def test_department_staff_cannot_find_orders_by_a_customers_phone(
        self, agent: Any, customer: Any, department_user: Any, repair_department: Any
    ) -> None:
        ticket = make(agent, customer=customer)[0]
        services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
        f = selectors.TicketFilter(q="13800138000")
        assert not selectors.filter_tickets(department_user, f).exists()
        assert selectors.filter_tickets(department_user, f.with_(q=ticket.number)).exists()



# --- counters ---------------------------------------------------------------------------------------------


def _standing(ticket: Ticket, standing: str, status: str | None = None) -> None:
    changes: dict[str, Any] = {"sla_standing": standing}
    if status:
        changes["status"] = status
    Ticket.objects.filter(pk=ticket.pk).update(**changes)


class TestCounters:
    def test_counters_are_open_orders_only_and_equal_their_lists(
        self, agent: Any, team_lead: Any, other_agent: Any, manager: Any, login: Any
    ) -> None:
        a, b, c = make(agent, 3, assignee=agent)
        d = make(team_lead, assignee=team_lead)[0]
        e = make(other_agent, assignee=other_agent)[0]
        _standing(a, SlaStanding.BREACHED)
        _standing(b, SlaStanding.BREACHED, Status.RESOLVED)  # closed: never counted as breached
        _standing(c, SlaStanding.WARNING)
        _standing(d, SlaStanding.BREACHED)
        _standing(e, SlaStanding.WARNING)
        expected = {
            ("user", agent.pk): {"open": 2, "due_soon": 1, "breached": 1},
            ("team", agent.team_id): {"open": 3, "due_soon": 1, "breached": 2},
            ("centre", None): {"open": 4, "due_soon": 2, "breached": 2},
        }
        viewer = {("user", agent.pk): agent, ("team", agent.team_id): agent, ("centre", None): manager}
        for scope, figures in expected.items():
            assert selectors.ticket_counters(scope=scope) == figures, scope
            for name, f in selectors.counter_filters(scope).items():
                listed = login(viewer[scope]).get(selectors.list_url(f)).context["rows"]
                assert len(listed) == figures[name], (scope, name)

    def test_department_counters_equal_the_queue(
        self, agent: Any, department_user: Any, repair_department: Any, login: Any
    ) -> None:
        tickets = make(agent, 3)
        now = timezone.now()
        for ticket in tickets:
            services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department,
                                     due_at=now + timedelta(days=1))
        Dispatch.objects.filter(ticket=tickets[0]).update(due_at=now - timedelta(hours=1))
        Dispatch.objects.filter(ticket=tickets[1]).update(status=DispatchStatus.ACKNOWLEDGED,
                                                          due_at=now - timedelta(minutes=5))
        Dispatch.objects.filter(ticket=tickets[2]).update(due_at=None)
        figures = selectors.ticket_counters(scope=("department", repair_department.pk))
        assert figures == {"pending": 2, "overdue": 2}
        client = login(department_user)
        for tab, name in (("pending", "pending"), ("overdue", "overdue")):
            assert len(client.get(f"/department/?tab={tab}").context["rows"]) == figures[name]

    def test_scopes_by_rights(
        self, agent: Any, team_lead: Any, shift_lead: Any, qa: Any, manager: Any, admin_user: Any,
        department_user: Any
    ) -> None:
        scopes = selectors.counter_scopes_for
        assert scopes(agent) == [("user", agent.pk), ("team", agent.team_id)]
        assert scopes(team_lead) == [("team", team_lead.team_id), ("user", team_lead.pk)]
        for supervisor in (shift_lead, qa, manager, admin_user):
            assert scopes(supervisor) == [("centre", None)]
        assert scopes(department_user) == [("department", department_user.department_id)]
        assert [selectors.scope_key(s) for s in scopes(agent)] == [f"user.{agent.pk}", f"team.{agent.team_id}"]

    def test_the_cache_is_per_scope_not_per_person(self, agent: Any, team_lead: Any,
                                                   django_assert_num_queries: Any) -> None:
        make(agent, assignee=agent)
        scope = ("team", agent.team_id)
        selectors.ticket_counters_cached(scope=scope)
        with django_assert_num_queries(0):  # the lead reads the count the agent's page made
            assert selectors.ticket_counters_cached(scope=scope)["open"] == 1


# --- one order as a dict; pagination -----------------------------------------------------------------------


def test_ticket_summary_is_json_safe_and_complete(agent: Any, customer: Any) -> None:
    ticket = make(agent, customer=customer, assignee=agent)[0]
    summary = selectors.ticket_summary(Ticket.objects.get(pk=ticket.pk))
    assert json.loads(json.dumps(summary)) == summary
    assert {"id", "number", "subject", "type", "priority", "channel", "status", "team_id", "assignee_id",
            "first_contact_owner_id", "customer_id", "sla_standing", "sla_due_at", "escalation_level", "version",
            "created_at", "updated_at"} <= set(summary)


def test_webhook_payload_and_api_item_derive_from_the_summary(agent: Any, customer: Any) -> None:
    from kefu.core.models import OutboxEvent
    from kefu.integrations.services import webhook_body

    ticket = make(agent, customer=customer, assignee=agent)[0]
    summary = selectors.ticket_summary(Ticket.objects.get(pk=ticket.pk))
    event = OutboxEvent.objects.filter(object_id=str(ticket.pk), type__startswith="ticket.").latest("id")
    payload = webhook_body(event)["ticket"]
    item = api_as(agent).get(f"/tickets/{ticket.pk}").json()
    times = ("created_at", "updated_at", "sla_due_at")
    for key, value in summary.items():
        if key in times and value is not None:  # the same instant, however the offset is written
            assert parse_datetime(payload[key]) == parse_datetime(value), key
        else:
            assert payload[key] == value, key
        if key not in times:
            assert item[key] == value, key


class TestCursor:
    def test_the_documented_api_cursor_still_decodes(self) -> None:
        # a cursor as clients have stored it: base64 of ["<ISO time>", id], padding stripped
        at = timezone.now().replace(microsecond=123456)
        assert decode_cursor(encode_cursor(at, 42)) == (at, 42)

    @pytest.mark.parametrize("bad", ["garbage", "W10", "WyJ4Iiwx", "99991231235959999999_1", "%%%"])
    def test_a_bad_cursor_names_its_parameter(self, bad: str) -> None:
        with pytest.raises(ValidationFailed) as refused:
            decode_cursor(bad, parameter="after")
        assert refused.value.details["fields"][0]["field"] == "after"

    def test_forward_and_back(self, agent: Any) -> None:
        made = make(agent, 7)
        Ticket.objects.filter(pk__in=[t.pk for t in made[:4]]).update(created_at=timezone.now())  # ties: id decides
        qs = Ticket.objects.all()
        first = keyset_page(qs, limit=3, count_cap=5)
        second = keyset_page(qs, limit=3, after=first.next_cursor)
        third = keyset_page(qs, limit=3, after=second.next_cursor)
        ids = [t.pk for page in (first, second, third) for t in page.rows]
        assert sorted(ids) == sorted(t.pk for t in made)
        assert len(set(ids)) == 7
        assert third.next_cursor == ""
        assert (first.total, first.capped) == (5, True)
        back = keyset_page(qs, limit=3, before=third.prev_cursor)
        assert [t.pk for t in back.rows] == [t.pk for t in second.rows]


# --- export ---------------------------------------------------------------------------------------------------


class TestExport:
    def test_export_is_the_filtered_list_masked_and_audited(
        self, login: Any, agent: Any, team_lead: Any, manager: Any, customer: Any
    ) -> None:
        from kefu.tickets.exporting import ticket_export

        wanted = make(agent, subject="空调不制冷", customer=customer, assignee=agent)[0]
        make(agent, subject="=HYPERLINK(1)", assignee=agent)
        f = selectors.TicketFilter(q="13800138000")
        out = io.BytesIO()
        result = ticket_export(actor=team_lead, out=out, fmt="csv", ticket_filter=f)
        rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
        assert result.rows == 1
        assert rows[1][0] == wanted.number
        assert rows[1][8] == "13800138000"  # a team lead may see phones
        audit = AuditLog.objects.get(action="ticket.exported")
        assert audit.data["rows"] == 1
        assert audit.data["filter"]["q"] == "13800138000"
        # the web export is the list as it is filtered; formula-looking text is neutralised
        response = login(manager).get("/tickets/export/?scope=all&format=csv&q=HYPERLINK")
        assert response.status_code == 200
        body = response.content.decode("utf-8-sig")
        assert "'=HYPERLINK(1)" in body
        assert wanted.number not in body
        xlsx = login(manager).get("/tickets/export/?scope=all&format=xlsx")
        assert xlsx.status_code == 200
        assert xlsx.content[:2] == b"PK"

    def test_export_masks_phones_without_the_right(self, agent: Any, customer: Any, monkeypatch: Any,
                                                   qa: Any) -> None:
        from kefu.core import policy
        from kefu.tickets.exporting import ticket_export
        from kefu.tickets.permissions import TicketRight

        make(agent, customer=customer)
        rights = policy.rights()
        monkeypatch.setitem(policy._RIGHTS, TicketRight.EXPORT, rights[TicketRight.EXPORT] | {"qa"})
        out = io.BytesIO()
        ticket_export(actor=qa, out=out, fmt="csv", ticket_filter=selectors.TicketFilter())
        rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
        assert rows[1][8] == "138****8000"
        assert AuditLog.objects.get(action="ticket.exported").data["unmasked"] == []

    def test_agents_may_not_export(self, login: Any, agent: Any) -> None:
        from kefu.tickets.exporting import ticket_export

        with pytest.raises(PermissionDenied):
            ticket_export(actor=agent, out=io.BytesIO(), fmt="csv", ticket_filter=selectors.TicketFilter())
        assert login(agent).get("/tickets/export/?format=csv").status_code == 403
        assert not AuditLog.objects.filter(action="ticket.exported").exists()

    def test_a_bad_format_is_named(self, login: Any, manager: Any) -> None:
        response = login(manager).get("/tickets/export/?format=pdf")
        assert response.status_code == 422
        assert "xlsx" in response.content.decode()
