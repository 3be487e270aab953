"""Junk posted to every administration page: a clear refusal (4xx, or the form again with its errors), never a 5xx,
and nothing written (no audit row)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kefu.accounts.models import Skill, Team
from kefu.core.models import AuditLog, BusinessCalendar
from kefu.notifications.models import WecomRobot
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.models import Category, SlaPolicy

pytestmark = pytest.mark.django_db
NAMESPACES = ("administration", "notifications", "integrations")
JUNK = [
    {},
    {"name": "长" * 5000, "code": "有 空格!", "username": "a b", "version": "abc", "role": "king",
     "time_zone": "Mars/Olympus", "w0_0_start": "25:99", "w0_0_end": "xx", "day-date": "2027-02-30",
     "day-kind": "sometimes", "default_due_hours": "-3", "first_response_minutes": "1e9", "calendar": "999999",
     "department": "abc", "team": "-1", "lead": "0", "parent": "999999", "method": "carrier-pigeon",
     "to": "999999", "url": "javascript:alert(1)", "events": "no.such.event", "date": "yesterday",
     "active": "maybe", "warning_percent": "150", "email": "@", "phone": "电话"},
    {"name": "\x00", "username": "\x00", "version": "-1", "date": "\x00"},
]


def post_routes() -> list[tuple[str, str, list[str]]]:
    found: list[tuple[str, str, list[str]]] = []

    def walk(patterns: list[Any], namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and namespace in NAMESPACES and p.name:
                found.append((namespace, p.name, list(p.pattern.converters)))

    walk(get_resolver().url_patterns, "")
    return found


def fill(params: list[str], world: dict[str, Any]) -> dict[str, Any]:
    return {name: world[name] for name in params}


def test_junk_is_refused_everywhere(admin_user: Any, agent: Any, team: Any, repair_department: Any) -> None:
    sla_install_defaults()
    calendar = BusinessCalendar.objects.get(name="标准工作日历")
    robot = WecomRobot.objects.create(name="群", team=team, url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1")
    world = {"user_id": agent.pk, "team_id": team.pk, "department_id": repair_department.pk,
             "skill_id": Skill.objects.create(code="x", name="x").pk, "calendar_id": calendar.pk,
             "category_id": Category.objects.create(name="类").pk, "policy_id": SlaPolicy.objects.first().pk,
             "robot_id": robot.pk, "endpoint_id": None, "delivery_id": None, "notification_id": None,
             "uidb64": "MQ", "token": "nope", "download": "nope"}
    client = Client()
    client.force_login(admin_user)
    routes = post_routes()
    assert len(routes) > 25
    failures = []
    for namespace, name, params in routes:
        if any(world.get(p) is None for p in params):
            continue  # objects the administration does not own here (their own apps test them)
        url = reverse(f"{namespace}:{name}", kwargs=fill(params, world))
        for junk in JUNK:
            before = AuditLog.objects.count()
            response = client.post(url, junk)
            if response.status_code >= 500:
                failures.append(f"{url} {sorted(junk)[:3]}: {response.status_code}")
            elif AuditLog.objects.count() != before:
                failures.append(f"{url} {sorted(junk)[:3]}: wrote {AuditLog.objects.last().action}")
    assert not failures, "\n".join(failures)
    assert Team.objects.get(pk=team.pk).name == team.name
