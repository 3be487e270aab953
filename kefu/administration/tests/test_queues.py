"""The queue pages (/admin/queues/): only managers and administrators; every routing setting on the form, each bad
value refused on its own field with nothing written; overflow cycles refused; a stale form is a conflict that shows
what the other person saved; every change audited; a queue with history or contacts in line is never lost."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kefu.accounts.models import AgentSkill, Skill
from kefu.core.errors import ValidationFailed
from kefu.core.models import AuditLog
from kefu.routing.models import Queue, QueueSkill, RoutedContact
from kefu.routing.services import QueueData, queue_create, queue_update

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**changes: Any) -> dict[str, Any]:
    """A complete queue form as the browser sends it (an unticked box is left out)."""
    data = {"code": "hotline", "name": "服务热线", "kind": "phone", "team": "", "is_active": "on",
            "target_percent": "80", "target_seconds": "20", "formula": "2", "short_abandon_seconds": "5",
            "routed": "on", "strategy": "longest_idle", "offer_seconds": "20", "affinity": "none",
            "affinity_seconds": "30", "overflow_to": "", "overflow_after_seconds": "", "vip_priority": "10",
            "complaint_priority": "5", "long_wait_seconds": "", "long_wait_priority": "5", "callback_allowed": "on",
            "version": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def field_error(response: Any, field: str) -> str:
    found = re.search(rf'data-testid="error-{field}">(.*?)</div>', response.content.decode(), re.S)
    return found.group(1).strip() if found else ""


def in_line(queue: Queue, ref: str, state: str = "waiting") -> RoutedContact:
    return RoutedContact.objects.create(ref=ref, kind=queue.kind, queue=queue, state=state, enqueued_at=AT,
                                        queue_entered_at=AT)


@pytest.fixture
def hotline(admin_user: Any) -> Queue:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", routed=True))


def test_only_managers_and_administrators_see_and_change_queues(agent: Any, team_lead: Any, shift_lead: Any,
                                                                 qa: Any, manager: Any, admin_user: Any,
                                                                 hotline: Queue) -> None:
    pages = ["/admin/queues/", "/admin/queues/new/", f"/admin/queues/{hotline.pk}/"]
    for outsider in (agent, team_lead, shift_lead, qa):
        client = page_client(outsider)
        for url in pages:
            assert client.get(url).status_code == 403, (outsider.username, url)
        assert client.post(f"/admin/queues/{hotline.pk}/", form(strategy="proficiency", version="1")) \
            .status_code == 403
        assert client.post(f"/admin/queues/{hotline.pk}/delete/").status_code == 403
        assert "/admin/queues/" not in client.get("/admin/").content.decode()
    hotline.refresh_from_db()
    assert (hotline.strategy, hotline.version) == ("longest_idle", 1)
    for insider in (manager, admin_user):
        client = page_client(insider)
        for url in pages:
            assert client.get(url).status_code == 200
        assert "/admin/queues/" in client.get("/admin/").content.decode()


def test_a_manager_creates_a_routed_queue_with_skills(manager: Any, team: Any) -> None:
    repair = Skill.objects.create(code="repair", name="报修")
    vip = Skill.objects.create(code="vip", name="贵宾服务")
    backup = queue_create(actor=manager, data=QueueData(code="backup", name="后备热线"))
    client = page_client(manager)
    response = client.post("/admin/queues/new/", form(
        code="Repair-Line", name="报修热线", team=str(team.pk), strategy="proficiency", offer_seconds="15",
        affinity="last_agent", affinity_seconds="40", overflow_to=str(backup.pk), overflow_after_seconds="90",
        vip_priority="20", complaint_priority="8", long_wait_seconds="120", long_wait_priority="3",
        callback_allowed=None, **{f"skill_{repair.pk}": "3", f"skill_{vip.pk}": ""}))
    queue = Queue.objects.get(code="repair-line")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/queues/{queue.pk}/"
    assert (queue.routed, queue.strategy, queue.offer_seconds, queue.affinity, queue.affinity_seconds,
            queue.overflow_to, queue.overflow_after_seconds, queue.vip_priority, queue.complaint_priority,
            queue.long_wait_seconds, queue.long_wait_priority, queue.callback_allowed, queue.team) == (
        True, "proficiency", 15, "last_agent", 40, backup, 90, 20, 8, 120, 3, False, team)
    assert list(QueueSkill.objects.filter(queue=queue).values_list("skill__code", "min_proficiency")) == [
        ("repair", 3)]
    entry = AuditLog.objects.get(action="queue.created", object_id=str(queue.pk))
    assert entry.actor == manager
    assert entry.data["skills"] == [["repair", 3]]
    assert entry.data["overflow_to"] == "backup"
    page = client.get(f"/admin/queues/{queue.pk}/").content.decode()
    for group in ("service_level", "strategy", "skills", "affinity", "overflow", "priority", "callback"):
        assert f'data-testid="group-{group}"' in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"code": "热线"}, "code", "小写字母"),
    ({"code": "a"}, "code", "2–40"),
    ({"name": ""}, "name", ""),
    ({"target_percent": "0"}, "target_percent", "1 到 100"),
    ({"target_seconds": "3601"}, "target_seconds", "0 到 3600"),
    ({"short_abandon_seconds": "-1"}, "short_abandon_seconds", "0 到 600"),
    ({"offer_seconds": "4"}, "offer_seconds", "5 到 300"),
    ({"offer_seconds": "301"}, "offer_seconds", "5 到 300"),
    ({"offer_seconds": "abc"}, "offer_seconds", ""),
    ({"strategy": "random"}, "strategy", ""),
    ({"affinity": "last_agent", "affinity_seconds": ""}, "affinity_seconds", "偏好等待秒数"),
    ({"affinity": "dedicated", "affinity_seconds": "0"}, "affinity_seconds", "偏好等待秒数"),
    ({"affinity_seconds": "3601"}, "affinity_seconds", "0 到 3600"),
    ({"overflow_after_seconds": "60"}, "overflow_after_seconds", "同时填写"),
    ({"vip_priority": "101"}, "vip_priority", "0 到 100"),
    ({"complaint_priority": "-5"}, "complaint_priority", "0 到 100"),
    ({"long_wait_seconds": "0"}, "long_wait_seconds", "1 到 86400"),
    ({"long_wait_priority": "1000"}, "long_wait_priority", "0 到 100"),
    ({"formula": "9"}, "formula", ""),
])
def test_each_bad_value_is_refused_on_its_field(admin_user: Any, changes: dict[str, Any], field: str,
                                                message: str) -> None:
    response = page_client(admin_user).post("/admin/queues/new/", form(**changes))
    assert response.status_code == 422
    error = field_error(response, field)
    assert error, response.content.decode()[:400]
    assert message in error
    assert not Queue.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="queue.").exists()


def test_overflow_targets_must_be_another_active_queue_of_the_same_kind(admin_user: Any, hotline: Queue) -> None:
    chat = queue_create(actor=admin_user, data=QueueData(code="webchat", name="在线客服", kind="chat"))
    client = page_client(admin_user)
    other_kind = client.post("/admin/queues/new/", form(code="second", overflow_to=str(chat.pk),
                                                        overflow_after_seconds="60"))
    assert "同类型" in field_error(other_kind, "overflow_to")
    itself = client.post(f"/admin/queues/{hotline.pk}/", form(overflow_to=str(hotline.pk),
                                                              overflow_after_seconds="60", version="1"))
    assert itself.status_code == 422
    assert field_error(itself, "overflow_to")
    with pytest.raises(ValidationFailed, match="另一个队列") as refused:
        queue_update(actor=admin_user, queue=hotline, expected_version=None, data=QueueData(
            code="hotline", name="服务热线", overflow_to=hotline, overflow_after_seconds=60))
    assert refused.value.details["field"] == "overflow_to"
    spare = queue_create(actor=admin_user, data=QueueData(code="spare", name="后备", is_active=False))
    switched_off = client.post("/admin/queues/new/", form(code="third", overflow_to=str(spare.pk),
                                                          overflow_after_seconds="60"))
    assert "已停用" in field_error(switched_off, "overflow_to")
    assert set(Queue.objects.values_list("code", flat=True)) == {"hotline", "webchat", "spare"}
    hotline.refresh_from_db()
    assert hotline.overflow_to is None
    assert hotline.version == 1


def test_an_overflow_cycle_is_refused_naming_the_chain(admin_user: Any, hotline: Queue) -> None:
    backup = queue_create(actor=admin_user, data=QueueData(code="backup", name="后备热线", overflow_to=hotline,
                                                           overflow_after_seconds=60))
    third = queue_create(actor=admin_user, data=QueueData(code="third", name="三线", overflow_to=backup,
                                                          overflow_after_seconds=60))
    response = page_client(admin_user).post(f"/admin/queues/{hotline.pk}/", form(
        overflow_to=str(third.pk), overflow_after_seconds="30", version="1"))
    assert response.status_code == 422
    assert "hotline → third → backup → hotline" in field_error(response, "overflow_to")
    hotline.refresh_from_db()
    assert (hotline.overflow_to, hotline.version) == (None, 1)
    assert not AuditLog.objects.filter(action="queue.updated").exists()


def test_a_stale_form_is_a_conflict_that_shows_what_was_saved(admin_user: Any, manager: Any,
                                                              hotline: Queue) -> None:
    first, second = page_client(manager), page_client(admin_user)
    assert first.post(f"/admin/queues/{hotline.pk}/", form(strategy="proficiency", version="1")).status_code == 302
    stale = second.post(f"/admin/queues/{hotline.pk}/", form(offer_seconds="30", version="1"))
    assert stale.status_code == 409
    page = stale.content.decode()
    assert "已被他人修改" in page
    assert 'data-testid="conflict"' in page
    assert "技能熟练度优先" in page  # what the other person saved, by its label
    hotline.refresh_from_db()
    assert (hotline.strategy, hotline.offer_seconds, hotline.version) == ("proficiency", 20, 2)
    # the form now carries the current version: saving again, having seen the difference, is deliberate
    assert 'name="version" value="2"' in page
    again = second.post(f"/admin/queues/{hotline.pk}/", form(offer_seconds="30", version="2"))
    assert again.status_code == 302
    hotline.refresh_from_db()
    assert (hotline.strategy, hotline.offer_seconds, hotline.version) == ("longest_idle", 30, 3)


def test_every_change_is_audited_with_before_and_after(admin_user: Any, hotline: Queue) -> None:
    skill = Skill.objects.create(code="billing", name="账单")
    response = page_client(admin_user).post(f"/admin/queues/{hotline.pk}/", form(
        strategy="least_occupied", affinity="dedicated", affinity_seconds="45", version="1",
        **{f"skill_{skill.pk}": "4"}))
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="queue.updated", object_id=str(hotline.pk))
    assert entry.actor == admin_user
    before, after = entry.data["before"], entry.data["after"]
    assert (before["strategy"], after["strategy"]) == ("longest_idle", "least_occupied")
    assert (before["affinity"], after["affinity"], after["affinity_seconds"]) == ("none", "dedicated", 45)
    assert (before["skills"], after["skills"]) == ([], [["billing", 4]])
    listing = page_client(admin_user).get("/admin/audit/?object_type=routing.queue").content.decode()
    assert "修改队列" in listing
    assert f"/admin/queues/{hotline.pk}/" in listing


def test_a_queue_with_contacts_in_line_is_not_switched_off(admin_user: Any, hotline: Queue) -> None:
    backup = queue_create(actor=admin_user, data=QueueData(code="backup", name="后备热线", routed=True))
    in_line(hotline, "call:1")
    in_line(hotline, "call:2", state="offered")
    in_line(hotline, "call:3", state="finished")
    client = page_client(admin_user)
    listing = client.get("/admin/queues/").content.decode()
    assert re.search(r'data-testid="queue-in-line-hotline"><strong>2</strong>', listing)
    off = client.post(f"/admin/queues/{hotline.pk}/", form(is_active=None, version="1"))
    assert off.status_code == 422
    assert "2 个联络在排队" in field_error(off, "is_active")
    unrouted = client.post(f"/admin/queues/{hotline.pk}/", form(routed=None, version="1"))
    assert "2 个联络在排队" in field_error(unrouted, "routed")
    hotline.refresh_from_db()
    assert (hotline.is_active, hotline.routed, hotline.version) == (True, True, 1)
    # a queue others overflow into stays on until they are changed
    queue_update(actor=admin_user, queue=hotline, expected_version=1, data=QueueData(
        code="hotline", name="服务热线", routed=True, overflow_to=backup, overflow_after_seconds=60))
    target = client.post(f"/admin/queues/{backup.pk}/", form(code="backup", name="后备热线", is_active=None,
                                                             version="1"))
    assert "hotline" in field_error(target, "is_active")
    backup.refresh_from_db()
    assert backup.is_active


def test_only_a_queue_never_used_is_deleted(admin_user: Any, hotline: Queue) -> None:
    unused = queue_create(actor=admin_user, data=QueueData(code="typo", name="打错了"))
    QueueSkill.objects.create(queue=unused, skill=Skill.objects.create(code="repair", name="报修"))
    in_line(hotline, "call:1", state="finished")
    client = page_client(admin_user)
    edit = client.get(f"/admin/queues/{hotline.pk}/").content.decode()
    assert 'data-testid="queue-kept"' in edit
    assert 'data-testid="queue-delete"' not in edit
    kept = client.post(f"/admin/queues/{hotline.pk}/delete/", {"version": "1"}, follow=True)
    assert "不能删除" in kept.content.decode()
    assert Queue.objects.filter(pk=hotline.pk).exists()
    assert RoutedContact.objects.filter(queue=hotline).exists()
    stale = client.post(f"/admin/queues/{unused.pk}/delete/", {"version": "7"}, follow=True)
    assert "已被他人修改" in stale.content.decode()
    assert Queue.objects.filter(pk=unused.pk).exists()
    gone = client.post(f"/admin/queues/{unused.pk}/delete/", {"version": "1"})
    assert gone.status_code == 302
    assert not Queue.objects.filter(code="typo").exists()
    entry = AuditLog.objects.get(action="queue.deleted")
    assert entry.data["before"]["skills"] == [["repair", 1]]
    assert entry.actor == admin_user


def test_the_queue_list_reads_in_a_fixed_number_of_queries(admin_user: Any, team: Any,
                                                            django_assert_max_num_queries: Any) -> None:
    client = page_client(admin_user)
    client.get("/admin/queues/")  # the session and the user are cached after the first request
    for n in range(6):
        queue = queue_create(actor=admin_user, data=QueueData(code=f"q{n}", name=f"队列{n}", team=team))
        in_line(queue, f"call:{n}")
    with django_assert_max_num_queries(12):
        response = client.get("/admin/queues/")
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="queue-row-') == 6


def test_agent_skills_are_edited_on_the_staff_page(admin_user: Any, agent: Any) -> None:
    """Routing matches a queue's skills against the agents' (proficiency 1–5), set on the staff page."""
    skill = Skill.objects.create(code="repair", name="报修")
    client = page_client(admin_user)
    page = client.get(f"/admin/staff/{agent.pk}/").content.decode()
    assert f'name="skill_{skill.pk}"' in page
    posted = {"username": agent.username, "display_name": agent.display_name, "role": agent.role,
              "team": agent.team_id, "language": "zh-hans", "version": agent.version, f"skill_{skill.pk}": "4"}
    assert client.post(f"/admin/staff/{agent.pk}/", posted).status_code == 302
    assert AgentSkill.objects.get(user=agent, skill=skill).proficiency == 4
    bad = client.post(f"/admin/staff/{agent.pk}/", {**posted, "version": agent.version + 1,
                                                    f"skill_{skill.pk}": "9"})
    assert bad.status_code == 422
    assert AgentSkill.objects.get(user=agent, skill=skill).proficiency == 4


def test_a_queue_with_history_keeps_its_kind(admin_user: Any, hotline: Queue) -> None:
    fresh = queue_create(actor=admin_user, data=QueueData(code="fresh", name="新队列"))
    client = page_client(admin_user)
    assert client.post(f"/admin/queues/{fresh.pk}/", form(code="fresh", name="新队列", kind="chat",
                                                           version="1")).status_code == 302
    queue_create(actor=admin_user, data=QueueData(code="backup", name="后备热线", overflow_to=hotline,
                                                  overflow_after_seconds=60))
    refused = client.post(f"/admin/queues/{hotline.pk}/", form(kind="chat", version="1"))
    assert "不能再改类型" in field_error(refused, "kind")
    assert "溢出到本队列的队列" in field_error(refused, "kind")  # queues overflowing into it count as records
    hotline.refresh_from_db()
    assert hotline.kind == "phone"
