"""Work-order pages: the list with filters and saved views, the detail page and its actions, create."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.models import User
from kefu.core.errors import ApplicationError, Conflict, ValidationFailed
from kefu.core.pagination import keyset_page
from kefu.core.policy import has_right, requires, visible
from kefu.customers.permissions import CustomerRight
from kefu.customers.selectors import customer_detail, customer_onsite_cards, customer_timeline
from kefu.tickets import selectors, services
from kefu.tickets.choices import EventKind
from kefu.tickets.models import Attachment, Ticket, TicketEvent
from kefu.tickets.permissions import TicketRight
from kefu.web import forms
from kefu.web import services as web_services
from kefu.web.ticket_detail import DETAIL_DEFERRED, DETAIL_RELATED, ticket_detail_context
from kefu.web.ticket_list import ticket_rows
from kefu.web.views.common import (
    application_error_status,
    error_fragment,
    form_errors_text,
    is_htmx,
    visible_ticket_or_404,
)

# --- list ---------------------------------------------------------------------------------------------------


PAGE_SIZE = 50
COUNT_CAP = 1000  # counting stops here: "more than 1,000" instead of a COUNT(*) over a million rows


def list_filter(request: HttpRequest) -> tuple[selectors.TicketFilter, list[selectors.FilterError], bool]:
    """The list's filter from the query string (the same parser as the API and the export). No parameter at
    all: the view that suits the person, open orders. A parameter it cannot use is left out and named; the
    third value says whether any was malformed (the page then answers 422, the export 400)."""
    user = request.user
    if not any(name in request.GET for name in selectors.FILTER_PARAMETERS):
        return selectors.default_filter_for(user), [], False
    found, errors = selectors.parse_ticket_filter(request.GET, default_view=selectors.default_view_for(user))
    malformed = bool(errors)
    if found.view not in selectors.views_for(user):
        errors.append(selectors.FilterError("scope", _("你不能查看这个范围的工单")))
        found = found.with_(view=selectors.default_view_for(user))
    return found, errors, malformed


def _extra_filters(f: selectors.TicketFilter) -> list[dict[str, str]]:
    """Filters the form has no field for (set by a link on the home page): shown as chips, kept as hidden
    inputs so changing a field keeps them."""
    from kefu.accounts.models import Team
    from kefu.tickets.models import Category

    chips = []
    if f.team is not None:
        team = Team.objects.filter(pk=f.team).first()
        chips.append({"name": "team", "value": str(f.team), "label": _("班组：%(t)s") % {"t": team or "—"}})
    if f.category is not None:
        category = Category.objects.filter(pk=f.category).first()
        chips.append({"name": "category", "value": str(f.category),
                      "label": _("分类：%(c)s") % {"c": category or "—"}})
    if f.customer is not None:
        chips.append({"name": "customer", "value": str(f.customer), "label": _("指定客户")})
    if f.dispatch:
        chips.append({"name": "dispatch", "value": f.dispatch,
                      "label": _("等待部门处理") if f.dispatch == "open" else _("部门派单已逾期")})
    query = f.to_query()
    for kind, on_day, since, until in (
        ("created", _("创建于 %(t)s"), _("创建于 %(t)s 起"), _("创建至 %(t)s")),
        ("resolved", _("解决于 %(t)s"), _("解决于 %(t)s 起"), _("解决至 %(t)s")),
    ):
        start, end = query.get(f"{kind}_from"), query.get(f"{kind}_to")
        if start and start == end:
            chips.append({"name": f"{kind}_from", "value": start, "label": on_day % {"t": start}})
            chips.append({"name": f"{kind}_to", "value": end, "label": ""})
            continue
        if start:
            chips.append({"name": f"{kind}_from", "value": start, "label": since % {"t": start}})
        if end:
            chips.append({"name": f"{kind}_to", "value": end, "label": until % {"t": end}})
    return chips


@requires(TicketRight.VIEW)
@require_GET
def ticket_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    found, errors, malformed = list_filter(request)
    qs = selectors.list_queryset(selectors.filter_tickets(user, found))
    after, before = request.GET.get("after", "")[:200], request.GET.get("before", "")[:200]
    try:
        page = keyset_page(qs, limit=PAGE_SIZE, after=after, before="" if after else before, count_cap=COUNT_CAP,
                           parameter="after" if after else "before")
    except ValidationFailed:
        errors.append(selectors.FilterError("after" if after else "before", _("翻页位置无效，已回到第一页")))
        page = keyset_page(qs, limit=PAGE_SIZE, count_cap=COUNT_CAP)
    query = found.query_string()
    labels = dict(forms.SCOPES)
    context = {
        "nav": "tickets",
        "ticket_filter": found,
        "filters": forms.filter_form_values(found),
        "filter_form": forms.TicketFilterForm(),
        "filter_errors": errors,
        "extra_filters": _extra_filters(found),
        "page": page,
        "rows": ticket_rows(page.rows),
        "query": query,
        "active_filters": sum(1 for k in forms.TicketFilterForm.FILTER_FIELDS if forms.filter_form_values(found)[k]),
        "scopes": [(view, labels[view], found.with_(view=view).query_string()) for view in selectors.views_for(user)],
        "assignee_options": _assignee_options(request),
        "may_export": has_right(user, TicketRight.EXPORT),
    }
    status = 422 if malformed else 200  # htmx swaps a 422 in, so the named parameter is shown
    if is_htmx(request) and request.headers.get("HX-Target") == "ticket-results":
        return render(request, "web/tickets/_results.html", context, status=status)
    return render(request, "web/tickets/list.html", context, status=status)


@requires(TicketRight.EXPORT)
@require_GET
def ticket_export(request: HttpRequest) -> HttpResponse:
    """The list as it is filtered, to Excel or CSV (personal data masked per rights; audited)."""
    import io

    from kefu.tickets.exporting import ticket_export as export

    found, errors, malformed = list_filter(request)
    if malformed:
        return HttpResponse("；".join(e.message for e in errors), status=400, content_type="text/plain; charset=utf-8")
    fmt = request.GET.get("format", "xlsx")
    out = io.BytesIO()
    try:
        result = export(actor=request.user, out=out, fmt=fmt, ticket_filter=found,
                        ip=request.META.get("REMOTE_ADDR"))
    except ApplicationError as error:
        return HttpResponse(error.message, status=application_error_status(error),
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(out.getvalue(), content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response


def _assignee_options(request: HttpRequest) -> list[User]:
    users = User.objects.filter(is_active=True, role__in=services.ASSIGNABLE_ROLES)
    if not has_right(request.user, TicketRight.VIEW_ALL) and request.user.team_id:
        users = users.filter(team_id=request.user.team_id)
    return list(users.order_by("display_name", "username")[:200])


# --- saved views -------------------------------------------------------------------------------------------


@requires(TicketRight.VIEW)
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = forms.SavedViewForm(request.POST)
    if not form.is_valid():
        return error_fragment(request, target="#err-saved-view", message=form_errors_text(form))
    try:
        web_services.saved_view_create(
            actor=request.user, name=form.cleaned_data["name"], query=form.cleaned_data["query"] or ""
        )
    except ApplicationError as error:
        return error_fragment(request, target="#err-saved-view", message=error.message)
    return _saved_views_response(request)


@requires(TicketRight.VIEW)
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        web_services.saved_view_delete(actor=request.user, view_id=view_id)
    except ApplicationError:
        raise Http404 from None
    return _saved_views_response(request)


def _saved_views_response(request: HttpRequest) -> HttpResponse:
    if is_htmx(request):
        return render(request, "web/tickets/_saved_views.html", {})
    return redirect("web:ticket_list")


# --- detail -------------------------------------------------------------------------------------------------


def _onsite_context(request: HttpRequest, ticket: Ticket, dispatches: list[Any]) -> dict[str, Any]:
    """Department staff see no customer record, but what they need on site for the order dispatched to them."""
    user = request.user
    if ticket.customer_id is None or not has_right(user, CustomerRight.VIEW_ONSITE) or not dispatches:
        return {"customer_card": None, "timeline": None}
    own = [d for d in dispatches if d.department_id == getattr(user, "department_id", None)]
    card = customer_onsite_cards(user, [ticket.customer_id]).get(ticket.customer_id)
    return {"customer_card": None, "timeline": None, "onsite": card, "onsite_dispatch_id": (own or dispatches)[0].pk}


def _customer_context(request: HttpRequest, ticket: Ticket, dispatches: list[Any] | None = None) -> dict[str, Any]:
    if ticket.customer_id is not None and not has_right(request.user, CustomerRight.VIEW):
        return _onsite_context(request, ticket, dispatches or [])
    if ticket.customer_id is None or not has_right(request.user, CustomerRight.VIEW):
        return {"customer_card": None, "timeline": None}
    # the page shows no tags or sites; the order was read with its customer and the customer's agent
    card = customer_detail(request.user, ticket.customer_id, brief=True, loaded=ticket.customer)
    timeline = customer_timeline(request.user, ticket.customer, limit=12)
    return {"customer_card": card, "timeline": timeline}


def _detail_context(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    detail = ticket_detail_context(request.user, ticket)
    return {
        "nav": "tickets",
        **detail,
        **_customer_context(request, ticket, detail["dispatches"]),
        "loaded_at": timezone.now().isoformat(),
    }


@requires(TicketRight.VIEW)
@require_GET
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id, related=DETAIL_RELATED, deferred=DETAIL_DEFERRED)
    return render(request, "web/tickets/detail.html", _detail_context(request, ticket))


def _after_action(request: HttpRequest, ticket_id: int, flash: str) -> HttpResponse:
    """Success: HTMX gets the refreshed page body; a plain form post is redirected (PRG)."""
    ticket = visible_ticket_or_404(request, ticket_id, related=DETAIL_RELATED, deferred=DETAIL_DEFERRED)
    if is_htmx(request):
        context = _detail_context(request, ticket)
        context["flash"] = flash
        response = render(request, "web/tickets/_detail_main.html", context)
        response["HX-Trigger"] = "kefu:changed"
        return response
    messages.success(request, flash)
    return redirect("web:ticket_detail", ticket_id=ticket_id)


def _refused(
    request: HttpRequest,
    ticket_id: int,
    slot: str,
    message: str,
    status: int = 422,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """A refused action: the reason next to the form (HTMX) or on the re-rendered page."""
    if is_htmx(request):
        return error_fragment(request, target=f"#err-{slot}", message=message, status=status, extra=extra)
    ticket = visible_ticket_or_404(request, ticket_id, related=DETAIL_RELATED, deferred=DETAIL_DEFERRED)
    context = _detail_context(request, ticket)
    context["errors"] = {slot: message}
    return render(request, "web/tickets/detail.html", context, status=status)


def _run(request: HttpRequest, ticket_id: int, slot: str, form: Any, action: Any, flash: str) -> HttpResponse:
    if not form.is_valid():
        return _refused(request, ticket_id, slot, form_errors_text(form))
    try:
        action(form.cleaned_data)
    except ApplicationError as error:
        return _refused(request, ticket_id, slot, error.message, application_error_status(error))
    return _after_action(request, ticket_id, flash)


@requires(TicketRight.REPLY)
@require_POST
def ticket_reply(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    return _run(
        request,
        ticket_id,
        "reply",
        forms.MessageForm(request.POST),
        lambda data: services.ticket_reply(actor=request.user, ticket=ticket, body=data["body"]),
        _("已回复客户"),
    )


@requires(TicketRight.NOTE)
@require_POST
def ticket_note(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    return _run(
        request,
        ticket_id,
        "note",
        forms.MessageForm(request.POST),
        lambda data: services.ticket_add_note(actor=request.user, ticket=ticket, body=data["body"]),
        _("已添加内部备注"),
    )


@requires(TicketRight.TRANSITION)
@require_POST
def ticket_transition(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    return _run(
        request,
        ticket_id,
        "transition",
        forms.TransitionForm(request.POST),
        lambda data: services.ticket_transition(
            actor=request.user,
            ticket=ticket,
            to_status=data["to_status"],
            expected_version=data.get("version"),
            reason=data.get("reason") or "",
        ),
        _("状态已更新"),
    )


@requires(TicketRight.ASSIGN)
@require_POST
def ticket_assign(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)

    def assign(data: dict[str, Any]) -> None:
        assignee = None
        if data.get("assignee"):
            assignee = User.objects.filter(pk=data["assignee"], is_active=True).first()
            if assignee is None:
                raise Conflict(_("找不到该处理人"), details={"field": "assignee"})
        services.ticket_assign(
            actor=request.user,
            ticket=ticket,
            assignee=assignee,
            expected_version=data.get("version"),
            reason=data.get("reason") or "",
        )

    return _run(request, ticket_id, "assign", forms.AssignForm(request.POST), assign, _("处理人已更新"))


@requires(TicketRight.DISPATCH)
@require_POST
def ticket_dispatch(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)

    def dispatch(data: dict[str, Any]) -> None:
        due = data.get("due_at")
        if due is not None and timezone.is_naive(due):
            due = timezone.make_aware(due)
        services.ticket_dispatch(
            actor=request.user,
            ticket=ticket,
            department=data["department"],
            instructions=data.get("instructions") or "",
            due_at=due,
        )

    return _run(request, ticket_id, "dispatch", forms.DispatchForm(request.POST), dispatch, _("已派单"))


@requires(TicketRight.ESCALATE)
@require_POST
def ticket_escalate(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    return _run(
        request,
        ticket_id,
        "escalate",
        forms.EscalateForm(request.POST),
        lambda data: services.ticket_escalate(actor=request.user, ticket=ticket, reason=data["reason"]),
        _("工单已升级"),
    )


@requires(TicketRight.EDIT)
@require_POST
def ticket_edit(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    form = forms.TicketEditForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket_id, "edit", form_errors_text(form))
    data = form.cleaned_data
    changes = services.TicketChanges(
        subject=data["subject"],
        description=data["description"],
        ticket_type=data["ticket_type"],
        priority=data["priority"],
        channel=data["channel"],
    )
    try:
        services.ticket_update(
            actor=request.user, ticket=ticket, expected_version=data["version"], changes=changes
        )
    except Conflict as error:
        if error.code != "stale_version":
            return _refused(request, ticket_id, "edit", error.message, 409)
        return _refused(
            request,
            ticket_id,
            "edit",
            error.message,
            409,
            extra={"conflict": _conflict_details(ticket_id, data, request.POST.get("loaded_at", ""))},
        )
    except ApplicationError as error:
        return _refused(request, ticket_id, "edit", error.message, application_error_status(error))
    return _after_action(request, ticket_id, _("工单已保存"))


def _conflict_details(ticket_id: int, submitted: dict[str, Any], loaded_at: str) -> dict[str, Any]:
    """What changed since the form was loaded: the other people's edits, and current values that differ."""
    from kefu.core.dates import DateInputError, parse_optional_moment
    from kefu.web.history import event_sentence

    current = Ticket.objects.get(pk=ticket_id)
    try:
        since = parse_optional_moment(loaded_at, field="loaded_at")
    except DateInputError:
        since = None  # the form's own stamp, altered: show every change instead
    events = (
        TicketEvent.objects.filter(ticket_id=ticket_id)
        .select_related("actor")
        .exclude(kind__in=[EventKind.REPLIED, EventKind.NOTED])
        .order_by("-created_at", "-id")
    )
    if since is not None:
        events = events.filter(created_at__gt=since)
    differs = []
    for name in ("subject", "ticket_type", "priority", "channel", "description"):
        mine, theirs = submitted.get(name) or "", getattr(current, name) or ""
        if str(mine) != str(theirs):
            display = getattr(current, f"get_{name}_display", None)
            differs.append(
                {
                    "label": Ticket._meta.get_field(name).verbose_name,
                    "current": display() if display else theirs,
                    "mine": mine,
                }
            )
    return {
        "events": [(e, event_sentence(e)) for e in events[:10]],
        "differs": differs,
        "version": current.version,
        "ticket_id": ticket_id,
    }


