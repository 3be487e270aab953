"""The IVR editor (语音导航) and the blacklist (黑名单), in the administration: flows with their menus and digits,
the problems that keep a tree from the PBX, a try-out of what a caller hears; numbers refused with their reason.
Views parse forms and call kefu.telephony.ivr_services; a refusal is shown with the field (or menu and digit) named.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.routing.models import Queue
from kefu.telephony import ivr_services as ivr
from kefu.telephony.choices import IvrAction
from kefu.telephony.ivr_selectors import (
    DIGITS,
    Asker,
    Step,
    blacklist_list,
    flow_list,
    flow_problems,
    flow_tree,
    try_path,
)
from kefu.telephony.models import BlacklistEntry, IvrChoice, IvrFlow, IvrNode
from kefu.telephony.permissions import TelephonyRight
from kefu.web import ivr_forms as forms

_KEYS = re.compile(r"[0-9*#-]")


def _step_label(action: str) -> str:
    return {"play": _("播放菜单"), "queue": _("转人工队列"), "voicemail": _("语音留言"), "transfer": _("转接号码"),
            "hangup": _("挂机"), "reject": _("拒接")}.get(action, action)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"web/ivr/{template}", {"nav": "admin", **context}, status=status)


def _refused(form: Any, error: ApplicationError) -> None:
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)


def _flow(flow_id: int) -> IvrFlow:
    flow = flow_tree(flow_id)
    if flow is None:
        raise Http404
    return flow


def _node(flow: IvrFlow, node_id: int) -> IvrNode:
    node = next((n for n in flow.nodes.all() if n.pk == node_id), None)
    if node is None:
        raise Http404
    return node


def _queues() -> list[Queue]:
    return list(Queue.objects.filter(is_active=True).order_by("code"))


def _target_data(data: dict[str, Any], prefix: str = "") -> ivr.TargetData:
    return ivr.TargetData(action=data[f"{prefix}action"], node=data.get(f"{prefix}node") or "",
                          queue=data.get(f"{prefix}queue") or "", number=data.get(f"{prefix}number") or "")


def _editor(flow_id: int) -> str:
    return reverse("web:ivr_edit", kwargs={"flow_id": flow_id})


def _first_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}：{errors[0]}" if label else str(errors[0])
    return _("请检查输入")


def _target_text(target: Any) -> str:
    """The action and its target as a sentence for the editor's tables."""
    action = IvrAction(target.action)
    if action == IvrAction.MENU and target.target_node_id:
        return f"{action.label} → {target.target_node.name}"
    if action == IvrAction.QUEUE and target.queue_id:
        return f"{action.label} → {target.queue.name}"
    if action == IvrAction.TRANSFER:
        return f"{action.label} → {target.number}"
    return str(action.label)


# --- flows ------------------------------------------------------------------------------------------------------


@requires(TelephonyRight.IVR_MANAGE)
@require_GET
def ivr_list(request: HttpRequest) -> HttpResponse:
    flows = list(flow_list())
    return _page(request, "list.html", {"flows": flows, "form": forms.FlowCreateForm()})


@requires(TelephonyRight.IVR_MANAGE)
@require_http_methods(["GET", "POST"])
def ivr_create(request: HttpRequest) -> HttpResponse:
    form = forms.FlowCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            flow = ivr.flow_create(actor=request.user, data=ivr.FlowData(name=form.cleaned_data["name"],
                                                                         number=form.cleaned_data["number"]))
        except ApplicationError as error:
            _refused(form, error)
        else:
            messages.success(request, _("已新建语音导航，先编辑主菜单并添加按键，检查无误后启用"))
            return redirect("web:ivr_edit", flow_id=flow.pk)
    return _page(request, "list.html", {"flows": list(flow_list()), "form": form},
                 status=422 if request.method == "POST" else 200)


def _flow_form(flow: IvrFlow, data: Any = None) -> forms.FlowForm:
    initial = {"name": flow.name, "number": flow.number, "calendar": flow.calendar_id,
               "entry": flow.entry.key if flow.entry else "", "language": flow.language,
               "closed_action": flow.closed_action, "out_of_hours_prompt": flow.out_of_hours_prompt,
               "holiday_prompt": flow.holiday_prompt, "is_active": flow.is_active, "version": flow.version}
    return forms.FlowForm(data, initial=initial, nodes=list(flow.nodes.all()))


def _try_out(request: HttpRequest, flow: IvrFlow) -> dict[str, Any] | None:
    if "try_keys" not in request.GET:
        return None
    caller = request.GET.get("try_caller", "")[:40]
    keys = ["" if k == "-" else k for k in _KEYS.findall(request.GET.get("try_keys", "")[:40])]
    tried = copy.copy(flow)
    if request.GET.get("try_hours") != "1":
        tried.calendar = None  # in memory only: try the menus whatever the time
    steps: list[Step] = try_path(tried, caller=caller, keys=keys,
                                 asker=Asker(actor=request.user, ip=request.META.get("REMOTE_ADDR")))
    return {"caller": caller, "keys": request.GET.get("try_keys", "")[:40], "hours": request.GET.get("try_hours"),
            "steps": [{"step": s, "label": _step_label(s.action)} for s in steps]}


