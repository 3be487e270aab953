"""Articles for tests, made through the services (so versions, vectors and the index follow as in use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kefu.knowledge.choices import Language, Visibility
from kefu.knowledge.models import Article, Category
from kefu.knowledge.services.articles import ArticleData, article_create, article_publish


def make_category(name: str = "账户与登录", slug: str | None = None, **fields: Any) -> Category:
    slug = slug or f"c{Category.objects.count() + 1}"
    return Category.objects.create(name=name, slug=slug, **fields)


def make_article(*, actor: Any, title: str, body: str, questions: Sequence[str] = (), language: str = Language.ZH,
                 publish: bool = True, visibility: str = Visibility.PUBLIC, category: Category | None = None,
                 department_id: int | None = None, spoken: str = "", tags: Sequence[str] = ()) -> Article:
    """An article written (and by default published) by `actor`, who needs the editing and publishing rights
    (a QA inspector or a manager has both)."""
    article = article_create(actor=actor, data=ArticleData(
        title=title, body=body, language=language, questions=list(questions), spoken=spoken, tags=list(tags),
        category_id=category.pk if category else None, department_id=department_id, visibility=visibility))
    if publish:
        article = article_publish(actor=actor, article=article)
    return article