# --- attachments --------------------------------------------------------------------------------------------


@requires(TicketRight.NOTE)
@require_POST
def attachment_upload(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = visible_ticket_or_404(request, ticket_id)
    return _run(
        request,
        ticket_id,
        "attachment",
        forms.AttachmentForm(request.POST, request.FILES),
        lambda data: services.attachment_add(actor=request.user, ticket=ticket, upload=data["file"]),
        _("附件已上传"),
    )


@requires(TicketRight.VIEW)
@require_GET
def attachment_download(request: HttpRequest, attachment_id: int) -> FileResponse:
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    # Only those who can see the order may download; an invisible one is "not found".
    if (
        attachment is None
        or not visible(request.user, Ticket.objects.filter(pk=attachment.ticket_id)).exists()
    ):
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    inline = attachment.content_type.startswith("image/") or attachment.content_type == "application/pdf"
    response = FileResponse(
        handle, as_attachment=not inline, filename=attachment.filename, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


# --- create -------------------------------------------------------------------------------------------------


@requires(TicketRight.CREATE)
def ticket_create(request: HttpRequest) -> HttpResponse:
    from kefu.web.views.customers import customer_for_new_ticket

    # a screen pop opens it for the caller: their record, or an unknown number for a new customer
    form = forms.TicketCreateForm(request.POST or None, initial={
        "customer": request.GET.get("customer"), "new_customer_phone": request.GET.get("phone", "")[:32]})
    error = ""
    chosen = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # a new customer typed inline is kept only with its order
                customer = customer_for_new_ticket(request, data)
                ticket = services.ticket_create(
                    actor=request.user,
                    subject=data["subject"],
                    description=data["description"],
                    ticket_type=data["ticket_type"],
                    priority=data["priority"],
                    channel=data["channel"],
                    customer=customer,
                )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, _("工单 %(n)s 已创建") % {"n": ticket.number})
            return redirect(reverse("web:ticket_detail", kwargs={"ticket_id": ticket.pk}))
    elif request.method == "POST":
        error = form_errors_text(form)
    customer_id = form.data.get("customer") if form.is_bound else request.GET.get("customer")
    if customer_id and str(customer_id).isdigit() and has_right(request.user, CustomerRight.VIEW):
        from kefu.customers.models import Customer

        chosen = Customer.objects.filter(pk=int(customer_id), merged_into__isnull=True).first()
    status = 422 if error else 200
    return render(
        request,
        "web/tickets/create.html",
        {"nav": "ticket_create", "form": form, "error": error, "chosen_customer": chosen},
        status=status,
    )
