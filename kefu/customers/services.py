"""Customer record services: the one write path for customers, contacts, sites, tags and merges.

Every service is one transaction, checks the actor's rights in `kefu.core.policy` (actor=None is the system:
imports from the CLI, demo data) and writes its own audit rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.choices import Role
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.customers.choices import ConsentSource, CustomerKind, Tier
from kefu.customers.consent import PURPOSES
from kefu.customers.models import ContactConsent, ContactPoint, Customer, Site, Tag
from kefu.customers.normalize import check_birthday, clean_contact, clean_id_number, clean_tier
from kefu.customers.permissions import CustomerRight
from kefu.customers.timeline import MERGE_HOOKS, MergeContext

# Who may be a VIP's dedicated agent (专属客服): people who take customer calls themselves.
DEDICATED_AGENT_ROLES = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.SHIFT_LEAD})
# A stronger tier wins when duplicates are merged.
_TIER_RANK = {Tier.A: 0, Tier.B: 1, Tier.C: 2, Tier.D: 3}


@dataclass(frozen=True)
class ContactInput:
    """A contact point to add: kind (phone / email / wechat), the value as typed, an optional label."""

    kind: str
    value: str
    label: str = ""
    is_primary: bool = False


@dataclass(frozen=True)
class SiteInput:
    address: str
    province: str = ""
    city: str = ""
    label: str = ""


class CustomerChanges(TypedDict, total=False):
    """Fields to change on a customer; a key that is absent is left unchanged.

    `tags` replaces the whole set of tag names. `dedicated_agent` is a User or None.
    """

    name: str
    kind: str
    company: str
    tier: str
    is_vip: bool
    dedicated_agent: Any
    birthday: date | None
    id_number: str
    notes: str
    tags: list[str]


_CHANGEABLE = frozenset(CustomerChanges.__annotations__)
# Personal data never copied into audit rows or conflict details: the audit log is read more widely.
_PERSONAL_FIELDS = frozenset({"id_number"})


# --- helpers ---------------------------------------------------------------------------------------

def _require(actor: Any, action: str) -> None:
    """actor=None is the system (CLI import, demo data); a user needs the role right."""
    if actor is not None and not has_right(actor, action):
        raise PermissionDenied(_("你没有此操作的权限"), details={"action": str(action)})


def _clean_name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise ValidationFailed(_("客户姓名不能为空"), details={"field": "name"})
    if len(name) > 200:
        raise ValidationFailed(_("客户姓名不能超过 200 个字符"), details={"field": "name"})
    return name


def _clean_code(value: str) -> str:
    code = (value or "").strip()
    if len(code) > 32:
        raise ValidationFailed(_("客户编号不能超过 32 个字符"), details={"field": "code"})
    if any(ch.isspace() for ch in code):
        raise ValidationFailed(_("客户编号不能包含空格"), details={"field": "code"})
    return code


def _clean_kind(value: str) -> str:
    if value not in CustomerKind.values:
        raise ValidationFailed(_("客户类型不正确"), details={"field": "kind", "value": value})
    return value


def _clean_text(field: str, value: str, max_length: int) -> str:
    text = (value or "").strip()
    if len(text) > max_length:
        raise ValidationFailed(_("%(field)s 不能超过 %(n)s 个字符") % {"field": field, "n": max_length},
                               details={"field": field})
    return text


def check_dedicated_agent(user: Any) -> Any:
    """A dedicated agent must be an active user who takes customer calls (agent, team lead, shift lead)."""
    if user is None:
        return None
    if not user.is_active or user.role not in DEDICATED_AGENT_ROLES:
        raise ValidationFailed(_("专属客服必须是在职的客服人员"),
                               details={"field": "dedicated_agent", "value": user.pk})
    return user


def _tags_by_name(names: Iterable[str]) -> list[Tag]:
    cleaned = []
    for raw in names:
        name = (raw or "").strip()
        if not name:
            continue
        if len(name) > 40:
            raise ValidationFailed(_("标签不能超过 40 个字符"), details={"field": "tags", "value": name})
        if name not in cleaned:
            cleaned.append(name)
    existing = {t.name: t for t in Tag.objects.filter(name__in=cleaned)}
    missing = [Tag(name=n) for n in cleaned if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=cleaned)}
    return [existing[n] for n in cleaned]


def customer_state(customer: Customer) -> dict[str, Any]:
    """The record's current state as plain data, for 409 details and API answers (no personal data)."""
    return {
        "id": customer.pk,
        "code": customer.code,
        "name": customer.name,
        "kind": customer.kind,
        "company": customer.company,
        "tier": customer.tier,
        "is_vip": customer.is_vip,
        "dedicated_agent_id": customer.dedicated_agent_id,
        "birthday": customer.birthday.isoformat() if customer.birthday else None,
        "notes": customer.notes,
        "tags": sorted(t.name for t in customer.tags.all()),
        "merged_into_id": customer.merged_into_id,
        "version": customer.version,
        "updated_at": customer.updated_at.isoformat() if customer.updated_at else None,
    }


