"""Every administration page reads a fixed number of queries however much there is to show: each page is read
with a little data, then with three times as much, and must cost the same."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kefu.accounts.models import AgentSkill, Department, Skill, Team, User
from kefu.core.models import AuditLog, BusinessCalendar, CalendarDay
from kefu.notifications.models import WecomRobot
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.models import Category, SlaPolicy

pytestmark = pytest.mark.django_db
LIMIT = 14  # the most any administration page may read (session, user, header, then its own few)


def add_rows(n: int, service_center: Any, repair_department: Any) -> None:
    """n more of everything a page lists: staff with skills, teams, departments, skills, categories, policies,
    calendar days, robots."""
    calendar = BusinessCalendar.objects.get(name="标准工作日历")
    start = Team.objects.count()
    for i in range(start, start + n):
        team = Team.objects.create(name=f"班组{i}", department=service_center)
        skill = Skill.objects.create(code=f"s{i}", name=f"技能{i}")
        person = User.objects.create(username=f"u{i}", display_name=f"员工{i}", team=team,
                                     department=service_center, employee_no=f"9{i:03d}")
        AgentSkill.objects.create(user=person, skill=skill, proficiency=3)
        department = Department.objects.create(name=f"部门{i}", code=f"d{i}", calendar=calendar,
                                               default_due_seconds=3600, manager=person)
        Category.objects.create(name=f"分类{i}", default_department=department,
                                parent=Category.objects.filter(parent=None).first())
        SlaPolicy.objects.create(name=f"策略{i}", calendar=calendar, first_response_seconds=3600)
        CalendarDay.objects.create(calendar=calendar, date=date(2027, 1, 1) + timedelta(days=i), kind="holiday")
        WecomRobot.objects.create(name=f"群{i}", team=team,
                                  url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={i}")
        AuditLog.objects.create(actor=person, action="team.created", object_type="accounts.team",
                                object_id=str(team.pk), summary=team.name, data={"name": team.name})


def pages(admin: Any) -> list[str]:
    calendar = BusinessCalendar.objects.get(name="标准工作日历")
    return [
        "/admin/", "/admin/staff/", "/admin/staff/new/", f"/admin/staff/{admin.pk}/", "/admin/staff/import/",
        "/admin/teams/", "/admin/teams/new/", f"/admin/teams/{Team.objects.first().pk}/",
        "/admin/departments/", f"/admin/departments/{Department.objects.first().pk}/",
        "/admin/skills/", "/admin/categories/", "/admin/categories/new/", "/admin/types/",
        "/admin/sla/", f"/admin/sla/{SlaPolicy.objects.first().pk}/", "/admin/calendars/",
        f"/admin/calendars/{calendar.pk}/?year=2027", "/admin/notifications/robots/", "/account/password/",
        "/admin/audit/", "/admin/audit/?action=team.*", f"/admin/audit/{AuditLog.objects.order_by('pk').first().pk}/",
    ]


def counts(client: Client, urls: list[str]) -> dict[str, int]:
    found = {}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, url
        found[url] = len(queries.captured_queries)
    return found


def test_no_administration_page_reads_more_as_the_data_grows(admin_user: Any, service_center: Any,
                                                             repair_department: Any) -> None:
    sla_install_defaults()
    client = Client()
    client.force_login(admin_user)
    add_rows(3, service_center, repair_department)
    urls = pages(admin_user)
    counts(client, urls)  # warm the per-version caches (option lists, calendars) as a running server has them
    small = counts(client, urls)
    add_rows(6, service_center, repair_department)
    large = counts(client, urls)
    grew = {url: (small[url], large[url]) for url in urls if large[url] != small[url]}
    assert not grew, f"queries grew with the data (before, after): {grew}"
    over = {url: n for url, n in large.items() if n > LIMIT}
    assert not over, f"more than {LIMIT} queries: {over}"
