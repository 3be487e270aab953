"""REST API of the knowledge base (/api/v1/kb/…): the served articles for staff tools, the answer bot for an app's or a
mini-program's own bot screen, and "did this help?" feedback. Articles are read as served (their published text);
drafts never leave the knowledge team's pages. docs/knowledge-import.md has examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import Id, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.knowledge.choices import AskChannel, Language
from kefu.knowledge.models import SERVED, Article, ExampleQuestion
from kefu.knowledge.permissions import KnowledgeRight

router = Router()


class ArticleRowOut(Schema):
    id: int
    title: str
    language: str = Field(description="zh-hans or en")
    category_id: int | None
    category: str = Field(description="The category's name in the article's language (\"\" when none)")
    visibility: str = Field(description="public (customers, the bot) or internal (staff only)")
    version: int = Field(description="The published version's number")
    published_at: datetime | None


class ArticleOut(ArticleRowOut):
    body: str = Field(description="The answer (plain text)")
    spoken: str = Field(description="The short version read to callers by the IVR (\"\" when none)")
    tags: list[str]
    questions: list[str] = Field(description="The example questions, in order")
    helpful_count: int
    unhelpful_count: int


class ArticlePage(Schema):
    items: list[ArticleRowOut]
    next: str | None = Field(description="The next page number, or null on the last page.")
    page: int
    page_size: int
    count: int


class ArticleFiltersIn(InSchema):
    language: Language | None = Field(None, description="zh-hans or en")
    category: Id | None = Field(None, description="A category's id (its sub-categories are not included)")
    q: str | None = Field(None, max_length=100, description="Words in the title, the answer or an example question")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class AskIn(InSchema):
    question: str = Field(min_length=1, max_length=500, description="The customer's question")
    language: Language | None = Field(None, description="zh-hans or en; omitted: detected from the question")


class SuggestionOut(Schema):
    article_id: int
    title: str
    score: float = Field(description="Confidence in [0, 1]")


class BotReplyOut(Schema):
    question: str = Field(description="The question as understood (spacing folded)")
    language: str = Field(description="The question's language")
    article_id: int | None = Field(description="The best article, even when handing over (null: nothing served)")
    title: str
    answer: str = Field(description="The best article's answer, even when `handoff` is true")
    spoken: str
    confidence: float = Field(description="In [0, 1]; the bot answers at or above its calibrated threshold")
    handoff: bool = Field(description="True: not confident enough (or the bot is switched off) — offer the "
                                      "suggestions and a person")
    suggestions: list[SuggestionOut] = Field(description="The three best public articles, best first")
    consultation_id: int | None = Field(description="Send it back with feedback on the answer")


class FeedbackIn(InSchema):
    helpful: bool
    comment: str = Field("", max_length=500)
    consultation_id: Id | None = Field(None, description="The `consultation_id` of the bot's reply, if any")


class FeedbackOut(Schema):
    id: int
    article_id: int
    helpful: bool


def served_articles(*, language: str | None = None, category_id: int | None = None, q: str = "") -> QuerySet[Article]:
    """The served articles (public and internal), newest first, filtered."""
    qs = Article.objects.filter(SERVED).select_related("published", "category")
    if language:
        qs = qs.filter(language=language)
    if category_id:
        qs = qs.filter(category_id=category_id)
    words = " ".join(q.split())
    if words:
        matching = ExampleQuestion.objects.filter(text__icontains=words).values("version_id")
        qs = qs.filter(Q(published__title__icontains=words) | Q(published__body__icontains=words)
                       | Q(published_id__in=matching))
    return qs.order_by("-published_at", "-id")


def _row(article: Article) -> dict[str, Any]:
    published = article.published
    return {"id": article.pk, "title": published.title if published else article.title,
            "language": article.language, "category_id": article.category_id,
            "category": article.category.label(article.language) if article.category else "",
            "visibility": article.visibility, "version": published.number if published else 0,
            "published_at": article.published_at}


def _served(article_id: int) -> Article:
    article = served_articles().filter(pk=article_id).first()
    if article is None:
        raise NotFound(_("文章不存在"), details={"article_id": article_id})
    return article


@router.get("/kb/articles", response=ArticlePage, summary="The served articles (public and internal)")
@requires(KnowledgeRight.VIEW)
def kb_article_list(request: HttpRequest, filters: Query[ArticleFiltersIn]) -> Any:
    from kefu.apiutils.pagination import number_page

    qs = served_articles(language=filters.language.value if filters.language else None,
                         category_id=filters.category, q=filters.q or "")
    return number_page(qs, page=filters.page, page_size=filters.page_size,
                       serialize=lambda rows: [_row(a) for a in rows])


@router.get("/kb/articles/{article_id}", response=ArticleOut, summary="One served article with its questions")
@requires(KnowledgeRight.VIEW)
def kb_article_detail(request: HttpRequest, article_id: PathId) -> Any:
    article = _served(article_id)
    published = article.published
    assert published is not None
    return {**_row(article), "body": published.body, "spoken": published.spoken,
            "tags": [str(t) for t in published.tags],
            "questions": list(published.questions.values_list("text", flat=True)),
            "helpful_count": article.helpful_count, "unhelpful_count": article.unhelpful_count}


@router.post("/kb/ask", response=BotReplyOut, summary="Ask the answer bot (public articles only)")
@requires(KnowledgeRight.VIEW)
def kb_ask(request: HttpRequest, payload: AskIn) -> Any:
    """For an app's or a mini-program's own bot screen: the bot's reply from the public articles, recorded in the
    consultation library (channel `api`; a question it cannot answer is a gap for the knowledge team). An empty
    or too long question is a 400 naming `question`."""
    from kefu.knowledge.services.bot import bot_ask

    reply = bot_ask(question=payload.question, channel=AskChannel.API,
                    language=payload.language.value if payload.language else None)
    return reply.as_dict()


@router.post("/kb/articles/{article_id}/feedback", response={201: FeedbackOut},
             summary="\"Did this help?\" on a served article")
@requires(KnowledgeRight.VIEW)
def kb_article_feedback(request: HttpRequest, article_id: PathId, payload: FeedbackIn) -> Any:
    """With the bot's `consultation_id`, an unhelpful answer also becomes a gap for the knowledge team."""
    from kefu.knowledge.services.insight import feedback_record

    article = _served(article_id)
    feedback = feedback_record(article_id=article.pk, helpful=payload.helpful, channel=AskChannel.API,
                               comment=payload.comment, consultation_id=payload.consultation_id)
    return 201, {"id": feedback.pk, "article_id": article.pk, "helpful": feedback.helpful}
