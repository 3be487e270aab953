"""The audit viewer (/admin/audit/): who did or saw what, filtered by person, object, action and date, one row's
details, and the same rows as an Excel file. Read-only, for holders of `audit.view`; the filter is the one of
kefu.core.audit_log, shared with the API and the export."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from kefu.accounts.models import User
from kefu.core import audit_log
from kefu.core.errors import ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.permissions import CoreRight
from kefu.core.policy import requires

PAGE_SIZE = 50

# Where an object named by a row is opened: its type → (URL name, path parameter).
_OBJECT_PAGES = {
    "customers.customer": ("web:customer_detail", "customer_id"),
    "tickets.ticket": ("web:ticket_detail", "ticket_id"),
    "accounts.user": ("administration:staff_edit", "user_id"),
    "accounts.team": ("administration:team_edit", "team_id"),
    "accounts.department": ("administration:department_edit", "department_id"),
    "accounts.skill": ("administration:skill_edit", "skill_id"),
    "tickets.category": ("administration:category_edit", "category_id"),
    "tickets.slapolicy": ("administration:sla_edit", "policy_id"),
    "core.businesscalendar": ("administration:calendar_edit", "calendar_id"),
    "routing.queue": ("administration:queue_edit", "queue_id"),
    "core.auditlog": ("administration:audit_detail", "entry_id"),
}


def object_url(entry: AuditLog) -> str:
    target = _OBJECT_PAGES.get(entry.object_type)
    if target is None or not entry.object_id.isdigit():
        return ""
    try:
        return reverse(target[0], kwargs={target[1]: int(entry.object_id)})
    except NoReverseMatch:
        return ""


def _row(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "at": timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "actor": audit_log.actor_name(entry),
        "system": entry.actor_id is None,
        "action": entry.action,
        "action_label": audit_log.action_label(entry.action),
        "object_type_label": audit_log.object_type_label(entry.object_type) if entry.object_type else "",
        "object_id": entry.object_id,
        "object_url": object_url(entry),
        "summary": audit_log.summary_text(entry),
        "ip": entry.ip_address or "",
        "url": reverse("administration:audit_detail", kwargs={"entry_id": entry.pk}),
    }


def _people() -> list[tuple[int, str]]:
    return [(pk, name or username) for pk, name, username in
            User.objects.order_by("display_name", "username").values_list("pk", "display_name", "username")]


def _form_values(f: audit_log.AuditFilter) -> dict[str, str]:
    values = {name: getattr(f, name) for name in ("actor", "action", "object_type", "object_id", "q")}
    values["date_from"] = timezone.localtime(f.date_from).date().isoformat() if f.date_from else ""
    # date_to is exclusive: the form shows the last day it includes
    values["date_to"] = ((timezone.localtime(f.date_to) - timedelta(seconds=1)).date().isoformat()
                         if f.date_to else "")
    return values


@requires(CoreRight.AUDIT_VIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    found, problems = audit_log.parse_audit_filter(request.GET)
    after, before = request.GET.get("after", "")[:200], request.GET.get("before", "")[:200]
    try:
        page = audit_log.audit_page(request.user, found, limit=PAGE_SIZE, after=after,
                                    before="" if after else before, parameter="after" if after else "before")
    except ValidationFailed as error:
        problems.append(audit_log.FilterProblem("after" if after else "before", error.message))
        page = audit_log.audit_page(request.user, found, limit=PAGE_SIZE)
    query = found.query_string()
    context = {
        "nav": "admin",
        "filters": _form_values(found),
        "problems": problems,
        "rows": [_row(e) for e in page.rows],
        "page": page,
        "query": query,
        "people": _people(),
        "actions": audit_log.action_choices(),
        "object_types": audit_log.object_type_choices(),
        "system_actor": audit_log.SYSTEM_ACTOR,
        "filtered": bool(found.to_query()),
    }
    malformed = any(p.parameter in audit_log.FILTER_PARAMETERS for p in problems)
    return render(request, "administration/audit_list.html", context, status=422 if malformed else 200)


@requires(CoreRight.AUDIT_VIEW)
@require_GET
def audit_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = audit_log.audit_entry(request.user, entry_id)
    if entry is None:
        raise Http404
    return render(request, "administration/audit_detail.html", {
        "nav": "admin", "row": _row(entry), "entry": entry, "data": audit_log.data_items(entry),
        "back": request.GET.get("back", "") if request.GET.get("back", "").startswith("?") else "",
    })


@requires(CoreRight.AUDIT_VIEW)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    try:
        found = audit_log.audit_filter_from(request.GET)
    except ValidationFailed as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    out = io.BytesIO()
    result = audit_log.audit_export(actor=request.user, f=found, out=out, ip=request.META.get("REMOTE_ADDR"))
    response = HttpResponse(out.getvalue(), content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response
