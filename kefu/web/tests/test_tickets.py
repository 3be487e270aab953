"""Work-order pages: list filters, scopes, paging, query counts; the detail page; every action in the UI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from kefu.tickets import selectors, services
from kefu.tickets.choices import SlaStanding, Status
from kefu.tickets.models import Dispatch, SavedView, Ticket, TicketEvent, TicketMessage
from kefu.web.views import tickets as list_view

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _numbers(response: Any) -> set[str]:
    return {t.number for t in response.context["page"].rows}


def make(actor: Any, n: int = 1, **kwargs: Any) -> list[Ticket]:
    return [
        services.ticket_create(actor=actor, subject=kwargs.pop("subject", f"工单{i}"), **kwargs)
        for i in range(n)
    ]


class TestList:
    def test_scopes_mine_team_all(
        self, login: Any, agent: Any, team_lead: Any, other_agent: Any, manager: Any
    ) -> None:
        mine = make(agent)[0]
        teams = make(team_lead)[0]
        others = make(other_agent)[0]
        client = login(agent)
        assert _numbers(client.get("/tickets/?scope=mine")) == {mine.number}
        assert _numbers(client.get("/tickets/?scope=team")) == {mine.number, teams.number}
        # an agent has no "all" tab: asking for it falls back to "mine", never to other teams' orders
        response = client.get("/tickets/?scope=all")
        assert others.number not in _numbers(response)
        assert b'data-testid="scope-all"' not in response.content
        assert _numbers(login(manager).get("/tickets/?scope=all")) >= {
            mine.number,
            teams.number,
            others.number,
        }

    def test_filters(self, login: Any, agent: Any, customer: Any) -> None:
        complaint = services.ticket_create(
            actor=agent,
            subject="噪音投诉",
            ticket_type="complaint",
            channel="wechat",
            priority="high",
            customer=customer,
        )
        inquiry = services.ticket_create(actor=agent, subject="咨询缴费", assignee=agent)
        Ticket.objects.filter(pk=complaint.pk).update(sla_standing=SlaStanding.BREACHED)
        Ticket.objects.filter(pk=inquiry.pk).update(sla_standing=SlaStanding.WARNING)
        client = login(agent)
        cases = {
            "type=complaint": {complaint.number},
            "channel=wechat": {complaint.number},
            "priority=high": {complaint.number},
            "sla=breached": {complaint.number},
            "sla=soon": {inquiry.number},
            f"tier={customer.tier}": {complaint.number},
            "assignee=me": {inquiry.number},
            "assignee=none": {complaint.number},
            "status=assigned": {inquiry.number},
            "status=open": {complaint.number, inquiry.number},
            "q=噪音": {complaint.number},
            f"q={customer.name}": {complaint.number},
            f"q={inquiry.number}": {inquiry.number},
        }
        for query, expected in cases.items():
            assert _numbers(client.get(f"/tickets/?scope=mine&{query}")) == expected, query

    @pytest.mark.parametrize("cap", [selectors.CUSTOMER_MATCH_CAP, 0])
    def test_search_by_customer_name_with_few_or_many_matching_customers(
        self, login: Any, agent: Any, customer: Any, monkeypatch: Any, cap: int
    ) -> None:
        # the matching customers are listed by id up to the cap; past it the search joins: same answer both ways
        monkeypatch.setattr(selectors, "CUSTOMER_MATCH_CAP", cap)
        theirs = services.ticket_create(actor=agent, subject="报修", customer=customer, assignee=agent)
        by_subject = services.ticket_create(actor=agent, subject=f"{customer.name}的邻居来电", assignee=agent)
        services.ticket_create(actor=agent, subject="别的事", assignee=agent)
        client = login(agent)
        found = _numbers(client.get(f"/tickets/?scope=mine&q={customer.name}"))
        assert found == {theirs.number, by_subject.number}
        assert _numbers(client.get(f"/tickets/?scope=mine&q={customer.name[:1]}")) >= found

    def test_tampered_parameters_are_ignored_not_500(self, login: Any, agent: Any) -> None:
        """A malformed filter is left out and named on the page, answered 422; a stale page cursor goes back to
        the first page (200)."""
        make(agent)
        client = login(agent)
        for query, status in (
            ("status=bogus", 422),
            ("type=<script>", 422),
            ("after=garbage", 200),
            ("before=1_x", 200),
            ("assignee=abc", 422),
            ("scope=everything", 422),
            ("after=99991231235959999999_1", 200),
            ("created_from=0001-01-01T00:00:00%2B14:00", 422),
        ):
            response = client.get(f"/tickets/?{query}")
            assert response.status_code == status, query
            assert response.context["filter_errors"], query

    def test_htmx_filter_returns_only_the_results(self, login: Any, agent: Any) -> None:
        make(agent)
        response = login(agent).get("/tickets/?scope=mine", **HTMX, HTTP_HX_TARGET="ticket-results")
        body = response.content.decode()
        assert 'id="ticket-results"' in body
        assert "<html" not in body

    def test_keyset_pages_cover_everything_once(self, login: Any, agent: Any, monkeypatch: Any) -> None:
        monkeypatch.setattr(list_view, "PAGE_SIZE", 4)
        created = make(agent, 10)
        # same second for several rows: the id breaks the tie
        Ticket.objects.filter(pk__in=[t.pk for t in created[:6]]).update(created_at=timezone.now())
        client = login(agent)
        seen: list[str] = []
        url = "/tickets/?scope=mine"
        pages = []
        while url:
            page = client.get(url).context["page"]
            pages.append(page)
            seen += [t.number for t in page.rows]
            url = f"/tickets/?scope=mine&after={page.next_cursor}" if page.next_cursor else ""
        assert sorted(seen) == sorted(t.number for t in created)
        assert len(seen) == len(set(seen))
        # and back again from the last page
        back = client.get(f"/tickets/?scope=mine&before={pages[-1].prev_cursor}").context["page"]
        assert [t.number for t in back.rows] == [t.number for t in pages[-2].rows]

    def test_count_is_capped(self, login: Any, agent: Any, monkeypatch: Any) -> None:
        monkeypatch.setattr(list_view, "COUNT_CAP", 3)
        make(agent, 5)
        page = login(agent).get("/tickets/?scope=mine").context["page"]
        assert page.capped
        assert page.total == 3

    def test_query_count_does_not_grow_with_rows(
        self, login: Any, agent: Any, customer: Any, django_assert_max_num_queries: Any
    ) -> None:
        make(agent, 3, customer=customer, assignee=agent)
        client = login(agent)
        client.get("/tickets/")  # warm the session
        with django_assert_max_num_queries(9):
            client.get("/tickets/?scope=team&status=open")
        make(agent, 20, customer=customer, assignee=agent)
        with django_assert_max_num_queries(9):
            client.get("/tickets/?scope=team&status=open")


class TestDetail:
    def test_shows_conversation_history_and_customer(
        self, login: Any, agent: Any, ticket: Any, repair_department: Any
    ) -> None:
        services.ticket_reply(actor=agent, ticket=ticket, body="已安排师傅")
        services.ticket_add_note(actor=agent, ticket=ticket, body="仅内部可见的备注")
        services.ticket_dispatch(
            actor=agent, ticket=ticket, department=repair_department, instructions="上门"
        )
        body = login(agent).get(f"/tickets/{ticket.pk}/").content.decode()
        assert 'class="msg reply"' in body
        assert 'class="msg note"' in body
        assert "仅内部可见的备注" in body
        assert "派单给 维修部" in body  # history in words
        assert 'data-testid="customer-card"' in body
        assert "138****8000" in body
        assert "13800138000" not in body

    def test_outsider_gets_404(self, login: Any, other_agent: Any, ticket: Any) -> None:
        assert login(other_agent).get(f"/tickets/{ticket.pk}/").status_code == 404

    def test_query_count_is_constant(
        self, login: Any, agent: Any, ticket: Any, django_assert_max_num_queries: Any
    ) -> None:
        services.ticket_reply(actor=agent, ticket=ticket, body="首条回复")
        client = login(agent)
        client.get(f"/tickets/{ticket.pk}/")
        cache.clear()  # both measured pages count the header's SLA counters (cached for a few seconds)
        with django_assert_max_num_queries(30) as few:
            client.get(f"/tickets/{ticket.pk}/")
        for i in range(8):
            services.ticket_reply(actor=agent, ticket=ticket, body=f"回复{i}")
            services.ticket_add_note(actor=agent, ticket=ticket, body=f"备注{i}")
        cache.clear()
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get(f"/tickets/{ticket.pk}/")


class TestActions:
    def test_reply_and_note_through_htmx(self, login: Any, agent: Any, ticket: Any) -> None:
        client = login(agent)
        response = client.post(f"/tickets/{ticket.pk}/reply/", {"body": "您好"}, **HTMX)
        assert response.status_code == 200
        assert 'id="ticket-main"' in response.content.decode()
        client.post(f"/tickets/{ticket.pk}/note/", {"body": "内部"}, **HTMX)
        kinds = list(TicketMessage.objects.filter(ticket=ticket).values_list("kind", flat=True))
        assert kinds == ["reply", "note"]

    def test_plain_post_redirects(self, login: Any, agent: Any, ticket: Any) -> None:
        response = login(agent).post(f"/tickets/{ticket.pk}/reply/", {"body": "您好"})
        assert response.status_code == 302
        assert response["Location"] == f"/tickets/{ticket.pk}/"

    def test_empty_reply_is_refused_next_to_the_form(self, login: Any, agent: Any, ticket: Any) -> None:
        response = login(agent).post(f"/tickets/{ticket.pk}/reply/", {"body": "  "}, **HTMX)
        assert response.status_code == 422
        assert response["HX-Retarget"] == "#err-reply"

    def test_refused_transition_says_why(self, login: Any, agent: Any, ticket: Any) -> None:
        response = login(agent).post(
            f"/tickets/{ticket.pk}/transition/", {"to_status": "reopened", "version": ticket.version}, **HTMX
        )
        assert response.status_code == 409
        assert "不能从" in response.content.decode()
        assert response["HX-Retarget"] == "#err-transition"

    def test_detail_lists_only_allowed_next_statuses_with_reasons(
        self, login: Any, agent: Any, ticket: Any
    ) -> None:
        context = login(agent).get(f"/tickets/{ticket.pk}/").context
        offered = {s.value: s.refused for s in context["next_statuses"]}
        assert set(offered) == {"in_progress", "waiting_customer", "waiting_department", "resolved"}
        assert offered["waiting_department"]  # no open dispatch: refused, with the reason
        assert offered["in_progress"] == ""

    def test_transition_assign_dispatch_escalate(
        self, login: Any, agent: Any, team_lead: Any, ticket: Any, repair_department: Any
    ) -> None:
        client = login(agent)
        client.post(
            f"/tickets/{ticket.pk}/transition/", {"to_status": "in_progress", "version": ticket.version}
        )
        ticket.refresh_from_db()
        assert ticket.status == Status.IN_PROGRESS
        client.post(f"/tickets/{ticket.pk}/assign/", {"assignee": team_lead.pk, "reason": "需要组长处理"})
        ticket.refresh_from_db()
        assert ticket.assignee == team_lead
        assert ticket.first_contact_owner == agent
        due = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        client.post(
            f"/tickets/{ticket.pk}/dispatch/",
            {"department": repair_department.pk, "due_at": due, "instructions": "上门检查"},
        )
        assert Dispatch.objects.get(ticket=ticket).due_at is not None
        client.post(f"/tickets/{ticket.pk}/escalate/", {"reason": "客户情绪激动"})
        ticket.refresh_from_db()
        assert ticket.escalation_level == 1
        body = client.get(f"/tickets/{ticket.pk}/").content.decode()
        assert "将工单从 李客服 交接给 王组长（原因：需要组长处理）" in body

    def test_dispatch_in_the_past_is_refused(
        self, login: Any, agent: Any, ticket: Any, repair_department: Any
    ) -> None:
        past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        response = login(agent).post(
            f"/tickets/{ticket.pk}/dispatch/", {"department": repair_department.pk, "due_at": past}, **HTMX
        )
        assert response.status_code == 422
        assert "晚于现在" in response.content.decode()

    def test_stale_edit_shows_what_changed(self, login: Any, agent: Any, team_lead: Any, ticket: Any) -> None:
        client = login(agent)
        loaded = client.get(f"/tickets/{ticket.pk}/").context
        stale_version, loaded_at = loaded["ticket"].version, loaded["loaded_at"]
        services.ticket_update(
            actor=team_lead,
            ticket=ticket,
            expected_version=None,
            changes=services.TicketChanges(priority="urgent"),
        )
        response = client.post(
            f"/tickets/{ticket.pk}/edit/",
            {
                "version": stale_version,
                "loaded_at": loaded_at,
                "subject": ticket.subject,
                "ticket_type": "repair",
                "priority": "normal",
                "channel": "phone",
                "description": ticket.description,
            },
            **HTMX,
        )
        body = response.content.decode()
        assert response.status_code == 409
        assert 'data-testid="conflict"' in body
        assert "王组长 修改了工单" in body
        assert "紧急" in body
        ticket.refresh_from_db()
        assert ticket.priority == "urgent"  # not silently overwritten

    def test_edit_with_current_version(self, login: Any, agent: Any, ticket: Any) -> None:
        login(agent).post(
            f"/tickets/{ticket.pk}/edit/",
            {
                "version": ticket.version,
                "subject": "新标题",
                "ticket_type": "repair",
                "priority": "high",
                "channel": "phone",
                "description": "",
            },
        )
        ticket.refresh_from_db()
        assert (ticket.subject, ticket.priority) == ("新标题", "high")

    def test_outsider_cannot_act(self, login: Any, other_agent: Any, ticket: Any) -> None:
        response = login(other_agent).post(f"/tickets/{ticket.pk}/reply/", {"body": "x"})
        assert response.status_code == 404
        assert not TicketMessage.objects.filter(ticket=ticket).exists()

    def test_department_user_may_not_reply(self, login: Any, department_user: Any, ticket: Any) -> None:
        assert login(department_user).post(f"/tickets/{ticket.pk}/reply/", {"body": "x"}).status_code == 403


class TestAttachments:
    def test_upload_limits_and_download_scope(
        self, login: Any, agent: Any, other_agent: Any, ticket: Any, settings: Any, tmp_path: Any
    ) -> None:
        settings.MEDIA_ROOT = tmp_path
        client = login(agent)
        bad = client.post(
            f"/tickets/{ticket.pk}/attachments/", {"file": SimpleUploadedFile("run.exe", b"MZ")}, **HTMX
        )
        assert bad.status_code == 422
        assert "不支持的文件类型" in bad.content.decode()
        settings.KEFU_ATTACHMENT_MAX_BYTES = 10
        big = client.post(
            f"/tickets/{ticket.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"x" * 11)}, **HTMX
        )
        assert big.status_code == 422
        settings.KEFU_ATTACHMENT_MAX_BYTES = 1000
        ok = client.post(
            f"/tickets/{ticket.pk}/attachments/", {"file": SimpleUploadedFile("报价.txt", b"hello")}, **HTMX
        )
        assert ok.status_code == 200
        attachment = ticket.attachments.get()
        url = reverse("web:attachment_download", kwargs={"attachment_id": attachment.pk})
        download = client.get(url)
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"hello"
        assert login(other_agent).get(url).status_code == 404


class TestDepartmentQueue:
    def test_acknowledge_and_complete(
        self, login: Any, agent: Any, department_user: Any, ticket: Any, repair_department: Any
    ) -> None:
        dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
        client = login(department_user)
        queue = client.get("/department/")
        assert [r.pk for r in queue.context["rows"]] == [dispatch.pk]
        client.post(f"/dispatches/{dispatch.pk}/acknowledge/", **HTMX)
        again = client.post(f"/dispatches/{dispatch.pk}/acknowledge/", **HTMX)
        assert again.status_code == 409  # taken already: a clear message, not a 500
        client.post(f"/dispatches/{dispatch.pk}/complete/", {"result": "已更换压缩机"}, **HTMX)
        dispatch.refresh_from_db()
        ticket.refresh_from_db()
        assert dispatch.status == "done"
        assert dispatch.completed_by == department_user
        assert ticket.status == Status.IN_PROGRESS

    def test_other_department_cannot_see_or_acknowledge(
        self, login: Any, agent: Any, ticket: Any, repair_department: Any
    ) -> None:
        from kefu.accounts.tests.factories import DepartmentFactory, UserFactory

        dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
        finance = UserFactory(username="finance", department_staff=True, department=DepartmentFactory())
        client = login(finance)
        assert client.get("/department/").context["rows"] == []
        assert client.post(f"/dispatches/{dispatch.pk}/acknowledge/").status_code == 404
        dispatch.refresh_from_db()
        assert dispatch.status == "pending"

    def test_agent_has_no_queue(self, login: Any, agent: Any) -> None:
        assert login(agent).get("/department/").status_code == 403


class TestSavedViews:
    def test_save_list_delete(self, login: Any, agent: Any, other_agent: Any) -> None:
        client = login(agent)
        response = client.post("/views/", {"name": "我的投诉", "query": "scope=mine&type=complaint"}, **HTMX)
        assert "我的投诉" in response.content.decode()
        view = SavedView.objects.get(owner=agent)
        assert "我的投诉" in client.get("/tickets/").content.decode()
        # saving the same name replaces its filters
        client.post("/views/", {"name": "我的投诉", "query": "scope=mine&type=repair"}, **HTMX)
        assert SavedView.objects.get(owner=agent).query == "scope=mine&type=repair"
        assert login(other_agent).post(f"/views/{view.pk}/delete/").status_code == 404
        login(agent).post(f"/views/{view.pk}/delete/", **HTMX)
        assert not SavedView.objects.filter(pk=view.pk).exists()

    def test_blank_name_is_refused(self, login: Any, agent: Any) -> None:
        response = login(agent).post("/views/", {"name": " ", "query": "scope=mine"}, **HTMX)
        assert response.status_code == 422
        assert not SavedView.objects.exists()


class TestCreate:
    def test_create_with_existing_customer(self, login: Any, agent: Any, customer: Any) -> None:
        response = login(agent).post(
            "/tickets/new/",
            {
                "subject": "新的报修",
                "ticket_type": "repair",
                "priority": "normal",
                "channel": "phone",
                "customer": customer.pk,
            },
        )
        ticket = Ticket.objects.get(subject="新的报修")
        assert response["Location"] == f"/tickets/{ticket.pk}/"
        assert ticket.customer == customer
        assert ticket.first_contact_owner == agent

    def test_create_with_new_customer_inline(self, login: Any, agent: Any) -> None:
        login(agent).post(
            "/tickets/new/",
            {
                "subject": "咨询",
                "ticket_type": "inquiry",
                "priority": "normal",
                "channel": "phone",
                "new_customer_name": "王五",
                "new_customer_phone": "13912345678",
                "new_customer_tier": "B",
            },
        )
        ticket = Ticket.objects.get(subject="咨询")
        assert ticket.customer.name == "王五"
        assert ticket.customer.tier == "B"

    def test_invalid_new_customer_keeps_nothing(self, login: Any, agent: Any) -> None:
        from kefu.customers.models import Customer

        response = login(agent).post(
            "/tickets/new/",
            {
                "subject": "",
                "ticket_type": "inquiry",
                "priority": "normal",
                "channel": "phone",
                "new_customer_name": "王五",
            },
        )
        assert response.status_code == 422
        response = login(agent).post(
            "/tickets/new/",
            {
                "subject": "x",
                "ticket_type": "inquiry",
                "priority": "normal",
                "channel": "phone",
                "new_customer_name": "王五",
                "new_customer_phone": "12",
            },
        )
        assert response.status_code == 422
        assert "电话" in response.content.decode()
        assert not Customer.objects.filter(name="王五").exists()
        assert not Ticket.objects.exists()

    def test_customer_search_is_masked(self, login: Any, agent: Any, customer: Any) -> None:
        body = login(agent).get("/customers/search/?q=8000").content.decode()
        assert "张三" in body
        assert "138****8000" in body
        assert "13800138000" not in body


class TestHistoryEvents:
    def test_system_reasons_are_worded_in_the_readers_language(self, ticket: Any) -> None:
        from django.utils import translation

        from kefu.tickets.choices import EventKind
        from kefu.web.history import event_sentence

        breach = TicketEvent(ticket=ticket, kind=EventKind.ESCALATED, data={
            "level": 1, "system": True, "reason": "", "reason_code": "sla_breach",
            "metrics": ["first_response", "resolution"]})
        closed = TicketEvent(ticket=ticket, kind=EventKind.STATUS, from_status="resolved", to_status="closed",
                             data={"reason_code": "auto_close"})
        with translation.override("zh-hans"):
            assert "SLA 超时：首次响应、解决" in str(event_sentence(breach))
            assert "系统自动关闭" in str(event_sentence(closed))
        with translation.override("en"):
            text = str(event_sentence(breach)) + str(event_sentence(closed))
            assert "closed automatically" in text
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in text), text

    def test_every_event_kind_renders_in_words(self, agent: Any, ticket: Any) -> None:
        from kefu.tickets.choices import EventKind
        from kefu.web.history import event_sentence

        for kind in EventKind:
            event = TicketEvent(
                ticket=ticket, kind=kind, actor=agent, data={"level": 1, "metric": "resolution"}
            )
            text = str(event_sentence(event))
            assert text, kind
            assert "None" not in text, kind
