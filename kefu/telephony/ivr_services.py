"""Writes of the IVR (语音导航) and the blacklist, each one transaction with its audit row.

A flow is edited as one tree: every change to the flow, a menu or a digit takes the flow's row, refuses an
editor working on an old version (409), bumps the version, and — on an active flow — is refused when it would
leave the tree with a problem (kefu.telephony.ivr_selectors.flow_problems), so the PBX is never served a broken
tree. A draft (inactive) flow may be incomplete; it can be switched on once it has no problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import BusinessCalendar
from kefu.core.policy import has_right
from kefu.routing.selectors import queue_by_code
from kefu.telephony.choices import ClosedAction, IvrAction, IvrLanguage
from kefu.telephony.ivr_selectors import DIGITS, flow_problems, flow_tree
from kefu.telephony.models import BlacklistEntry, IvrChoice, IvrFlow, IvrNode
from kefu.telephony.permissions import TelephonyRight
from kefu.telephony.regions import dial_digits

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_AUDIO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class TargetData:
    """Where a digit or a timeout rule leads: `node` (a menu's key) for `menu`, `queue` (a code) for `queue`,
    `number` for `transfer`; the others need nothing."""

    action: str
    node: str = ""
    queue: str = ""
    number: str = ""


@dataclass(frozen=True)
class FlowData:
    name: str
    number: str
    calendar_id: int | None = None
    language: str = IvrLanguage.ZH
    out_of_hours_prompt: str = ""
    holiday_prompt: str = ""
    closed_action: str = ClosedAction.VOICEMAIL
    entry: str = ""  # the first menu's key ("" on a new flow: its first menu is made with it)
    is_active: bool = False


@dataclass(frozen=True)
class NodeData:
    key: str
    name: str
    prompt: str
    audio: str = ""
    timeout_seconds: int = 5
    retries: int = 2
    fallback: TargetData = TargetData(action=IvrAction.HANGUP)


@dataclass(frozen=True)
class ChoiceData:
    digit: str
    target: TargetData
    label: str = ""


def _require(actor: Any, right: str = TelephonyRight.IVR_MANAGE) -> None:
    if not has_right(actor, right):
        raise PermissionDenied(_("您没有权限修改语音导航") if right == TelephonyRight.IVR_MANAGE
                               else _("您没有权限管理黑名单"))


def _text(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationFailed(_("%(field)s不能为空") % {"field": _label(field)}, details={"field": field})
    if len(text) > max_length or _CONTROL.search(text.replace("\n", " ")):
        raise ValidationFailed(_("%(field)s不能超过 %(n)s 个字符") % {"field": _label(field), "n": max_length},
                               details={"field": field})
    return text


def _label(field: str) -> str:
    labels = {"name": _("名称"), "number": _("号码"), "key": _("菜单代码"), "prompt": _("提示语"),
              "out_of_hours_prompt": _("非工作时间提示"), "holiday_prompt": _("节假日提示"), "label": _("说明"),
              "reason": _("原因"), "audio": _("录音文件")}
    return labels.get(field.removeprefix("fallback_"), field)


def _lock(flow: IvrFlow, expected_version: int | None) -> IvrFlow:
    locked = IvrFlow.objects.select_for_update().filter(pk=flow.pk).first()
    if locked is None:
        raise NotFound(_("语音导航不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("语音导航已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    return locked


def _changed(actor: Any, flow: IvrFlow, action: str, summary: str, data: dict[str, Any]) -> IvrFlow:
    """Bump the tree's version, refuse a change that breaks an active flow, write the audit row."""
    flow.version += 1
    IvrFlow.objects.filter(pk=flow.pk).update(version=flow.version, updated_at=timezone.now())
    if flow.is_active:
        tree = flow_tree(flow.pk)
        problems = flow_problems(tree) if tree else []
        if problems:
            raise ValidationFailed(
                _("语音导航正在使用，这样修改会使它无法正常工作：%(p)s") % {"p": problems[0].message},
                details={"field": "tree", "problems": [p.as_dict() for p in problems]})
    audit_record(actor=actor, action=action, obj=flow, summary=f"{flow.name} {summary}".strip(), data=data)
    return flow


def _clean_target(flow: IvrFlow, data: TargetData, *, prefix: str = "", fallback: bool = False) -> dict[str, Any]:
    if data.action not in IvrAction.values:
        raise ValidationFailed(_("请选择按键的动作"), details={"field": f"{prefix}action"})
    if fallback and data.action in (IvrAction.REPEAT, IvrAction.ORDER_STATUS):
        raise ValidationFailed(_("超时规则不能是“%(a)s”：不按键的来电者会一直听下去")
                               % {"a": IvrAction(data.action).label}, details={"field": f"{prefix}action"})
    out: dict[str, Any] = {"action": data.action, "target_node": None, "queue": None, "number": ""}
    if data.action == IvrAction.MENU:
        key = str(data.node or "").strip().lower()
        out["target_node"] = IvrNode.objects.filter(flow=flow, key=key).first() if key else None
        if out["target_node"] is None:
            raise ValidationFailed(_("请选择本导航中已有的子菜单") if not key
                                   else _("没有这个子菜单：%(k)s") % {"k": key[:40]},
                                   details={"field": f"{prefix}node"})
    elif data.action == IvrAction.QUEUE:
        code = str(data.queue or "").strip()
        out["queue"] = queue_by_code(code) if code else None
        if out["queue"] is None:
            raise ValidationFailed(_("请选择队列") if not code else _("没有这个队列：%(c)s") % {"c": code[:40]},
                                   details={"field": f"{prefix}queue"})
        if not out["queue"].is_active:
            raise ValidationFailed(_("队列“%(c)s”已停用") % {"c": out["queue"].code},
                                   details={"field": f"{prefix}queue"})
    elif data.action == IvrAction.TRANSFER:
        digits = dial_digits(str(data.number or ""))
        if not 3 <= len(digits) <= 30:
            raise ValidationFailed(_("请填写要转接的电话号码（3 到 30 位数字）"), details={"field": f"{prefix}number"})
        out["number"] = digits
    return out


def _target_dict(target: Any) -> dict[str, Any]:
    return {"action": target.action, "node": target.target_node.key if target.target_node_id else "",
            "queue": target.queue.code if target.queue_id else "", "number": target.number}


# --- flows ------------------------------------------------------------------------------------------------------


def _clean_flow(data: FlowData, *, instance: IvrFlow | None) -> dict[str, Any]:
    name = _text(data.name, "name", 100, required=True)
    if IvrFlow.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        raise ValidationFailed(_("已有名为“%(n)s”的语音导航") % {"n": name}, details={"field": "name"})
    number = dial_digits(str(data.number or ""))
    if not 3 <= len(number) <= 30:
        raise ValidationFailed(_("请填写呼入号码（电话系统送来的被叫号码，3 到 30 位数字）"),
                               details={"field": "number"})
    if IvrFlow.objects.filter(number=number).exclude(pk=getattr(instance, "pk", None)).exists():
        raise ValidationFailed(_("号码 %(n)s 已由另一个语音导航接听") % {"n": number}, details={"field": "number"})
    calendar = None
    if data.calendar_id is not None:
        calendar = BusinessCalendar.objects.filter(pk=data.calendar_id).first()
        if calendar is None:
            raise ValidationFailed(_("没有这个工作日历"), details={"field": "calendar"})
    if data.language not in IvrLanguage.values:
        raise ValidationFailed(_("提示语言只能是中文或英文"), details={"field": "language"})
    if data.closed_action not in ClosedAction.values:
        raise ValidationFailed(_("请选择非工作时间的处理方式"), details={"field": "closed_action"})
    return {"name": name, "number": number, "calendar": calendar, "language": data.language,
            "out_of_hours_prompt": _text(data.out_of_hours_prompt, "out_of_hours_prompt", 500),
            "holiday_prompt": _text(data.holiday_prompt, "holiday_prompt", 500),
            "closed_action": data.closed_action}


@transaction.atomic
def flow_create(*, actor: Any, data: FlowData) -> IvrFlow:
    """A new flow (a draft, off) with its first menu, "main", which hangs up until digits are added."""
    _require(actor)
    fields = _clean_flow(data, instance=None)
    flow = IvrFlow.objects.create(**fields, is_active=False)
    main = IvrNode.objects.create(flow=flow, key="main", name=_("主菜单"), action=IvrAction.HANGUP,
                                  prompt=_("您好，欢迎致电。"))
    flow.entry = main
    flow.save(update_fields=["entry"])
    audit_record(actor=actor, action="ivr.flow_created", obj=flow, summary=flow.name,
                 data={"number": flow.number})
    return flow


@transaction.atomic
def flow_update(*, actor: Any, flow: IvrFlow, data: FlowData, expected_version: int | None) -> IvrFlow:
    """Change a flow's settings; switching it on is refused while its tree has a problem (all listed)."""
    _require(actor)
    locked = _lock(flow, expected_version)
    fields = _clean_flow(data, instance=locked)
    entry_key = str(data.entry or "").strip().lower()
    entry = IvrNode.objects.filter(flow=locked, key=entry_key).first() if entry_key else None
    if entry_key and entry is None:
        raise ValidationFailed(_("没有这个菜单：%(k)s") % {"k": entry_key[:40]}, details={"field": "entry"})
    before = {"name": locked.name, "number": locked.number, "calendar": locked.calendar_id,
              "entry": locked.entry_id, "is_active": locked.is_active, "language": locked.language,
              "closed_action": locked.closed_action}
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.entry = entry
    locked.is_active = bool(data.is_active)
    locked.save()
    after = {"name": locked.name, "number": locked.number, "calendar": locked.calendar_id,
             "entry": locked.entry_id, "is_active": locked.is_active, "language": locked.language,
             "closed_action": locked.closed_action}
    if locked.is_active and not before["is_active"]:
        tree = flow_tree(locked.pk)
        problems = flow_problems(tree) if tree else []
        if problems:
            raise ValidationFailed(_("还不能启用：%(p)s") % {"p": pgettext("列举的分隔符", "；").join(
                str(p.message) for p in problems[:5])},
                                   details={"field": "is_active", "problems": [p.as_dict() for p in problems]})
    return _changed(actor, locked, "ivr.flow_updated", "", {"before": before, "after": after})


@transaction.atomic
def flow_delete(*, actor: Any, flow: IvrFlow, expected_version: int | None) -> None:
    _require(actor)
    locked = _lock(flow, expected_version)
    if locked.is_active:
        raise Conflict(_("请先停用语音导航再删除"), details={"field": "is_active"})
    audit_record(actor=actor, action="ivr.flow_deleted", obj=locked, summary=locked.name,
                 data={"number": locked.number})
    IvrFlow.objects.filter(pk=locked.pk).update(entry=None)
    IvrChoice.objects.filter(node__flow=locked).delete()
    IvrNode.objects.filter(flow=locked).update(target_node=None)
    locked.delete()


# --- menus ------------------------------------------------------------------------------------------------------


def _clean_node(flow: IvrFlow, data: NodeData, *, instance: IvrNode | None) -> dict[str, Any]:
    key = str(data.key or "").strip().lower()
    if not _KEY.match(key):
        raise ValidationFailed(_("菜单代码只能用小写字母、数字、- 和 _，最多 40 个字符"), details={"field": "key"})
    if IvrNode.objects.filter(flow=flow, key=key).exclude(pk=getattr(instance, "pk", None)).exists():
        raise ValidationFailed(_("本导航已有代码为“%(k)s”的菜单") % {"k": key}, details={"field": "key"})
    audio = str(data.audio or "").strip()
    if audio and (not _AUDIO.match(audio) or ".." in audio):
        raise ValidationFailed(_("录音文件名只能用字母、数字和 _ . / -（电话系统里的文件名）"),
                               details={"field": "audio"})
    if not isinstance(data.timeout_seconds, int) or not 1 <= data.timeout_seconds <= 60:
        raise ValidationFailed(_("等待按键秒数须在 1 到 60 之间"), details={"field": "timeout_seconds"})
    if not isinstance(data.retries, int) or not 0 <= data.retries <= 9:
        raise ValidationFailed(_("重复次数须在 0 到 9 之间"), details={"field": "retries"})
    fields = {"key": key, "name": _text(data.name, "name", 100, required=True),
              "prompt": _text(data.prompt, "prompt", 1000, required=True), "audio": audio,
              "timeout_seconds": data.timeout_seconds, "retries": data.retries}
    fields.update(_clean_target(flow, data.fallback, prefix="fallback_", fallback=True))
    return fields


@transaction.atomic
def node_create(*, actor: Any, flow: IvrFlow, data: NodeData, expected_version: int | None) -> IvrNode:
    _require(actor)
    locked = _lock(flow, expected_version)
    node = IvrNode.objects.create(flow=locked, **_clean_node(locked, data, instance=None))
    _changed(actor, locked, "ivr.node_created", node.key, {"node": node.key, "name": node.name})
    return node


@transaction.atomic
def node_update(*, actor: Any, node: IvrNode, data: NodeData, expected_version: int | None) -> IvrNode:
    _require(actor)
    locked = _lock(node.flow, expected_version)
    current = IvrNode.objects.select_related("target_node", "queue").filter(pk=node.pk, flow=locked).first()
    if current is None:
        raise NotFound(_("语音菜单不存在"))
    before = {"key": current.key, "name": current.name, "prompt": current.prompt, "fallback": _target_dict(current)}
    for name, value in _clean_node(locked, data, instance=current).items():
        setattr(current, name, value)
    current.save()
    _changed(actor, locked, "ivr.node_updated", current.key,
             {"before": before, "after": {"key": current.key, "name": current.name, "prompt": current.prompt,
                                          "fallback": _target_dict(current)}})
    return current


@transaction.atomic
def node_knowledge_set(*, actor: Any, node: IvrNode, ask_kb: bool, kb_queue: str = "",
                       expected_version: int | None) -> IvrNode:
    """Let callers say a question in this menu (where the PBX recognises speech): answered from the knowledge base
    when the bot is confident, else sent to the queue `kb_queue` (a code; "" for the menu's own timeout rule)."""
    _require(actor)
    locked = _lock(node.flow, expected_version)
    current = IvrNode.objects.filter(pk=node.pk, flow=locked).first()
    if current is None:
        raise NotFound(_("语音菜单不存在"))
    code = str(kb_queue or "").strip()
    queue = queue_by_code(code) if code else None
    if code and queue is None:
        raise ValidationFailed(_("没有这个队列：%(c)s") % {"c": code[:40]}, details={"field": "kb_queue"})
    if queue is not None and not queue.is_active:
        raise ValidationFailed(_("队列“%(c)s”已停用") % {"c": queue.code}, details={"field": "kb_queue"})
    current.ask_kb, current.kb_queue = bool(ask_kb), queue
    current.save(update_fields=["ask_kb", "kb_queue"])
    _changed(actor, locked, "ivr.node_knowledge_set", current.key,
             {"node": current.key, "ask_kb": current.ask_kb, "kb_queue": queue.code if queue else ""})
    return current


@transaction.atomic
def node_delete(*, actor: Any, node: IvrNode, expected_version: int | None) -> None:
    """Delete a menu and its digits; refused while the first menu, a digit or a timeout rule leads to it."""
    _require(actor)
    locked = _lock(node.flow, expected_version)
    current = IvrNode.objects.filter(pk=node.pk, flow=locked).first()
    if current is None:
        raise NotFound(_("语音菜单不存在"))
    if locked.entry_id == current.pk:
        raise Conflict(_("“%(k)s”是首个菜单，不能删除") % {"k": current.key}, details={"field": "entry"})
    pointing = IvrChoice.objects.filter(target_node=current).exclude(node=current).select_related("node").first()
    if pointing is not None:
        raise Conflict(_("菜单“%(k)s”的按键 %(d)s 指向它，请先修改那个按键")
                       % {"k": pointing.node.key, "d": pointing.digit}, details={"field": "node"})
    parent = IvrNode.objects.filter(target_node=current).exclude(pk=current.pk).first()
    if parent is not None:
        raise Conflict(_("菜单“%(k)s”的超时规则指向它，请先修改那条规则") % {"k": parent.key},
                       details={"field": "node"})
    key = current.key
    IvrChoice.objects.filter(node=current).delete()
    IvrNode.objects.filter(pk=current.pk).update(target_node=None)
    current.delete()
    _changed(actor, locked, "ivr.node_deleted", key, {"node": key})


# --- digits -----------------------------------------------------------------------------------------------------


@transaction.atomic
def choice_set(*, actor: Any, node: IvrNode, data: ChoiceData, expected_version: int | None) -> IvrChoice:
    """Add a digit to a menu, or change what an existing digit does."""
    _require(actor)
    locked = _lock(node.flow, expected_version)
    current = IvrNode.objects.filter(pk=node.pk, flow=locked).first()
    if current is None:
        raise NotFound(_("语音菜单不存在"))
    digit = str(data.digit or "").strip()
    if len(digit) != 1 or digit not in DIGITS:
        raise ValidationFailed(_("按键只能是 0–9、* 或 #"), details={"field": "digit"})
    fields = _clean_target(locked, data.target)
    if fields["target_node"] is not None and fields["target_node"].pk == current.pk:
        raise ValidationFailed(_("子菜单不能是本菜单自己（重听请选“重听本菜单”）"), details={"field": "node"})
    fields["label"] = _text(data.label, "label", 100)
    before = IvrChoice.objects.select_related("target_node", "queue").filter(node=current, digit=digit).first()
    try:
        with transaction.atomic():
            choice, created = IvrChoice.objects.update_or_create(node=current, digit=digit, defaults=fields)
    except IntegrityError:
        raise Conflict(_("按键 %(d)s 刚被他人添加，请刷新后重试") % {"d": digit}) from None
    _changed(actor, locked, "ivr.choice_set", f"{current.key}:{digit}",
             {"node": current.key, "digit": digit, "before": _target_dict(before) if before else None,
              "after": _target_dict(choice), "created": created})
    return choice


@transaction.atomic
def choice_delete(*, actor: Any, choice: IvrChoice, expected_version: int | None) -> None:
    _require(actor)
    locked = _lock(choice.node.flow, expected_version)
    current = IvrChoice.objects.select_related("node", "target_node", "queue").filter(
        pk=choice.pk, node__flow=locked).first()
    if current is None:
        raise NotFound(_("这个按键不存在"))
    data = {"node": current.node.key, "digit": current.digit, "before": _target_dict(current)}
    current.delete()
    _changed(actor, locked, "ivr.choice_deleted", f"{data['node']}:{data['digit']}", data)


# --- the blacklist ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlacklistData:
    number: str
    reason: str
    is_prefix: bool = False
    expires_at: datetime | None = None


@transaction.atomic
def blacklist_add(*, actor: Any, data: BlacklistData, now: datetime | None = None) -> BlacklistEntry:
    """Refuse a number's calls (or every number starting with a prefix) from now on, until `expires_at`."""
    _require(actor, TelephonyRight.BLACKLIST_MANAGE)
    number = dial_digits(str(data.number or ""))
    shortest = 3 if data.is_prefix else 5
    if not shortest <= len(number) <= 30:
        raise ValidationFailed(_("号码前缀至少 3 位数字") if data.is_prefix else _("请填写 5 到 30 位数字的号码"),
                               details={"field": "number"})
    reason = _text(data.reason, "reason", 200, required=True)
    now = now or timezone.now()
    if data.expires_at is not None and data.expires_at <= now:
        raise ValidationFailed(_("到期时间必须晚于现在"), details={"field": "expires_at"})
    if BlacklistEntry.objects.filter(number=number, is_prefix=data.is_prefix).exists():
        raise ValidationFailed(_("%(n)s 已在黑名单中") % {"n": number}, details={"field": "number"})
    try:
        with transaction.atomic():
            entry = BlacklistEntry.objects.create(number=number, is_prefix=data.is_prefix, reason=reason,
                                                  expires_at=data.expires_at,
                                                  created_by=actor if getattr(actor, "is_authenticated", False)
                                                  else None)
    except IntegrityError:
        raise ValidationFailed(_("%(n)s 已在黑名单中") % {"n": number}, details={"field": "number"}) from None
    audit_record(actor=actor, action="blacklist.added", obj=entry, summary=f"{entry} {reason}",
                 data={"number": number, "is_prefix": entry.is_prefix, "reason": reason,
                       "expires_at": entry.expires_at.isoformat() if entry.expires_at else None})
    return entry


@transaction.atomic
def blacklist_remove(*, actor: Any, entry: BlacklistEntry) -> None:
    _require(actor, TelephonyRight.BLACKLIST_MANAGE)
    locked = BlacklistEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if locked is None:
        raise NotFound(_("这条黑名单已被移除"))
    audit_record(actor=actor, action="blacklist.removed", obj=locked, summary=f"{locked} {locked.reason}",
                 data={"number": locked.number, "is_prefix": locked.is_prefix, "reason": locked.reason})
    locked.delete()
