"""REST API for webhook endpoints (administrators): list, read, register, replace with `version`, new secret.
The delivery log stays on the administration pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.schemas import MAX_VERSION, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.integrations.choices import WebhookEvent
from kefu.integrations.models import WebhookEndpoint
from kefu.integrations.permissions import IntegrationRight
from kefu.integrations.services import (
    WebhookEndpointData,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

router = Router()


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    events: list[str] = Field(description="Subscribed event types; empty means every public event")
    is_active: bool
    secret: str = Field(description="The HMAC signing secret (see docs/api.md, Webhooks)")
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=500, description="http:// or https:// address of the receiver")
    events: list[str] = Field(default_factory=list, max_length=len(WebhookEvent.values),
                              description="Event types from docs/events.md; empty for all")
    is_active: bool = True


class EndpointPut(EndpointIn):
    version: int = Field(ge=1, le=MAX_VERSION, description="The version you read; a stale one gets 409")


def _out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {f: getattr(endpoint, f) for f in EndpointOut.model_fields} | {"id": endpoint.pk}


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(_("Webhook 不存在"), details={"endpoint_id": endpoint_id})
    return endpoint


@router.get("", response=list[EndpointOut], summary="List webhook endpoints")
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_list(request: HttpRequest) -> Any:
    return [_out(e) for e in WebhookEndpoint.objects.order_by("name", "id")]


@router.get("/{endpoint_id}", response=EndpointOut, summary="Read a webhook endpoint")
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_detail(request: HttpRequest, endpoint_id: PathId) -> Any:
    return _out(_endpoint(endpoint_id))


@router.post("", response={201: EndpointOut}, summary="Register a webhook endpoint")
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_create(request: HttpRequest, payload: EndpointIn) -> Any:
    def create() -> tuple[int, Any]:
        endpoint = webhook_endpoint_create(actor=request.auth, data=WebhookEndpointData(**payload.model_dump()))  # type: ignore[attr-defined]
        return 201, _out(endpoint)

    return idempotent_create(request, user=request.auth, payload=payload, create=create,  # type: ignore[attr-defined]
                             schema=EndpointOut)


@router.put("/{endpoint_id}", response=EndpointOut, summary="Replace a webhook endpoint (optimistic concurrency)")
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_update(request: HttpRequest, endpoint_id: PathId, payload: EndpointPut) -> Any:
    data = payload.model_dump(exclude={"version"})
    endpoint = webhook_endpoint_update(actor=request.auth, endpoint=_endpoint(endpoint_id),  # type: ignore[attr-defined]
                                       data=WebhookEndpointData(**data), expected_version=payload.version)
    return _out(endpoint)


@router.post("/{endpoint_id}/secret", response=EndpointOut, summary="Generate a new signing secret")
@requires(IntegrationRight.WEBHOOK_MANAGE)
def endpoint_rotate_secret(request: HttpRequest, endpoint_id: PathId) -> Any:
    return _out(webhook_endpoint_rotate_secret(actor=request.auth, endpoint=_endpoint(endpoint_id)))  # type: ignore[attr-defined]
