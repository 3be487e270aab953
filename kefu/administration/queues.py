"""The administration's queue pages (/admin/queues/): the list with each queue's line now, and the settings of one
queue — service level, routing, affinity, overflow, priorities, callback and required skills — saved through the
queue services of kefu.routing (checked, audited, refused on a stale version)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.administration import forms
from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.routing.choices import Affinity
from kefu.routing.models import Queue
from kefu.routing.permissions import RoutingRight
from kefu.routing.selectors import queues_with_line
from kefu.routing.services import QUEUE_FIELDS, QueueData, queue_create, queue_delete, queue_history, queue_update

DEFAULTS = QueueData(code="", name="")


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"administration/{template}", {"nav": "admin", **context}, status=status)


def _refused(form: forms.QueueForm, error: ApplicationError) -> None:
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)


def _initial(queue: Queue | None) -> dict[str, Any]:
    source: Any = queue or DEFAULTS
    initial = {name: getattr(source, name) for name in QUEUE_FIELDS}
    if queue is None:
        return {**initial, "team": None, "overflow_to": None}
    skills = {s.skill_id: s.min_proficiency for s in queue.skills.all()}
    return {**initial, "code": queue.code, "team": queue.team_id, "overflow_to": queue.overflow_to_id,
            "version": queue.version, **{f"skill_{pk}": level for pk, level in skills.items()}}


def _data(form: forms.QueueForm, queue: Queue | None) -> QueueData:
    d = form.cleaned_data
    values = {name: d[name] for name in QUEUE_FIELDS}
    if values["affinity_seconds"] is None and values["affinity"] == Affinity.NONE:
        # no affinity: the seconds keep what they were (they matter again when an affinity is chosen)
        values["affinity_seconds"] = queue.affinity_seconds if queue else DEFAULTS.affinity_seconds
    return QueueData(code=d["code"], skills=form.skills(), **values)


def _shown(queue: Queue, name: str) -> str:
    value = getattr(queue, name)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    display = getattr(queue, f"get_{name}_display", None)
    return str(display() if display else value)


def _differences(form: forms.QueueForm, current: Queue) -> list[tuple[Any, str]]:
    """The settings someone else saved that differ from what this form sent: (label, value now)."""
    found = []
    for name in QUEUE_FIELDS:
        mine = form.cleaned_data.get(name)
        now = getattr(current, name)
        if name in ("team", "overflow_to"):
            mine, now = getattr(mine, "pk", None), getattr(current, f"{name}_id")
        if mine != now:
            found.append((form.fields[name].label, _shown(current, name)))
    wanted = {skill.pk: level for skill, level in form.skills()}
    if wanted != {s.skill_id: s.min_proficiency for s in current.skills.all()}:
        found.append((_("技能要求"), "、".join(f"{s.skill.name} ≥ {s.min_proficiency}"
                                             for s in current.skills.select_related("skill")) or "—"))
    return found


@requires(RoutingRight.QUEUE_MANAGE)
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    return _page(request, "queue_list.html", {"queues": list(queues_with_line())})


@requires(RoutingRight.QUEUE_MANAGE)
def queue_new(request: HttpRequest) -> HttpResponse:
    form = forms.QueueForm(request.POST or None, initial=_initial(None))
    if request.method == "POST" and form.is_valid():
        try:
            queue = queue_create(actor=request.user, data=_data(form, None))
        except ApplicationError as error:
            _refused(form, error)
        else:
            messages.success(request, _("已添加队列“%(name)s”") % {"name": queue.name})
            return redirect("administration:queue_edit", queue_id=queue.pk)
    return _page(request, "queue_form.html", {"form": form, "queue": None},
                 status=422 if request.method == "POST" else 200)


@requires(RoutingRight.QUEUE_MANAGE)
def queue_edit(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = queues_with_line().filter(pk=queue_id).first()
    if queue is None:
        raise Http404
    form = forms.QueueForm(request.POST or None, queue=queue, initial=_initial(queue))
    conflict: list[tuple[Any, str]] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            queue_update(actor=request.user, queue=queue, data=_data(form, queue),
                         expected_version=form.cleaned_data["version"])
        except ApplicationError as error:
            _refused(form, error)
            if error.code == "stale_version":
                queue = queues_with_line().get(pk=queue.pk)
                conflict = _differences(form, queue)
                # saving again, having seen what changed, keeps this form's values on purpose
                form.data = form.data.copy()
                form.data["version"] = str(queue.version)
        else:
            messages.success(request, _("已保存"))
            return redirect("administration:queue_edit", queue_id=queue.pk)
    return _page(request, "queue_form.html", {
        "form": form, "queue": queue, "conflict": conflict, "history": queue_history(queue)},
        status=(409 if conflict is not None else 422) if request.method == "POST" else 200)


@requires(RoutingRight.QUEUE_MANAGE)
@require_POST
def queue_remove(request: HttpRequest, queue_id: int) -> HttpResponse:
    """Delete a queue that was never used; one with history stays (switch it off on its page)."""
    queue = Queue.objects.filter(pk=queue_id).first()
    if queue is None:
        raise Http404
    version = request.POST.get("version", "")
    try:
        queue_delete(actor=request.user, queue=queue, expected_version=int(version) if version.isdigit() else None)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("administration:queue_edit", queue_id=queue_id)
    messages.success(request, _("已删除队列“%(name)s”") % {"name": queue.name})
    return redirect("administration:queue_list")