def _lock(customer: Customer | int) -> Customer:
    pk = customer.pk if isinstance(customer, Customer) else customer
    try:
        return Customer.objects.select_for_update().get(pk=pk)
    except Customer.DoesNotExist:
        raise NotFound(_("客户不存在"), details={"customer_id": pk}) from None


def _check_version(locked: Customer, expected_version: int | None) -> None:
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(
            _("客户资料已被他人修改（当前版本 %(current)s，你提交的版本 %(expected)s），请刷新后重试")
            % {"current": locked.version, "expected": expected_version},
            code="stale_version",
            details={"expected_version": expected_version, "current": customer_state(locked)},
        )


def _check_not_merged(locked: Customer) -> None:
    if locked.merged_into_id is not None:
        raise Conflict(_("该客户已合并到其他客户，不能再修改"), code="customer_merged",
                       details={"merged_into_id": locked.merged_into_id})
    if locked.anonymised_at is not None:  # a tombstone takes no personal data again
        raise Conflict(_("该客户已匿名化，不能再修改"), code="customer_anonymised")


def _bump(locked: Customer) -> None:
    Customer.objects.filter(pk=locked.pk).update(version=F("version") + 1, updated_at=timezone.now())
    locked.refresh_from_db(fields=["version", "updated_at"])


def _generated_code(pk: int) -> str:
    code = f"K{pk:08d}"
    if Customer.objects.filter(code=code).exists():  # an imported code may have taken it
        code = f"K{pk:08d}-{uuid.uuid4().hex[:6]}"
    return code


def _add_contact(customer: Customer, contact: ContactInput) -> ContactPoint:
    value, normalized = clean_contact(contact.kind, contact.value)
    if ContactPoint.objects.filter(customer=customer, kind=contact.kind, normalized=normalized).exists():
        raise ValidationFailed(_("该客户已有相同的联系方式：%(value)s") % {"value": value},
                               code="duplicate_contact", details={"field": contact.kind, "value": value})
    has_primary = ContactPoint.objects.filter(customer=customer, kind=contact.kind, is_primary=True).exists()
    if contact.is_primary and has_primary:
        ContactPoint.objects.filter(customer=customer, kind=contact.kind).update(is_primary=False)
    return ContactPoint.objects.create(
        customer=customer, kind=contact.kind, value=value, normalized=normalized,
        label=_clean_text("label", contact.label, 40), is_primary=contact.is_primary or not has_primary,
    )


def _add_site(customer: Customer, site: SiteInput) -> Site:
    address = _clean_text("address", site.address, 300)
    if not address:
        raise ValidationFailed(_("详细地址不能为空"), details={"field": "address"})
    return Site.objects.create(
        customer=customer, address=address, province=_clean_text("province", site.province, 40),
        city=_clean_text("city", site.city, 40), label=_clean_text("label", site.label, 60),
    )


# --- create / update -------------------------------------------------------------------------------

