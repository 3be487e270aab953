"""Every write of routing: queues (each change one transaction with its audit row), their interval statistics,
and agents' states with their history."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.accounts.choices import Role
from kefu.core.actors import is_system, person, system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right, role_of
from kefu.routing.choices import (
    Affinity,
    AgentStateKind,
    ContactState,
    QueueKind,
    RoutingStrategy,
    ServiceLevelFormula,
    StateSource,
)
from kefu.routing.models import AgentState, AgentStateSpan, IntervalStat, Queue, QueueSkill
from kefu.routing.permissions import RoutingRight

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
AGENT_STATES = system_actor("agent_states", gettext_lazy("系统：坐席状态"))


@dataclass(frozen=True)
class QueueData:
    code: str
    name: str
    kind: str = QueueKind.PHONE
    team: Any = None
    target_seconds: int = 20
    target_percent: int = 80
    formula: int = ServiceLevelFormula.ANSWERED_ONLY
    short_abandon_seconds: int = 5
    is_active: bool = True
    routed: bool = False
    strategy: str = RoutingStrategy.LONGEST_IDLE
    offer_seconds: int = 20
    affinity: str = Affinity.NONE
    affinity_seconds: int = 30
    overflow_to: Any = None
    overflow_after_seconds: int | None = None
    vip_priority: int = 10
    complaint_priority: int = 5
    long_wait_seconds: int | None = None
    long_wait_priority: int = 5
    callback_allowed: bool = True
    # (skill, minimum proficiency 1–5) pairs; None leaves the queue's skills as they are
    skills: tuple[tuple[Any, int], ...] | None = None


def _require(actor: Any) -> None:
    if not has_right(actor, RoutingRight.QUEUE_MANAGE):
        raise PermissionDenied(_("您没有权限管理队列"))


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(_("必须是 %(low)s 到 %(high)s 之间的整数") % {"low": low, "high": high},
                               details={"field": field})
    return value


def _clean(data: QueueData) -> dict[str, Any]:
    code = str(data.code or "").strip().lower()
    if not CODE_RE.match(code):
        raise ValidationFailed(_("队列代码只能包含小写字母、数字、- 和 _，2–40 个字符"), details={"field": "code"})
    name = str(data.name or "").strip() or code
    if len(name) > 100:
        raise ValidationFailed(_("名称不能超过 %(n)s 个字符") % {"n": 100}, details={"field": "name"})
    if data.kind not in QueueKind.values:
        raise ValidationFailed(_("队列类型只能是 phone、chat 或 ticket"), details={"field": "kind"})
    if data.formula not in ServiceLevelFormula.values:
        raise ValidationFailed(_("服务水平公式只能是 1 到 4"), details={"field": "formula"})
    if data.strategy not in RoutingStrategy.values:
        raise ValidationFailed(_("分配策略只能是 %(names)s") % {"names": ", ".join(RoutingStrategy.values)},
                               details={"field": "strategy"})
    if data.affinity not in Affinity.values:
        raise ValidationFailed(_("坐席偏好只能是 %(names)s") % {"names": ", ".join(Affinity.values)},
                               details={"field": "affinity"})
    if (data.overflow_to is None) != (data.overflow_after_seconds is None):
        raise ValidationFailed(_("溢出队列和溢出等待秒数须同时填写"), details={"field": "overflow_after_seconds"})
    if data.affinity != Affinity.NONE and (isinstance(data.affinity_seconds, bool)
                                          or not isinstance(data.affinity_seconds, int) or data.affinity_seconds < 1):
        raise ValidationFailed(_("选择了坐席偏好时，须填写偏好等待秒数（1–3600）"),
                               details={"field": "affinity_seconds"})
    if data.overflow_to is not None and (not data.overflow_to.is_active or data.overflow_to.kind != data.kind):
        raise ValidationFailed(_("溢出目标须是同类型的队列（电话转电话、会话转会话）") if data.overflow_to.is_active
                               else _("溢出目标队列已停用"), details={"field": "overflow_to"})
    return {"code": code, "name": name, "kind": data.kind, "team": data.team,
            "target_seconds": _whole(data.target_seconds, "target_seconds", 0, 3600),
            "target_percent": _whole(data.target_percent, "target_percent", 1, 100),
            "formula": int(data.formula),
            "short_abandon_seconds": _whole(data.short_abandon_seconds, "short_abandon_seconds", 0, 600),
            "is_active": bool(data.is_active), "routed": bool(data.routed), "strategy": data.strategy,
            "offer_seconds": _whole(data.offer_seconds, "offer_seconds", 5, 300),
            "affinity": data.affinity, "affinity_seconds": _whole(data.affinity_seconds, "affinity_seconds", 0, 3600),
            "overflow_to": data.overflow_to,
            "overflow_after_seconds": None if data.overflow_after_seconds is None else _whole(
                data.overflow_after_seconds, "overflow_after_seconds", 1, 86400),
            "vip_priority": _whole(data.vip_priority, "vip_priority", 0, 100),
            "complaint_priority": _whole(data.complaint_priority, "complaint_priority", 0, 100),
            "long_wait_seconds": None if data.long_wait_seconds is None else _whole(
                data.long_wait_seconds, "long_wait_seconds", 1, 86400),
            "long_wait_priority": _whole(data.long_wait_priority, "long_wait_priority", 0, 100),
            "callback_allowed": bool(data.callback_allowed)}


def _check_overflow(queue: Queue) -> None:
    """An overflow chain must end: A → B → A would pass a contact back and forth for ever."""
    if queue.overflow_to_id is not None and queue.overflow_to_id == queue.pk:
        raise ValidationFailed(_("溢出目标须是另一个队列"), details={"field": "overflow_to"})
    seen, current, path = {queue.pk}, queue.overflow_to, [queue.code]
    while current is not None:
        path.append(current.code)
        if current.pk in seen:
            raise ValidationFailed(_("溢出队列形成了循环：%(path)s") % {"path": " → ".join(path)},
                                   details={"field": "overflow_to"})
        seen.add(current.pk)
        current = current.overflow_to


def _set_skills(queue: Queue, skills: tuple[tuple[Any, int], ...] | None) -> None:
    if skills is None:
        return
    wanted: dict[int, int] = {}
    for skill, level in skills:
        wanted[skill.pk] = _whole(level, "skills", 1, 5)
    QueueSkill.objects.filter(queue=queue).exclude(skill_id__in=wanted).delete()
    for skill_id, level in wanted.items():
        QueueSkill.objects.update_or_create(queue=queue, skill_id=skill_id, defaults={"min_proficiency": level})


def _snapshot(queue: Queue) -> dict[str, Any]:
    """What the audit log keeps of a queue's settings (ids of team and overflow target, skills by code)."""
    fields = {f: getattr(queue, f) for f in QUEUE_FIELDS if f not in ("team", "overflow_to")}
    skills = QueueSkill.objects.filter(queue=queue).select_related("skill").order_by("skill__code")
    return {**fields, "team": queue.team_id, "overflow_to": queue.overflow_to.code if queue.overflow_to else None,
            "skills": [[s.skill.code, s.min_proficiency] for s in skills]}


