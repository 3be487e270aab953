"""Personal-data pages: a customer's export (JSON / Excel) and erasure request, the approval of erasure requests by
a second person, and the retention rules with what each would remove now."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.core.errors import ApplicationError, NotFound
from kefu.core.policy import has_right, requires
from kefu.customers import selectors as customer_selectors
from kefu.customers.models import Customer
from kefu.customers.permissions import CustomerRight
from kefu.privacy import selectors, services
from kefu.privacy.choices import ErasureStatus
from kefu.privacy.export import personal_data_export
from kefu.privacy.forms import DecisionForm, ErasureRequestForm, RetentionRuleForm
from kefu.privacy.permissions import PrivacyRight

PAGE_SIZE = 50


def _customer_card(request: HttpRequest, customer_id: int) -> Any:
    try:
        return customer_selectors.customer_detail(request.user, customer_id)
    except NotFound:
        raise Http404 from None


@requires(CustomerRight.EXPORT_PERSONAL_DATA)
@require_GET
def customer_export(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The download: ?format=json or xlsx (default). Audited by the export itself."""
    fmt = request.GET.get("format", "xlsx")
    if fmt not in ("json", "xlsx"):
        fmt = "xlsx"
    try:
        exported = personal_data_export(actor=request.user, customer_id=customer_id, fmt=fmt,
                                        ip=request.META.get("REMOTE_ADDR"))
    except NotFound:
        raise Http404 from None
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@requires(PrivacyRight.ERASURE)
def customer_erasure(request: HttpRequest, customer_id: int) -> HttpResponse:
    card = _customer_card(request, customer_id)
    state = selectors.customer_erasure_state(customer_id)
    form = ErasureRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                filed = services.erasure_request_create(
                    actor=request.user, customer=Customer.objects.get(pk=customer_id),
                    asked_by=form.cleaned_data["asked_by"], reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                field = exc.details.get("field")
                form.add_error(field if field in form.fields else None, exc.message)
                status = exc.status if exc.status != 400 else 422
            else:
                messages.success(request, _("已提交删除申请 #%(id)s，须由另一位有权限的人批准后才会执行")
                                 % {"id": filed.pk})
                return redirect("web:customer_detail", customer_id=customer_id)
    return render(request, "privacy/erasure_form.html",
                  {"nav": "customers", "card": card, "form": form, "state": state,
                   "days": services.request_days()}, status=status)


@requires(PrivacyRight.ERASURE)
@require_GET
def erasure_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in ErasureStatus.values:
        status = ""
    page = Paginator(selectors.erasure_requests(request.user, status=status), PAGE_SIZE).get_page(
        request.GET.get("page"))
    rows = [(r, selectors.effective_status(r)) for r in page]
    return render(request, "privacy/erasure_list.html",
                  {"nav": "admin", "page": page, "rows": rows, "statuses": ErasureStatus.choices,
                   "selected": status, "labels": dict(ErasureStatus.choices)})


def _request_or_404(request: HttpRequest, erasure_id: int) -> Any:
    try:
        return selectors.erasure_request(request.user, erasure_id)
    except NotFound:
        raise Http404 from None


@requires(PrivacyRight.ERASURE)
@require_GET
def erasure_detail(request: HttpRequest, erasure_id: int) -> HttpResponse:
    return _detail_page(request, erasure_id)


def _detail_page(request: HttpRequest, erasure_id: int, form: DecisionForm | None = None,
                 status: int = 200) -> HttpResponse:
    found = _request_or_404(request, erasure_id)
    effective = selectors.effective_status(found)
    return render(request, "privacy/erasure_detail.html", {
        "nav": "admin", "req": found, "status": effective, "status_label": dict(ErasureStatus.choices)[effective],
        "form": form or DecisionForm(), "is_requester": found.requested_by_id == request.user.pk,
        "waiting": effective == ErasureStatus.PENDING,
        "result": sorted((found.result or {}).items())}, status=status)


def _decide(request: HttpRequest, erasure_id: int, *, approve: bool) -> HttpResponse:
    _request_or_404(request, erasure_id)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            if approve:
                services.erasure_request_approve(actor=request.user, erasure_id=erasure_id,
                                                 note=form.cleaned_data["note"])
            else:
                services.erasure_request_reject(actor=request.user, erasure_id=erasure_id,
                                                note=form.cleaned_data["note"])
        except ApplicationError as exc:
            form.add_error("note" if exc.details.get("field") == "note" else None, exc.message)
        else:
            messages.success(request, _("已批准，客户资料已匿名化") if approve else _("已驳回，未做任何修改"))
            return redirect("privacy:erasure_detail", erasure_id=erasure_id)
    return _detail_page(request, erasure_id, form=form, status=422)


@requires(PrivacyRight.ERASURE)
@require_POST
def erasure_approve(request: HttpRequest, erasure_id: int) -> HttpResponse:
    return _decide(request, erasure_id, approve=True)


@requires(PrivacyRight.ERASURE)
@require_POST
def erasure_reject(request: HttpRequest, erasure_id: int) -> HttpResponse:
    return _decide(request, erasure_id, approve=False)


@requires(PrivacyRight.RETENTION_MANAGE)
@require_GET
def retention(request: HttpRequest) -> HttpResponse:
    rows = selectors.retention_rules(request.user)
    preview: dict[str, int | None] = {}
    kind, days = request.GET.get("kind", ""), request.GET.get("keep_days", "")
    if kind and days.isdigit():
        try:
            preview = {kind: services.retention_preview(kind=kind, keep_days=int(days))}
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return render(request, "privacy/retention.html",
                  {"nav": "admin", "rows": rows, "preview": preview, "preview_days": days,
                   "min_days": services.MIN_KEEP_DAYS, "max_days": services.MAX_KEEP_DAYS,
                   "can_manage": has_right(request.user, PrivacyRight.RETENTION_MANAGE)})


@requires(PrivacyRight.RETENTION_MANAGE)
@require_POST
def retention_save(request: HttpRequest, retention_kind: str) -> HttpResponse:
    if retention_kind not in {r.key for r in selectors.retention_rules(request.user, preview=False)}:
        raise Http404
    form = RetentionRuleForm(request.POST)
    if not form.is_valid():
        errors = next(iter(form.errors.values()))
        messages.error(request, _("未保存：%(e)s") % {"e": " ".join(errors)})
        return redirect("privacy:retention")
    try:
        services.retention_rule_update(actor=request.user, kind=retention_kind,
                                       enabled=form.cleaned_data["enabled"],
                                       keep_days=form.cleaned_data["keep_days"],
                                       expected_version=form.cleaned_data["version"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已保存"))
    return redirect("privacy:retention")
