"""Customer pages: list and search, the 360° card with masked contacts and the explicit "show" action."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.core.dates import DateInputError, parse_optional_moment
from kefu.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right, requires
from kefu.customers import selectors as customer_selectors
from kefu.customers.choices import ConsentSource, ContactKind, Tier
from kefu.customers.models import Customer
from kefu.customers.permissions import CustomerRight
from kefu.privacy import selectors as privacy_selectors
from kefu.privacy.permissions import PrivacyRight
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import customer_ticket_history
from kefu.web.views.common import error_page, is_htmx

CUSTOMER_PAGE = 50
CUSTOMER_MAX_PAGES = 200  # bounded offset: deeper than 10,000 rows, narrow the search instead
SEARCH_LIMIT = 8
HISTORY_LIMIT = 20


def ticket_rows_for_history(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Display labels on the customer's orders (status, type, dates in the viewer's time zone)."""
    from django.urls import reverse
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from kefu.tickets.choices import Status, TicketType

    status, kind = dict(Status.choices), dict(TicketType.choices)
    for item in items:
        item["status_label"] = status.get(item["status"], item["status"])
        item["type_label"] = kind.get(item["type"], item["type"])
        created = parse_datetime(item["created_at"]) if item["created_at"] else None
        resolved = parse_datetime(item["resolved_at"]) if item["resolved_at"] else None
        item["created"] = timezone.localtime(created).strftime("%Y-%m-%d") if created else ""
        item["resolved"] = timezone.localtime(resolved).strftime("%Y-%m-%d") if resolved else ""
        item["url"] = reverse("web:ticket_detail", kwargs={"ticket_id": item["id"]}) if item["openable"] else ""
    return items


def _filters(request: HttpRequest) -> customer_selectors.CustomerFilters:
    tier = request.GET.get("tier", "")
    vip = request.GET.get("vip", "")
    return customer_selectors.CustomerFilters(
        q=request.GET.get("q", "")[:100],
        tier=tier if tier in Tier.values else "",
        is_vip=True if vip == "1" else None,
        tag=request.GET.get("tag", "")[:40],
    )