QUEUE_FIELDS = ("name", "kind", "team", "target_seconds", "target_percent", "formula", "short_abandon_seconds",
                "is_active", "routed", "strategy", "offer_seconds", "affinity", "affinity_seconds", "overflow_to",
                "overflow_after_seconds", "vip_priority", "complaint_priority", "long_wait_seconds",
                "long_wait_priority", "callback_allowed")


def queue_data_of(queue: Queue) -> QueueData:
    """A queue's current settings as QueueData, to change a few of them (`dataclasses.replace`) and save."""
    skills = tuple((s.skill, s.min_proficiency)
                   for s in QueueSkill.objects.filter(queue=queue).select_related("skill").order_by("skill__code"))
    return QueueData(code=queue.code, skills=skills, **{f: getattr(queue, f) for f in QUEUE_FIELDS})


def _in_line(queue: Queue) -> int:
    return queue.contacts.filter(state__in=[ContactState.WAITING, ContactState.OFFERED]).count()


def _check_withdrawal(locked: Queue, fields: dict[str, Any]) -> None:
    """A queue that stops routing or is switched off must not strand the contacts in its line (nothing would
    offer them any more), nor the contacts other queues overflow into it."""
    stops = locked.is_active and not fields["is_active"]
    if (stops or (locked.routed and not fields["routed"])) and (waiting := _in_line(locked)):
        raise Conflict(_("队列中还有 %(n)s 个联络在排队，待接完或转走后才能停用或停止分配") % {"n": waiting},
                       code="contacts_in_line", details={"field": "is_active" if stops else "routed"})
    if stops:
        feeding = list(Queue.objects.filter(overflow_to=locked, is_active=True).values_list("code", flat=True))
        if feeding:
            raise Conflict(_("队列 %(codes)s 溢出到本队列，请先修改它们的溢出设置") % {"codes": "、".join(feeding)},
                           code="overflow_target", details={"field": "is_active"})


