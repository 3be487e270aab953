"""Webhooks for administrators: the endpoints (add, edit, disable, rotate the secret) and the delivery log
(filter, inspect the payload, redeliver)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.integrations.choices import WebhookEvent
from kefu.integrations.delivery import encode_body
from kefu.integrations.forms import WebhookEndpointForm
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.permissions import IntegrationRight
from kefu.integrations.services import (
    WebhookEndpointData,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_redeliver,
)

PAGE_SIZE = 50


@requires(IntegrationRight.WEBHOOK_MANAGE)
def delivery_log(request: HttpRequest) -> HttpResponse:
    deliveries = WebhookDelivery.objects.select_related("endpoint").order_by("-created_at", "-id")
    state = request.GET.get("state", "")
    if state in WebhookDelivery.State.values:
        deliveries = deliveries.filter(state=state)
    event = request.GET.get("event", "")
    if event in WebhookEvent.values:
        deliveries = deliveries.filter(event=event)
    endpoint = request.GET.get("endpoint", "")
    if endpoint.isdigit():
        deliveries = deliveries.filter(endpoint_id=int(endpoint))
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/delivery_log.html",
        {
            "page": page,
            "endpoints": WebhookEndpoint.objects.order_by("name"),
            "states": WebhookDelivery.State.choices,
            "events": WebhookEvent.choices,
            "selected": {"state": state, "event": event, "endpoint": endpoint},
        },
    )


@requires(IntegrationRight.WEBHOOK_MANAGE)
def delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "delivery": delivery,
            "body": encode_body(delivery.payload).decode(),
        },
    )


@require_POST
@requires(IntegrationRight.WEBHOOK_MANAGE)
def delivery_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        webhook_redeliver(actor=request.user, delivery_id=delivery_id)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已重新加入投递队列"))
    return redirect("integrations:delivery_detail", delivery_id=delivery_id)


# --- endpoints --------------------------------------------------------------------------------------------------


@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=1)
    endpoints = WebhookEndpoint.objects.annotate(
        sent=Count("deliveries", filter=Q(deliveries__created_at__gte=since)),
        failing=Count("deliveries", filter=Q(deliveries__created_at__gte=since,
                                             deliveries__state__in=["retrying", "gave_up"])),
    ).order_by("name")
    labels = dict(WebhookEvent.choices)
    rows = [{"endpoint": e, "events": [labels.get(n, n) for n in e.events]} for e in endpoints]
    return render(request, "integrations/endpoint_list.html", {"rows": rows, "nav": "admin"})


def _endpoint_form_page(request: HttpRequest, form: WebhookEndpointForm, endpoint: WebhookEndpoint | None,
                        status: int = 200) -> HttpResponse:
    return render(request, "integrations/endpoint_form.html",
                  {"form": form, "endpoint": endpoint, "nav": "admin"}, status=status)


@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_endpoint_create(actor=request.user, data=WebhookEndpointData(**form.data_for_service()))
        except ApplicationError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None,
                           exc.message)
        else:
            messages.success(request, _("已添加 Webhook“%(name)s”") % {"name": endpoint.name})
            return redirect("integrations:endpoint_edit", endpoint_id=endpoint.pk)
    return _endpoint_form_page(request, form, None, 422 if request.method == "POST" else 200)


@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404
    initial = {"name": endpoint.name, "url": endpoint.url, "events": endpoint.events,
               "is_active": endpoint.is_active, "version": endpoint.version}
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_endpoint_update(actor=request.user, endpoint=endpoint,
                                               data=WebhookEndpointData(**form.data_for_service()),
                                               expected_version=form.cleaned_data["version"])
        except ApplicationError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None,
                           exc.message)
        else:
            messages.success(request, _("已保存"))
            return redirect("integrations:endpoint_edit", endpoint_id=endpoint.pk)
    return _endpoint_form_page(request, form, endpoint, 422 if request.method == "POST" else 200)


@require_POST
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_rotate_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404
    webhook_endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
    messages.success(request, _("已生成新的签名密钥，请同步更新接收方"))
    return redirect("integrations:endpoint_edit", endpoint_id=endpoint.pk)
