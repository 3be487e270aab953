"""Closing a knowledge gap by giving its question to an existing article as one more example question: a new
draft version of the article (through article_update) and the gap marked answered, in one transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.core.errors import ValidationFailed
from kefu.knowledge.models import Article, ExampleQuestion, Gap
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import ArticleData, article_update, require
from kefu.knowledge.services.insight import gap_resolve


@transaction.atomic
def gap_add_question(*, actor: Any, gap: Gap, article: Article | None) -> Gap:
    """`gap`'s question added to `article`'s example questions (a new draft version, to be reviewed and
    published as any edit) and the gap answered by it."""
    require(actor, KnowledgeRight.INSIGHT)
    if article is None:
        raise ValidationFailed(_("请选择文章"), details={"field": "article"})
    latest = article.latest
    if latest is None:
        raise ValidationFailed(_("这篇文章还没有内容"), details={"field": "article"})
    questions = list(ExampleQuestion.objects.filter(version=latest).order_by("position", "id")
                     .values_list("text", flat=True))
    article_update(actor=actor, article=article, expected_version=None, data=ArticleData(
        title=latest.title, body=latest.body, language=article.language, questions=[*questions, gap.question],
        spoken=latest.spoken, tags=list(latest.tags), category_id=article.category_id,
        department_id=article.department_id, visibility=article.visibility,
        note=_("加为相似问法：%(q)s") % {"q": gap.question[:80]}))
    return gap_resolve(actor=actor, gap=gap, article=article)
