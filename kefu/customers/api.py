"""REST API for customer records: list (masked), detail (masked unless revealed, and then audited), create and
update with `version`. Reads go through kefu.customers.selectors, writes through kefu.customers.services."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from kefu.accounts.models import User
from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.pagination import number_page
from kefu.apiutils.schemas import MAX_VERSION, Id, InSchema, PathId
from kefu.core.errors import ValidationFailed
from kefu.customers import selectors, services
from kefu.customers.choices import ConsentSource, ContactKind, CustomerKind, Tier
from kefu.customers.models import Customer
from kefu.customers.permissions import CustomerRight

router = Router()


class CustomerRowOut(Schema):
    id: int
    code: str
    name: str
    company: str
    tier: str
    is_vip: bool
    dedicated_agent_name: str
    phone: str = Field(description="Primary phone, always masked in lists")
    email: str = Field(description="Primary e-mail, always masked in lists")
    tags: list[str]


class CustomerPage(Schema):
    items: list[CustomerRowOut]
    next: str | None = Field(description="The next page number, or null on the last page.")
    page: int
    page_size: int
    count: int


class ContactOut(Schema):
    id: int
    kind: str
    value: str = Field(description="Masked unless the card was revealed and your role may see contacts")
    label: str
    is_primary: bool
    masked: bool


class SiteOut(Schema):
    id: int
    label: str
    province: str
    city: str
    address: str


class CustomerOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    company: str
    tier: str
    is_vip: bool
    dedicated_agent_id: int | None
    birthday: date | None
    id_number: str = Field(description="Masked unless revealed and your role may see ID numbers")
    notes: str
    tags: list[str]
    contacts: list[ContactOut]
    sites: list[SiteOut]
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    can_reveal: bool
    revealed_fields: list[str] = Field(description="What this answer shows unmasked (audited)")


class ContactIn(InSchema):
    kind: ContactKind
    value: str = Field(min_length=1, max_length=200)
    label: str = Field("", max_length=40)
    is_primary: bool = False


class SiteIn(InSchema):
    address: str = Field(min_length=1, max_length=300)
    province: str = Field("", max_length=40)
    city: str = Field("", max_length=40)
    label: str = Field("", max_length=60)


class CustomerIn(InSchema):
    name: str = Field(min_length=1, max_length=200)
    code: str = Field("", max_length=32, description="Blank: a code is generated (K00000123)")
    kind: CustomerKind = CustomerKind.PERSON
    company: str = Field("", max_length=200)
    tier: Tier = Tier.C
    is_vip: bool = False
    dedicated_agent_id: Id | None = None
    birthday: date | None = None
    id_number: str = Field("", max_length=32)
    notes: str = Field("", max_length=5000)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=20)
    sites: list[SiteIn] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=30)


class CustomerPatch(InSchema):
    version: int = Field(
        ge=1, le=MAX_VERSION, description="The version you read; a stale one gets 409 with details.current"
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: CustomerKind | None = None
    company: str | None = Field(None, max_length=200)
    tier: Tier | None = None
    is_vip: bool | None = None
    dedicated_agent_id: Id | None = Field(None, description="null removes the dedicated agent")
    birthday: date | None = None
    id_number: str | None = Field(None, max_length=32)
    notes: str | None = Field(None, max_length=5000)
    tags: list[str] | None = Field(None, max_length=30, description="Replaces the whole set of tags")


class CustomerFiltersIn(InSchema):
    q: str | None = Field(
        None, max_length=100,
        description="Name, company, code or phone/e-mail. Without customer.view_phone a contact matches only as a "
        "whole value (the full number, the whole address), and each such search is audited")
    tier: Tier | None = None
    is_vip: bool | None = None
    tag: str | None = Field(None, max_length=40)
    dedicated_agent: Id | None = None
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class RevealQuery(InSchema):
    reveal: bool = Field(False, description="Show contacts / ID number unmasked as your role allows; audited")


def _detail_data(card: selectors.CustomerDetail) -> dict[str, Any]:
    return {
        "id": card.id,
        "code": card.code,
        "name": card.name,
        "kind": card.kind,
        "company": card.company,
        "tier": card.tier,
        "is_vip": card.is_vip,
        "dedicated_agent_id": card.dedicated_agent.pk if card.dedicated_agent else None,
        "birthday": card.birthday.isoformat() if card.birthday else None,
        "id_number": card.id_number,
        "notes": card.notes,
        "tags": card.tags,
        "contacts": [{k: v for k, v in asdict(c).items() if k != "kind_label"} for c in card.contacts],
        "sites": [
            {"id": s.pk, "label": s.label, "province": s.province, "city": s.city, "address": s.address}
            for s in card.sites
        ],
        "merged_into_id": card.merged_into_id,
        "version": card.version,
        "created_at": card.created_at.isoformat(),
        "updated_at": card.updated_at.isoformat(),
        "can_reveal": card.can_reveal,
        "revealed_fields": list(card.revealed_fields),
    }


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _agent(pk: int | None) -> Any:
    if pk is None:
        return None
    agent = User.objects.filter(pk=pk).first()
    if agent is None:
        raise ValidationFailed(
            _("专属客服 %(pk)s 不存在") % {"pk": pk},
            status=422,
            details={
                "fields": [
                    {
                        "field": "dedicated_agent_id",
                        "location": "body",
                        "message": "unknown id",
                        "type": "unknown_id",
                    }
                ]
            },
        )
    return agent


@router.get("", response=CustomerPage, summary="List customers (contacts masked)")
@requires(CustomerRight.VIEW)
def customer_list(request: HttpRequest, filters: Query[CustomerFiltersIn]) -> Any:
    user = _user(request)
    qs = selectors.customer_list(
        user,
        selectors.CustomerFilters(
            q=filters.q or "",
            tier=filters.tier.value if filters.tier else "",
            is_vip=filters.is_vip,
            tag=filters.tag or "",
            dedicated_agent_id=filters.dedicated_agent,
        ),
        ip=request.META.get("REMOTE_ADDR"),
    )
    return number_page(
        qs,
        page=filters.page,
        page_size=filters.page_size,
        serialize=lambda rows: [asdict(r) for r in selectors.customer_rows(user, rows)],
    )


@router.get("/{customer_id}", response=CustomerOut, summary="One customer (masked unless ?reveal=true)")
@requires(CustomerRight.VIEW)
def customer_detail(request: HttpRequest, customer_id: PathId, query: Query[RevealQuery]) -> Any:
    """With `?reveal=true` the contacts (and the ID number, for managers) are shown unmasked as the role
    allows; each such view is written to the audit log."""
    card = selectors.customer_detail(
        _user(request), customer_id, reveal=query.reveal, ip=request.META.get("REMOTE_ADDR")
    )
    return _detail_data(card)


@router.post("", response={201: CustomerOut}, summary="Create a customer")
@requires(CustomerRight.EDIT)
def customer_create(request: HttpRequest, payload: CustomerIn) -> Any:
    """Contacts, sites and tags in one request. Send `Idempotency-Key` to make retries safe."""
    user = _user(request)

    def create() -> tuple[int, Any]:
        customer = services.customer_create(
            actor=user,
            name=payload.name,
            code=payload.code,
            kind=payload.kind.value,
            company=payload.company,
            tier=payload.tier.value,
            is_vip=payload.is_vip,
            dedicated_agent=_agent(payload.dedicated_agent_id),
            birthday=payload.birthday,
            id_number=payload.id_number,
            notes=payload.notes,
            contacts=[
                services.ContactInput(
                    kind=c.kind.value, value=c.value, label=c.label, is_primary=c.is_primary
                )
                for c in payload.contacts
            ],
            sites=[
                services.SiteInput(address=s.address, province=s.province, city=s.city, label=s.label)
                for s in payload.sites
            ],
            tags=payload.tags,
        )
        return 201, _detail_data(selectors.customer_detail(user, customer.pk))

    return idempotent_create(
        request, user=user, payload=payload.model_dump(mode="json"), create=create, schema=CustomerOut
    )


@router.patch("/{customer_id}", response=CustomerOut, summary="Update a customer (optimistic concurrency)")
@requires(CustomerRight.EDIT)
def customer_update(request: HttpRequest, customer_id: PathId, payload: CustomerPatch) -> Any:
    """Only the fields you send change. A stale `version` gets 409 with `details.current`."""
    user = _user(request)
    selectors.customer_detail(user, customer_id)  # 404 unless visible
    customer = Customer.objects.get(pk=customer_id)
    changes: dict[str, Any] = {}
    for name in payload.model_fields_set - {"version"}:
        value = getattr(payload, name)
        if name == "dedicated_agent_id":
            changes["dedicated_agent"] = _agent(value)
        elif value is None and name not in ("birthday",):
            raise ValidationFailed(
                _("%(field)s 不能为 null") % {"field": name},
                status=422,
                details={
                    "fields": [
                        {"field": name, "location": "body", "message": "may not be null", "type": "null"}
                    ]
                },
            )
        else:
            changes[name] = value.value if hasattr(value, "value") else value
    services.customer_update(actor=user, customer=customer, expected_version=payload.version, changes=changes)  # type: ignore[arg-type]
    return _detail_data(selectors.customer_detail(user, customer_id))


# --- consent per contact channel ---------------------------------------------------------------------------------


class ConsentCellOut(Schema):
    purpose: str
    applies: bool = Field(description="Whether this purpose uses this kind of contact")
    granted: bool | None = Field(description="The recorded answer; null when nothing is recorded")
    allowed: bool = Field(description="What may_contact answers: the answer, else the purpose's default")
    source: str = Field(description="How the answer was given (its label)")
    recorded_by: str
    recorded_at: datetime | None
    note: str


class ConsentRowOut(Schema):
    contact_id: int
    kind: str
    value: str = Field(description="Masked")
    is_primary: bool
    consents: list[ConsentCellOut]


class ConsentItemIn(InSchema):
    contact_id: Id
    purpose: str = Field(min_length=1, max_length=32, description="marketing_call, marketing_sms, "
                         "marketing_message, greeting, survey")
    granted: bool | None = Field(description="true granted, false refused, null: not recorded (the default holds)")


class ConsentsIn(InSchema):
    source: ConsentSource = Field(description="How the customer gave these answers")
    note: str = Field("", max_length=200)
    consents: list[ConsentItemIn] = Field(max_length=200)


def _consent_rows(user: Any, customer_id: int) -> list[dict[str, Any]]:
    return [
        {"contact_id": row.contact.id, "kind": row.contact.kind, "value": row.contact.value,
         "is_primary": row.contact.is_primary,
         "consents": [{"purpose": c.purpose, "applies": c.applies, "granted": c.granted, "allowed": c.allowed,
                       "source": c.source_label, "recorded_by": c.recorded_by, "recorded_at": c.recorded_at,
                       "note": c.note} for c in row.cells]}
        for row in selectors.consent_table(user, customer_id)
    ]


@router.get("/{customer_id}/consents", response=list[ConsentRowOut], summary="Consent per contact and purpose")
@requires(CustomerRight.VIEW)
def customer_consents(request: HttpRequest, customer_id: PathId) -> Any:
    """One row per contact, one cell per purpose. Outbound features ask `may_contact`; `allowed` is its answer."""
    return _consent_rows(_user(request), customer_id)


@router.put("/{customer_id}/consents", response=list[ConsentRowOut], summary="Record consents and refusals")
@requires(CustomerRight.EDIT_CONSENT)
def customer_consents_set(request: HttpRequest, customer_id: PathId, payload: ConsentsIn) -> Any:
    """Only the listed (contact, purpose) pairs change; who, when and `source` are recorded and audited."""
    user = _user(request)
    selectors.customer_detail(user, customer_id)  # 404 unless visible
    services.customer_set_consents(
        actor=user, customer=Customer.objects.get(pk=customer_id), source=payload.source.value, note=payload.note,
        consents=[services.ConsentInput(contact_id=c.contact_id, purpose=c.purpose, granted=c.granted)
                  for c in payload.consents])
    return _consent_rows(user, customer_id)


# --- personal data (PIPL) -------------------------------------------------------------------------------------------


class PersonalDataQuery(InSchema):
    format: str = Field("json", pattern="^(json|xlsx)$", description="json or xlsx (one sheet per kind of record)")


@router.get("/{customer_id}/personal-data", summary="Everything held about one customer, unmasked (audited)")
@requires(CustomerRight.EXPORT_PERSONAL_DATA)
def customer_personal_data(request: HttpRequest, customer_id: PathId, query: Query[PersonalDataQuery]) -> Any:
    """Record, contacts with their consents, addresses, work orders with messages, history, attachment list,
    dispatches and SLA clocks, notices about them, the access log and erasure requests, as a download:
    `application/json`, or an .xlsx workbook with one sheet per kind of record. Each export is one audit row."""
    from kefu.privacy.export import personal_data_export

    exported = personal_data_export(actor=_user(request), customer_id=customer_id, fmt=query.format,
                                    ip=request.META.get("REMOTE_ADDR"))
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response["Cache-Control"] = "no-store"
    return response
