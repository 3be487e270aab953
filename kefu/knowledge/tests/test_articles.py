"""Articles through their lifecycle: versions, review, publishing, the served index following."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.knowledge import index
from kefu.knowledge.choices import ArticleStatus, Language, Visibility
from kefu.knowledge.models import Article, ArticleVersion, ExampleQuestion
from kefu.knowledge.services.articles import (
    ArticleData,
    article_archive,
    article_create,
    article_delete,
    article_publish,
    article_restore,
    article_return,
    article_submit,
    article_update,
)
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db


def _data(**over: Any) -> ArticleData:
    fields: dict[str, Any] = {"title": "如何修改登录密码", "body": "在“我的-设置-账户安全”里修改。",
                              "questions": ["密码怎么改", "忘记密码了怎么办"], "language": Language.ZH}
    fields.update(over)
    return ArticleData(**fields)


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks: Any) -> Any:
    """What follows a commit (the index rebuilt, the threshold calibrated) happens as each service returns."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        yield callbacks


def test_an_edit_is_a_new_version_and_the_published_text_stays_served_until_approved(qa: Any) -> None:
    article = make_article(actor=qa, title="如何修改登录密码", body="旧答案", questions=["密码怎么改"])
    assert article.status == ArticleStatus.PUBLISHED
    assert article.published.number == 1
    edited = article_update(actor=qa, article=article, data=_data(body="新答案"), expected_version=article.version)
    assert edited.status == ArticleStatus.DRAFT
    assert edited.latest.number == 2
    assert edited.published.number == 1
    served = index.served("public")
    assert served.articles[article.pk].body == "旧答案"
    article_submit(actor=qa, article=edited)
    published = article_publish(actor=qa, article=edited)
    assert published.published.number == 2
    assert index.served("public").articles[article.pk].body == "新答案"
    # unchanged questions keep their stored vectors; every question has one
    assert all(len(bytes(q.vector)) == 384 * 4 for q in ExampleQuestion.objects.all())


def test_a_stale_edit_is_a_conflict_and_writes_nothing(qa: Any) -> None:
    article = article_create(actor=qa, data=_data())
    article_update(actor=qa, article=article, data=_data(body="第二版"), expected_version=article.version)
    with pytest.raises(Conflict):
        article_update(actor=qa, article=article, data=_data(body="过期"), expected_version=article.version)
    assert ArticleVersion.objects.filter(article=article).count() == 2


@pytest.mark.parametrize(("field", "over"), [
    ("title", {"title": "  "}), ("body", {"body": ""}), ("language", {"language": "fr"}),
    ("questions", {"questions": ["问" * 301]}), ("visibility", {"visibility": "secret"}),
    ("category", {"category_id": 999999}), ("tags", {"tags": ["标" * 31]}),
])
def test_bad_input_names_its_field_and_writes_nothing(qa: Any, field: str, over: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        article_create(actor=qa, data=_data(**over))
    assert caught.value.details["field"] == field
    assert not Article.objects.exists()


def test_review_returns_with_a_note_and_rights_are_checked(qa: Any, agent: Any, team_lead: Any) -> None:
    with pytest.raises(PermissionDenied):
        article_create(actor=agent, data=_data())
    article = article_create(actor=team_lead, data=_data())
    article = article_submit(actor=team_lead, article=article)
    with pytest.raises(PermissionDenied):
        article_publish(actor=team_lead, article=article)
    with pytest.raises(ValidationFailed):
        article_return(actor=qa, article=article, note="")
    returned = article_return(actor=qa, article=article, note="请补充办理时限")
    assert returned.status == ArticleStatus.DRAFT
    assert returned.review_note == "请补充办理时限"


def test_archived_and_internal_articles_are_not_served_to_customers(qa: Any) -> None:
    public = make_article(actor=qa, title="退货运费谁承担", body="七天无理由退货运费由买家承担。",
                          questions=["退货运费谁出"])
    internal = make_article(actor=qa, title="内部：退款审批流程", body="超过 500 元需组长审批。",
                            questions=["退款要谁审批"], visibility=Visibility.INTERNAL)
    assert set(index.served("public").articles) == {public.pk}
    assert set(index.served("staff").articles) == {public.pk, internal.pk}
    article_archive(actor=qa, article=public)
    assert public.pk not in index.served("public").articles


def test_restore_and_delete(qa: Any) -> None:
    article = article_create(actor=qa, data=_data(body="第一版答案"))
    article = article_update(actor=qa, article=article, data=_data(body="第二版答案"), expected_version=None)
    restored = article_restore(actor=qa, article=article, number=1)
    assert restored.latest.number == 3
    assert restored.latest.body == "第一版答案"
    article_delete(actor=qa, article=restored)
    assert not Article.objects.exists()
    published = make_article(actor=qa, title="发票怎么开", body="下单后在订单详情申请。", questions=["怎么开发票"])
    with pytest.raises(Conflict):
        article_delete(actor=qa, article=published)


@pytest.mark.django_db(transaction=True)
def test_a_big_knowledge_base_is_rebuilt_in_the_background_while_the_last_index_answers(
    qa: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "BACKGROUND_FROM", 1)  # every knowledge base counts as big
    article = make_article(actor=qa, title="如何修改登录密码", body="旧答案", questions=["密码怎么改"])
    first = index.served("public")
    assert first.articles[article.pk].body == "旧答案"
    edited = article_update(actor=qa, article=article, data=_data(body="新答案"), expected_version=article.version)
    article_submit(actor=qa, article=edited)
    article_publish(actor=qa, article=edited)
    assert index.served("public") is first  # nobody waits for the new index: the last one answers meanwhile
    index.settle()
    rebuilt = index.served("public")
    assert rebuilt is not first
    assert rebuilt.articles[article.pk].body == "新答案"


def test_a_busy_article_keeps_hundreds_of_example_questions() -> None:
    from kefu.knowledge.services.articles import QUESTIONS_MAX, clean_questions

    many = [f"第{k}种问法：活动怎么参加" for k in range(QUESTIONS_MAX)]
    assert clean_questions([*many, many[0].upper()]) == many  # repeats are dropped before counting
    assert QUESTIONS_MAX >= 500  # imports of chat history: CIC's busiest intent has 471 examples
    with pytest.raises(ValidationFailed) as failed:
        clean_questions([*many, "再多一种问法"], field_name="questions")
    assert failed.value.details == {"field": "questions"}
