"""The work-order catalogue administrators keep: categories (two levels, each with a default department and a
default SLA policy) and the settings of the six fixed types (the same two defaults). A category's defaults come
before its type's; the SLA policy then replaces the matching rules (kefu.tickets.sla.sla_policy_for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.core.versions import CATALOG, bump_after_commit
from kefu.tickets.choices import TicketType
from kefu.tickets.models import Category, SlaPolicy, TicketTypeSetting
from kefu.tickets.permissions import TicketRight

NAME_MAX = 100


def _require(actor: Any) -> None:
    if not has_right(actor, TicketRight.CATEGORY_MANAGE):
        raise PermissionDenied(_("您没有权限管理工单分类"))


@dataclass(frozen=True)
class CategoryData:
    name: str
    name_en: str = ""
    ticket_type: str = ""  # "" for every type
    parent: Category | None = None
    default_department: Any = None
    default_sla_policy: SlaPolicy | None = None
    is_active: bool = True
    sort_order: int = 0


def _clean_category(data: CategoryData, *, instance: Category | None) -> dict[str, Any]:
    pk = getattr(instance, "pk", None)
    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(_("分类名称不能为空，且不超过 %(n)s 个字符") % {"n": NAME_MAX},
                               details={"field": "name"})
    name_en = (data.name_en or "").strip()
    if len(name_en) > NAME_MAX:
        raise ValidationFailed(_("英文名称不能超过 %(n)s 个字符") % {"n": NAME_MAX}, details={"field": "name_en"})
    if data.ticket_type and data.ticket_type not in TicketType.values:
        raise ValidationFailed(_("未知的工单类型"), details={"field": "ticket_type"})
    parent = data.parent
    if parent is not None:
        if parent.parent_id is not None:
            raise ValidationFailed(_("分类最多两级：上级分类本身不能有上级"), details={"field": "parent"})
        if pk is not None and parent.pk == pk:
            raise ValidationFailed(_("分类不能是自己的上级"), details={"field": "parent"})
        if pk is not None and Category.objects.filter(parent_id=pk).exists():
            raise ValidationFailed(_("该分类下有子分类，不能再设上级"), details={"field": "parent"})
        if parent.ticket_type and data.ticket_type and parent.ticket_type != data.ticket_type:
            raise ValidationFailed(_("子分类的工单类型必须与上级一致"), details={"field": "ticket_type"})
    if Category.objects.filter(parent=parent, name=name).exclude(pk=pk).exists():
        raise ValidationFailed(_("同一级下已有名为“%(n)s”的分类") % {"n": name}, details={"field": "name"})
    department = data.default_department
    if department is not None and (department.is_service_center or not department.is_active):
        raise ValidationFailed(_("默认派单部门必须是接收派单的在用部门"), details={"field": "default_department"})
    if data.default_sla_policy is not None and not data.default_sla_policy.is_active:
        raise ValidationFailed(_("默认 SLA 策略已停用"), details={"field": "default_sla_policy"})
    order = data.sort_order
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 100000:
        raise ValidationFailed(_("排序必须是 0 到 100000 的整数"), details={"field": "sort_order"})
    return {"name": name, "name_en": name_en, "ticket_type": data.ticket_type or "", "parent": parent,
            "default_department": department, "default_sla_policy": data.default_sla_policy,
            "is_active": bool(data.is_active), "sort_order": order}


def _snapshot(category: Category) -> dict[str, Any]:
    return {"name": category.name, "name_en": category.name_en, "ticket_type": category.ticket_type,
            "parent": category.parent_id, "default_department": category.default_department_id,
            "default_sla_policy": category.default_sla_policy_id, "is_active": category.is_active,
            "sort_order": category.sort_order}


@transaction.atomic
def category_create(*, actor: Any, data: CategoryData) -> Category:
    _require(actor)
    category = Category.objects.create(**_clean_category(data, instance=None))
    bump_after_commit(CATALOG)
    audit_record(actor=actor, action="category.created", obj=category, summary=str(category),
                 data=_snapshot(category))
    return category


@transaction.atomic
def category_update(*, actor: Any, category: Category, data: CategoryData,
                    expected_version: int | None) -> Category:
    _require(actor)
    locked = Category.objects.select_for_update().filter(pk=category.pk).first()
    if locked is None:
        raise NotFound(_("分类不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("分类已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    before = _snapshot(locked)
    for name, value in _clean_category(data, instance=locked).items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    bump_after_commit(CATALOG)
    audit_record(actor=actor, action="category.updated", obj=locked, summary=str(locked),
                 data={"before": before, "after": _snapshot(locked)})
    return locked


@transaction.atomic
def type_setting_set(*, actor: Any, ticket_type: str, default_department: Any,
                     default_sla_policy: SlaPolicy | None, expected_version: int | None) -> TicketTypeSetting:
    """The defaults of one of the fixed types."""
    _require(actor)
    if ticket_type not in TicketType.values:
        raise ValidationFailed(_("未知的工单类型"), details={"field": "ticket_type"})
    if default_department is not None and (default_department.is_service_center or not default_department.is_active):
        raise ValidationFailed(_("默认派单部门必须是接收派单的在用部门"), details={"field": "default_department"})
    if default_sla_policy is not None and not default_sla_policy.is_active:
        raise ValidationFailed(_("默认 SLA 策略已停用"), details={"field": "default_sla_policy"})
    # a type never set reads as version 0 (the row is made here; a refusal below rolls it back)
    setting = TicketTypeSetting.objects.get_or_create(ticket_type=ticket_type, defaults={"version": 0})[0]
    setting = TicketTypeSetting.objects.select_for_update().get(pk=setting.pk)
    if expected_version is not None and setting.version != expected_version:
        raise Conflict(_("已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": setting.version},
                       code="stale_version", details={"current_version": setting.version})
    before = {"default_department": setting.default_department_id,
              "default_sla_policy": setting.default_sla_policy_id}
    setting.default_department, setting.default_sla_policy = default_department, default_sla_policy
    setting.version += 1
    setting.save()
    bump_after_commit(CATALOG)
    audit_record(actor=actor, action="ticket_type.updated", obj=setting, summary=ticket_type,
                 data={"before": before, "after": {"default_department": setting.default_department_id,
                                                   "default_sla_policy": setting.default_sla_policy_id}})
    return setting


# --- reads ------------------------------------------------------------------------------------------------


def defaults_for(*, ticket_type: str, category_id: int | None) -> tuple[Any, SlaPolicy | None]:
    """(default department, default SLA policy) of an order: its category's, else its type's (two queries at
    most)."""
    department = policy = None
    if category_id is not None:
        category = Category.objects.select_related("default_department", "default_sla_policy__calendar",
                                                   "parent__default_department",
                                                   "parent__default_sla_policy__calendar").filter(
            pk=category_id).first()
        for level in (category, category.parent if category else None):
            if level is None:
                continue
            department = department or level.default_department
            if policy is None and level.default_sla_policy is not None and level.default_sla_policy.is_active:
                policy = level.default_sla_policy
    if department is None or policy is None:
        department_id, policy_id = _type_defaults().get(ticket_type, (None, None))
        if department is None and department_id is not None:
            from kefu.accounts.models import Department

            department = Department.objects.filter(pk=department_id).first()
        if policy is None and policy_id is not None:
            policy = SlaPolicy.objects.select_related("calendar").filter(pk=policy_id, is_active=True).first()
    return department, policy


def default_department_id(*, ticket_type: str, category_id: int | None) -> int | None:
    """The department the dispatch form preselects for an order: its category's (or the parent category's), else
    its type's. From the cache: no query while the catalogue is unchanged."""
    from django.core.cache import cache

    from kefu.core.versions import current

    key = f"kefu:category-departments:{current(CATALOG)}"
    by_category = cache.get(key)
    if by_category is None:
        rows = {pk: (parent, department) for pk, parent, department in Category.objects.values_list(
            "pk", "parent_id", "default_department_id")}
        by_category = {pk: department or (rows.get(parent, (None, None))[1] if parent else None)
                       for pk, (parent, department) in rows.items()}
        by_category = {pk: department for pk, department in by_category.items() if department}
        cache.set(key, by_category, 300)
    found = by_category.get(category_id) if category_id is not None else None
    return found or _type_defaults().get(ticket_type, (None, None))[0]


def _type_defaults() -> dict[str, tuple[int | None, int | None]]:
    """The six types' defaults by type, from the cache (read on every new order; changed rarely)."""
    from django.core.cache import cache

    from kefu.core.versions import current

    key = f"kefu:type-defaults:{current(CATALOG)}"
    found = cache.get(key)
    if found is None:
        found = {t: (d, p) for t, d, p in TicketTypeSetting.objects.values_list(
            "ticket_type", "default_department_id", "default_sla_policy_id")}
        cache.set(key, found, 300)
    return found  # type: ignore[no-any-return]
