"""Webhook services: a delivery per subscribed endpoint (sent later by the worker); redeliver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import OutboxEvent
from kefu.core.policy import has_right
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint, new_secret
from kefu.integrations.permissions import IntegrationRight

PRIVATE_EVENT_PREFIXES = ("notification.",)  # a person's own notifications are not for other systems


def webhook_body(event: OutboxEvent) -> dict[str, Any]:
    """What a receiver gets: the event's identity and its payload (a work-order event carries `ticket`, the order
    after the change, and `data`, what changed). `id` is stable across retries and redeliveries."""
    return {
        "id": str(event.uid),
        "event": event.type,
        "version": event.version,
        "occurred_at": event.created_at.isoformat(),
        "object": {"type": event.object_type, "id": event.object_id},
        **(event.payload or {}),
    }


def _queue_after_commit(ids: list[int]) -> None:
    def _queue() -> None:
        from kefu.integrations.tasks import webhook_deliver_task

        for delivery_id in ids:
            webhook_deliver_task(delivery_id)

    transaction.on_commit(_queue, robust=True)


def webhook_deliveries_for(batch: list[OutboxEvent]) -> int:
    """The outbox consumer "integrations.webhooks": one delivery per subscribed endpoint and event (unique per
    endpoint and event id, so a replayed event adds nothing), sent by the worker after commit → deliveries."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [WebhookDelivery(endpoint=endpoint, event_id=event.uid, event=event.type, payload=webhook_body(event),
                            next_attempt_at=now)
            for event in batch if not event.type.startswith(PRIVATE_EVENT_PREFIXES)
            for endpoint in endpoints if endpoint.wants(event.type)]
    if not rows:
        return 0
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(WebhookDelivery.objects.filter(event_id__in=[r.event_id for r in rows], state="pending",
                                              attempts=0).values_list("pk", flat=True))
    _queue_after_commit(ids)
    return len(rows)


@transaction.atomic
def webhook_redeliver(*, actor: Any, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again from scratch (an administrator's "redeliver"): attempts restart at zero, the
    event id stays the same so the receiver can still deduplicate."""
    if not has_right(actor, IntegrationRight.WEBHOOK_MANAGE):
        raise PermissionDenied(_("只有系统管理员可以重新投递 Webhook"))
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(_("投递记录不存在"), details={"delivery_id": delivery_id})
    previous = {"state": delivery.state, "attempts": delivery.attempts}
    delivery.state = WebhookDelivery.State.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "attempts", "next_attempt_at"])
    audit_record(
        actor=actor,
        action="webhook.redelivered",
        obj=delivery,
        summary=f"{delivery.event} → {delivery.endpoint_id}",
        data=previous,
    )
    _queue_after_commit([delivery.pk])
    return delivery


# --- endpoints (administrators) ------------------------------------------------------------------------------

NAME_MAX = 100
URL_MAX = 500


@dataclass(frozen=True)
class WebhookEndpointData:
    """Every editable field of an endpoint, as a form or the API sends it (a full replacement)."""

    name: str
    url: str
    events: list[str] = field(default_factory=list)  # empty: every public event
    is_active: bool = True


def _require_manage(actor: Any) -> None:
    if not has_right(actor, IntegrationRight.WEBHOOK_MANAGE):
        raise PermissionDenied(_("只有系统管理员可以管理 Webhook"))


def _clean_endpoint(data: WebhookEndpointData) -> dict[str, Any]:
    from kefu.integrations.choices import WebhookEvent
    from kefu.integrations.transport import BlockedAddress, check_url

    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(_("名称不能为空，且不超过 %(n)s 个字符") % {"n": NAME_MAX}, details={"field": "name"})
    url = (data.url or "").strip()
    if len(url) > URL_MAX or not url.lower().startswith(("https://", "http://")):
        raise ValidationFailed(_("地址必须以 http:// 或 https:// 开头，且不超过 %(n)s 个字符") % {"n": URL_MAX},
                               details={"field": "url"})
    try:
        URLValidator(schemes=["http", "https"])(url)
    except DjangoValidationError:
        raise ValidationFailed(_("地址格式不正确"), details={"field": "url"}) from None
    try:
        check_url(url, resolve=False)
    except BlockedAddress as exc:
        raise ValidationFailed(_("Kefu 不会调用这个地址（如云主机元数据服务、组播或保留地址）"),
                               details={"field": "url", "reason": str(exc)}) from None
    events = sorted(set(data.events or []))
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise ValidationFailed(_("未知的事件：%(e)s") % {"e": "、".join(unknown)},
                               details={"field": "events", "allowed": list(WebhookEvent.values)})
    return {"name": name, "url": url, "events": events, "is_active": bool(data.is_active)}


def _endpoint_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"name": endpoint.name, "url": endpoint.url, "events": list(endpoint.events),
            "is_active": endpoint.is_active}


@transaction.atomic
def webhook_endpoint_create(*, actor: Any, data: WebhookEndpointData) -> WebhookEndpoint:
    """Register an endpoint (administrators). Its signing secret is generated; deliveries start with the next
    event it subscribes to."""
    _require_manage(actor)
    endpoint = WebhookEndpoint.objects.create(**_clean_endpoint(data))
    audit_record(actor=actor, action="webhook_endpoint.created", obj=endpoint, summary=endpoint.name,
                 data=_endpoint_snapshot(endpoint))
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, actor: Any, endpoint: WebhookEndpoint, data: WebhookEndpointData,
                            expected_version: int | None) -> WebhookEndpoint:
    """Edit an endpoint; a stale `expected_version` is a Conflict (someone else saved it in between)."""
    _require_manage(actor)
    locked = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    if locked is None:
        raise NotFound(_("Webhook 不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("该 Webhook 已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    before = _endpoint_snapshot(locked)
    for name, value in _clean_endpoint(data).items():
        setattr(locked, name, value)
    after = _endpoint_snapshot(locked)
    if after == before:
        return locked
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="webhook_endpoint.updated", obj=locked, summary=locked.name,
                 data={"before": before, "after": after})
    return locked


@transaction.atomic
def webhook_endpoint_rotate_secret(*, actor: Any, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret (the old one stops working at once: update the receiver)."""
    _require_manage(actor)
    locked = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    if locked is None:
        raise NotFound(_("Webhook 不存在"))
    locked.secret = new_secret()
    locked.version += 1
    locked.save(update_fields=["secret", "version", "updated_at"])
    audit_record(actor=actor, action="webhook_endpoint.secret_rotated", obj=locked, summary=locked.name)
    return locked
