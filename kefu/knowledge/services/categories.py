"""Categories of the knowledge base (the shelves of the portal and the filters of the list): create, edit,
reorder, delete — refused while a category still holds articles or sub-categories."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, ValidationFailed
from kefu.knowledge.models import Article, Category
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import require

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


@dataclass(frozen=True, slots=True)
class CategoryData:
    name: str
    slug: str
    name_en: str = ""
    description: str = ""
    parent_id: int | None = None
    position: int = 0
    is_public: bool = True


def _clean(data: CategoryData, current: Category | None) -> CategoryData:
    name = " ".join((data.name or "").split())
    if not name:
        raise ValidationFailed(_("请填写分类名称"), details={"field": "name"})
    if len(name) > 60:
        raise ValidationFailed(_("分类名称最多 60 个字"), details={"field": "name"})
    name_en = " ".join((data.name_en or "").split())
    if len(name_en) > 60:
        raise ValidationFailed(_("英文名称最多 60 个字"), details={"field": "name_en"})
    slug = (data.slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(_("网址标识只能由小写字母、数字和 - 组成，最多 60 个字符"), details={"field": "slug"})
    clash = Category.objects.filter(slug=slug)
    if current is not None:
        clash = clash.exclude(pk=current.pk)
    if clash.exists():
        raise Conflict(_("网址标识“%(s)s”已被使用") % {"s": slug}, details={"field": "slug"})
    description = " ".join((data.description or "").split())
    if len(description) > 200:
        raise ValidationFailed(_("说明最多 200 个字"), details={"field": "description"})
    if not 0 <= int(data.position) <= 32767:
        raise ValidationFailed(_("排序须在 0 到 32767 之间"), details={"field": "position"})
    if data.parent_id is not None:
        parent = Category.objects.filter(pk=data.parent_id).first()
        if parent is None:
            raise ValidationFailed(_("上级分类不存在"), details={"field": "parent"})
        seen: set[int] = set()
        walker: Category | None = parent
        while walker is not None and walker.pk not in seen:  # no category may sit under itself
            if current is not None and walker.pk == current.pk:
                raise ValidationFailed(_("不能把分类放到它自己或它的下级分类下"), details={"field": "parent"})
            seen.add(walker.pk)
            walker = walker.parent
    return CategoryData(name=name, slug=slug, name_en=name_en, description=description, parent_id=data.parent_id,
                        position=int(data.position), is_public=bool(data.is_public))


def _fields(data: CategoryData) -> dict[str, Any]:
    return {"name": data.name, "slug": data.slug, "name_en": data.name_en, "description": data.description,
            "parent_id": data.parent_id, "position": data.position, "is_public": data.is_public}


@transaction.atomic
def category_create(*, actor: Any, data: CategoryData) -> Category:
    require(actor, KnowledgeRight.PUBLISH)
    data = _clean(data, None)
    category = Category.objects.create(**_fields(data))
    audit_record(actor=person(actor), action="kb_category.created", obj=category, summary=category.name)
    return category


@transaction.atomic
def category_update(*, actor: Any, category: Category, data: CategoryData,
                    expected_version: int | None = None) -> Category:
    require(actor, KnowledgeRight.PUBLISH)
    locked = Category.objects.select_for_update().filter(pk=category.pk).first()
    if locked is None:
        raise NotFound(_("分类不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("这个分类已被他人修改，请刷新后再保存"), details={"field": "version"})
    data = _clean(data, locked)
    before = {"name": locked.name, "slug": locked.slug, "parent_id": locked.parent_id,
              "position": locked.position, "is_public": locked.is_public}
    for name, value in _fields(data).items():
        setattr(locked, name, value)
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="kb_category.updated", obj=locked, summary=locked.name,
                 data={"before": before})
    _touch_served(locked)
    return locked


def _touch_served(category: Category) -> None:
    """A category's portal visibility is part of what is served: let the index follow."""
    from kefu.knowledge.index import index_changed

    if Article.objects.filter(category=category, published__isnull=False).exists():
        index_changed()


@transaction.atomic
def category_move(*, actor: Any, category: Category, step: int) -> Category:
    """Move a category one place up (step -1) or down (+1) among its siblings, renumbering them 10, 20, …"""
    require(actor, KnowledgeRight.PUBLISH)
    if step not in (-1, 1):
        raise ValidationFailed(_("移动方向无效"), details={"field": "step"})
    siblings = list(Category.objects.select_for_update().filter(parent_id=category.parent_id)
                    .order_by("position", "name", "id"))
    index = next((i for i, c in enumerate(siblings) if c.pk == category.pk), None)
    if index is None:
        raise NotFound(_("分类不存在"))
    target = index + step
    if 0 <= target < len(siblings):
        siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, sibling in enumerate(siblings, start=1):
        if sibling.position != position * 10:
            Category.objects.filter(pk=sibling.pk).update(position=position * 10, version=F("version") + 1)
    audit_record(actor=person(actor), action="kb_category.moved", obj=category, summary=category.name,
                 data={"step": step})
    return Category.objects.get(pk=category.pk)


@transaction.atomic
def category_delete(*, actor: Any, category: Category) -> None:
    """Delete an empty category; one that holds articles or sub-categories is refused (move them first)."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = Category.objects.select_for_update().filter(pk=category.pk).first()
    if locked is None:
        raise NotFound(_("分类不存在"))
    articles = Article.objects.filter(category=locked).count()
    if articles:
        raise Conflict(_("分类“%(c)s”下还有 %(n)s 篇文章，请先移走") % {"c": locked.name, "n": articles},
                       details={"field": "category"})
    if Category.objects.filter(parent=locked).exists():
        raise Conflict(_("分类“%(c)s”下还有子分类，请先移走或删除") % {"c": locked.name}, details={"field": "category"})
    audit_record(actor=person(actor), action="kb_category.deleted", obj=locked, summary=locked.name)
    locked.delete()