@requires(CustomerRight.VIEW)
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    raw_page = request.GET.get("page", "1")
    page = min(max(int(raw_page), 1), CUSTOMER_MAX_PAGES) if raw_page.isdigit() else 1
    start = (page - 1) * CUSTOMER_PAGE
    found = list(customer_selectors.customer_list(request.user, filters, ip=request.META.get("REMOTE_ADDR"))
                 [start : start + CUSTOMER_PAGE + 1])
    context = {
        "nav": "customers",
        "filters": filters,
        "rows": customer_selectors.customer_rows(request.user, found[:CUSTOMER_PAGE]),
        "page": page,
        "has_next": len(found) > CUSTOMER_PAGE and page < CUSTOMER_MAX_PAGES,
        "first": start + 1,
        "last": start + min(len(found), CUSTOMER_PAGE),
        "tiers": Tier.choices,
        "vip": request.GET.get("vip", ""),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "customer-results":
        return render(request, "web/customers/_results.html", context)
    return render(request, "web/customers/list.html", context)


@requires(CustomerRight.VIEW)
@require_GET
def customer_search(request: HttpRequest) -> HttpResponse:
    """Autocomplete for the create form: name, company, code or (part of) a phone number; masked rows."""
    q = request.GET.get("q", "").strip()[:100]
    rows = []
    if len(q) >= 1:
        found = customer_selectors.customer_list(request.user, customer_selectors.CustomerFilters(q=q),
                                                 ip=request.META.get("REMOTE_ADDR"))
        rows = customer_selectors.customer_rows(request.user, list(found[:SEARCH_LIMIT]))
    return render(request, "web/customers/_search.html", {"rows": rows, "q": q})


def _detail_context(request: HttpRequest, customer_id: int, *, reveal: bool = False) -> dict[str, Any]:
    try:
        card = customer_selectors.customer_detail(
            request.user, customer_id, reveal=reveal, ip=request.META.get("REMOTE_ADDR")
        )
    except NotFound:
        raise Http404 from None
    from kefu.telephony.commands import dial_available

    return {"nav": "customers", "card": card, "can_dial": dial_available(request.user) and not card.anonymised_at}


@requires(CustomerRight.VIEW)
@require_GET
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    context = _detail_context(request, customer_id)
    card = context["card"]
    if card.merged_into_id:
        return redirect("web:customer_detail", customer_id=card.merged_into_id)
    try:  # the "older" button's cursor, read by the one date parser (kefu.core.dates)
        before = parse_optional_moment(request.GET.get("before"), field="before", location="query")
    except DateInputError as error:
        return error_page(request, title=_("参数有误"), message=error.message, status=400)
    customer = Customer.objects.get(pk=customer_id)
    timeline = customer_selectors.customer_timeline(request.user, customer, limit=30, before=before)
    if is_htmx(request) and request.headers.get("HX-Target") == "timeline-more":
        return render(request, "web/customers/_timeline.html", {"timeline": timeline, "card": card})
    history = ticket_rows_for_history(customer_ticket_history(request.user, customer_id, limit=HISTORY_LIMIT))
    context.update(
        {
            "timeline": timeline,
            "history": history,
            "history_limit": HISTORY_LIMIT,
            "can_create": has_right(request.user, TicketRight.CREATE) and not card.anonymised_at,
            "consents": customer_selectors.consent_table(request.user, customer_id),
            "purposes": customer_selectors.consent_purposes(),
            "can_edit_consent": has_right(request.user, CustomerRight.EDIT_CONSENT) and not card.anonymised_at,
            "can_export_personal_data": has_right(request.user, CustomerRight.EXPORT_PERSONAL_DATA),
            "can_request_erasure": has_right(request.user, PrivacyRight.ERASURE),
            "erasure": privacy_selectors.customer_erasure_state(customer_id),
        }
    )
    return render(request, "web/customers/detail.html", context)


@requires(CustomerRight.EDIT_CONSENT)
def customer_consents(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Record the customer's consents and refusals per contact and purpose, with how they were given."""
    from kefu.customers.services import ConsentInput, customer_set_consents

    card = _detail_context(request, customer_id)["card"]
    if card.merged_into_id:
        return redirect("web:customer_consents", customer_id=card.merged_into_id)
    rows = customer_selectors.consent_table(request.user, customer_id)
    error, status = "", 200
    source = request.POST.get("source", "")
    note = request.POST.get("note", "")[:200]
    if request.method == "POST":
        wanted = {"yes": True, "no": False, "": None}
        answers = []
        for row in rows:
            for cell in row.cells:
                if not cell.applies:
                    continue
                raw = request.POST.get(f"c-{row.contact.id}-{cell.purpose}", "unchanged")
                if raw in wanted and wanted[raw] != cell.granted:
                    answers.append(ConsentInput(contact_id=row.contact.id, purpose=cell.purpose, granted=wanted[raw]))
        try:
            changed = customer_set_consents(actor=request.user, customer=Customer.objects.get(pk=customer_id),
                                            consents=answers, source=source, note=note)
        except ApplicationError as exc:
            error, status = exc.message, 422 if exc.status == 400 else exc.status
        else:
            done = _("已更新 %(n)s 项联系许可") % {"n": changed} if changed else _("联系许可没有变化")
            messages.success(request, done)
            return redirect("web:customer_detail", customer_id=customer_id)
    return render(request, "web/customers/consents.html", {
        "nav": "customers", "card": card, "rows": rows, "purposes": customer_selectors.consent_purposes(),
        "sources": ConsentSource.choices, "source": source, "note": note, "error": error}, status=status)


@requires(CustomerRight.VIEW_PHONE)
@require_POST
def customer_reveal(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The explicit "show" action: unmasked contacts for this response only, and one audit row."""
    try:
        context = _detail_context(request, customer_id, reveal=True)
    except PermissionDenied:
        return HttpResponse(status=403)
    return render(request, "web/customers/_contacts.html", context)


def customer_for_new_ticket(request: HttpRequest, data: dict[str, Any]) -> Customer | None:
    """The customer of a new order: one picked from the search, a new one typed inline, or none."""
    from kefu.customers.services import ContactInput, customer_create

    if data.get("customer"):
        customer = (
            customer_selectors.customer_list(request.user, customer_selectors.CustomerFilters())
            .filter(pk=data["customer"])
            .first()
        )
        if customer is None:
            raise ValidationFailed(_("客户不存在"), details={"field": "customer"})
        return customer
    name = (data.get("new_customer_name") or "").strip()
    if not name:
        return None
    phone = (data.get("new_customer_phone") or "").strip()
    contacts = [ContactInput(kind=ContactKind.PHONE, value=phone, is_primary=True)] if phone else []
    return customer_create(
        actor=request.user, name=name, tier=data.get("new_customer_tier") or Tier.C, contacts=contacts
    )