def customer_create(*, actor: Any, name: str, code: str = "", kind: str = CustomerKind.PERSON,
                    company: str = "", tier: str = Tier.C, is_vip: bool = False, dedicated_agent: Any = None,
                    birthday: date | None = None, id_number: str = "", notes: str = "",
                    contacts: Sequence[ContactInput] = (), sites: Sequence[SiteInput] = (),
                    tags: Sequence[str] = ()) -> Customer:
    """Create a customer with its contacts, sites and tags. A blank code gets a generated one (K00000123).

    Raises ValidationFailed naming the field, Conflict (code "duplicate_code") if the code is taken.
    """
    _require(actor, CustomerRight.EDIT)
    fields = {
        "name": _clean_name(name),
        "kind": _clean_kind(kind),
        "company": _clean_text("company", company, 200),
        "tier": clean_tier(tier),
        "is_vip": bool(is_vip),
        "dedicated_agent": check_dedicated_agent(dedicated_agent),
        "birthday": check_birthday(birthday, today=timezone.localdate()),
        "id_number": clean_id_number(id_number),
        "notes": (notes or "").strip(),
    }
    code = _clean_code(code)
    with transaction.atomic():
        if code and Customer.objects.filter(code=code).exists():
            raise Conflict(_("客户编号 %(code)s 已存在") % {"code": code}, code="duplicate_code",
                           details={"field": "code", "value": code})
        try:
            with transaction.atomic():
                customer = Customer.objects.create(code=code or f"tmp-{uuid.uuid4().hex[:24]}", **fields)
        except IntegrityError:  # a concurrent create took the code between the check and the insert
            raise Conflict(_("客户编号 %(code)s 已存在") % {"code": code}, code="duplicate_code",
                           details={"field": "code", "value": code}) from None
        if not code:
            customer.code = _generated_code(customer.pk)
            customer.save(update_fields=["code"])
        for contact in contacts:
            _add_contact(customer, contact)
        for site in sites:
            _add_site(customer, site)
        if tags:
            customer.tags.set(_tags_by_name(tags))
        audit_record(actor=actor, action="customer.created", obj=customer,
                     summary=f"{customer.code} {customer.name}",
                     data={"contacts": len(contacts), "sites": len(sites)})
    return customer


def customer_update(*, actor: Any, customer: Customer, expected_version: int | None,
                    changes: CustomerChanges) -> Customer:
    """Apply `changes` to the customer. A stale `expected_version` raises Conflict (409, code "stale_version")
    with the current state in `details["current"]`; None skips the check (system updates only).

    Returns the updated customer (fresh instance) with its version incremented if anything changed.
    """
    _require(actor, CustomerRight.EDIT)
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise ValidationFailed(_("不能修改这些字段：%(fields)s") % {"fields": ", ".join(sorted(unknown))},
                               details={"fields": sorted(unknown)})
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "name":
            cleaned[field] = _clean_name(value)
        elif field == "kind":
            cleaned[field] = _clean_kind(value)
        elif field == "company":
            cleaned[field] = _clean_text("company", value, 200)
        elif field == "tier":
            cleaned[field] = clean_tier(value)
        elif field == "is_vip":
            cleaned[field] = bool(value)
        elif field == "dedicated_agent":
            cleaned[field] = check_dedicated_agent(value)
        elif field == "birthday":
            cleaned[field] = check_birthday(value, today=timezone.localdate())
        elif field == "id_number":
            cleaned[field] = clean_id_number(value)
        elif field == "notes":
            cleaned[field] = (value or "").strip()
    with transaction.atomic():
        locked = _lock(customer)
        _check_version(locked, expected_version)
        _check_not_merged(locked)
        changed: dict[str, Any] = {}
        for field, value in cleaned.items():
            attr = "dedicated_agent_id" if field == "dedicated_agent" else field
            old = getattr(locked, attr)
            new = value.pk if field == "dedicated_agent" and value is not None else value
            if old != new:
                setattr(locked, field, value)
                changed[field] = {"from": _audit_value(field, old), "to": _audit_value(field, new)}
        if "tags" in changes:
            new_tags = _tags_by_name(changes["tags"])
            old_names = sorted(t.name for t in locked.tags.all())
            if sorted(t.name for t in new_tags) != old_names:
                locked.tags.set(new_tags)
                changed["tags"] = {"from": old_names, "to": sorted(t.name for t in new_tags)}
        if changed:
            locked.version += 1
            locked.save()
            audit_record(actor=actor, action="customer.updated", obj=locked,
                         summary=_("修改了：%(fields)s") % {"fields": ", ".join(changed)},
                         data={"changes": changed})
            if {"tier", "is_vip"} & set(changed):
                # Tier and VIP choose SLA policies: the customer's open orders are re-targeted.
                from kefu.tickets.sla import sla_customer_changed

                sla_customer_changed(customer=locked, at=timezone.now())
    return locked


