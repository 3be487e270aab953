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
