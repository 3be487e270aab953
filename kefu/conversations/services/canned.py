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


# --- variables: {客户姓名} and the like, filled with the current conversation's values when inserted ----------

VARIABLE_RE = re.compile(r"\{([^{}\s]{1,20})\}")
VARIABLES = {  # name in the text → the value's key; each has a Chinese and an English spelling
    "客户姓名": "customer", "customer_name": "customer",
    "坐席姓名": "agent", "agent_name": "agent",
    "工单号": "ticket", "ticket_number": "ticket",
    "今天": "today", "today": "today",
}


def canned_unknown_variables(body: str) -> list[str]:
    """The {…} names in `body` that are not variables (left in the text as typed; the editor is warned)."""
    out: list[str] = []
    for name in VARIABLE_RE.findall(body or ""):
        if name not in VARIABLES and name not in out:
            out.append(name)
    return out


def canned_values(*, conversation: Any, agent: Any) -> dict[str, str]:
    """Every variable's value for `conversation` answered by `agent` (the pane loads customer, ticket with it);
    a value that is not known (no work order yet) is left out, so its {…} stays visible for the agent."""
    from django.utils import timezone

    keys = {
        "customer": getattr(getattr(conversation, "customer", None), "name", "") or "",
        "agent": str(agent) if agent is not None else "",
        "ticket": (getattr(getattr(conversation, "ticket", None), "number", "") or "")
        if getattr(conversation, "ticket_id", None) else "",
        "today": timezone.localdate().strftime("%Y-%m-%d"),
    }
    return {name: keys[key] for name, key in VARIABLES.items() if keys[key]}


def canned_render(body: str, values: dict[str, str]) -> str:
    """`body` with its known variables replaced; unknown or empty ones kept as written."""
    return VARIABLE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), body or "")