def _node_rows(flow: IvrFlow) -> list[dict[str, Any]]:
    rows = []
    for node in flow.nodes.all():
        rows.append({"node": node, "is_entry": node.pk == flow.entry_id, "fallback": _target_text(node),
                     "choices": [{"choice": c, "target": _target_text(c),
                                  "action_label": IvrAction(c.action).label}
                                 for c in sorted(node.choices.all(), key=lambda c: DIGITS.index(c.digit))]})
    return rows


def _render_editor(request: HttpRequest, flow: IvrFlow, *, form: Any = None, status: int = 200,
                   node_form: Any = None) -> HttpResponse:
    nodes = list(flow.nodes.all())
    queues = _queues()
    problems = flow_problems(flow)
    return _page(request, "edit.html", {
        "flow": flow, "form": form or _flow_form(flow), "rows": _node_rows(flow), "problems": problems,
        "choice_form": forms.ChoiceForm(nodes=nodes, queues=queues, initial={"version": flow.version}),
        "node_form": node_form or forms.NodeForm(nodes=nodes, queues=queues,
                                                 initial={"version": flow.version, "fallback_action": "hangup"}),
        "try": _try_out(request, flow)}, status=status)


@requires(TelephonyRight.IVR_MANAGE)
@require_http_methods(["GET", "POST"])
def ivr_edit(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    if request.method == "GET":
        return _render_editor(request, flow)
    form = _flow_form(flow, request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            ivr.flow_update(actor=request.user, flow=flow, expected_version=d["version"], data=ivr.FlowData(
                name=d["name"], number=d["number"], calendar_id=d["calendar"].pk if d["calendar"] else None,
                language=d["language"], out_of_hours_prompt=d["out_of_hours_prompt"],
                holiday_prompt=d["holiday_prompt"], closed_action=d["closed_action"], entry=d["entry"],
                is_active=d["is_active"]))
        except ApplicationError as error:
            _refused(form, error)
        else:
            messages.success(request, _("已保存"))
            return redirect("web:ivr_edit", flow_id=flow.pk)
    return _render_editor(request, _flow(flow_id), form=form, status=422)


@requires(TelephonyRight.IVR_MANAGE)
@require_POST
def ivr_delete(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    form = forms.VersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("页面已过期，请刷新后重试"))
        return redirect(_editor(flow.pk))
    try:
        ivr.flow_delete(actor=request.user, flow=flow, expected_version=form.cleaned_data["version"])
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_editor(flow.pk))
    messages.success(request, _("已删除语音导航“%(n)s”") % {"n": flow.name})
    return redirect("web:ivr_list")


# --- menus and digits -------------------------------------------------------------------------------------------


def _node_data(d: dict[str, Any]) -> ivr.NodeData:
    return ivr.NodeData(key=d["key"], name=d["name"], prompt=d["prompt"], audio=d["audio"],
                        timeout_seconds=d["timeout_seconds"], retries=d["retries"],
                        fallback=_target_data(d, "fallback_"))


@requires(TelephonyRight.IVR_MANAGE)
@require_POST
def ivr_node_add(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    form = forms.NodeForm(request.POST, nodes=list(flow.nodes.all()), queues=_queues())
    if form.is_valid():
        try:
            node = ivr.node_create(actor=request.user, flow=flow, data=_node_data(form.cleaned_data),
                                   expected_version=form.cleaned_data["version"])
        except ApplicationError as error:
            _refused(form, error)
        else:
            messages.success(request, _("已添加菜单“%(n)s”") % {"n": node.name})
            return redirect(f"{_editor(flow.pk)}#node-{node.key}")
    return _render_editor(request, flow, node_form=form, status=422)


@requires(TelephonyRight.IVR_MANAGE)
@require_http_methods(["GET", "POST"])
def ivr_node_edit(request: HttpRequest, flow_id: int, node_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    node = _node(flow, node_id)
    initial = {"key": node.key, "name": node.name, "prompt": node.prompt, "audio": node.audio,
               "timeout_seconds": node.timeout_seconds, "retries": node.retries, "fallback_action": node.action,
               "fallback_node": node.target_node.key if node.target_node_id else "",
               "fallback_queue": node.queue.code if node.queue_id else "", "fallback_number": node.number,
               "version": flow.version}
    queues = _queues()
    form = forms.NodeForm(request.POST or None, initial=initial, nodes=list(flow.nodes.all()), queues=queues)
    knowledge = forms.NodeKnowledgeForm(request.POST or None, queues=queues, initial={
        "ask_kb": node.ask_kb, "kb_queue": node.kb_queue.code if node.kb_queue_id else ""})
    if request.method == "POST" and form.is_valid() and knowledge.is_valid():
        try:
            with transaction.atomic():  # the menu and its spoken questions saved together, or neither
                node = ivr.node_update(actor=request.user, node=node, data=_node_data(form.cleaned_data),
                                       expected_version=form.cleaned_data["version"])
                wanted = (knowledge.cleaned_data["ask_kb"], knowledge.cleaned_data["kb_queue"] or "")
                if wanted != (node.ask_kb, node.kb_queue.code if node.kb_queue_id else ""):
                    ivr.node_knowledge_set(actor=request.user, node=node, ask_kb=wanted[0], kb_queue=wanted[1],
                                           expected_version=None)
        except ApplicationError as error:
            _refused(knowledge if (error.details or {}).get("field") == "kb_queue" else form, error)
        else:
            messages.success(request, _("已保存"))
            return redirect(f"{_editor(flow.pk)}#node-{form.cleaned_data['key'].strip().lower()}")
    return _page(request, "node.html", {"flow": flow, "node": node, "form": form, "knowledge": knowledge},
                 status=422 if request.method == "POST" else 200)


@requires(TelephonyRight.IVR_MANAGE)
@require_POST
def ivr_node_delete(request: HttpRequest, flow_id: int, node_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    node = _node(flow, node_id)
    form = forms.VersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("页面已过期，请刷新后重试"))
        return redirect(_editor(flow.pk))
    try:
        ivr.node_delete(actor=request.user, node=node, expected_version=form.cleaned_data["version"])
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已删除菜单“%(n)s”") % {"n": node.name})
    return redirect(_editor(flow.pk))


@requires(TelephonyRight.IVR_MANAGE)
@require_POST
def ivr_choice_set(request: HttpRequest, flow_id: int, node_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    node = _node(flow, node_id)
    form = forms.ChoiceForm(request.POST, nodes=list(flow.nodes.all()), queues=_queues())
    if not form.is_valid():
        messages.error(request, _("菜单“%(k)s”：%(e)s") % {"k": node.key, "e": _first_error(form)})
        return redirect(f"{_editor(flow.pk)}#node-{node.key}")
    d = form.cleaned_data
    try:
        ivr.choice_set(actor=request.user, node=node, expected_version=d["version"],
                       data=ivr.ChoiceData(digit=d["digit"], label=d["label"], target=_target_data(d)))
    except ApplicationError as error:
        messages.error(request, _("菜单“%(k)s”按键 %(d)s：%(e)s")
                       % {"k": node.key, "d": d["digit"], "e": error.message})
    else:
        messages.success(request, _("已设置菜单“%(k)s”的按键 %(d)s") % {"k": node.key, "d": d["digit"]})
    return redirect(f"{_editor(flow.pk)}#node-{node.key}")


@requires(TelephonyRight.IVR_MANAGE)
@require_POST
def ivr_choice_delete(request: HttpRequest, flow_id: int, choice_id: int) -> HttpResponse:
    flow = _flow(flow_id)
    choice = IvrChoice.objects.select_related("node").filter(pk=choice_id, node__flow=flow).first()
    if choice is None:
        raise Http404
    form = forms.VersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("页面已过期，请刷新后重试"))
        return redirect(_editor(flow.pk))
    choice.node.flow = flow
    try:
        ivr.choice_delete(actor=request.user, choice=choice, expected_version=form.cleaned_data["version"])
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已删除菜单“%(k)s”的按键 %(d)s") % {"k": choice.node.key, "d": choice.digit})
    return redirect(f"{_editor(flow.pk)}#node-{choice.node.key}")


# --- the blacklist ----------------------------------------------------------------------------------------------


@requires(TelephonyRight.BLACKLIST_MANAGE)
@require_http_methods(["GET", "POST"])
def blacklist(request: HttpRequest) -> HttpResponse:
    form = forms.BlacklistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        expires = None
        if d["expires_on"]:  # in force through the day chosen
            expires = timezone.make_aware(datetime.combine(d["expires_on"] + timedelta(days=1), time(0)))
        try:
            entry = ivr.blacklist_add(actor=request.user, data=ivr.BlacklistData(
                number=d["number"], reason=d["reason"], is_prefix=d["is_prefix"], expires_at=expires))
        except ApplicationError as error:
            _refused(form, error)
        else:
            messages.success(request, _("已加入黑名单：%(n)s") % {"n": entry})
            return redirect("web:blacklist")
    now = timezone.now()
    q = request.GET.get("q", "")[:40]
    entries = list(blacklist_list(q=q)[:500])
    rows = [{"entry": e, "expired": e.expires_at is not None and e.expires_at <= now,
             "expires_on": timezone.localtime(e.expires_at - timedelta(seconds=1)).date() if e.expires_at else None}
            for e in entries]
    return _page(request, "blacklist.html", {"form": form, "rows": rows, "q": q},
                 status=422 if request.method == "POST" else 200)


@requires(TelephonyRight.BLACKLIST_MANAGE)
@require_POST
def blacklist_delete(request: HttpRequest, blacklist_id: int) -> HttpResponse:
    entry = BlacklistEntry.objects.filter(pk=blacklist_id).first()
    if entry is None:
        raise Http404
    try:
        ivr.blacklist_remove(actor=request.user, entry=entry)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已移出黑名单：%(n)s") % {"n": entry})
    return redirect("web:blacklist")
