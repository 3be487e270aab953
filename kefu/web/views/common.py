"""Helpers shared by the workspace views: HTMX detection, scoped lookups, error rendering."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme

from kefu.core.errors import ApplicationError
from kefu.core.policy import may_see
from kefu.core.prepared import Prepared
from kefu.tickets.models import Ticket


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def visible_ticket_or_404(
    request: HttpRequest, ticket_id: int, *, related: tuple[str, ...] = (), deferred: tuple[str, ...] = ()
) -> Ticket:
    """The order if the user may see it; otherwise 404 (no hint that it exists). Read by its id (a prepared
    read), then checked by the policy from its fields (a query only where the fields cannot tell)."""
    found = _TICKET.run(ticket_id, related=related, deferred=deferred)
    if not found or not may_see(request.user, found[0]):
        raise Http404
    return found[0]


def _ticket(ticket_id: int, *, related: tuple[str, ...], deferred: tuple[str, ...]) -> Any:
    qs = Ticket.objects.filter(pk=ticket_id)
    if related:
        qs = qs.select_related(*related)
    if deferred:
        qs = qs.defer(*deferred)
    return qs


_TICKET = Prepared(_ticket)


def form_errors_text(form: Any) -> str:
    """All errors of a bound form in one line, each prefixed by its field's label."""
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields and form.fields[name].label else ""
        for error in errors:
            parts.append(f"{label}：{error}" if label else str(error))
    return "；".join(parts)


def error_fragment(
    request: HttpRequest, *, target: str, message: str, status: int = 422, extra: dict[str, Any] | None = None
) -> HttpResponse:
    """An HTMX answer that puts `message` into the error slot `target` of the form that was sent."""
    html = render_to_string("web/_form_error.html", {"message": message, **(extra or {})}, request=request)
    response = HttpResponse(html, status=status)
    response["HX-Retarget"] = target
    response["HX-Reswap"] = "innerHTML"
    return response


def application_error_status(error: ApplicationError) -> int:
    # 409 and 422 are swapped into the page by htmx (see app.js); other refusals are shown the same way.
    return 409 if error.status == 409 else 422


def error_page(request: HttpRequest, *, title: str, message: str, status: int, hint: str = "") -> HttpResponse:
    """A whole page that says what was wrong with the request (a bad parameter, a body over the limit)."""
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure())
    context = {"title": title, "message": message, "hint": hint, "back_url": referer if referer and safe else "/"}
    return render(request, "web/error.html", context, status=status)
