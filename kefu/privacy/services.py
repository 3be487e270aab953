"""Personal-data protection services: erasure requests (filed, approved by a second person and executed, or
rejected, or expired), retention rules and their application. Each is one transaction with its audit rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.customers.models import Customer
from kefu.privacy.anonymise import anonymise_customers
from kefu.privacy.choices import AskedBy, ErasureStatus
from kefu.privacy.models import ErasureRequest, RetentionRule
from kefu.privacy.permissions import PrivacyRight
from kefu.privacy.retention import KINDS, RetentionKind

log = logging.getLogger(__name__)

RETENTION = system_actor("retention", gettext_lazy("系统：保存期限"))
DEFAULT_REQUEST_DAYS = 14
REASON_MAX = 1000
NOTE_MAX = 500
MIN_KEEP_DAYS = 7
MAX_KEEP_DAYS = 36500
DEFAULT_BATCH = 500


def _require(actor: Any, right: str) -> None:
    if actor is not None and not has_right(actor, right):
        raise PermissionDenied(_("你没有此操作的权限"), details={"action": str(right)})


def request_days() -> int:
    """How long an erasure request waits for approval (setting KEFU_ERASURE_REQUEST_DAYS, default 14)."""
    return int(getattr(settings, "KEFU_ERASURE_REQUEST_DAYS", DEFAULT_REQUEST_DAYS))


# --- erasure -----------------------------------------------------------------------------------------------------

def erasure_request_create(*, actor: Any, customer: Customer, asked_by: str, reason: str,
                           now: datetime | None = None) -> ErasureRequest:
    """File a request to anonymise `customer` (a merged record stands for the record it was merged into). It
    waits for a second person's approval until `expires_at` (KEFU_ERASURE_REQUEST_DAYS days).

    Refused: an unknown `asked_by` or a blank or overlong reason (ValidationFailed naming the field); a customer
    already anonymised (Conflict "already_anonymised") or with a request waiting (Conflict "erasure_pending", its
    id in details). Audit: "privacy.erasure_requested" on the customer.
    """
    _require(actor, PrivacyRight.ERASURE)
    if asked_by not in AskedBy.values:
        raise ValidationFailed(_("请选择由谁提出"), details={"field": "asked_by", "value": str(asked_by)[:40]})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("请填写删除原因"), details={"field": "reason"})
    if len(reason) > REASON_MAX:
        raise ValidationFailed(_("原因不能超过 %(n)s 个字符") % {"n": REASON_MAX}, details={"field": "reason"})
    now = now or timezone.now()
    with transaction.atomic():
        target = Customer.objects.select_for_update().filter(pk=customer.merged_into_id or customer.pk).first()
        if target is None:
            raise NotFound(_("客户不存在"), details={"customer_id": customer.pk})
        if target.anonymised_at is not None:
            raise Conflict(_("该客户已匿名化"), code="already_anonymised", details={"customer_id": target.pk})
        waiting = ErasureRequest.objects.filter(customer=target, status=ErasureStatus.PENDING).first()
        if waiting is not None and waiting.expires_at > now:
            raise Conflict(_("该客户已有待审批的删除申请 #%(id)s") % {"id": waiting.pk}, code="erasure_pending",
                           details={"erasure_id": waiting.pk})
        if waiting is not None:
            _expire(waiting, now)
        try:
            with transaction.atomic():
                request = ErasureRequest.objects.create(
                    customer=target, asked_by=asked_by, reason=reason, requested_by=_person(actor),
                    expires_at=now + timedelta(days=request_days()))
        except IntegrityError:  # another request was filed at the same moment
            raise Conflict(_("该客户已有待审批的删除申请"), code="erasure_pending") from None
        audit_record(actor=actor, action="privacy.erasure_requested", obj=target,
                     summary=_("申请删除（匿名化）客户资料，申请 #%(id)s") % {"id": request.pk},
                     data={"erasure_id": request.pk, "asked_by": asked_by,
                           "expires_at": request.expires_at.isoformat()})
    return request


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _lock_request(erasure_id: int) -> ErasureRequest:
    request = ErasureRequest.objects.select_for_update().filter(pk=erasure_id).first()
    if request is None:
        raise NotFound(_("删除申请不存在"), details={"erasure_id": erasure_id})
    return request


def _expire(request: ErasureRequest, now: datetime) -> None:
    request.status = ErasureStatus.EXPIRED
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "updated_at"])
    audit_record(actor=None, action="privacy.erasure_expired", obj=request.customer,
                 summary=_("删除申请 #%(id)s 超过审批期限，已过期，未做任何修改") % {"id": request.pk},
                 data={"erasure_id": request.pk})


def erasure_requests_expire(*, now: datetime | None = None) -> int:
    """Mark waiting requests past their deadline expired (nothing is erased). Returns how many."""
    now = now or timezone.now()
    count = 0
    for pk in ErasureRequest.objects.filter(status=ErasureStatus.PENDING, expires_at__lte=now).values_list(
            "pk", flat=True):
        with transaction.atomic():
            request = _lock_request(pk)
            if request.status == ErasureStatus.PENDING and request.expires_at <= now:
                _expire(request, now)
                count += 1
    return count


def _check_note(note: str, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise ValidationFailed(_("请填写驳回理由"), details={"field": "note"})
    if len(note) > NOTE_MAX:
        raise ValidationFailed(_("审批意见不能超过 %(n)s 个字符") % {"n": NOTE_MAX}, details={"field": "note"})
    return note


def erasure_request_approve(*, actor: Any, erasure_id: int, note: str = "",
                            now: datetime | None = None) -> ErasureRequest:
    """Approve a waiting request and carry it out in the same transaction: the customer (and the records merged
    into it) become tombstones, their orders lose their personal free text (kefu.privacy.anonymise); attachment
    files are deleted from storage after commit.

    Only a second person: the requester cannot approve (Conflict "second_person_required"). Approving a request
    already carried out changes nothing and returns it; a rejected or expired one is refused (Conflict
    "erasure_closed"). Audit: "privacy.erasure_approved" and "customer.anonymised" (with the counts).
    """
    _require(actor, PrivacyRight.ERASURE)
    note = _check_note(note, required=False)
    now = now or timezone.now()
    erasure_requests_expire(now=now)
    with transaction.atomic():
        request = _lock_request(erasure_id)
        if request.status == ErasureStatus.DONE:
            return request
        if request.status != ErasureStatus.PENDING:
            raise Conflict(_("该申请已%(status)s，不能再批准") % {"status": request.get_status_display()},
                           code="erasure_closed", details={"status": request.status})
        if actor is not None and request.requested_by_id == getattr(actor, "pk", None):
            raise Conflict(_("删除申请须由申请人以外的另一位有权限的人批准"), code="second_person_required")
        ids = [request.customer_id, *Customer.objects.filter(merged_into_id=request.customer_id)
               .values_list("pk", flat=True)]
        locked = list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        ids = [c.pk for c in locked if c.anonymised_at is None]
        counts = anonymise_customers(ids, now=now) if ids else {}
        request.status = ErasureStatus.DONE
        request.decided_by = _person(actor)
        request.decided_at = now
        request.decision_note = note
        request.executed_at = now
        request.result = counts
        request.save()
        audit_record(actor=actor, action="privacy.erasure_approved", obj=request,
                     summary=_("批准并执行删除申请 #%(id)s") % {"id": request.pk},
                     data={"customer_id": request.customer_id, "requested_by": request.requested_by_id})
        audit_record(actor=actor, action="customer.anonymised", obj=request.customer,
                     summary=_("客户资料已匿名化（删除申请 #%(id)s）") % {"id": request.pk},
                     data={"erasure_id": request.pk, "customer_ids": ids, "counts": counts})
    log.info("erasure request %s carried out: %s", request.pk, counts)
    return request


def erasure_request_reject(*, actor: Any, erasure_id: int, note: str,
                           now: datetime | None = None) -> ErasureRequest:
    """Reject a waiting request with a reason (the requester may withdraw their own). Nothing is erased; a second
    rejection returns the request unchanged; an executed or expired one is refused (Conflict "erasure_closed").
    Audit: "privacy.erasure_rejected" on the customer."""
    _require(actor, PrivacyRight.ERASURE)
    note = _check_note(note, required=True)
    now = now or timezone.now()
    erasure_requests_expire(now=now)
    with transaction.atomic():
        request = _lock_request(erasure_id)
        if request.status == ErasureStatus.REJECTED:
            return request
        if request.status != ErasureStatus.PENDING:
            raise Conflict(_("该申请已%(status)s，不能再驳回") % {"status": request.get_status_display()},
                           code="erasure_closed", details={"status": request.status})
        request.status = ErasureStatus.REJECTED
        request.decided_by = _person(actor)
        request.decided_at = now
        request.decision_note = note
        request.save()
        audit_record(actor=actor, action="privacy.erasure_rejected", obj=request.customer,
                     summary=_("驳回删除申请 #%(id)s") % {"id": request.pk},
                     data={"erasure_id": request.pk, "note": note})
    return request


# --- retention -----------------------------------------------------------------------------------------------------

def retention_kind(key: str) -> RetentionKind:
    kind = KINDS.get(key)
    if kind is None:
        raise NotFound(_("没有这种数据类型：%(k)s") % {"k": key[:40]}, details={"retention_kind": key[:40]})
    return kind


def check_keep_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_KEEP_DAYS <= value <= MAX_KEEP_DAYS:
        raise ValidationFailed(_("保存天数必须是 %(a)s 到 %(b)s 之间的整数") % {"a": MIN_KEEP_DAYS, "b": MAX_KEEP_DAYS},
                               details={"field": "keep_days"})
    return value


def retention_rule_update(*, actor: Any, kind: str, enabled: bool, keep_days: int,
                          expected_version: int | None = None) -> RetentionRule:
    """Set how long `kind` is kept and whether the worker applies it. A stale `expected_version` is a Conflict
    ("stale_version"). Audit: "privacy.retention_changed" with before and after."""
    _require(actor, PrivacyRight.RETENTION_MANAGE)
    found = retention_kind(kind)
    keep_days = check_keep_days(keep_days)
    with transaction.atomic():
        rule = RetentionRule.objects.select_for_update().filter(kind=found.key).first()
        if rule is None:
            try:
                with transaction.atomic():
                    rule = RetentionRule.objects.create(kind=found.key, keep_days=found.default_days, version=0)
            except IntegrityError:
                rule = RetentionRule.objects.select_for_update().get(kind=found.key)
        if expected_version is not None and rule.version != expected_version:
            raise Conflict(_("保存期限已被他人修改，请刷新后重试"), code="stale_version",
                           details={"expected_version": expected_version, "current": {
                               "enabled": rule.enabled, "keep_days": rule.keep_days, "version": rule.version}})
        before = {"enabled": rule.enabled, "keep_days": rule.keep_days}
        after = {"enabled": bool(enabled), "keep_days": keep_days}
        if before == after:
            return rule
        rule.enabled, rule.keep_days = after["enabled"], keep_days
        rule.version += 1
        rule.updated_by = _person(actor)
        rule.updated_at = timezone.now()
        rule.save()
        audit_record(actor=actor, action="privacy.retention_changed", obj=rule,
                     summary=_("保存期限：%(kind)s %(state)s，%(days)s 天")
                     % {"kind": found.label, "state": _("启用") if rule.enabled else _("停用"), "days": keep_days},
                     data={"kind": found.key, "before": before, "after": after})
    return rule


@dataclass
class RetentionOutcome:
    kind: str
    keep_days: int
    cutoff: datetime
    removed: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def retention_apply(*, now: datetime | None = None, batch_size: int | None = None,
                    kinds: list[str] | None = None) -> list[RetentionOutcome]:
    """Apply every enabled rule (of `kinds` when given) whose kind Kefu holds: rows older than the period are
    removed or anonymised in batches of `batch_size` (setting KEFU_RETENTION_BATCH, 500), each batch its own
    transaction, until none is left. Running it again finds nothing more to do. One audit row per rule and run,
    "privacy.retention_applied", with the counts."""
    now = now or timezone.now()
    batch = batch_size or int(getattr(settings, "KEFU_RETENTION_BATCH", DEFAULT_BATCH))
    rules = RetentionRule.objects.filter(enabled=True).order_by("kind")
    if kinds is not None:
        rules = rules.filter(kind__in=kinds)
    outcomes = []
    for rule in list(rules):
        kind = KINDS.get(rule.kind)
        if kind is None or kind.due is None or kind.apply is None:  # a placeholder: nothing held yet
            continue
        outcome = RetentionOutcome(kind=kind.key, keep_days=rule.keep_days,
                                   cutoff=now - timedelta(days=rule.keep_days))
        while True:
            with transaction.atomic():
                ids = list(kind.due(outcome.cutoff).order_by("pk").values_list("pk", flat=True)[:batch])
                if not ids:
                    break
                handled = kind.apply(ids, now)
            outcome.removed += handled
            outcome.batches += 1
            if handled == 0:  # nothing changed: stop rather than loop on rows the kind cannot handle
                outcome.errors.append(f"{len(ids)} rows not handled")
                log.error("retention %s: %s due rows could not be handled", kind.key, len(ids))
                break
        with transaction.atomic():
            RetentionRule.objects.filter(pk=rule.pk).update(last_run_at=now, last_run_count=outcome.removed)
            audit_record(actor=RETENTION, action="privacy.retention_applied", obj=rule,
                         summary=_("保存期限：%(kind)s 处理 %(n)s 条") % {"kind": kind.label, "n": outcome.removed},
                         data={"kind": kind.key, "keep_days": rule.keep_days, "cutoff": outcome.cutoff.isoformat(),
                               "removed": outcome.removed, "batches": outcome.batches, "errors": outcome.errors})
        outcomes.append(outcome)
    return outcomes


def retention_preview(*, kind: str, keep_days: int, now: datetime | None = None) -> int | None:
    """How many rows a rule of `keep_days` for `kind` would remove now (None: Kefu holds no such data yet)."""
    found = retention_kind(kind)
    keep_days = check_keep_days(keep_days)
    if found.due is None:
        return None
    return int(found.due((now or timezone.now()) - timedelta(days=keep_days)).count())


__all__ = [
    "RETENTION", "RetentionOutcome", "erasure_request_approve", "erasure_request_create", "erasure_request_reject",
    "erasure_requests_expire", "retention_apply", "retention_preview", "retention_rule_update",
]
