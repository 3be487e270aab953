"""The queue settings API (/api/v1/queues…): managers and administrators only; PATCH changes only the fields sent,
through the same services as the pages (field named on a bad value, loops refused, 409 on a stale version,
audited); nothing is written when refused."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.models import Skill
from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.models import AuditLog
from kefu.routing.models import Queue
from kefu.routing.services import QueueData, queue_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotline(admin_user: Any) -> Queue:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线"))


def test_only_managers_and_administrators(agent: Any, team_lead: Any, qa: Any, manager: Any,
                                          hotline: Queue) -> None:
    for outsider in (agent, team_lead, qa):
        client = api_as(outsider)
        assert client.get("/queues").status_code == 403
        assert client.patch("/queues/hotline", {"version": 1, "routed": True}).status_code == 403
    listing = api_as(manager).get("/queues")
    assert listing.status_code == 200
    assert [q["code"] for q in listing.json()] == ["hotline"]


def test_patch_changes_only_what_is_sent(manager: Any, team: Any, hotline: Queue) -> None:
    Skill.objects.create(code="repair", name="报修")
    queue_create(actor=manager, data=QueueData(code="backup", name="后备热线"))
    client = api_as(manager)
    changed = client.patch("/queues/hotline", {
        "version": 1, "routed": True, "strategy": "proficiency", "team_id": team.pk, "overflow_to": "backup",
        "overflow_after_seconds": 60, "skills": [{"skill": "repair", "min_proficiency": 3}]})
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["routed"], body["strategy"], body["team_id"], body["overflow_to"], body["skills"],
            body["offer_seconds"], body["version"]) == (
        True, "proficiency", team.pk, "backup", [{"skill": "repair", "min_proficiency": 3}], 20, 2)
    assert client.get("/queues/hotline").json() == body
    entry = AuditLog.objects.get(action="queue.updated")
    assert (entry.data["before"]["routed"], entry.data["after"]["routed"]) == (False, True)
    cleared = client.patch("/queues/hotline", {"version": 2, "overflow_to": None, "overflow_after_seconds": None,
                                               "team_id": None})
    assert cleared.status_code == 200
    assert (cleared.json()["overflow_to"], cleared.json()["team_id"], cleared.json()["routed"]) == (None, None, True)


@pytest.mark.parametrize(("body", "field"), [
    ({"strategy": "random"}, "strategy"),
    ({"offer_seconds": 4}, "offer_seconds"),
    ({"affinity": "last_agent", "affinity_seconds": 0}, "affinity_seconds"),
    ({"overflow_to": "nowhere", "overflow_after_seconds": 30}, "overflow_to"),
    ({"overflow_to": "hotline", "overflow_after_seconds": 30}, "overflow_to"),
    ({"overflow_to": "backup"}, "overflow_after_seconds"),
    ({"team_id": 999999}, "team_id"),
    ({"skills": [{"skill": "unknown"}]}, "skills"),
    ({"vip_priority": 101}, "vip_priority"),
    ({"routed": None}, "routed"),
])
def test_a_bad_value_names_its_field_and_writes_nothing(admin_user: Any, hotline: Queue, body: dict[str, Any],
                                                        field: str) -> None:
    queue_create(actor=admin_user, data=QueueData(code="backup", name="后备热线"))
    response = api_as(admin_user).patch("/queues/hotline", {"version": 1, **body})
    assert response.status_code in (400, 422), response.content
    assert field in str(response.json()["details"])
    hotline.refresh_from_db()
    assert hotline.version == 1
    assert not AuditLog.objects.filter(action="queue.updated").exists()


def test_loops_and_stale_versions_are_refused(admin_user: Any, hotline: Queue) -> None:
    queue_create(actor=admin_user, data=QueueData(code="backup", name="后备热线", overflow_to=hotline,
                                                  overflow_after_seconds=60))
    client = api_as(admin_user)
    loop = client.patch("/queues/hotline", {"version": 1, "overflow_to": "backup", "overflow_after_seconds": 60})
    assert assert_error_shape(loop, 400)["details"]["field"] == "overflow_to"
    assert client.patch("/queues/hotline", {"version": 1, "name": "热线"}).status_code == 200
    stale = client.patch("/queues/hotline", {"version": 1, "name": "又改"})
    assert assert_error_shape(stale, 409, "stale_version")["details"]["current_version"] == 2
    assert client.get("/queues/nowhere").status_code == 404
    assert Queue.objects.get(code="hotline").name == "热线"
