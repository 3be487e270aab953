"""REST API of queue settings (/api/v1/queues…), for managers and administrators: read every queue's settings and
change some of them. Writes go through the queue services (the same checks, audit rows and conflicts as the
administration pages and `kefu queue set`); a stale `version` gets 409 with `details.current_version`."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja import Path as PathParam

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import MAX_VERSION, Id, OptionalBodyIn
from kefu.core.errors import ApplicationError, NotFound, ValidationFailed
from kefu.routing.models import Queue
from kefu.routing.permissions import RoutingRight
from kefu.routing.selectors import queues_with_line
from kefu.routing.services import queue_data_of, queue_update

router = Router()
QueueCode = Annotated[str, PathParam(..., max_length=40, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="The queue's code (lower case)")]
Seconds = Annotated[int, Field(ge=0, le=10**9)]
Points = Annotated[int, Field(ge=0, le=10**6)]


class QueueSkillLevel(Schema):
    skill: str = Field(max_length=40, description="The skill's code")
    min_proficiency: int = Field(1, ge=1, le=5, description="The lowest proficiency an agent needs, 1–5")


class QueueSettingsOut(Schema):
    code: str
    name: str
    kind: str = Field(description="phone, chat or ticket")
    team_id: int | None
    is_active: bool
    target_percent: int = Field(description="Service level: this % answered within target_seconds")
    target_seconds: int
    formula: int = Field(description="Service-level formula 1–4 (docs/routing.md)")
    short_abandon_seconds: int
    routed: bool = Field(description="Kefu offers the queue's contacts to agents")
    strategy: str = Field(description="longest_idle, least_occupied or proficiency")
    offer_seconds: int
    affinity: str = Field(description="none, last_agent or dedicated")
    affinity_seconds: int
    overflow_to: str | None = Field(description="The code of the queue a long wait moves to")
    overflow_after_seconds: int | None
    vip_priority: int
    complaint_priority: int
    long_wait_seconds: int | None
    long_wait_priority: int
    callback_allowed: bool
    skills: list[QueueSkillLevel]
    in_line: int = Field(description="Contacts waiting or being offered now")
    version: int


class QueueSettingsPatch(OptionalBodyIn):
    """Only the fields sent change; `version` is the one read."""

    version: int = Field(ge=1, le=MAX_VERSION, description="The version you read; a stale one gets 409")
    name: str | None = Field(None, max_length=100)
    team_id: Id | None = None
    is_active: bool | None = None
    target_percent: Points | None = None
    target_seconds: Seconds | None = None
    formula: Points | None = None
    short_abandon_seconds: Seconds | None = None
    routed: bool | None = None
    strategy: str | None = Field(None, max_length=20)
    offer_seconds: Seconds | None = None
    affinity: str | None = Field(None, max_length=20)
    affinity_seconds: Seconds | None = None
    overflow_to: str | None = Field(None, max_length=40, description="A queue's code, or null for no overflow")
    overflow_after_seconds: Seconds | None = None
    vip_priority: Points | None = None
    complaint_priority: Points | None = None
    long_wait_seconds: Seconds | None = None
    long_wait_priority: Points | None = None
    callback_allowed: bool | None = None
    skills: list[QueueSkillLevel] | None = Field(None, max_length=100,
                                                 description="Replaces the queue's required skills")


NULLABLE = {"team_id", "overflow_to", "overflow_after_seconds", "long_wait_seconds"}


def _out(queue: Queue) -> dict[str, Any]:
    return {**{f: getattr(queue, f) for f in QueueSettingsOut.model_fields
               if f not in ("team_id", "overflow_to", "skills", "in_line")},
            "team_id": queue.team_id, "overflow_to": queue.overflow_to.code if queue.overflow_to else None,
            "skills": [{"skill": s.skill.code, "min_proficiency": s.min_proficiency} for s in queue.skills.all()],
            "in_line": queue.in_line}


def _queue(code: str) -> Queue:
    queue = queues_with_line().filter(code=code.strip().lower()).first()
    if queue is None:
        raise NotFound(_("队列不存在"), details={"code": code})
    return queue


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field})


def _changes(payload: QueueSettingsPatch) -> dict[str, Any]:
    from kefu.accounts.models import Skill, Team

    changes: dict[str, Any] = {}
    for name in payload.model_fields_set - {"version"}:
        value = getattr(payload, name)
        if value is None and name not in NULLABLE:
            raise _invalid(name, _("%(field)s 不能为 null") % {"field": name})
        if name == "team_id":
            team = None if value is None else Team.objects.filter(pk=value, is_active=True).first()
            if value is not None and team is None:
                raise _invalid(name, _("没有编号为 %(id)s 的启用中的班组") % {"id": value})
            changes["team"] = team
        elif name == "overflow_to":
            target = None if value is None else Queue.objects.filter(code=value.strip().lower()).first()
            if value is not None and target is None:
                raise _invalid(name, _("没有代码为 %(code)s 的队列") % {"code": value})
            changes["overflow_to"] = target
        elif name == "skills":
            codes = [s.skill.strip().lower() for s in value]
            found = {s.code: s for s in Skill.objects.filter(code__in=codes, is_active=True)}
            missing = [c for c in codes if c not in found]
            if missing or len(set(codes)) != len(codes):
                raise _invalid(name, _("技能不存在、已停用或重复：%(codes)s") % {
                    "codes": "、".join(missing or codes)})
            changes["skills"] = tuple((found[c], s.min_proficiency) for c, s in zip(codes, value, strict=True))
        else:
            changes[name] = value
    return changes


@router.get("/queues", response=list[QueueSettingsOut], summary="Every queue's settings (routing included)")
@requires(RoutingRight.QUEUE_MANAGE)
def queue_settings_list(request: HttpRequest) -> Any:
    return [_out(q) for q in queues_with_line()]


@router.get("/queues/{queue_code}", response=QueueSettingsOut, summary="One queue's settings")
@requires(RoutingRight.QUEUE_MANAGE)
def queue_settings_detail(request: HttpRequest, queue_code: QueueCode) -> Any:
    return _out(_queue(queue_code))


@router.patch("/queues/{queue_code}", response=QueueSettingsOut,
              summary="Change a queue's settings (only the fields sent; optimistic concurrency)")
@requires(RoutingRight.QUEUE_MANAGE)
def queue_settings_update(request: HttpRequest, queue_code: QueueCode, payload: QueueSettingsPatch) -> Any:
    """The same checks as the administration page: a bad value is a 400 naming its field, an overflow loop or a
    stale version a 4xx with nothing written."""
    queue = _queue(queue_code)
    try:
        queue_update(actor=request.auth, queue=queue,  # type: ignore[attr-defined]
                     data=dataclasses.replace(queue_data_of(queue), **_changes(payload)),
                     expected_version=payload.version)
    except ApplicationError as error:
        if error.details.get("field") == "team":
            error.details["field"] = "team_id"
        raise
    return _out(_queue(queue_code))
