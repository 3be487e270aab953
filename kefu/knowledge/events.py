"""Knowledge-base events announced through the outbox (webhooks learn of published articles; the knowledge team's
pages follow new gaps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from kefu.core.events import Audience, EventType, emit, event_type
from kefu.core.policy import rights
from kefu.knowledge.models import Article, Gap


class ArticleInfo(BaseModel):
    id: int
    title: str
    language: str
    status: str
    visibility: str
    version: int  # the published version's number, 0 when none
    category_id: int | None
    published_at: datetime | None


ARTICLE_PUBLISHED = event_type(
    "knowledge.article_published", version=1, schema=ArticleInfo, object_type="knowledge.article",
    description="An article's version was approved and is now served (portal, bot, agents).")
ARTICLE_WITHDRAWN = event_type(
    "knowledge.article_withdrawn", version=1, schema=ArticleInfo, object_type="knowledge.article",
    description="An article was archived: no longer served.")


class GapInfo(BaseModel):
    id: int
    question: str
    language: str
    source: str
    times: int
    best_article_id: int | None


GAP_OPENED = event_type(
    "knowledge.gap_opened", version=1, schema=GapInfo, object_type="knowledge.gap",
    description="A question the knowledge base could not answer well was collected for the knowledge team "
                "(`source`: handoff, unhelpful or no_result).")


def _team() -> list[Audience]:
    return [Audience.role(r) for r in sorted(rights().get("kb.insight", ()))]


def announce_article(article: Article, *, event: EventType, actor: Any = None) -> None:
    emit(event, obj=article, actor=actor, audience=_team(), payload={
        "id": article.pk, "title": article.title, "language": article.language, "status": article.status,
        "visibility": article.visibility, "version": article.published.number if article.published else 0,
        "category_id": article.category_id, "published_at": article.published_at})


def announce_gap(gap: Gap) -> None:
    emit(GAP_OPENED, obj=gap, audience=_team(), payload={
        "id": gap.pk, "question": gap.question, "language": gap.language, "source": gap.source, "times": gap.times,
        "best_article_id": gap.best_article_id})
