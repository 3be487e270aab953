"""REST API of personal-data protection: erasure requests (file, list, approve, reject) and retention rules (list,
set, preview). The export of one customer's data is at /customers/{id}/personal-data (kefu.customers.api)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.pagination import number_page
from kefu.apiutils.schemas import MAX_VERSION, Id, InSchema, OptionalBodyIn, PathId
from kefu.core.errors import NotFound
from kefu.customers.models import Customer
from kefu.privacy import selectors, services
from kefu.privacy.choices import AskedBy, ErasureStatus
from kefu.privacy.models import ErasureRequest
from kefu.privacy.permissions import PrivacyRight

router = Router()
KindPath = Annotated[str, Path(max_length=40, pattern=r"^[a-z0-9_]+$")]


class ErasureOut(Schema):
    id: int
    customer_id: int
    customer_code: str
    asked_by: str
    reason: str
    status: str = Field(description="pending, done, rejected or expired (a waiting request past its deadline)")
    requested_by: str
    requested_by_id: int | None
    created_at: datetime
    expires_at: datetime
    decided_by: str
    decided_at: datetime | None
    decision_note: str
    executed_at: datetime | None
    result: dict[str, int] = Field(description="What was anonymised (counts), once done")


class ErasurePage(Schema):
    items: list[ErasureOut]
    next: str | None
    page: int
    page_size: int
    count: int


class ErasureIn(InSchema):
    customer_id: Id
    asked_by: AskedBy
    reason: str = Field(min_length=1, max_length=1000)


class DecisionIn(OptionalBodyIn):
    note: str = Field("", max_length=500, description="Required to reject: the reason given to the requester")


class ErasureFilters(InSchema):
    status: ErasureStatus | None = None
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class RetentionOut(Schema):
    kind: str
    label: str
    available: bool = Field(description="false: Kefu holds no such data yet (the rule applies once it does)")
    enabled: bool
    keep_days: int
    default_days: int
    version: int
    updated_by: str
    updated_at: datetime | None
    last_run_at: datetime | None
    last_run_count: int
    would_remove: int | None = Field(description="Rows the rule would remove now (null: no such data yet)")


class RetentionIn(InSchema):
    enabled: bool
    keep_days: int = Field(ge=services.MIN_KEEP_DAYS, le=services.MAX_KEEP_DAYS)
    version: int = Field(ge=0, le=MAX_VERSION, description="The version you read (0 for a kind never set)")


class PreviewQuery(InSchema):
    keep_days: int | None = Field(None, ge=services.MIN_KEEP_DAYS, le=services.MAX_KEEP_DAYS,
                                  description="The period to try; the rule's own when absent")


class PreviewOut(Schema):
    kind: str
    keep_days: int
    would_remove: int | None


def _erasure(request: ErasureRequest) -> dict[str, Any]:
    return {
        "id": request.pk, "customer_id": request.customer_id, "customer_code": request.customer.code,
        "asked_by": request.asked_by, "reason": request.reason, "status": selectors.effective_status(request),
        "requested_by": str(request.requested_by or ""), "requested_by_id": request.requested_by_id,
        "created_at": request.created_at, "expires_at": request.expires_at,
        "decided_by": str(request.decided_by or ""), "decided_at": request.decided_at,
        "decision_note": request.decision_note, "executed_at": request.executed_at,
        "result": {k: int(v) for k, v in (request.result or {}).items() if isinstance(v, int)},
    }


def _rule(row: selectors.RetentionRow) -> dict[str, Any]:
    return {"kind": row.key, **{f: getattr(row, f) for f in RetentionOut.model_fields if f != "kind"}}


@router.get("/erasure-requests", response=ErasurePage, summary="Erasure requests (waiting ones first)")
@requires(PrivacyRight.ERASURE)
def erasure_list(request: HttpRequest, filters: Query[ErasureFilters]) -> Any:
    qs = selectors.erasure_requests(request.auth, status=filters.status.value if filters.status else "")  # type: ignore[attr-defined]
    return number_page(qs, page=filters.page, page_size=filters.page_size,
                       serialize=lambda rows: [_erasure(r) for r in rows])


@router.get("/erasure-requests/{erasure_id}", response=ErasureOut, summary="One erasure request")
@requires(PrivacyRight.ERASURE)
def erasure_detail(request: HttpRequest, erasure_id: PathId) -> Any:
    return _erasure(selectors.erasure_request(request.auth, erasure_id))  # type: ignore[attr-defined]


@router.post("/erasure-requests", response={201: ErasureOut}, summary="Request a customer's erasure (anonymisation)")
@requires(PrivacyRight.ERASURE)
def erasure_create(request: HttpRequest, payload: ErasureIn) -> Any:
    """It waits for a second person's approval; nothing changes until then. Send `Idempotency-Key` to make retries
    safe."""
    user = request.auth  # type: ignore[attr-defined]

    def create() -> tuple[int, Any]:
        customer = Customer.objects.filter(pk=payload.customer_id).first()
        if customer is None:
            raise NotFound(_("客户不存在"), details={"customer_id": payload.customer_id})
        filed = services.erasure_request_create(actor=user, customer=customer, asked_by=payload.asked_by.value,
                                                reason=payload.reason)
        return 201, _erasure(selectors.erasure_request(user, filed.pk))

    return idempotent_create(request, user=user, payload=payload.model_dump(mode="json"), create=create,
                             schema=ErasureOut)


@router.post("/erasure-requests/{erasure_id}/approve", response=ErasureOut,
             summary="Approve and carry out an erasure request (not the requester)")
@requires(PrivacyRight.ERASURE)
def erasure_approve(request: HttpRequest, erasure_id: PathId, payload: DecisionIn) -> Any:
    """The customer and their orders are anonymised in one transaction. 409 `second_person_required` for the
    requester, `erasure_closed` for a rejected or expired request; approving a done request again returns it."""
    done = services.erasure_request_approve(actor=request.auth, erasure_id=erasure_id, note=payload.note)  # type: ignore[attr-defined]
    return _erasure(selectors.erasure_request(request.auth, done.pk))  # type: ignore[attr-defined]


@router.post("/erasure-requests/{erasure_id}/reject", response=ErasureOut, summary="Reject an erasure request")
@requires(PrivacyRight.ERASURE)
def erasure_reject(request: HttpRequest, erasure_id: PathId, payload: DecisionIn) -> Any:
    """`note` (the reason) is required. Nothing is erased."""
    done = services.erasure_request_reject(actor=request.auth, erasure_id=erasure_id, note=payload.note)  # type: ignore[attr-defined]
    return _erasure(selectors.erasure_request(request.auth, done.pk))  # type: ignore[attr-defined]


@router.get("/retention-rules", response=list[RetentionOut], summary="Retention rules with what each would remove now")
@requires(PrivacyRight.RETENTION_MANAGE)
def retention_list(request: HttpRequest) -> Any:
    return [_rule(r) for r in selectors.retention_rules(request.auth)]  # type: ignore[attr-defined]


@router.put("/retention-rules/{retention_kind}", response=RetentionOut, summary="Set a retention rule")
@requires(PrivacyRight.RETENTION_MANAGE)
def retention_update(request: HttpRequest, retention_kind: KindPath, payload: RetentionIn) -> Any:
    """A stale `version` gets 409 with `details.current`. The worker applies enabled rules every night."""
    services.retention_rule_update(actor=request.auth, kind=retention_kind[:40], enabled=payload.enabled,  # type: ignore[attr-defined]
                                   keep_days=payload.keep_days, expected_version=payload.version)
    row = next(r for r in selectors.retention_rules(request.auth) if r.key == retention_kind)  # type: ignore[attr-defined]
    return _rule(row)


@router.get("/retention-rules/{retention_kind}/preview", response=PreviewOut,
            summary="How many rows a period would remove now (dry run)")
@requires(PrivacyRight.RETENTION_MANAGE)
def retention_preview(request: HttpRequest, retention_kind: KindPath, query: Query[PreviewQuery]) -> Any:
    kind = retention_kind[:40]
    services.retention_kind(kind)  # 404 for an unknown kind
    days = query.keep_days
    if days is None:
        days = next(r.keep_days for r in selectors.retention_rules(request.auth, preview=False) if r.key == kind)  # type: ignore[attr-defined]
    return {"kind": kind, "keep_days": days, "would_remove": services.retention_preview(kind=kind, keep_days=days)}
