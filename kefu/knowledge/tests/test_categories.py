"""Knowledge categories: the generic create / edit / delete / permission tests of a configurable model, the
refusals (still holding articles or sub-categories, a cycle), reordering, and the admin page."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from kefu.core.audit import AuditLog
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.knowledge.models import Category
from kefu.knowledge.services.categories import (
    CategoryData,
    category_create,
    category_delete,
    category_move,
    category_update,
)
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db


class ConfigurableModelContract:
    """What every configurable model's services promise: the right holders create, edit and delete (each in the
    audit log), everybody else is refused (the outsider too), bad input names its field and writes nothing."""

    model: ClassVar[Any]
    allowed: ClassVar[tuple[str, ...]]
    refused: ClassVar[tuple[str, ...]]
    audit_prefix: ClassVar[str]

    def valid(self, n: int = 1) -> Any:
        raise NotImplementedError

    def invalid(self) -> list[tuple[Any, str]]:
        raise NotImplementedError

    def create(self, actor: Any, data: Any) -> Any:
        raise NotImplementedError

    def update(self, actor: Any, obj: Any, data: Any) -> Any:
        raise NotImplementedError

    def delete(self, actor: Any, obj: Any) -> None:
        raise NotImplementedError

    def test_create_edit_delete_by_right_holders(self, request: Any) -> None:
        for i, name in enumerate(self.allowed):
            actor = request.getfixturevalue(name)
            obj = self.create(actor, self.valid(i * 10 + 1))
            obj = self.update(actor, obj, self.valid(i * 10 + 2))
            self.delete(actor, obj)
            assert not self.model.objects.filter(pk=obj.pk).exists()
        actions = set(AuditLog.objects.filter(action__startswith=self.audit_prefix).values_list("action", flat=True))
        assert {f"{self.audit_prefix}created", f"{self.audit_prefix}updated", f"{self.audit_prefix}deleted"} <= actions

    def test_others_are_refused(self, request: Any) -> None:
        owner = request.getfixturevalue(self.allowed[0])
        obj = self.create(owner, self.valid(90))
        for name in self.refused:
            actor = request.getfixturevalue(name)
            with pytest.raises(PermissionDenied):
                self.create(actor, self.valid(91))
            with pytest.raises(PermissionDenied):
                self.update(actor, obj, self.valid(92))
            with pytest.raises(PermissionDenied):
                self.delete(actor, obj)
        assert self.model.objects.count() == 1

    def test_bad_input_names_the_field(self, request: Any) -> None:
        actor = request.getfixturevalue(self.allowed[0])
        for data, field in self.invalid():
            with pytest.raises((ValidationFailed, Conflict)) as caught:
                self.create(actor, data)
            assert caught.value.details.get("field") == field, (data, caught.value.details)
        assert not self.model.objects.exists()


class TestCategoryContract(ConfigurableModelContract):
    model = Category
    allowed = ("qa", "manager", "admin_user")
    refused = ("agent", "team_lead", "department_user", "other_agent")
    audit_prefix = "kb_category."

    def valid(self, n: int = 1) -> CategoryData:
        return CategoryData(name=f"分类{n}", slug=f"cat-{n}", name_en=f"Shelf {n}", position=n)

    def invalid(self) -> list[tuple[CategoryData, str]]:
        return [(CategoryData(name="", slug="ok"), "name"), (CategoryData(name="名" * 61, slug="ok"), "name"),
                (CategoryData(name="好", slug="Not OK"), "slug"), (CategoryData(name="好", slug=""), "slug"),
                (CategoryData(name="好", slug="ok", parent_id=999999), "parent"),
                (CategoryData(name="好", slug="ok", position=-1), "position"),
                (CategoryData(name="好", slug="ok", name_en="x" * 61), "name_en")]

    def create(self, actor: Any, data: Any) -> Any:
        return category_create(actor=actor, data=data)

    def update(self, actor: Any, obj: Any, data: Any) -> Any:
        return category_update(actor=actor, category=obj, data=data)

    def delete(self, actor: Any, obj: Any) -> None:
        category_delete(actor=actor, category=obj)


class TestCategoryRules:
    def test_delete_refused_while_it_holds_articles_or_children(self, qa: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
        shelf = category_create(actor=qa, data=CategoryData(name="售后", slug="after"))
        child = category_create(actor=qa, data=CategoryData(name="退货", slug="returns", parent_id=shelf.pk))
        with pytest.raises(Conflict, match="子分类"):
            category_delete(actor=qa, category=shelf)
        with django_capture_on_commit_callbacks(execute=True):
            make_article(actor=qa, title="退货流程", body="七天", questions=["怎么退"], category=child)
        with pytest.raises(Conflict, match="1 篇文章"):
            category_delete(actor=qa, category=child)

    def test_no_cycles_and_slug_unique(self, qa: Any) -> None:
        top = category_create(actor=qa, data=CategoryData(name="顶", slug="top"))
        below = category_create(actor=qa, data=CategoryData(name="下", slug="below", parent_id=top.pk))
        with pytest.raises(ValidationFailed) as caught:
            category_update(actor=qa, category=top, data=CategoryData(name="顶", slug="top", parent_id=below.pk))
        assert caught.value.details["field"] == "parent"
        with pytest.raises(Conflict) as clash:
            category_create(actor=qa, data=CategoryData(name="重复", slug="top"))
        assert clash.value.details["field"] == "slug"

    def test_stale_edit_is_a_conflict(self, qa: Any, manager: Any) -> None:
        shelf = category_create(actor=qa, data=CategoryData(name="账户", slug="acct"))
        category_update(actor=manager, category=shelf, data=CategoryData(name="账户与登录", slug="acct"),
                        expected_version=1)
        with pytest.raises(Conflict):
            category_update(actor=qa, category=shelf, data=CategoryData(name="账户", slug="acct"), expected_version=1)

    def test_move_up_and_down(self, qa: Any) -> None:
        a, b, c = (category_create(actor=qa, data=CategoryData(name=n, slug=s, position=p))
                   for n, s, p in (("甲", "a", 1), ("乙", "b", 2), ("丙", "c", 3)))
        category_move(actor=qa, category=c, step=-1)
        assert list(Category.objects.order_by("position").values_list("name", flat=True)) == ["甲", "丙", "乙"]
        category_move(actor=qa, category=a, step=-1)  # already first: stays
        assert Category.objects.order_by("position").first() == a
        with pytest.raises(ValidationFailed):
            category_move(actor=qa, category=b, step=5)


class TestCategoryPage:
    def test_create_edit_move_delete(self, login: Any, qa: Any) -> None:
        client = login(qa)
        response = client.post("/kb/categories/", {"name": "账户与登录", "name_en": "Account", "slug": "account",
                                                   "position": "10", "is_public": "on"})
        assert response.status_code == 302
        shelf = Category.objects.get()
        assert shelf.is_public
        assert shelf.name_en == "Account"
        response = client.post(f"/kb/categories/{shelf.pk}/", {"name": "账户", "slug": "account",
                                                                "version": shelf.version})
        assert response.status_code == 302
        assert not Category.objects.get().is_public
        assert client.post(f"/kb/categories/{shelf.pk}/move/", {"step": "up"}).status_code == 302
        assert "账户" in client.get("/kb/categories/").content.decode()
        client.post(f"/kb/categories/{shelf.pk}/delete/")
        assert not Category.objects.exists()

    @pytest.mark.parametrize(("data", "label"), [
        ({"name": "", "slug": "x"}, "名称"), ({"name": "好", "slug": "坏 的"}, "网址标识"),
        ({"name": "好", "slug": "ok", "position": "abc"}, "排序"), ({"name": "好", "slug": "ok", "parent": "99999"},
                                                                      "上级分类不存在"),
    ])
    def test_bad_input(self, login: Any, qa: Any, data: dict[str, str], label: str) -> None:
        response = login(qa).post("/kb/categories/", data)
        assert response.status_code in (409, 422)
        assert label in response.content.decode()
        assert not Category.objects.exists()

    def test_rights(self, login: Any, agent: Any, team_lead: Any, department_user: Any) -> None:
        for user in (agent, team_lead, department_user):
            assert login(user).get("/kb/categories/").status_code == 403