@transaction.atomic
def queue_create(*, actor: Any, data: QueueData) -> Queue:
    _require(actor)
    fields = _clean(data)
    if Queue.objects.filter(code=fields["code"]).exists():
        raise Conflict(_("队列代码 %(code)s 已存在") % {"code": fields["code"]}, code="duplicate_code",
                       details={"field": "code"})
    queue = Queue.objects.create(**fields)
    _check_overflow(queue)
    _set_skills(queue, data.skills)
    audit_record(actor=person(actor), action="queue.created", obj=queue, summary=f"{queue.code} {queue.name}",
                 data=_snapshot(queue))
    return queue


@transaction.atomic
def queue_update(*, actor: Any, queue: Queue, data: QueueData, expected_version: int | None) -> Queue:
    _require(actor)
    locked = Queue.objects.select_for_update().filter(pk=queue.pk).first()
    if locked is None:
        raise NotFound(_("队列不存在"))
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(_("队列已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    fields = _clean(data)
    if fields["code"] != locked.code:
        raise ValidationFailed(_("队列代码创建后不能修改（电话系统用它指队列）"), details={"field": "code"})
    _check_withdrawal(locked, fields)
    if fields["kind"] != locked.kind and (used := queue_history(locked)):
        raise ValidationFailed(_("队列已有记录（%(what)s），不能再改类型") % {"what": "、".join(used)},
                               details={"field": "kind"})
    before = _snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    _check_overflow(locked)
    locked.version += 1
    locked.save()
    _set_skills(locked, data.skills)
    audit_record(actor=person(actor), action="queue.updated", obj=locked, summary=f"{locked.code} {locked.name}",
                 data={"before": before, "after": _snapshot(locked)})
    return locked


def queue_history(queue: Queue) -> list[str]:
    """What still refers to a queue (its contacts, interval statistics, calls, voice menus, channels, queues
    overflowing into it), by name: a queue with any of them is kept, and may only be switched off."""
    found = []
    for relation in Queue._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        model = relation.related_model
        if model is QueueSkill:  # the queue's own settings, deleted with it
            continue
        if model._default_manager.filter(**{relation.field.name: queue}).exists():
            label = str(_("溢出到本队列的队列") if model is Queue else model._meta.verbose_name_plural)
            if label not in found:
                found.append(label)
    return found


@transaction.atomic
def queue_delete(*, actor: Any, queue: Queue, expected_version: int | None) -> None:
    """Delete a queue that was never used (a typing mistake); one with history is refused (switch it off)."""
    _require(actor)
    locked = Queue.objects.select_for_update().filter(pk=queue.pk).first()
    if locked is None:
        raise NotFound(_("队列不存在"))
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(_("队列已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    used = queue_history(locked)
    if used:
        raise Conflict(_("队列已有记录（%(what)s），不能删除；可以停用它") % {"what": "、".join(used)},
                       code="queue_in_use", details={"field": "is_active"})
    before = _snapshot(locked)
    audit_record(actor=person(actor), action="queue.deleted", obj=locked, summary=f"{locked.code} {locked.name}",
                 data={"before": before})
    locked.delete()


# --- interval statistics ---------------------------------------------------------------------------------------

BASE_MINUTES = 15
COUNTS = ("offered", "answered", "abandoned", "short_abandoned", "voicemail", "answered_within_target",
          "abandoned_within_target", "wait_seconds", "talk_seconds", "hold_seconds", "acw_seconds")


def interval_of(moment: datetime) -> datetime:
    """The start of the 15-minute interval holding `moment`, on the centre's local clock."""
    local = timezone.localtime(moment)
    return local.replace(minute=local.minute - local.minute % BASE_MINUTES, second=0, microsecond=0)


def interval_write(*, queue_id: int, start: datetime,
                   count: Callable[[Queue, datetime, datetime], dict[str, float]]) -> IntervalStat:
    """Rewrite one queue's interval from the contacts (`count(queue, start, end)` gives the figures). The row
    is locked first, so two contacts ending in the same interval at once are both counted: the second waits,
    then counts after the first has committed. Call it in the transaction that ended the contact."""
    start = interval_of(start)
    stat, _created = IntervalStat.objects.get_or_create(queue_id=queue_id, start=start)
    stat = IntervalStat.objects.select_for_update().select_related("queue").get(pk=stat.pk)
    figures = count(stat.queue, start, start + timedelta(minutes=BASE_MINUTES))
    for name in COUNTS:
        setattr(stat, name, figures.get(name, 0) or 0)
    stat.save()
    return stat


# --- agent states ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateChange:
    state: str
    source: str = StateSource.AGENT
    note: str = ""
    at: datetime | None = None


def _may_set_state(actor: Any, user: Any, source: str) -> None:
    """An agent sets their own state; a team lead their teams' agents', a shift lead, manager or administrator
    anyone's; the PBX, routing and the system anyone's (only they may say the change is theirs)."""
    if is_system(actor):
        return
    if source in (StateSource.ROUTING, StateSource.PBX, StateSource.SYSTEM):
        raise PermissionDenied(_("只有系统可以以“%(s)s”的身份设置状态") % {"s": StateSource(source).label})
    if getattr(actor, "pk", None) == user.pk and has_right(actor, RoutingRight.STATE_OWN):
        return
    if has_right(actor, RoutingRight.STATE_OTHERS) and (
            role_of(actor) != Role.TEAM_LEAD or (user.team_id and user.team_id in _led_team_ids(actor))):
        return
    raise PermissionDenied(_("您不能设置该坐席的状态"))


def _led_team_ids(actor: Any) -> set[int]:
    return set(actor.team_ids())


@transaction.atomic
def agent_state_set(*, actor: Any, user: Any, change: StateChange) -> AgentState:
    """Put an agent in a state: the current one's span ends and the new one starts at `change.at` (now). The
    same state again changes nothing (a double click, the PBX repeating itself). After-contact work ends by
    itself after KEFU_AFTER_CONTACT_SECONDS (agent_states_expire). Announced as `agent.state_changed`."""
    from kefu.routing import events

    if change.state not in AgentStateKind.values:
        raise ValidationFailed(_("状态只能是 %(names)s") % {"names": ", ".join(AgentStateKind.values)},
                               details={"field": "state"})
    if change.source not in StateSource.values:
        raise ValidationFailed(_("未知的状态来源"), details={"field": "source"})
    if len(change.note) > 200:
        raise ValidationFailed(_("说明不能超过 %(n)s 个字符") % {"n": 200}, details={"field": "note"})
    _may_set_state(actor, user, change.source)
    at = change.at or timezone.now()
    if change.state != AgentStateKind.AVAILABLE:  # an open offer goes back to the line (offers are locked first)
        from kefu.routing.services.acd import offers_withdraw_for

        offers_withdraw_for(user=user, at=at)
    AgentState.objects.get_or_create(user=user, defaults={"since": at})
    current = AgentState.objects.select_for_update().get(user=user)
    if current.state == change.state and AgentStateSpan.objects.filter(user=user, ended_at__isnull=True).exists():
        return current
    before = current.state
    AgentStateSpan.objects.filter(user=user, ended_at__isnull=True).update(ended_at=at)
    AgentStateSpan.objects.create(user=user, state=change.state, started_at=at, source=change.source,
                                  set_by=person(actor), note=change.note)
    current.state, current.since, current.source, current.note = change.state, at, change.source, change.note
    current.after_contact_until = (at + timedelta(seconds=settings.KEFU_AFTER_CONTACT_SECONDS)
                                   if change.state == AgentStateKind.AFTER_CONTACT else None)
    if change.state == AgentStateKind.AVAILABLE:
        from kefu.routing.services.acd import dispatch_soon

        current.idle_since = at
        dispatch_soon()
    current.version += 1
    current.save()
    events.announce_state(current, before=before, actor=actor)
    return current


def agent_states_expire(*, now: datetime | None = None) -> int:
    """After-contact work that has run its time ends: the agent is available again (the system's change).
    Returns how many agents it freed."""
    now = now or timezone.now()
    freed = 0
    for user_id in list(AgentState.objects.filter(state=AgentStateKind.AFTER_CONTACT,
                                                  after_contact_until__lte=now).values_list("user_id", flat=True)):
        with transaction.atomic():
            state = AgentState.objects.select_for_update().select_related("user").filter(
                user_id=user_id, state=AgentStateKind.AFTER_CONTACT, after_contact_until__lte=now).first()
            if state is None:  # the agent moved on meanwhile
                continue
            agent_state_set(actor=AGENT_STATES, user=state.user, change=StateChange(
                state=AgentStateKind.AVAILABLE, source=StateSource.SYSTEM, at=state.after_contact_until,
                note=str(_("话后处理时间到"))))
            freed += 1
    return freed