def _audit_value(field: str, value: Any) -> Any:
    if field in _PERSONAL_FIELDS:
        return "***" if value else ""
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- contacts, sites -------------------------------------------------------------------------------

def customer_add_contact(*, actor: Any, customer: Customer, contact: ContactInput,
                         expected_version: int | None = None) -> ContactPoint:
    """Add a phone / e-mail / WeChat id. Phones are stored as digits (mainland mobiles validated), e-mail
    lower-cased; the same contact twice on one customer is refused (code "duplicate_contact")."""
    _require(actor, CustomerRight.EDIT)
    with transaction.atomic():
        locked = _lock(customer)
        _check_version(locked, expected_version)
        _check_not_merged(locked)
        point = _add_contact(locked, contact)
        _bump(locked)
        audit_record(actor=actor, action="customer.contact_added", obj=locked,
                     summary=_("添加联系方式：%(kind)s") % {"kind": point.get_kind_display()},
                     data={"contact_id": point.pk, "kind": point.kind})
    return point


def customer_remove_contact(*, actor: Any, contact: ContactPoint,
                            expected_version: int | None = None) -> None:
    """Remove a contact point. If it was the primary of its kind, the oldest remaining one becomes primary."""
    _require(actor, CustomerRight.EDIT)
    with transaction.atomic():
        locked = _lock(contact.customer_id)
        _check_version(locked, expected_version)
        _check_not_merged(locked)
        point = ContactPoint.objects.filter(pk=contact.pk, customer=locked).first()
        if point is None:
            raise NotFound(_("联系方式不存在"), details={"contact_id": contact.pk})
        point.delete()
        if point.is_primary:
            successor = ContactPoint.objects.filter(customer=locked, kind=point.kind).order_by("id").first()
            if successor is not None:
                ContactPoint.objects.filter(pk=successor.pk).update(is_primary=True)
        _bump(locked)
        audit_record(actor=actor, action="customer.contact_removed", obj=locked,
                     summary=_("删除联系方式：%(kind)s") % {"kind": point.get_kind_display()},
                     data={"contact_id": contact.pk, "kind": point.kind})


def customer_add_site(*, actor: Any, customer: Customer, site: SiteInput) -> Site:
    """Add an address / site (home, shop, project site) to the customer."""
    _require(actor, CustomerRight.EDIT)
    with transaction.atomic():
        locked = _lock(customer)
        _check_not_merged(locked)
        created = _add_site(locked, site)
        _bump(locked)
        audit_record(actor=actor, action="customer.site_added", obj=locked, summary=str(created),
                     data={"site_id": created.pk})
    return created


def customer_update_site(*, actor: Any, site: Site, data: SiteInput) -> Site:
    _require(actor, CustomerRight.EDIT)
    address = _clean_text("address", data.address, 300)
    if not address:
        raise ValidationFailed(_("详细地址不能为空"), details={"field": "address"})
    with transaction.atomic():
        locked = _lock(site.customer_id)
        _check_not_merged(locked)
        row = Site.objects.select_for_update().filter(pk=site.pk, customer=locked).first()
        if row is None:
            raise NotFound(_("地址不存在"), details={"site_id": site.pk})
        row.address = address
        row.province = _clean_text("province", data.province, 40)
        row.city = _clean_text("city", data.city, 40)
        row.label = _clean_text("label", data.label, 60)
        row.save()
        _bump(locked)
        audit_record(actor=actor, action="customer.site_updated", obj=locked, summary=str(row),
                     data={"site_id": row.pk})
    return row


