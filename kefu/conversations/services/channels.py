"""Setting up channels: create and change them (settings checked by their adapter, secrets kept apart)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.choices import (
    ChannelKind,
)
from kefu.conversations.models import (
    Channel,
)
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services._common import CODE_RE, _require, _text
from kefu.core.actors import is_system, person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, ValidationFailed

log = logging.getLogger("kefu.conversations.services")


def _check_config(kind: str, config: dict[str, Any], secrets_: dict[str, Any] | None = None) -> None:
    try:
        adapter = adapter_for(kind)
    except LookupError:
        raise ValidationFailed(_("未知的渠道类型：%(kind)s") % {"kind": kind}, details={"field": "kind"}) from None
    problems = adapter.check_config(config)
    check_secrets = getattr(adapter, "check_secrets", None)  # adapters whose secrets have a form (AES keys…)
    if secrets_ is not None and check_secrets is not None:
        problems = {**problems, **check_secrets(config, secrets_)}
    if problems:
        field, message = next(iter(sorted(problems.items())))
        raise ValidationFailed(message, details={"field": field, "fields": problems})


@transaction.atomic
def channel_create(*, actor: Any, kind: str, code: str, name: str = "", team: Any = None,
                   config: dict[str, Any] | None = None, secrets_: dict[str, str] | None = None,
                   creates_tickets: bool | None = None, first_response_seconds: int | None = None,
                   calendar: Any = None, queue: Any = None) -> Channel:
    """Set up a channel. `code` is its stable name in URLs and the API (lower-case letters, digits, - and _).
    `queue`: a routed chat queue its conversations wait in (none: they wait in the team's inbox)."""
    _require(actor, ConversationRight.CHANNEL_MANAGE)
    code = _text(code, field="code", label=_("渠道代码"), max_length=40).lower()
    if not CODE_RE.match(code):
        raise ValidationFailed(_("渠道代码只能包含小写字母、数字、- 和 _，2–40 个字符"), details={"field": "code"})
    if kind not in ChannelKind.values:
        raise ValidationFailed(_("未知的渠道类型：%(kind)s") % {"kind": kind}, details={"field": "kind"})
    config = dict(config or {})
    _check_config(kind, config, dict(secrets_ or {}))
    if Channel.objects.filter(code=code).exists():
        raise Conflict(_("渠道代码 %(code)s 已存在") % {"code": code}, code="duplicate_code",
                       details={"field": "code"})
    if first_response_seconds is not None and not (1 <= int(first_response_seconds) <= 30 * 86400):
        raise ValidationFailed(_("首次响应目标须在 1 秒到 30 天之间"), details={"field": "first_response_seconds"})
    _check_queue(queue, kind)
    channel = Channel.objects.create(
        code=code, kind=kind, name=_text(name or code, field="name", label=_("名称"), max_length=100), team=team,
        config=config, secrets=dict(secrets_ or {}), first_response_seconds=first_response_seconds,
        calendar=calendar, queue=queue,
        creates_tickets=kind == ChannelKind.EMAIL if creates_tickets is None else bool(creates_tickets))
    audit_record(actor=actor if not is_system(actor) else None, action="channel.created", obj=channel,
                 summary=f"{channel.kind} {channel.code}", data={"team": team.pk if team else None,
                                                                 "queue": queue.code if queue else None})
    return channel


@dataclass(frozen=True)
class ChannelChanges:
    name: str | None = None
    team: Any = None
    clear_team: bool = False
    is_active: bool | None = None
    config: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None  # merged: a name given with "" removes it
    creates_tickets: bool | None = None
    first_response_seconds: int | None = None
    bot_first: bool | None = None  # the answer bot answers new conversations first (text channels only)
    queue: Any = None  # a routed chat queue (kefu.routing.selectors.routed_chat_queues)
    clear_queue: bool = False  # back to the team's inbox


def _check_queue(queue: Any, kind: str) -> None:
    """A channel's conversations may wait only in an active queue that Kefu routes and that carries chats (a
    phone channel's are calls' records: the calls themselves wait in the PBX's queues)."""
    from kefu.routing.selectors import routed_chat_queues

    if queue is not None and kind == "phone":
        raise ValidationFailed(_("电话渠道的会话不排队：来电在电话队列中排队"), details={"field": "queue"})
    if queue is not None and not routed_chat_queues().filter(pk=queue.pk).exists():
        raise ValidationFailed(_("队列 %(name)s 不是启用中的在线会话路由队列") % {"name": queue},
                               details={"field": "queue"})


@transaction.atomic
def channel_update(*, actor: Any, channel: Channel, expected_version: int | None,
                   changes: ChannelChanges) -> Channel:
    _require(actor, ConversationRight.CHANNEL_MANAGE)
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(_("渠道已被他人修改，请刷新后重试"), code="stale_version")
    changed: list[str] = []
    if changes.name is not None:
        locked.name = _text(changes.name, field="name", label=_("名称"), max_length=100)
        changed.append("name")
    if changes.team is not None or changes.clear_team:
        locked.team = None if changes.clear_team else changes.team
        changed.append("team")
    if changes.is_active is not None:
        locked.is_active = bool(changes.is_active)
        changed.append("is_active")
    if changes.config is not None:
        _check_config(locked.kind, changes.config)
        locked.config = dict(changes.config)
        changed.append("config")
    if changes.secrets is not None:
        merged = {**locked.secrets, **changes.secrets}
        locked.secrets = {k: v for k, v in merged.items() if v}
        _check_config(locked.kind, locked.config, locked.secrets)
        changed.append("secrets")
    if changes.creates_tickets is not None:
        locked.creates_tickets = bool(changes.creates_tickets)
        changed.append("creates_tickets")
    if changes.bot_first is not None:
        from kefu.conversations.services.bot import BOT_KINDS

        if changes.bot_first and locked.kind not in BOT_KINDS:
            raise ValidationFailed(_("该类型的渠道不支持机器人先接待"), details={"field": "bot_first"})
        locked.bot_first = bool(changes.bot_first)
        changed.append("bot_first")
    if changes.first_response_seconds is not None:
        locked.first_response_seconds = changes.first_response_seconds or None
        changed.append("first_response_seconds")
    if changes.queue is not None or changes.clear_queue:
        queue = None if changes.clear_queue else changes.queue
        _check_queue(queue, locked.kind)
        locked.queue = queue
        changed.append("queue")
    locked.version += 1
    locked.save(update_fields=[*changed, "version"])
    audit_record(actor=person(actor), action="channel.updated", obj=locked, summary=locked.code,
                 data={"changes": [c for c in changed if c != "secrets"] + (["secrets"] if "secrets" in changed
                                                                          else [])})
    return locked


def new_secret() -> str:
    return secrets.token_urlsafe(32)
