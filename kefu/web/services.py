"""Writes owned by the workspace itself: interface language and saved list views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kefu.core.errors import NotFound, ValidationFailed
from kefu.tickets.models import SavedView
from kefu.web.selectors import forget_saved_views

SAVED_VIEWS_MAX = 50


@transaction.atomic
def user_set_language(*, actor: Any, language: str) -> None:
    """Remember the interface language on the user, so it follows them to any browser."""
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(_("不支持的语言"), details={"field": "language"})
    from kefu.accounts.models import User

    User.objects.filter(pk=actor.pk).update(language=language)
    actor.language = language


@transaction.atomic
def saved_view_create(*, actor: Any, name: str, query: str) -> SavedView:
    """Save the current list filters under a name; saving an existing name replaces its filters."""
    forget_saved_views(actor.pk)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("请填写视图名称"), details={"field": "name"})
    if len(name) > 60:
        raise ValidationFailed(_("视图名称不能超过 60 个字符"), details={"field": "name"})
    if len(query) > 1000:
        raise ValidationFailed(_("筛选条件过长"), details={"field": "query"})
    existing = SavedView.objects.select_for_update().filter(owner=actor, name=name).first()
    if existing is not None:
        existing.query = query
        existing.save(update_fields=["query", "updated_at"])
        return existing
    if SavedView.objects.filter(owner=actor).count() >= SAVED_VIEWS_MAX:
        raise ValidationFailed(_("最多保存 %(n)s 个视图") % {"n": SAVED_VIEWS_MAX}, details={"field": "name"})
    try:
        with transaction.atomic():
            return SavedView.objects.create(owner=actor, name=name, query=query)
    except IntegrityError:  # a concurrent save of the same name won
        raise ValidationFailed(_("已有同名视图"), details={"field": "name"}) from None


@transaction.atomic
def saved_view_delete(*, actor: Any, view_id: int) -> None:
    forget_saved_views(actor.pk)
    deleted, _rows = SavedView.objects.filter(owner=actor, pk=view_id).delete()
    if not deleted:
        raise NotFound(_("视图不存在"))