def customer_remove_site(*, actor: Any, site: Site) -> None:
    _require(actor, CustomerRight.EDIT)
    with transaction.atomic():
        locked = _lock(site.customer_id)
        _check_not_merged(locked)
        deleted, _rows = Site.objects.filter(pk=site.pk, customer=locked).delete()
        if not deleted:
            raise NotFound(_("地址不存在"), details={"site_id": site.pk})
        _bump(locked)
        audit_record(actor=actor, action="customer.site_removed", obj=locked, summary=str(site),
                     data={"site_id": site.pk})


def customer_set_tags(*, actor: Any, customer: Customer, tags: Sequence[str],
                      expected_version: int | None = None) -> Customer:
    """Replace the customer's tags by name (new tag names are created)."""
    return customer_update(actor=actor, customer=customer, expected_version=expected_version,
                           changes={"tags": list(tags)})


# --- merge -----------------------------------------------------------------------------------------

def customer_merge(*, actor: Any, target: Customer, duplicates: Sequence[Customer]) -> Customer:
    """Merge `duplicates` into `target`: contacts (deduplicated), sites, tags, work orders and everything the
    registered MERGE_HOOKS re-point move to the target; blank fields of the target are filled from the
    duplicates, the stronger tier and VIP flag are kept; each duplicate is marked `merged_into=target`.

    Refused (Conflict): merging a customer into itself, into a merged customer, or a customer already merged.
    Audit: one "customer.merged" row per duplicate and one "customer.merge_target" row on the target.
    """
    _require(actor, CustomerRight.MERGE)
    dup_ids = sorted({d.pk for d in duplicates})
    if not dup_ids:
        raise ValidationFailed(_("请选择要合并的重复客户"), details={"field": "duplicates"})
    if target.pk in dup_ids:
        raise Conflict(_("不能把客户合并到它自己"), code="merge_into_self",
                       details={"customer_id": target.pk})
    with transaction.atomic():
        # Lock in id order so two merges touching the same customers cannot deadlock.
        locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[target.pk, *dup_ids])
                  .order_by("pk")}
        missing = [pk for pk in [target.pk, *dup_ids] if pk not in locked]
        if missing:
            raise NotFound(_("客户不存在"), details={"customer_ids": missing})
        into = locked[target.pk]
        if into.merged_into_id is not None:
            raise Conflict(_("目标客户已合并到其他客户，不能作为合并目标"), code="merge_into_merged",
                           details={"customer_id": into.pk, "merged_into_id": into.merged_into_id})
        if into.anonymised_at is not None:  # a tombstone takes no personal data again
            raise Conflict(_("该客户已匿名化，不能作为合并目标"), code="customer_anonymised",
                           details={"customer_id": into.pk})
        dups = [locked[pk] for pk in dup_ids]
        already = [d.pk for d in dups if d.merged_into_id is not None]
        if already:
            raise Conflict(_("客户已被合并过：%(ids)s") % {"ids": ", ".join(map(str, already))},
                           code="already_merged", details={"customer_ids": already})

        moved = {"contacts": _merge_contacts(into, dup_ids), "sites": _merge_sites(into, dup_ids),
                 "tags": _merge_tags(into, dup_ids)}
        context = MergeContext(actor=actor, target=into, duplicate_ids=dup_ids)
        for hook in MERGE_HOOKS:
            moved.update(hook(context) or {})
        _merge_fields(into, dups)
        # Customers merged earlier into a duplicate now point straight at the target (no chains).
        Customer.objects.filter(merged_into_id__in=dup_ids).update(merged_into=into)
        Customer.objects.filter(pk__in=dup_ids).update(merged_into=into, version=F("version") + 1,
                                                        updated_at=timezone.now())
        into.version += 1
        into.save()
        for dup in dups:
            audit_record(actor=actor, action="customer.merged", obj=dup,
                         summary=_("合并到 %(code)s %(name)s") % {"code": into.code, "name": into.name},
                         data={"target_id": into.pk, "target_code": into.code})
        audit_record(actor=actor, action="customer.merge_target", obj=into,
                     summary=_("合并了 %(n)s 个重复客户") % {"n": len(dups)},
                     data={"duplicate_ids": dup_ids, "duplicate_codes": [d.code for d in dups],
                           "moved": moved})
        # The merged record may have a stronger tier or the VIP flag, and it now owns the duplicates' orders.
        from kefu.tickets.sla import sla_customer_changed

        sla_customer_changed(customer=into, at=timezone.now())
    return into


