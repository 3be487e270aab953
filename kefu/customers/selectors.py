"""Reads of customer records: lists and search, the detail card with masking, screen pop, duplicates.

Personal data leaves this module masked unless the viewer has the right AND asked to reveal it; each unmasked
view is written to the audit log ("customer.viewed_unmasked"). Lists are always masked.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from kefu.core.audit import audit_lookup, audit_record
from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.masking import mask_contact, mask_id_number
from kefu.core.models import AuditLog
from kefu.core.permissions import CoreRight
from kefu.core.policy import has_right, may_see, visible
from kefu.core.prepared import Prepared
from kefu.core.search import text_contains
from kefu.customers.choices import ConsentSource, ContactKind, Tier
from kefu.customers.consent import PURPOSES, purpose_of
from kefu.customers.models import ContactConsent, ContactPoint, Customer, Site
from kefu.customers.normalize import guess_contact_kind, normalize_contact
from kefu.customers.permissions import CustomerRight
from kefu.customers.timeline import TimelinePage, customer_timeline

__all__ = [
    "ContactView", "CustomerDetail", "CustomerFilters", "CustomerRow", "DuplicateGroup", "TimelinePage",
    "consent_table", "contactable_points", "customer_access_log", "customer_detail", "customer_duplicate_groups",
    "customer_duplicates", "customer_filter", "customer_find_by_contact", "customer_list", "customer_onsite",
    "customer_onsite_cards", "customer_rows", "customer_timeline", "may_contact",
]

VIEWED_UNMASKED = "customer.viewed_unmasked"
# What duplicate detection matches on (WeChat ids are too often shared within a family or shop).
DUPLICATE_KINDS = (ContactKind.PHONE, ContactKind.EMAIL)


@dataclass(frozen=True)
class CustomerFilters:
    """List filters. `q` searches name, company, code (exact) and phone / e-mail / WeChat contacts.

    `is_vip=None` means VIP or not; `tag` is a tag name.
    """

    q: str = ""
    tier: str = ""
    is_vip: bool | None = None
    tag: str = ""
    dedicated_agent_id: int | None = None


@dataclass(frozen=True)
class ContactView:
    id: int
    kind: str
    kind_label: str
    value: str  # masked unless revealed
    label: str
    is_primary: bool
    masked: bool


@dataclass(frozen=True)
class CustomerRow:
    """A customer in a list or screen pop: contacts always masked."""

    id: int
    code: str
    name: str
    company: str
    tier: str
    is_vip: bool
    dedicated_agent_name: str
    phone: str
    email: str
    tags: list[str]


@dataclass(frozen=True)
class CustomerDetail:
    """The customer card. Contacts and ID number are masked unless listed in `revealed_fields`.

    `can_reveal` says whether the viewer may ask for the unmasked card (the "show" button).
    """

    id: int
    code: str
    name: str
    kind: str
    kind_label: str
    company: str
    tier: str
    tier_label: str
    is_vip: bool
    dedicated_agent: Any
    birthday: date | None
    id_number: str
    notes: str
    tags: list[str]
    contacts: list[ContactView]
    sites: list[Site]
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    can_reveal: bool
    revealed_fields: tuple[str, ...] = field(default=())
    anonymised_at: datetime | None = None

    @property
    def masked(self) -> bool:
        return not self.revealed_fields


@dataclass(frozen=True)
class DuplicateGroup:
    """Customers sharing one normalised phone or e-mail. `match` is masked (it is personal data)."""

    kind: str
    match: str
    customers: list[Customer]


def _base() -> QuerySet[Customer]:
    return (Customer.objects.select_related("dedicated_agent")
            .prefetch_related(Prefetch("contacts",
                                       queryset=ContactPoint.objects.order_by("-is_primary", "id")), "tags"))


def _whole_contact(kind: str, text: str) -> str:
    """The normalised whole value `text` stands for, or "" when it is not one (a part of a number)."""
    try:
        return normalize_contact(kind, text)
    except ValidationFailed:
        return ""


def _contact_match(kind: str, **condition: Any) -> Exists:
    return Exists(ContactPoint.objects.filter(customer=OuterRef("pk"), kind=kind, **condition))


def _search(q: str, viewer: Any, ip: str | None) -> Q:
    """Name, company, code (exact) and contacts. Whoever may see contacts (CUSTOMER_VIEW_PHONE; None: the
    system) also finds a part of a phone number (the last four digits a caller reads out) or of an e-mail
    address. Anyone else finds a contact only by its whole value — the full number, the whole address, the
    whole WeChat id — and each such lookup is written to the audit log (kind, masked value, keyed digest): a
    growing prefix could otherwise spell out a masked number, one search at a time."""
    text = q.strip()[:100]
    cond = text_contains("name", text) | text_contains("company", text) | Q(code__iexact=text)
    kind = guess_contact_kind(text)
    whole_only = viewer is not None and not has_right(viewer, CustomerRight.VIEW_PHONE)
    if whole_only:
        normalized = _whole_contact(kind, text)
        if normalized:
            cond |= _contact_match(kind, normalized=normalized)
        looks_personal = kind == ContactKind.EMAIL or (
            kind == ContactKind.PHONE and len(re.sub(r"\D", "", text)) >= 4)
        if kind == ContactKind.WECHAT and normalized:  # any word is a possible WeChat id: log the ones that are
            looks_personal = ContactPoint.objects.filter(kind=kind, normalized=normalized).exists()
        if looks_personal and getattr(viewer, "is_authenticated", False):
            audit_lookup(actor=viewer, kind=kind, value=normalized or text, whole=bool(normalized),
                         source="customers", ip_address=ip)
        return cond
    if kind == ContactKind.PHONE:
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 4:  # a partial number: the last four digits a caller reads out, or a prefix
            with contextlib.suppress(ValidationFailed):  # a partial number is searched as typed
                digits = normalize_contact(ContactKind.PHONE, text)
            cond |= _contact_match(ContactKind.PHONE, normalized__contains=digits)
    elif kind == ContactKind.EMAIL:
        cond |= _contact_match(ContactKind.EMAIL, normalized__contains=text.lower())
    else:
        cond |= _contact_match(ContactKind.WECHAT, normalized=text.lower())
    return cond


def customer_list(user: Any, filters: CustomerFilters | None = None, *, ip: str | None = None) -> QuerySet[Customer]:
    """Customers `user` may see, merged records excluded, newest first, with contacts, tags and dedicated
    agent prefetched (a page costs 3 queries). Present rows with `customer_rows` (masked). A search by
    personal data from someone who may not see it matches whole values only, and is audited (with `ip`)."""
    return customer_filter(visible(user, _base().filter(merged_into__isnull=True)), filters, viewer=user, ip=ip)


def customer_filter(qs: QuerySet[Customer], filters: CustomerFilters | None, *, viewer: Any,
                    ip: str | None = None) -> QuerySet[Customer]:
    """Apply list filters to any customer queryset (no visibility check: callers scope it first). `viewer`
    decides how contacts are searched (see `_search`); None is the system (the command line)."""
    filters = filters or CustomerFilters()
    if filters.q.strip():
        qs = qs.filter(_search(filters.q, viewer, ip))
    if filters.tier:
        if filters.tier not in Tier.values:
            raise ValidationFailed(_("客户等级必须是 A、B、C 或 D"), details={"field": "tier"})
        qs = qs.filter(tier=filters.tier)
    if filters.is_vip is not None:
        qs = qs.filter(is_vip=filters.is_vip)
    if filters.tag.strip():
        qs = qs.filter(Exists(Customer.tags.through.objects.filter(customer_id=OuterRef("pk"),
                                                                   tag__name=filters.tag.strip())))
    if filters.dedicated_agent_id is not None:
        qs = qs.filter(dedicated_agent_id=filters.dedicated_agent_id)
    return qs


def _primary(contacts: Iterable[ContactPoint], kind: str) -> str:
    for point in contacts:
        if point.kind == kind:
            return mask_contact(point.kind, point.value)
    return ""


def customer_rows(user: Any, customers: Iterable[Customer]) -> list[CustomerRow]:
    """Masked rows for a page of `customer_list` / `customer_find_by_contact` (no queries when prefetched)."""
    rows = []
    for c in customers:
        contacts = list(c.contacts.all())
        rows.append(CustomerRow(
            id=c.pk, code=c.code, name=c.name, company=c.company, tier=c.tier, is_vip=c.is_vip,
            dedicated_agent_name=str(c.dedicated_agent) if c.dedicated_agent else "",
            phone=_primary(contacts, ContactKind.PHONE), email=_primary(contacts, ContactKind.EMAIL),
            tags=[t.name for t in c.tags.all()],
        ))
    return rows


_BRIEF_CUSTOMER = Prepared(lambda customer_id: Customer.objects.filter(pk=customer_id)
                           .select_related("dedicated_agent"))
_CONTACT_POINTS = Prepared(lambda customer_id: ContactPoint.objects.filter(customer_id=customer_id)
                           .order_by("-is_primary", "id"))


def customer_detail(user: Any, customer_id: int, *, reveal: bool = False,
                    ip: str | None = None, brief: bool = False, loaded: Customer | None = None) -> CustomerDetail:
    """The customer card for `user`. Masked by default; `reveal=True` unmasks what the role allows
    (contacts with CUSTOMER_VIEW_PHONE, ID number with CUSTOMER_VIEW_ID_NUMBER) and writes one audit row
    "customer.viewed_unmasked" with the fields shown and `ip`.

    PermissionDenied when the user may not see customers, or asks to reveal without any right to;
    NotFound for an unknown id. A merged record is returned with `merged_into_id` set (the UI redirects).
    Constant query count (4, plus the audit insert when revealed). `brief`: the card beside a work order, without
    tags and sites (2 queries; 1 when the caller has `loaded` the customer with its dedicated agent).
    """
    if not has_right(user, CustomerRight.VIEW):
        raise PermissionDenied(_("你没有查看客户资料的权限"))
    if brief:  # two prepared reads: the page beside every order shows this card
        found = [loaded] if loaded is not None and loaded.pk == customer_id else _BRIEF_CUSTOMER.run(customer_id)
        customer = found[0] if found and may_see(user, found[0]) else None
        contact_points = _CONTACT_POINTS.run(customer_id) if customer is not None else []
    else:
        customer = visible(user, _base().prefetch_related("sites")).filter(pk=customer_id).first()
        contact_points = list(customer.contacts.all()) if customer is not None else []
    if customer is None:
        raise NotFound(_("客户不存在"), details={"customer_id": customer_id})
    may_contacts = has_right(user, CustomerRight.VIEW_PHONE)
    may_id = has_right(user, CustomerRight.VIEW_ID_NUMBER)
    if reveal and not (may_contacts or may_id):
        raise PermissionDenied(_("你没有查看完整联系方式或证件号码的权限"))
    show_contacts = reveal and may_contacts
    show_id = reveal and may_id
    revealed: list[str] = []
    if show_contacts:
        revealed.append("contacts")
    if show_id:
        revealed.append("id_number")
    contacts = [
        ContactView(id=p.pk, kind=p.kind, kind_label=str(p.get_kind_display()),
                    value=p.value if show_contacts else mask_contact(p.kind, p.value), label=p.label,
                    is_primary=p.is_primary, masked=not show_contacts)
        for p in contact_points
    ]
    if revealed:
        audit_record(actor=user, action=VIEWED_UNMASKED, obj=customer, ip_address=ip,
                     summary=_("查看了完整资料：%(c)s") % {"c": customer.code}, data={"fields": revealed})
    return CustomerDetail(
        id=customer.pk, code=customer.code, name=customer.name, kind=customer.kind,
        kind_label=str(customer.get_kind_display()), company=customer.company, tier=customer.tier,
        tier_label=str(customer.get_tier_display()), is_vip=customer.is_vip,
        dedicated_agent=customer.dedicated_agent, birthday=customer.birthday,
        id_number=customer.id_number if show_id else mask_id_number(customer.id_number),
        notes=customer.notes, tags=[] if brief else [t.name for t in customer.tags.all()], contacts=contacts,
        sites=[] if brief else list(customer.sites.all()), merged_into_id=customer.merged_into_id,
        version=customer.version,
        created_at=customer.created_at, updated_at=customer.updated_at, can_reveal=may_contacts or may_id,
        revealed_fields=tuple(revealed), anonymised_at=customer.anonymised_at,
    )


def customer_find_by_contact(user: Any, value: str, *, kind: str | None = None) -> QuerySet[Customer]:
    """Screen pop (来电弹屏): customers whose phone / e-mail / WeChat id matches `value` exactly after
    normalisation (+86 and separators ignored). VIPs and stronger tiers first. An unparsable value (a withheld
    caller id) matches nothing rather than raising."""
    kind = kind or guess_contact_kind(value)
    try:
        normalized = normalize_contact(kind, value)
    except ValidationFailed:
        return Customer.objects.none()
    if not has_right(user, CustomerRight.VIEW_PHONE) and getattr(user, "is_authenticated", False):
        audit_lookup(actor=user, kind=kind, value=normalized, whole=True, source="customers")
    matches = ContactPoint.objects.filter(customer=OuterRef("pk"), kind=kind, normalized=normalized)
    return (visible(user, _base().filter(merged_into__isnull=True))
            .filter(Exists(matches)).order_by("-is_vip", "tier", "-updated_at", "-id"))


def customer_duplicates(user: Any, customer: Customer) -> QuerySet[Customer]:
    """Other unmerged customers sharing a normalised phone or e-mail with `customer` (one query)."""
    own = ContactPoint.objects.filter(customer=customer)
    cond = Q()
    for kind in DUPLICATE_KINDS:
        cond |= Exists(ContactPoint.objects.filter(customer=OuterRef("pk"), kind=kind,
                                                   normalized__in=own.filter(kind=kind).values("normalized")))
    return (visible(user, _base().filter(merged_into__isnull=True)).exclude(pk=customer.pk)
            .filter(cond).order_by("pk"))


def customer_duplicate_groups(user: Any, *, limit: int = 50) -> list[DuplicateGroup]:
    """Groups of unmerged customers that share a phone or e-mail, for the "possible duplicates" page
    (managers and leads with CUSTOMER_MERGE). Two queries, plus prefetches."""
    if not has_right(user, CustomerRight.MERGE):
        raise PermissionDenied(_("你没有合并客户的权限"))
    keys = list(ContactPoint.objects.filter(kind__in=DUPLICATE_KINDS, customer__merged_into__isnull=True)
                .values("kind", "normalized").annotate(n=Count("customer_id", distinct=True)).filter(n__gt=1)
                .order_by("-n", "kind", "normalized")[:limit])
    if not keys:
        return []
    cond = Q()
    for k in keys:
        cond |= Q(kind=k["kind"], normalized=k["normalized"])
    members: dict[tuple[str, str], list[int]] = defaultdict(list)
    rows = (ContactPoint.objects.filter(cond, customer__merged_into__isnull=True)
            .values_list("kind", "normalized", "customer_id").order_by("customer_id"))
    for kind, normalized, customer_id in rows:
        members[(kind, normalized)].append(customer_id)
    customers = _base().in_bulk({pk for ids in members.values() for pk in ids})
    return [DuplicateGroup(kind=k["kind"], match=mask_contact(k["kind"], k["normalized"]),
                           customers=[customers[pk] for pk in members[(k["kind"], k["normalized"])]])
            for k in keys]


def customer_access_log(user: Any, customer: Customer) -> QuerySet[AuditLog]:
    """Who changed or saw the customer (managers and admins: AUDIT_VIEW), newest first."""
    if not has_right(user, CoreRight.AUDIT_VIEW):
        raise PermissionDenied(_("你没有查看审计日志的权限"))
    return AuditLog.objects.filter(object_type=Customer._meta.label_lower,
                                   object_id=str(customer.pk)).select_related("actor")


# --- what a department needs on site ---------------------------------------------------------------------

@dataclass(frozen=True)
class OnsiteCard:
    """The customer as a department sees them on a dispatched order: name, contact phone, site address.
    `phone` is masked unless `revealed`; `address` is "" for a viewer without CUSTOMER_VIEW_ONSITE."""

    id: int
    name: str
    phone: str
    address: str
    can_reveal: bool
    revealed: bool = False


def _onsite_card(customer: Customer, *, may: bool, reveal: bool) -> OnsiteCard:
    phones = [p for p in customer.contacts.all() if p.kind == ContactKind.PHONE]
    phone = phones[0] if phones else None
    site = next(iter(customer.sites.all()), None)
    address = f"{site.province}{site.city}{site.address}" if site and may else ""
    shown = phone.value if phone and reveal else (mask_contact(phone.kind, phone.value) if phone else "")
    return OnsiteCard(id=customer.pk, name=customer.name, phone=shown, address=address,
                      can_reveal=may and phone is not None and not reveal, revealed=reveal and phone is not None)


def customer_onsite_cards(user: Any, customer_ids: Iterable[int]) -> dict[int, OnsiteCard]:
    """Masked on-site cards for the customers of the dispatched orders a page shows (3 queries, whatever the
    number). The caller has checked that `user` may see those orders."""
    may = has_right(user, CustomerRight.VIEW_ONSITE)
    customers = (Customer.objects.filter(pk__in=set(customer_ids))
                 .prefetch_related(Prefetch("contacts", queryset=ContactPoint.objects.order_by("-is_primary", "id")),
                                   "sites"))
    return {c.pk: _onsite_card(c, may=may, reveal=False) for c in customers}


def customer_onsite(user: Any, customer_id: int, *, reveal: bool = False, ip: str | None = None,
                    reason: dict[str, Any] | None = None) -> OnsiteCard:
    """One on-site card; `reveal=True` shows the full phone to holders of CUSTOMER_VIEW_ONSITE and writes an audit
    row "customer.viewed_unmasked" (as the customer card's "show" does), with `reason` (e.g. the dispatch).
    The caller has checked that `user` may see the order that names this customer."""
    may = has_right(user, CustomerRight.VIEW_ONSITE)
    if reveal and not may:
        raise PermissionDenied(_("你没有查看上门联系信息的权限"))
    customer = (Customer.objects.filter(pk=customer_id)
                .prefetch_related(Prefetch("contacts", queryset=ContactPoint.objects.order_by("-is_primary", "id")),
                                  "sites").first())
    if customer is None:
        raise NotFound(_("客户不存在"), details={"customer_id": customer_id})
    card = _onsite_card(customer, may=may, reveal=reveal)
    if card.revealed:
        audit_record(actor=user, action=VIEWED_UNMASKED, obj=customer, ip_address=ip,
                     summary=_("查看了上门联系电话：%(c)s") % {"c": customer.code},
                     data={"fields": ["onsite_phone"], **(reason or {})})
    return card


# --- consent per contact channel (联系许可) -----------------------------------------------------------------

def _point_allows(point: ContactPoint, purpose_key: str, recorded: dict[str, bool]) -> bool:
    purpose = purpose_of(purpose_key)
    if point.kind not in purpose.kinds:
        return False
    answer = recorded.get(purpose.key)
    return purpose.allowed_by_default if answer is None else answer


def _recorded(point: ContactPoint) -> dict[str, bool]:
    cache = getattr(point, "_prefetched_objects_cache", {})
    rows = cache["consents"] if "consents" in cache else ContactConsent.objects.filter(contact=point)
    return {c.purpose: c.granted for c in rows}


def contactable_points(customer: Customer, purpose: str) -> list[ContactPoint]:
    """The customer's contacts that `purpose` may use (see `may_contact`), primary first. Two queries. A merged
    record answers for the record it was merged into; an anonymised one has none."""
    purpose_of(purpose)
    if customer.merged_into_id is not None:
        customer = Customer.objects.filter(pk=customer.merged_into_id).first() or customer
    if customer.anonymised_at is not None:
        return []
    points = ContactPoint.objects.filter(customer=customer).prefetch_related("consents").order_by("-is_primary", "id")
    return [p for p in points if _point_allows(p, purpose, _recorded(p))]


def may_contact(target: Customer | ContactPoint, purpose: str) -> bool:
    """THE check every outbound feature makes before contacting a customer (a call list, an SMS, a greeting, a
    survey, a marketing message): whether `target` — a customer, or one of their contacts — may be contacted for
    `purpose` (a key of kefu.customers.consent.PURPOSES; an unknown one raises ImproperlyConfigured).

    A contact: its kind must be one the purpose uses, then the recorded answer holds, else the purpose's
    default (opt-in for marketing and greetings, opt-out for callbacks and surveys). A customer: True when at
    least one of their contacts may be used (`contactable_points` lists which). Anonymised customers: never.
    """
    if isinstance(target, ContactPoint):
        purpose_of(purpose)
        owner = Customer.objects.filter(pk=target.customer_id).values_list("anonymised_at", flat=True).first()
        if owner is not None:
            return False
        return _point_allows(target, purpose, _recorded(target))
    if isinstance(target, Customer):
        return bool(contactable_points(target, purpose))
    raise TypeError(f"may_contact takes a Customer or a ContactPoint, not {type(target).__name__}")


@dataclass(frozen=True)
class ConsentCell:
    purpose: str
    label: str
    applies: bool
    granted: bool | None  # None: nothing recorded
    allowed: bool  # what may_contact answers
    source_label: str = ""
    recorded_by: str = ""
    recorded_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class ConsentRow:
    contact: ContactView
    cells: list[ConsentCell]


def consent_purposes() -> list[tuple[str, str]]:
    """(key, label) of every registered purpose, in registration order."""
    return [(p.key, str(p.label)) for p in PURPOSES.values()]


def consent_table(user: Any, customer_id: int) -> list[ConsentRow]:
    """The consent grid of the customer page and API: one row per contact (masked), one cell per purpose.
    Three queries."""
    if not has_right(user, CustomerRight.VIEW):
        raise PermissionDenied(_("你没有查看客户资料的权限"))
    customer = visible(user, Customer.objects.all()).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("客户不存在"), details={"customer_id": customer_id})
    points = (ContactPoint.objects.filter(customer=customer).order_by("-is_primary", "id")
              .prefetch_related(Prefetch("consents", queryset=ContactConsent.objects.select_related("recorded_by"))))
    rows = []
    sources = dict(ConsentSource.choices)
    for p in points:
        recorded = {c.purpose: c for c in p.consents.all()}
        cells = []
        for purpose in PURPOSES.values():
            row = recorded.get(purpose.key)
            applies = p.kind in purpose.kinds
            granted = row.granted if row is not None else None
            cells.append(ConsentCell(
                purpose=purpose.key, label=str(purpose.label), applies=applies, granted=granted,
                allowed=applies and customer.anonymised_at is None
                and (purpose.allowed_by_default if granted is None else granted),
                source_label=str(sources.get(row.source, row.source)) if row else "",
                recorded_by=str(row.recorded_by) if row and row.recorded_by else "",
                recorded_at=row.recorded_at if row else None, note=row.note if row else ""))
        view = ContactView(id=p.pk, kind=p.kind, kind_label=str(p.get_kind_display()),
                           value=mask_contact(p.kind, p.value), label=p.label, is_primary=p.is_primary, masked=True)
        rows.append(ConsentRow(contact=view, cells=cells))
    return rows
