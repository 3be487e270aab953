"""Queues: created by managers and administrators (service, CLI), each setting checked by name, codes unique and
fixed once the PBX knows them."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.routing.models import Queue
from kefu.routing.services import QueueData, queue_create, queue_update

pytestmark = pytest.mark.django_db


def test_a_manager_sets_up_a_queue_and_its_service_level(manager: Any, team: Any) -> None:
    queue = queue_create(actor=manager, data=QueueData(code="Hotline", name="服务热线", team=team,
                                                        target_seconds=15, target_percent=90, formula=3))
    assert (queue.code, queue.target_percent, queue.target_seconds, queue.formula) == ("hotline", 90, 15, 3)
    assert AuditLog.objects.filter(action="queue.created", object_id=str(queue.pk)).exists()
    changed = queue_update(actor=manager, queue=queue, expected_version=1, data=QueueData(
        code="hotline", name="服务热线（新）", team=team, short_abandon_seconds=10))
    assert (changed.name, changed.short_abandon_seconds, changed.version) == ("服务热线（新）", 10, 2)
    with pytest.raises(Conflict):
        queue_update(actor=manager, queue=queue, expected_version=1, data=QueueData(code="hotline", name="x"))
    with pytest.raises(ValidationFailed) as fixed:
        queue_update(actor=manager, queue=queue, expected_version=None, data=QueueData(code="other", name="x"))
    assert fixed.value.details["field"] == "code"


@pytest.mark.parametrize(("change", "field"), [
    ({"code": "热线"}, "code"), ({"code": "a"}, "code"), ({"kind": "fax"}, "kind"), ({"formula": 5}, "formula"),
    ({"target_percent": 0}, "target_percent"), ({"target_seconds": -1}, "target_seconds"),
    ({"short_abandon_seconds": 601}, "short_abandon_seconds"), ({"name": "长" * 101}, "name"),
])
def test_bad_settings_name_their_field(admin_user: Any, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        queue_create(actor=admin_user, data=QueueData(**{"code": "hotline", "name": "热线", **change}))
    assert refused.value.details["field"] == field
    assert not Queue.objects.exists()


def test_only_managers_and_administrators(agent: Any, team_lead: Any, admin_user: Any) -> None:
    for who in (agent, team_lead):
        with pytest.raises(PermissionDenied):
            queue_create(actor=who, data=QueueData(code="hotline", name="热线"))
    queue_create(actor=admin_user, data=QueueData(code="hotline", name="热线"))
    with pytest.raises(Conflict):
        queue_create(actor=admin_user, data=QueueData(code="hotline", name="又一个"))


def test_the_command_line(team: Any) -> None:
    out = StringIO()
    call_command("queue", "add", "hotline", "--name", "服务热线", "--team", team.name, "--target", "80/20",
                 stdout=out)
    assert "created phone queue hotline (80/20)" in out.getvalue()
    call_command("queue", "list", stdout=out)
    assert "hotline\tphone\tactive\t客服一组\t80/20\tformula 2\t服务热线" in out.getvalue()
    for args, named in ((["--target", "80"], "--target"), (["--formula", "x"], "--formula"),
                        (["--team", "没有的组"], "--team"), (["--kind", "fax"], "kind")):
        with pytest.raises(CommandError, match=named):
            call_command("queue", "add", "chatq", *args, stdout=out)
    assert list(Queue.objects.values_list("code", flat=True)) == ["hotline"]


def test_the_command_line_sets_routing(team: Any, admin_user: Any) -> None:
    from kefu.accounts.models import Skill

    Skill.objects.create(code="repair", name="报修")
    Skill.objects.create(code="vip", name="贵宾服务")
    out = StringIO()
    call_command("queue", "add", "backup", "--name", "后备热线", stdout=out)
    call_command("queue", "add", "hotline", "--name", "服务热线", "--team", team.name, "--routed",
                 "--strategy", "proficiency", "--offer-seconds", "15", "--affinity", "last_agent",
                 "--affinity-seconds", "40", "--overflow-to", "backup", "--overflow-after", "90",
                 "--vip-priority", "20", "--complaint-priority", "7", "--long-wait", "120",
                 "--long-wait-priority", "3", "--no-callback", "--skill", "repair:3", "--skill", "vip", stdout=out)
    queue = Queue.objects.get(code="hotline")
    assert (queue.routed, queue.strategy, queue.offer_seconds, queue.affinity, queue.affinity_seconds,
            queue.overflow_to.code, queue.overflow_after_seconds, queue.vip_priority, queue.complaint_priority,
            queue.long_wait_seconds, queue.long_wait_priority, queue.callback_allowed) == (
        True, "proficiency", 15, "last_agent", 40, "backup", 90, 20, 7, 120, 3, False)
    assert sorted(queue.skills.values_list("skill__code", "min_proficiency")) == [("repair", 3), ("vip", 1)]
    call_command("queue", "set", "hotline", "--strategy", "least_occupied", "--overflow-to", "none",
                 "--skill", "vip:2", "--callback", stdout=out)
    queue.refresh_from_db()
    assert (queue.strategy, queue.overflow_to, queue.overflow_after_seconds, queue.callback_allowed,
            queue.offer_seconds, queue.team, queue.version) == ("least_occupied", None, None, True, 15, team, 2)
    assert list(queue.skills.values_list("skill__code", "min_proficiency")) == [("vip", 2)]
    assert "updated queue hotline (version 2)" in out.getvalue()
    entry = AuditLog.objects.filter(action="queue.updated", object_id=str(queue.pk)).get()
    assert (entry.data["before"]["strategy"], entry.data["after"]["strategy"]) == ("proficiency", "least_occupied")
    call_command("queue", "show", "hotline", stdout=out)
    assert "strategy\tleast_occupied" in out.getvalue()
    assert "skills\tvip:2" in out.getvalue()
    call_command("queue", "set", "hotline", "--no-skills", "--no-active", stdout=out)
    queue.refresh_from_db()
    assert (queue.is_active, queue.skills.count()) == (False, 0)


@pytest.mark.parametrize(("args", "named"), [
    (["--strategy", "random"], "--strategy"),
    (["--offer-seconds", "4"], "--offer-seconds"),
    (["--offer-seconds", "x"], "--offer-seconds"),
    (["--affinity", "sometimes"], "--affinity"),
    (["--affinity", "dedicated", "--affinity-seconds", "0"], "--affinity-seconds"),
    (["--overflow-to", "nowhere", "--overflow-after", "30"], "--overflow-to"),
    (["--overflow-to", "backup"], "--overflow-after"),
    (["--overflow-to", "backup", "--overflow-after", "0"], "--overflow-after"),
    (["--vip-priority", "101"], "--vip-priority"),
    (["--long-wait", "-5"], "--long-wait"),
    (["--skill", "unknown"], "--skill"),
    (["--skill", "repair:6"], "--skill"),
    (["--skill", "repair:x"], "--skill"),
    (["--skill", "repair", "--skill", "repair:2"], "--skill"),
    (["--skill", "repair", "--no-skills"], "--no-skills"),
    (["--target", "80"], "--target"),
    (["--team", "没有的组"], "--team"),
])
def test_bad_command_line_values_name_their_flag_and_write_nothing(args: list[str], named: str) -> None:
    from kefu.accounts.models import Skill

    Skill.objects.create(code="repair", name="报修")
    call_command("queue", "add", "backup", stdout=StringIO())
    call_command("queue", "add", "hotline", "--routed", stdout=StringIO())
    before = list(Queue.objects.order_by("code").values())
    audits = AuditLog.objects.count()
    for action in ("add", "set"):
        code = "newq" if action == "add" else "hotline"
        with pytest.raises(CommandError, match=named) as refused:
            call_command("queue", action, code, *args, stdout=StringIO())
        assert refused.value.returncode == 2
    assert list(Queue.objects.order_by("code").values()) == before
    assert AuditLog.objects.count() == audits


def test_set_needs_a_known_queue_and_something_to_change() -> None:
    with pytest.raises(CommandError, match="CODE"):
        call_command("queue", "set", "nowhere", "--routed", stdout=StringIO())
    call_command("queue", "add", "hotline", stdout=StringIO())
    with pytest.raises(CommandError, match="nothing to change"):
        call_command("queue", "set", "hotline", stdout=StringIO())
    with pytest.raises(CommandError, match=r"--overflow-to: .*另一个队列"):
        call_command("queue", "set", "hotline", "--overflow-to", "hotline", "--overflow-after", "30",
                     stdout=StringIO())
    assert Queue.objects.get(code="hotline").version == 1
