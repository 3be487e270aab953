"""The webhook delivery log for administrators: filter, inspect the payload, redeliver."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.integrations.choices import WebhookEvent
from kefu.integrations.delivery import encode_body
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.permissions import IntegrationRight
from kefu.integrations.services import webhook_redeliver

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
