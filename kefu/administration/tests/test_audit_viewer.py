"""The audit viewer: the page, the API and the export read one filter (kefu.core.audit_log) — by actor, object,
action, text and date — page by keyset, show one row's data, export .xlsx (itself audited), and offer no way to
change or delete a row. Every reveal of unmasked personal data leaves a row the viewer finds."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.audit import LOOKUP, audit_lookup, audit_record
from kefu.core.audit_log import AuditFilter, audit_entries, audit_page, parse_audit_filter
from kefu.core.errors import PermissionDenied
from kefu.core.models import AuditLog
from kefu.customers import selectors as customer_selectors

pytestmark = pytest.mark.django_db


def stamp(entry: AuditLog, days_ago: int) -> AuditLog:
    AuditLog.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    entry.refresh_from_db()
    return entry


@pytest.fixture
def history(manager: Any, agent: Any, qa: Any, customer: Any) -> dict[str, AuditLog]:
    """A few rows of different kinds, at different days."""
    return {
        "export": stamp(audit_record(actor=manager, action="customer.exported", object_type="customers.export",
                                     summary="导出客户 120 条（xlsx）", data={"rows": 120}), 10),
        "reveal": stamp(audit_record(actor=agent, action="customer.viewed_unmasked", obj=customer,
                                     summary="查看了完整资料：C900001", data={"fields": ["contacts"]},
                                     ip_address="10.1.2.3"), 3),
        "lookup": stamp(audit_lookup(actor=qa, kind="phone", value="13800138000", whole=True, source="customers"),
                        1),
        "system": audit_record(actor=None, action="customer.imported", object_type="customers.import",
                               summary="导入客户 2000 条"),
    }


def ids(user: Any, **filters: Any) -> list[int]:
    return [e.pk for e in audit_entries(user, AuditFilter(**filters))]


class TestFilters:
    def test_by_actor_action_object_text_and_date(self, manager: Any, agent: Any, customer: Any,
                                                  history: dict[str, AuditLog]) -> None:
        h = history
        assert ids(manager) == [h["system"].pk, h["lookup"].pk, h["reveal"].pk, h["export"].pk]
        assert ids(manager, actor=str(agent.pk)) == [h["reveal"].pk]
        assert ids(manager, actor="system") == [h["system"].pk]
        assert ids(manager, action="customer.exported") == [h["export"].pk]
        assert ids(manager, action="customer.*") == [h["system"].pk, h["reveal"].pk, h["export"].pk]
        assert ids(manager, object_type="customers.customer", object_id=str(customer.pk)) == [h["reveal"].pk]
        assert ids(manager, q="C900001") == [h["reveal"].pk]
        assert ids(manager, q="120 条") == [h["export"].pk]
        # who looked up this number? The row holds only its digest; any common form of it finds the row
        assert ids(manager, q="+86 138 0013 8000") == [h["lookup"].pk]
        assert ids(manager, q="13800138001") == []
        week, _ = parse_audit_filter({"date_from": (timezone.localdate() - timedelta(days=7)).isoformat(),
                                      "date_to": (timezone.localdate() - timedelta(days=2)).isoformat()})
        assert [e.pk for e in audit_entries(manager, week)] == [h["reveal"].pk]

    def test_bad_parameters_are_named(self, manager: Any) -> None:
        found, problems = parse_audit_filter({"actor": "x1", "action": "DROP TABLE", "object_type": "customers",
                                              "date_from": "0001-01-01T00:00:00+14:00", "date_to": "9999-12-31"})
        assert [p.parameter for p in problems] == ["actor", "action", "object_type", "date_from", "date_to"]
        assert found == AuditFilter()

    def test_only_holders_of_the_right_read_it(self, agent: Any, qa: Any, team_lead: Any, admin_user: Any) -> None:
        for person in (agent, qa, team_lead):
            with pytest.raises(PermissionDenied):
                audit_entries(person, AuditFilter())
        assert audit_entries(admin_user, AuditFilter()).count() == 0

    def test_one_query_per_page_whatever_its_length(self, manager: Any, django_assert_num_queries: Any) -> None:
        for i in range(30):
            audit_record(actor=manager, action="customer.updated", object_type="customers.customer",
                         object_id=i, summary=f"修改了：name {i}")
        with django_assert_num_queries(1):
            page = audit_page(manager, AuditFilter(action="customer.*"), limit=25)
            assert all(e.actor.display_name for e in page.rows)
        assert len(page.rows) == 25

    def test_keyset_pages_cover_everything_once(self, manager: Any) -> None:
        made = [audit_record(actor=manager, action="team.updated", object_type="accounts.team", object_id=i)
                for i in range(11)]
        AuditLog.objects.filter(pk__in=[e.pk for e in made[:6]]).update(created_at=timezone.now())  # a tie
        seen, after = [], ""
        while True:
            page = audit_page(manager, AuditFilter(), limit=4, after=after)
            seen += [e.pk for e in page.rows]
            if not page.next_cursor:
                break
            after = page.next_cursor
        assert sorted(seen) == sorted(e.pk for e in made)
        assert len(seen) == len(set(seen))


class TestApi:
    def test_list_filters_and_pages(self, manager: Any, history: dict[str, AuditLog]) -> None:
        client = api_as(manager)
        first = client.get("/admin/audit", action="customer.*", limit=2)
        assert first.status_code == 200, first.content
        body = first.json()
        assert [i["id"] for i in body["items"]] == [history["system"].pk, history["reveal"].pk]
        assert body["items"][1]["action_label"] == "查看完整个人信息"
        assert body["items"][0]["actor"] == "系统"
        rest = client.get("/admin/audit", action="customer.*", limit=2, cursor=body["next"]).json()
        assert [i["id"] for i in rest["items"]] == [history["export"].pk]
        assert rest["next"] is None

    def test_one_row(self, manager: Any, history: dict[str, AuditLog]) -> None:
        row = api_as(manager).get(f"/admin/audit/{history['lookup'].pk}").json()
        assert row["data"]["masked"] == "138****8000"
        assert "13800138000" not in str(row)
        assert_error_shape(api_as(manager).get("/admin/audit/999999"), 404, "not_found")

    @pytest.mark.parametrize(("name", "value"), [("date_from", "0001-01-01T00:00:00+14:00"),
                                                 ("date_to", "9999-12-31T23:59:59-14:00"), ("actor", "nobody"),
                                                 ("date_from", "2026-02-30")])
    def test_bad_filters_are_422_naming_the_field(self, manager: Any, name: str, value: str) -> None:
        body = assert_error_shape(api_as(manager).get("/admin/audit", **{name: value}), 422, "invalid")
        assert [f["field"] for f in body["details"]["fields"]] == [name]
        assert_error_shape(api_as(manager).get("/admin/audit/export", **{name: value}), 422, "invalid")

    def test_read_only_no_operation_writes(self) -> None:
        from kefu.api import api

        paths = api.get_openapi_schema(path_prefix="/api/v1/")["paths"]
        audit = {method for path, ops in paths.items() if "/admin/audit" in path for method in ops}
        assert audit == {"get"}

    def test_export_is_the_same_rows_and_is_audited(self, manager: Any, history: dict[str, AuditLog]) -> None:
        response = api_as(manager).get("/admin/audit/export", actor="system")
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "时间"
        assert [r[3] for r in rows[1:]] == ["customer.imported"]
        exported = AuditLog.objects.get(action="audit.exported")
        assert exported.actor == manager
        assert exported.data == {"rows": 1, "filters": {"actor": "system"}}


class TestPages:
    @pytest.fixture
    def client(self, manager: Any) -> Client:
        client = Client()
        client.force_login(manager)
        return client

    def test_list_with_filters(self, client: Client, history: dict[str, AuditLog], customer: Any) -> None:
        page = client.get("/admin/audit/", {"action": "customer.viewed_unmasked"})
        assert page.status_code == 200
        html = page.content.decode()
        assert [r["id"] for r in page.context["rows"]] == [history["reveal"].pk]
        assert "查看完整个人信息" in html
        assert f'href="/customers/{customer.pk}/"' in html  # the object opens
        assert "10.1.2.3" in html

    def test_a_bad_date_is_named_and_answered_422(self, client: Client, history: dict[str, AuditLog]) -> None:
        page = client.get("/admin/audit/", {"date_from": "0001-01-01"})
        assert page.status_code == 422
        assert [p.parameter for p in page.context["problems"]] == ["date_from"]
        assert len(page.context["rows"]) == 4  # the rest of the filter still applies
        assert client.get("/admin/audit/export/", {"date_to": "9999-12-31"}).status_code == 400

    def test_detail_shows_the_data(self, client: Client, history: dict[str, AuditLog]) -> None:
        page = client.get(f"/admin/audit/{history['reveal'].pk}/")
        assert page.status_code == 200
        assert ("fields", "显示的内容", '["contacts"]') in page.context["data"]
        assert client.get("/admin/audit/999999/").status_code == 404

    def test_export_download(self, client: Client, history: dict[str, AuditLog]) -> None:
        response = client.get("/admin/audit/export/", {"action": "personal_data.*"})
        assert response["Content-Disposition"].startswith('attachment; filename="audit-')
        rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
        assert [r[3] for r in rows[1:]] == [LOOKUP]
        assert "13800138000" not in str(rows)

    def test_the_index_links_it_for_managers_only(self, client: Client, team_lead: Any) -> None:
        assert "/admin/audit/" in client.get("/admin/").content.decode()
        lead = Client()
        lead.force_login(team_lead)
        assert "/admin/audit/" not in lead.get("/admin/").content.decode()


class TestEveryRevealIsRecorded:
    """Each place that shows unmasked personal data leaves a row the viewer finds (docs/security.md lists them)."""

    def test_the_reveals(self, agent: Any, manager: Any, customer: Any, repair_department: Any,
                         department_user: Any) -> None:
        from kefu.customers.exporting import customer_export
        from kefu.tickets import services
        from kefu.tickets.exporting import ticket_export
        from kefu.tickets.selectors import TicketFilter

        customer_selectors.customer_detail(agent, customer.pk, reveal=True, ip="127.0.0.1")  # the "show" button
        order = services.ticket_create(actor=agent, subject="上门", ticket_type="repair", customer=customer,
                                       assignee=agent)
        dispatch = services.ticket_dispatch(actor=agent, ticket=order, department=repair_department)
        customer_selectors.customer_onsite(department_user, customer.pk, reveal=True,  # "show phone" on site
                                           reason={"dispatch_id": dispatch.pk})
        customer_export(actor=manager, out=io.BytesIO(), fmt="xlsx")
        ticket_export(actor=manager, out=io.BytesIO(), fmt="csv", ticket_filter=TicketFilter())
        found = {(e.action, e.actor_id) for e in audit_entries(manager, AuditFilter())}
        assert {("customer.viewed_unmasked", agent.pk), ("customer.viewed_unmasked", department_user.pk),
                ("customer.exported", manager.pk), ("ticket.exported", manager.pk)} <= found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
def test_the_summary_search_can_use_its_trigram_index(manager: Any) -> None:
    qs = audit_entries(manager, AuditFilter(q="导出客户")).order_by()
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'core_auditlog_summary_trgm'")
        assert cursor.fetchone()
        cursor.execute("SET LOCAL enable_seqscan = off")
        # nor a whole-index walk of another index (filtering every row): with a few rows and no statistics yet
        # the planner may price that below the trigram index; a GIN index is only ever read by a bitmap scan
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "core_auditlog_summary_trgm" in plan, plan