def _merge_contacts(into: Customer, dup_ids: list[int]) -> int:
    have = set(ContactPoint.objects.filter(customer=into).values_list("kind", "normalized"))
    primary_kinds = set(ContactPoint.objects.filter(customer=into, is_primary=True)
                        .values_list("kind", flat=True))
    move, drop = [], []
    for point in ContactPoint.objects.filter(customer_id__in=dup_ids).order_by("-is_primary", "id"):
        key = (point.kind, point.normalized)
        if key in have:
            drop.append(point.pk)
            continue
        have.add(key)
        point.customer = into
        point.is_primary = point.kind not in primary_kinds
        primary_kinds.add(point.kind)
        move.append(point)
    ContactPoint.objects.filter(pk__in=drop).delete()
    ContactPoint.objects.bulk_update(move, ["customer", "is_primary"])
    return len(move)


def _merge_sites(into: Customer, dup_ids: list[int]) -> int:
    def key(s: Site) -> tuple[str, str, str]:
        return (s.province.strip(), s.city.strip(), "".join(s.address.split()))

    have = {key(s) for s in Site.objects.filter(customer=into)}
    move, drop = [], []
    for site in Site.objects.filter(customer_id__in=dup_ids).order_by("id"):
        if key(site) in have:
            drop.append(site.pk)
            continue
        have.add(key(site))
        site.customer = into
        move.append(site)
    Site.objects.filter(pk__in=drop).delete()
    Site.objects.bulk_update(move, ["customer"])
    return len(move)


def _merge_tags(into: Customer, dup_ids: list[int]) -> int:
    through = Customer.tags.through
    have = set(through.objects.filter(customer_id=into.pk).values_list("tag_id", flat=True))
    new = set(through.objects.filter(customer_id__in=dup_ids).values_list("tag_id", flat=True)) - have
    through.objects.bulk_create([through(customer_id=into.pk, tag_id=t) for t in sorted(new)])
    return len(new)


def _merge_fields(into: Customer, dups: list[Customer]) -> None:
    for dup in dups:
        for field in ("company", "id_number"):
            if not getattr(into, field) and getattr(dup, field):
                setattr(into, field, getattr(dup, field))
        if into.birthday is None and dup.birthday is not None:
            into.birthday = dup.birthday
        if into.dedicated_agent_id is None and dup.dedicated_agent_id is not None:
            into.dedicated_agent_id = dup.dedicated_agent_id
        if _TIER_RANK[Tier(dup.tier)] < _TIER_RANK[Tier(into.tier)]:
            into.tier = dup.tier
        into.is_vip = into.is_vip or dup.is_vip
        if dup.notes.strip() and dup.notes.strip() not in into.notes:
            into.notes = (into.notes.rstrip() + "\n" if into.notes.strip() else "") + \
                f"[{dup.code}] {dup.notes.strip()}"



@transaction.atomic
def dedicated_customers_set(*, actor: Any, agent: Any, customers: Sequence[Customer]) -> tuple[int, int]:
    """Make `agent` the dedicated agent (专属客服) of exactly `customers`: those given get them, those they had
    and are not given lose them. Each changed record gets a version bump and an audit row → (added, removed)."""
    _require(actor, CustomerRight.EDIT)
    check_dedicated_agent(agent)
    wanted = {c.pk for c in customers}
    current = set(Customer.objects.filter(dedicated_agent=agent).values_list("pk", flat=True))
    added, removed = wanted - current, current - wanted
    for pk, value in [(pk, agent) for pk in sorted(added)] + [(pk, None) for pk in sorted(removed)]:
        locked = _lock(pk)
        _check_not_merged(locked)
        before = locked.dedicated_agent_id
        locked.dedicated_agent = value
        locked.save(update_fields=["dedicated_agent"])
        _bump(locked)
        audit_record(actor=actor, action="customer.dedicated_agent", obj=locked, summary=locked.name,
                     data={"from": before, "to": value.pk if value else None})
    return len(added), len(removed)


# --- consent per contact channel (联系许可) -----------------------------------------------------------------

