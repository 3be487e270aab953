"""Home pages per role, the list's default view, the department queue with what is needed on site, a customer's
history across teams. On the demo data: every figure a supervisor sees equals the length of the list it links to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone

from kefu.core.models import AuditLog
from kefu.tickets import selectors, services
from kefu.tickets.choices import SlaStanding
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def make(actor: Any, n: int = 1, **kwargs: Any) -> list[Ticket]:
    subject = kwargs.pop("subject", None)
    return [services.ticket_create(actor=actor, subject=subject or f"工单{i}", **kwargs) for i in range(n)]


def listed(client: Client, url: str) -> int:
    """How many orders the list at `url` shows (all its pages)."""
    total = 0
    while url:
        page = client.get(url).context["page"]
        total += len(page.rows)
        url = f"{url.split('&after=')[0]}&after={page.next_cursor}" if page.next_cursor else ""
    return total


class TestHomePages:
    def test_each_role_gets_its_home(self, login: Any, agent: Any, team_lead: Any, shift_lead: Any, qa: Any,
                                     manager: Any, admin_user: Any) -> None:
        make(agent, assignee=agent)
        kinds = {agent: "agent", team_lead: "team", shift_lead: "centre", qa: "centre", manager: "centre",
                 admin_user: "centre"}
        for user, kind in kinds.items():
            response = login(user).get("/")
            assert response.context["home"].kind == kind, user.username
            body = response.content.decode()
            assert ('data-testid="home-admin-link"' in body) == (user in (manager, admin_user)), user.username

    def test_agent_home_puts_breached_orders_first(self, login: Any, agent: Any) -> None:
        later, sooner, breached = make(agent, 3, assignee=agent)
        now = timezone.now()
        Ticket.objects.filter(pk=later.pk).update(sla_due_at=now + timedelta(hours=5), sla_standing=SlaStanding.OK)
        Ticket.objects.filter(pk=sooner.pk).update(sla_due_at=now + timedelta(hours=1),
                                                   sla_standing=SlaStanding.WARNING)
        # breached long ago and its due time passed: still first, and never missing from "most urgent"
        Ticket.objects.filter(pk=breached.pk).update(sla_due_at=now + timedelta(hours=9),
                                                     sla_standing=SlaStanding.BREACHED)
        home = login(agent).get("/").context["home"]
        assert [r["id"] for r in home.urgent] == [breached.pk, sooner.pk, later.pk]
        # its first response was late while the resolution still has time: the row says both, not only "left"
        assert home.urgent[0]["sla_text"].startswith("已超时 · 剩余")
        assert home.urgent[1]["sla_text"].startswith("剩余")

    def test_team_home_by_agent_and_unassigned(self, login: Any, agent: Any, team_lead: Any,
                                               other_agent: Any) -> None:
        mine = make(agent, 2, assignee=agent)
        Ticket.objects.filter(pk=mine[0].pk).update(sla_standing=SlaStanding.BREACHED)
        loose = make(team_lead)[0]
        Ticket.objects.filter(pk=loose.pk).update(assignee=None)
        make(other_agent, assignee=other_agent)
        client = login(team_lead)
        home = client.get("/").context["home"]
        rows = {r["name"]: r for r in home.breakdowns[0]["rows"]}
        assert (rows[str(agent)]["open"], rows[str(agent)]["breached"]) == (2, 1)
        assert str(other_agent) not in rows
        assert [r["id"] for r in home.unassigned] == [loose.pk]
        for row in rows.values():
            for name in ("open", "due_soon", "breached"):
                assert listed(client, row[f"{name}_url"]) == row[name], (row["name"], name)
        for figure in home.figures:
            assert listed(client, figure.url) == figure.value, figure.key

    @pytest.mark.parametrize(("persona", "most"), [("agent", 15), ("team_lead", 19), ("manager", 18)])
    def test_query_count_does_not_grow(self, request: Any, login: Any, persona: str, most: int, agent: Any,
                                       team_lead: Any, other_agent: Any, customer: Any,
                                       django_assert_max_num_queries: Any) -> None:
        user = request.getfixturevalue(persona)
        client = login(user)
        make(agent, 2, assignee=agent, customer=customer)
        client.get("/")
        with django_assert_max_num_queries(most):
            client.get("/")
        make(agent, 10, assignee=agent, customer=customer)
        make(other_agent, 10, assignee=other_agent, customer=customer)
        make(team_lead, 5, assignee=team_lead)
        with django_assert_max_num_queries(most):
            client.get("/")


    def test_the_daily_chart_counts_today_live_and_keeps_past_days(self, login: Any, agent: Any,
                                                                   django_assert_max_num_queries: Any) -> None:
        older = make(agent, assignee=agent)[0]
        Ticket.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=2))
        client = login(agent)
        chart = client.get("/").context["home"].charts["daily"]
        assert (chart["created"][-3], chart["created"][-1]) == (1, 0)
        make(agent, assignee=agent)
        chart = client.get("/").context["home"].charts["daily"]
        assert (chart["created"][-3], chart["created"][-1]) == (1, 1)
        # the bars link to the day's list, which shows exactly that many
        assert listed(client, chart["links"][-1]) == 1
        assert listed(client, chart["links"][-3]) == 1


class TestDefaultList:
    @pytest.mark.parametrize(("persona", "view"), [("agent", "mine"), ("team_lead", "team"), ("manager", "all"),
                                                   ("shift_lead", "all"), ("qa", "all")])
    def test_the_list_opens_on_the_view_that_suits_the_role(self, request: Any, login: Any, persona: str,
                                                            view: str) -> None:
        user = request.getfixturevalue(persona)
        response = login(user).get("/tickets/")
        found = response.context["ticket_filter"]
        assert (found.view, found.statuses) == (view, ("open",))
        # and the sidebar link opens the same
        assert f'href="/tickets/?scope={view}&amp;status=open"' in response.content.decode()

    def test_a_manager_no_longer_opens_on_an_empty_mine(self, login: Any, manager: Any, agent: Any) -> None:
        make(agent, 3, assignee=agent)
        assert len(login(manager).get("/tickets/").context["rows"]) == 3

    def test_a_scope_the_person_may_not_see_is_named(self, login: Any, agent: Any) -> None:
        response = login(agent).get("/tickets/?scope=all")
        assert response.status_code == 200
        assert [e.parameter for e in response.context["filter_errors"]] == ["scope"]
        assert 'data-testid="filter-errors"' in response.content.decode()


class TestDepartmentQueue:
    @pytest.fixture
    def dispatched(self, agent: Any, customer: Any, repair_department: Any) -> Any:
        from kefu.customers.tests.factories import SiteFactory

        SiteFactory(customer=customer, province="广东省", city="广州市", address="天河路 1 号 3 栋 502")
        ticket = make(agent, customer=customer, subject="厨房漏水")[0]
        return services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department,
                                        due_at=timezone.now() + timedelta(days=1))

    def test_department_staff_see_name_masked_phone_and_address(self, login: Any, department_user: Any,
                                                                dispatched: Any,
                                                                django_assert_max_num_queries: Any) -> None:
        client = login(department_user)
        with django_assert_max_num_queries(12):
            body = client.get("/department/").content.decode()
        assert "张三" in body
        assert "138****8000" in body
        assert "13800138000" not in body
        assert "广东省广州市天河路 1 号 3 栋 502" in body
        detail = client.get(f"/tickets/{dispatched.ticket_id}/").content.decode()
        assert 'data-testid="customer-onsite"' in detail
        assert "138****8000" in detail

    def test_revealing_the_phone_is_audited(self, login: Any, department_user: Any, dispatched: Any) -> None:
        response = login(department_user).post(f"/dispatches/{dispatched.pk}/onsite/")
        assert response.status_code == 200
        assert "13800138000" in response.content.decode()
        audit = AuditLog.objects.get(action="customer.viewed_unmasked")
        assert audit.data["fields"] == ["onsite_phone"]
        assert audit.data["dispatch_id"] == dispatched.pk

    def test_outsiders_cannot_reveal(self, login: Any, other_agent: Any, qa: Any, dispatched: Any) -> None:
        assert login(other_agent).post(f"/dispatches/{dispatched.pk}/onsite/").status_code == 404
        assert login(qa).post(f"/dispatches/{dispatched.pk}/onsite/").status_code == 403
        assert not AuditLog.objects.filter(action="customer.viewed_unmasked").exists()

    def test_the_department_filter_narrows_the_queue(self, login: Any, manager: Any, agent: Any,
                                                     dispatched: Any, service_center: Any) -> None:
        from kefu.accounts.tests.factories import DepartmentFactory

        other = DepartmentFactory(code="finance", name="财务部")
        services.ticket_dispatch(actor=agent, ticket=make(agent)[0], department=other)
        client = login(manager)
        assert len(client.get("/department/").context["rows"]) == 2
        rows = client.get(f"/department/?department={other.pk}").context["rows"]
        assert [r.department_id for r in rows] == [other.pk]
        page = client.get("/department/").content.decode()
        assert "onchange" not in page
        assert 'hx-get="/department/"' in page


def test_a_customers_history_spans_teams(login: Any, agent: Any, other_agent: Any, customer: Any) -> None:
    mine = make(agent, customer=customer, assignee=agent)[0]
    theirs = make(other_agent, customer=customer, assignee=other_agent, subject="另一组的报修")[0]
    response = login(agent).get(f"/customers/{customer.pk}/")
    rows = {r["id"]: r for r in response.context["history"]}
    assert set(rows) == {mine.pk, theirs.pk}
    assert rows[mine.pk]["url"]
    assert not rows[theirs.pk]["url"]
    assert rows[theirs.pk]["team_name"] == other_agent.team.name
    assert f"/tickets/{theirs.pk}/" not in response.content.decode()
    assert login(agent).get(f"/tickets/{theirs.pk}/").status_code == 404  # shown, not openable


@pytest.mark.slow
def test_on_the_demo_data_every_supervisor_figure_equals_its_list(login: Any) -> None:
    """`kefu demo --small` in the test database: each figure of the centre's home page and of the header's
    counters links to a list of exactly that many orders."""
    from kefu.accounts.models import User
    from kefu.demo.builder import SMALL, build_demo

    build_demo(size=SMALL)
    for username in ("manager", "shiftlead", "qa", "lead1"):
        user = User.objects.get(username=username)
        client = login(user)
        home = client.get("/").context["home"]
        figures = [(f.key, f.value, f.url) for f in home.figures]
        for table in home.breakdowns:
            for row in table["rows"]:
                figures += [(f"{row['name']} {n}", row[n], row[f"{n}_url"]) for n in ("open", "due_soon", "breached")]
        for group in selectors.counters_for(user):
            figures += [(f"{group.key} {f.name}", f.value, f.url) for f in group.figures]
        assert any(value for _key, value, _url in figures), username
        for key, value, url in figures:
            if urlparse(url).path == "/department/":
                continue
            assert listed(client, url) == value, (username, key)
