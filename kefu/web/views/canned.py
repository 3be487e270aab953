"""Canned replies (快捷回复) for team leads and supervisors: the list, a new one, edit, delete. Agents use them in
the inbox's composer by typing "/"."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kefu.accounts.models import Team
from kefu.conversations import selectors, services
from kefu.conversations.models import CannedReply
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services.canned import canned_unknown_variables
from kefu.core.errors import ApplicationError, ValidationFailed
from kefu.core.policy import requires
from kefu.web import forms
from kefu.web.views.common import form_errors_text


def _teams(request: HttpRequest) -> list[Team]:
    """The teams whose replies the person keeps (supervisors: all, and the shared ones)."""
    teams = selectors.canned_team_ids(request.user)
    qs = Team.objects.filter(is_active=True).order_by("name")
    return list(qs if teams is None else qs.filter(pk__in=teams))


def _reply_or_404(request: HttpRequest, canned_reply_id: int) -> CannedReply:
    reply = selectors.canned_replies_managed(request.user).filter(pk=canned_reply_id).first()
    if reply is None:
        raise Http404
    return reply


def _team(request: HttpRequest, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = next((t for t in _teams(request) if t.pk == team_id), None)
    if team is None:
        raise ValidationFailed(_("只能管理本组的快捷回复"), details={"field": "team"})
    return team


def _selected_team(form: Any, default: int | None) -> int | None:
    """The team the form shows chosen: the one posted (kept when the form comes back with an error)."""
    if not form.is_bound:
        return default
    raw = str(form.data.get("team") or "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _save(request: HttpRequest, form: Any, reply: CannedReply | None) -> str:
    """"" when saved, else what was wrong."""
    if not form.is_valid():
        return form_errors_text(form)
    data = form.cleaned_data
    try:
        fields = {"team": _team(request, data.get("team")), "shortcut": data["shortcut"], "title": data["title"],
                  "body": data["body"]}
        if reply is None:
            services.canned_reply_create(actor=request.user, **fields)
        else:
            services.canned_reply_update(actor=request.user, reply=reply, **fields)
    except ApplicationError as error:
        return error.message
    unknown = canned_unknown_variables(data["body"])
    if unknown:
        messages.warning(request, _("无法识别的变量：%(v)s，插入时会原样保留。可用的变量：%(k)s") % {
            "v": "、".join(f"{{{v}}}" for v in unknown), "k": "{客户姓名} {坐席姓名} {工单号} {今天}"})
    return ""


@requires(ConversationRight.CANNED_MANAGE)
def canned_list(request: HttpRequest) -> HttpResponse:
    """The replies one keeps, and the form of a new one (POST creates it)."""
    form = forms.CannedReplyForm(request.POST or None)
    error = ""
    if request.method == "POST":
        error = _save(request, form, None)
        if not error:
            messages.success(request, _("快捷回复已添加"))
            return redirect("web:canned_list")
    teams = _teams(request)
    return render(request, "web/conversations/canned_list.html", {
        "nav": "conversations", "replies": list(selectors.canned_replies_managed(request.user)[:500]),
        "form": form, "error": error, "teams": teams,
        "shared_allowed": selectors.canned_team_ids(request.user) is None,
        "selected_team": _selected_team(form, request.user.team_id if any(
            t.pk == request.user.team_id for t in teams) else None),
    }, status=422 if error else 200)


@requires(ConversationRight.CANNED_MANAGE)
def canned_edit(request: HttpRequest, canned_reply_id: int) -> HttpResponse:
    reply = _reply_or_404(request, canned_reply_id)
    initial = {"team": reply.team_id, "shortcut": reply.shortcut, "title": reply.title, "body": reply.body}
    form = forms.CannedReplyForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST":
        error = _save(request, form, reply)
        if not error:
            messages.success(request, _("快捷回复已保存"))
            return redirect("web:canned_list")
    return render(request, "web/conversations/canned_form.html", {
        "nav": "conversations", "reply": reply, "form": form, "error": error, "teams": _teams(request),
        "shared_allowed": selectors.canned_team_ids(request.user) is None,
        "selected_team": _selected_team(form, reply.team_id),
    }, status=422 if error else 200)


@requires(ConversationRight.CANNED_MANAGE)
@require_POST
def canned_delete(request: HttpRequest, canned_reply_id: int) -> HttpResponse:
    reply = _reply_or_404(request, canned_reply_id)
    try:
        services.canned_reply_delete(actor=request.user, reply=reply)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("快捷回复 /%(s)s 已删除") % {"s": reply.shortcut})
    return redirect("web:canned_list")
