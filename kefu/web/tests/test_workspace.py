"""Sign-in and language, CSRF and headers, customers with masking and audit, dashboard and live counters."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kefu.core.models import AuditLog
from kefu.tickets import services
from kefu.tickets.choices import SlaStanding
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db


class TestSignIn:
    def test_login_applies_the_users_language(self, client: Client, agent: Any) -> None:
        agent.language = "en"
        agent.save(update_fields=["language"])
        response = client.post("/login/", {"username": "agent", "password": "pass"})
        assert response.status_code == 302
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    def test_wrong_password_is_a_clear_message(self, client: Client, agent: Any) -> None:
        response = client.post("/login/", {"username": "agent", "password": "nope"})
        assert response.status_code == 200
        assert "用户名或密码不正确" in response.content.decode()

    def test_language_switch_is_remembered_on_the_user(self, login: Any, agent: Any) -> None:
        login(agent).post("/language/", {"language": "en", "next": "/"})
        agent.refresh_from_db()
        assert agent.language == "en"

    def test_language_chosen_on_the_sign_in_page_sticks(self, client: Client, agent: Any) -> None:
        client.post("/language/", {"language": "en", "next": "/login/"})
        client.post("/login/", {"username": "agent", "password": "pass"})
        agent.refresh_from_db()
        assert agent.language == "en"

    def test_anonymous_is_sent_to_login(self, client: Client) -> None:
        for url in ("/", "/tickets/", "/customers/", "/department/"):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/login/"), url

    def test_logout(self, login: Any, agent: Any) -> None:
        client = login(agent)
        assert client.post("/logout/").status_code == 302
        assert client.get("/").status_code == 302


class TestSecurity:
    def test_csrf_is_required(self, agent: Any, ticket: Any) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(agent)
        assert client.post(f"/tickets/{ticket.pk}/reply/", {"body": "x"}).status_code == 403
        page = client.get(f"/tickets/{ticket.pk}/").content.decode()
        assert 'hx-headers=\'{"X-CSRFToken": "' in page  # HTMX requests carry the token

    def test_security_headers(self, login: Any, agent: Any) -> None:
        response = login(agent).get("/tickets/")
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";") if d.strip())
        assert policy["script-src"] == "'self' 'unsafe-eval'"  # no inline script runs, injected or not
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"

    def test_no_template_has_an_inline_script(self) -> None:
        """The policy blocks inline scripts: one in a template never runs (the wallboard's live refresh did
        not, and the page read its figures only every 15 s). Scripts come from files; data from JSON blocks."""
        import re
        from pathlib import Path

        import kefu

        inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
        found = [f"{path.relative_to(Path(kefu.__file__).parent)}: {match.group(0)}"
                 for path in Path(kefu.__file__).parent.rglob("templates/**/*.html")
                 for match in inline.finditer(path.read_text(encoding="utf-8"))]
        assert found == []


class TestCustomers:
    def test_list_is_masked(self, login: Any, agent: Any, customer: Any) -> None:
        body = login(agent).get("/customers/?q=张").content.decode()
        assert "张三" in body
        assert "138****8000" in body
        assert "13800138000" not in body

    def test_reveal_shows_and_audits(self, login: Any, agent: Any, customer: Any) -> None:
        client = login(agent)
        assert "13800138000" not in client.get(f"/customers/{customer.pk}/").content.decode()
        response = client.post(f"/customers/{customer.pk}/reveal/")
        assert "13800138000" in response.content.decode()
        row = AuditLog.objects.get(action="customer.viewed_unmasked")
        assert row.actor == agent
        assert row.object_id == str(customer.pk)

    def test_qa_cannot_reveal_and_department_cannot_see(
        self, login: Any, qa: Any, department_user: Any, customer: Any
    ) -> None:
        assert login(qa).post(f"/customers/{customer.pk}/reveal/").status_code == 403
        assert not AuditLog.objects.filter(action="customer.viewed_unmasked").exists()
        assert login(department_user).get(f"/customers/{customer.pk}/").status_code == 403

    def test_detail_has_timeline_and_open_orders(self, login: Any, agent: Any, ticket: Any) -> None:
        response = login(agent).get(f"/customers/{ticket.customer_id}/")
        assert [t["id"] for t in response.context["history"]] == [ticket.pk]
        assert any(ticket.number in e.title for e in response.context["timeline"].entries)

    def test_unknown_customer_is_404(self, login: Any, agent: Any) -> None:
        assert login(agent).get("/customers/999999/").status_code == 404

    def test_list_query_count(self, login: Any, agent: Any, django_assert_max_num_queries: Any) -> None:
        from kefu.customers.tests.factories import CustomerFactory

        CustomerFactory.create_batch(30, phone="13900000000")
        client = login(agent)
        # session, user, customers, contacts, tags, saved views, the header: two scopes' counters (cold cache)
        # and the bell's unread count
        with django_assert_max_num_queries(9):
            client.get("/customers/")


class TestDashboardAndCounters:
    def test_counters(self, login: Any, agent: Any, team_lead: Any) -> None:
        mine = services.ticket_create(actor=agent, subject="a", assignee=agent)
        teams = services.ticket_create(actor=team_lead, subject="b", assignee=team_lead)
        Ticket.objects.filter(pk=mine.pk).update(sla_standing=SlaStanding.BREACHED)
        Ticket.objects.filter(pk=teams.pk).update(sla_standing=SlaStanding.WARNING)
        response = login(agent).get("/counters/")
        groups = {g.key: {f.name: f.value for f in g.figures} for g in response.context["header_counters"]}
        assert groups[f"user.{agent.pk}"] == {"open": 1, "due_soon": 0, "breached": 1}
        assert groups[f"team.{agent.team_id}"] == {"open": 2, "due_soon": 1, "breached": 1}
        body = response.content.decode()
        assert f'data-counter-scope="team.{agent.team_id}" data-counter="breached"' in body
        assert 'data-testid="counter-user-breached"' in body

    def test_page_counters_are_cached_briefly_and_the_live_update_recounts(
        self, login: Any, agent: Any, monkeypatch: Any
    ) -> None:
        from kefu.tickets import selectors

        def breached(response: Any) -> int:
            group = response.context["header_counters"][0]
            return {f.name: f.value for f in group.figures}["breached"]

        monkeypatch.setattr(selectors, "COUNTERS_TTL_SECONDS", 3600)  # however slow the machine, still cached
        client = login(agent)
        mine = services.ticket_create(actor=agent, subject="a", assignee=agent)
        assert breached(client.get("/tickets/")) == 0
        Ticket.objects.filter(pk=mine.pk).update(sla_standing=SlaStanding.BREACHED)
        # pages within the next seconds reuse the count…
        assert breached(client.get("/tickets/")) == 0
        # …the live update after a change recounts, and the next page shows the new count
        assert breached(client.get("/counters/")) == 1
        assert breached(client.get("/tickets/")) == 1

    def test_home(self, login: Any, agent: Any, ticket: Any, django_assert_max_num_queries: Any) -> None:
        client = login(agent)
        with django_assert_max_num_queries(14):
            response = client.get("/")
        home = response.context["home"]
        assert home.kind == "agent"
        assert {f.key: f.value for f in home.figures}["open"] == 1
        assert len(home.charts["daily"]["created"]) == 30
        assert sum(home.charts["daily"]["created"]) == 1

    def test_department_home_is_the_queue(self, login: Any, department_user: Any) -> None:
        response = login(department_user).get("/")
        assert response.status_code == 302
        assert response["Location"] == "/department/"


def test_supervisor_home_watches_every_team(login: Any, manager: Any, agent: Any, other_agent: Any) -> None:
    services.ticket_create(actor=agent, subject="a", assignee=agent)
    services.ticket_create(actor=other_agent, subject="b", assignee=other_agent)
    home = login(manager).get("/").context["home"]
    assert home.kind == "centre"
    assert {row["name"] for row in home.breakdowns[0]["rows"]} == {"客服一组", "客服二组"}


class TestLanguage:
    def test_chinese_by_default_whatever_the_browser_says(self, client: Client) -> None:
        body = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
        assert "登录客服工作台" in body

    def test_stored_language_applies_without_a_cookie(self, client: Client, agent: Any) -> None:
        agent.language = "en"
        agent.save(update_fields=["language"])
        client.force_login(agent)  # a new browser: no language cookie yet
        assert "Work orders" in client.get("/tickets/").content.decode()


