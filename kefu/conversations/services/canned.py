"""Canned replies: prepared texts agents insert with a shortcut, per team or for everybody."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.conversations.models import (
    CannedReply,
)
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services._common import BODY_MAX, _require, _text
from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed

log = logging.getLogger("kefu.conversations.services")


SHORTCUT_RE = re.compile(r"^[\w-]{1,30}$")


def _canned_fields(*, actor: Any, team: Any, shortcut: str, title: str, body: str,
                   current: CannedReply | None = None) -> dict[str, Any]:
    from kefu.conversations.selectors import canned_team_ids

    _require(actor, ConversationRight.CANNED_MANAGE)
    teams = canned_team_ids(actor)
    if teams is not None and (team is None or team.pk not in teams):
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    shortcut = _text(shortcut, field="shortcut", label=_("快捷词"), max_length=30).lstrip("/")
    if not SHORTCUT_RE.match(shortcut):
        raise ValidationFailed(_("快捷词只能包含文字、字母、数字、- 和 _，不含空格"), details={"field": "shortcut"})
    clash = CannedReply.objects.filter(shortcut=shortcut, team=team)
    if current is not None:
        clash = clash.exclude(pk=current.pk)
    if clash.exists():
        raise Conflict(_("快捷词 /%(s)s 已被使用") % {"s": shortcut}, code="duplicate_shortcut",
                       details={"field": "shortcut"})
    return {"team": team, "shortcut": shortcut,
            "title": _text(title, field="title", label=_("标题"), max_length=100),
            "body": _text(body, field="body", label=_("内容"), max_length=BODY_MAX)}


@transaction.atomic
def canned_reply_create(*, actor: Any, team: Any, shortcut: str, title: str, body: str) -> CannedReply:
    """A prepared reply agents insert by typing "/" and its shortcut. `team` None: everybody's (supervisors
    only); a team lead keeps their own teams'."""
    reply = CannedReply.objects.create(**_canned_fields(actor=actor, team=team, shortcut=shortcut, title=title,
                                                        body=body))
    audit_record(actor=person(actor), action="canned_reply.created", obj=reply, summary=f"/{reply.shortcut}")
    return reply


@transaction.atomic
def canned_reply_update(*, actor: Any, reply: CannedReply, team: Any, shortcut: str, title: str,
                        body: str) -> CannedReply:
    from kefu.conversations.selectors import canned_team_ids

    locked = CannedReply.objects.select_for_update().get(pk=reply.pk)
    teams = canned_team_ids(actor)
    if teams is not None and locked.team_id not in teams:
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    for name, value in _canned_fields(actor=actor, team=team, shortcut=shortcut, title=title, body=body,
                                      current=locked).items():
        setattr(locked, name, value)
    locked.save(update_fields=["team", "shortcut", "title", "body"])
    audit_record(actor=person(actor), action="canned_reply.updated", obj=locked, summary=f"/{locked.shortcut}")
    return locked


@transaction.atomic
def canned_reply_delete(*, actor: Any, reply: CannedReply) -> None:
    from kefu.conversations.selectors import canned_team_ids

    _require(actor, ConversationRight.CANNED_MANAGE)
    teams = canned_team_ids(actor)
    if teams is not None and reply.team_id not in teams:
        raise PermissionDenied(_("只能管理本组的快捷回复"), details={"field": "team"})
    audit_record(actor=person(actor), action="canned_reply.deleted", obj=reply, summary=f"/{reply.shortcut}")
    CannedReply.objects.filter(pk=reply.pk).delete()
