"""Reads of personal-data protection: erasure requests (for approvers and the customer page) and the retention
rules with their previews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.privacy.choices import ErasureStatus
from kefu.privacy.models import ErasureRequest, RetentionRule
from kefu.privacy.permissions import PrivacyRight
from kefu.privacy.retention import KINDS


def _require(user: Any, right: str) -> None:
    if not has_right(user, right):
        raise PermissionDenied(_("你没有此操作的权限"), details={"action": str(right)})


def effective_status(request: ErasureRequest, now: datetime | None = None) -> str:
    """A waiting request past its deadline is expired, whether or not the sweep has marked it yet."""
    if request.status == ErasureStatus.PENDING and request.expires_at <= (now or timezone.now()):
        return ErasureStatus.EXPIRED
    return str(request.status)


def erasure_requests(user: Any, *, status: str = "") -> QuerySet[ErasureRequest]:
    """Requests for the approval page and API, waiting ones first (oldest first), then the rest newest first."""
    _require(user, PrivacyRight.ERASURE)
    qs = ErasureRequest.objects.select_related("customer", "requested_by", "decided_by")
    if status:
        if status not in ErasureStatus.values:
            raise ValidationFailed(_("状态不正确"), details={"field": "status", "value": status[:20]})
        now = timezone.now()
        if status == ErasureStatus.PENDING:
            qs = qs.filter(status=status, expires_at__gt=now)
        elif status == ErasureStatus.EXPIRED:
            qs = qs.filter(status__in=[ErasureStatus.PENDING, ErasureStatus.EXPIRED]).exclude(
                status=ErasureStatus.PENDING, expires_at__gt=now)
        else:
            qs = qs.filter(status=status)
    waiting_first = Case(When(status=ErasureStatus.PENDING, then=Value(0)), default=Value(1),
                         output_field=IntegerField())
    return qs.order_by(waiting_first, "-created_at", "-id")


def erasure_request(user: Any, erasure_id: int) -> ErasureRequest:
    _require(user, PrivacyRight.ERASURE)
    found = ErasureRequest.objects.select_related("customer", "requested_by", "decided_by").filter(
        pk=erasure_id).first()
    if found is None:
        raise NotFound(_("删除申请不存在"), details={"erasure_id": erasure_id})
    return found


def pending_erasure_count() -> int:
    return ErasureRequest.objects.filter(status=ErasureStatus.PENDING, expires_at__gt=timezone.now()).count()


def customer_erasure_state(customer_id: int) -> ErasureRequest | None:
    """What the customer page's banner says: the executed request, else a waiting one, else None."""
    requests = list(ErasureRequest.objects.select_related("requested_by", "decided_by")
                    .filter(customer_id=customer_id, status__in=[ErasureStatus.DONE, ErasureStatus.PENDING])
                    .order_by("-created_at", "-id")[:5])
    for request in requests:
        if request.status == ErasureStatus.DONE:
            return request
    for request in requests:
        if effective_status(request) == ErasureStatus.PENDING:
            return request
    return None


@dataclass(frozen=True)
class RetentionRow:
    key: str
    label: str
    help: str
    action: str
    available: bool
    enabled: bool
    keep_days: int
    default_days: int
    version: int
    updated_by: str
    updated_at: datetime | None
    last_run_at: datetime | None
    last_run_count: int
    would_remove: int | None  # at the stored period now; None for data Kefu does not hold yet


def retention_rules(user: Any, *, preview: bool = True) -> list[RetentionRow]:
    """Every registered kind with its rule (a kind without a row: off, at its default period) and, when
    `preview`, how many rows the rule would remove now (one count per kind Kefu holds)."""
    _require(user, PrivacyRight.RETENTION_MANAGE)
    from kefu.privacy.services import retention_preview

    stored = {r.kind: r for r in RetentionRule.objects.select_related("updated_by")}
    rows = []
    for kind in KINDS.values():
        rule = stored.get(kind.key)
        keep_days = rule.keep_days if rule else kind.default_days
        rows.append(RetentionRow(
            key=kind.key, label=str(kind.label), help=str(kind.help), action=str(kind.action),
            available=kind.available, enabled=bool(rule and rule.enabled), keep_days=keep_days,
            default_days=kind.default_days, version=rule.version if rule else 0,
            updated_by=str(rule.updated_by) if rule and rule.updated_by else "",
            updated_at=rule.updated_at if rule else None, last_run_at=rule.last_run_at if rule else None,
            last_run_count=rule.last_run_count if rule else 0,
            would_remove=retention_preview(kind=kind.key, keep_days=keep_days) if preview else None))
    return rows