@dataclass(frozen=True)
class ConsentInput:
    """The customer's answer for `purpose` on one contact: True granted, False refused, None not recorded
    (the purpose's default holds again)."""

    contact_id: int
    purpose: str
    granted: bool | None


def _check_consent_inputs(customer: Customer, consents: Sequence[ConsentInput]) -> dict[int, ContactPoint]:
    points = {p.pk: p for p in ContactPoint.objects.filter(customer=customer)}
    seen: set[tuple[int, str]] = set()
    for item in consents:
        point = points.get(item.contact_id) if isinstance(item.contact_id, int) else None
        if point is None:
            raise ValidationFailed(_("联系方式 %(id)s 不属于该客户") % {"id": item.contact_id},
                                   details={"field": "contact_id", "value": item.contact_id})
        purpose = PURPOSES.get(str(item.purpose))
        if purpose is None:
            raise ValidationFailed(_("未知的联系用途：%(p)s") % {"p": item.purpose},
                                   details={"field": "purpose", "value": str(item.purpose)[:40]})
        if point.kind not in purpose.kinds:
            raise ValidationFailed(
                _("“%(purpose)s”不适用于%(kind)s") % {"purpose": purpose.label, "kind": point.get_kind_display()},
                details={"field": "purpose", "value": purpose.key, "contact_id": point.pk})
        if item.granted is not None and not isinstance(item.granted, bool):
            raise ValidationFailed(_("同意与否只能是 是、否 或 未记录"), details={"field": "granted"})
        if (point.pk, purpose.key) in seen:
            raise ValidationFailed(_("同一联系方式的同一用途填写了两次"),
                                   details={"field": "purpose", "value": purpose.key, "contact_id": point.pk})
        seen.add((point.pk, purpose.key))
    return points


def customer_set_consents(*, actor: Any, customer: Customer, consents: Sequence[ConsentInput], source: str,
                          note: str = "") -> int:
    """Record the customer's consents and refusals per contact and purpose, with how they were given (`source`,
    a ConsentSource), who recorded them (the actor) and when (now). Answers equal to what is recorded are left
    as they are. One audit row "customer.consent_changed" listing each change (contact id, kind, purpose, from,
    to; never the contact's value). Returns the number of changes.

    ValidationFailed naming the field for a contact of another customer, an unknown purpose, a purpose that does
    not use that kind of contact, a purpose given twice, an unknown source or a note over 200 characters.
    """
    _require(actor, CustomerRight.EDIT_CONSENT)
    if source not in ConsentSource.values:
        raise ValidationFailed(_("请选择许可的来源"), details={"field": "source", "value": str(source)[:40]})
    note = _clean_text("note", note, 200)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(customer)
        _check_not_merged(locked)
        if locked.anonymised_at is not None:
            raise Conflict(_("该客户已匿名化，不能再记录联系许可"), code="customer_anonymised")
        points = _check_consent_inputs(locked, consents)
        existing = {(c.contact_id, c.purpose): c for c in ContactConsent.objects.filter(contact__customer=locked)}
        changes = []
        for item in consents:
            key = (item.contact_id, str(item.purpose))
            row = existing.get(key)
            before = None if row is None else row.granted
            if item.granted is None:
                if row is not None:
                    row.delete()
                    changes.append((item, before))
                continue
            if row is not None and row.granted == item.granted:
                continue
            ContactConsent.objects.update_or_create(
                contact_id=item.contact_id, purpose=key[1],
                defaults={"granted": item.granted, "source": source, "note": note,
                          "recorded_by": actor if getattr(actor, "is_authenticated", False) else None,
                          "recorded_at": now})
            changes.append((item, before))
        if changes:
            audit_record(actor=actor, action="customer.consent_changed", obj=locked,
                         summary=_("更新联系许可 %(n)s 项（%(source)s）")
                         % {"n": len(changes), "source": ConsentSource(source).label},
                         data={"source": source, "note": note, "changes": [
                             {"contact_id": item.contact_id, "kind": points[item.contact_id].kind,
                              "purpose": str(item.purpose), "from": before, "to": item.granted}
                             for item, before in changes]})
    return len(changes)
