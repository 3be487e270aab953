"""What the knowledge base learns from its readers: each question asked (the consultation library), "did this
help?" feedback, and the gaps — questions it could not answer well — collected for the knowledge team."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.errors import NotFound, ValidationFailed
from kefu.knowledge.choices import AskChannel, GapSource, GapState, Language
from kefu.knowledge.events import announce_gap
from kefu.knowledge.models import Article, Consultation, Feedback, Gap

QUESTION_MAX = 500
COMMENT_MAX = 500


def gap_key(question: str) -> str:
    """The same question however it is spaced, cased or punctuated (full- and half-width alike)."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = re.sub(r"[\W_]+", " ", text)
    return text.strip()[:500]


def clean_question(question: str) -> str:
    text = re.sub(r"\s+", " ", str(question or "")).strip()
    if not text:
        raise ValidationFailed(_("请输入问题"), details={"field": "question"})
    return text[:QUESTION_MAX]


@transaction.atomic
def consultation_record(*, question: str, language: str, channel: str, article_id: int | None, confidence: float,
                        answered: bool, conversation: Any = None) -> Consultation:
    """One question asked, with the article it matched (the department counted is the article's)."""
    if channel not in AskChannel.values:
        raise ValidationFailed(_("渠道无效"), details={"field": "channel"})
    department_id = (Article.objects.filter(pk=article_id).values_list("department_id", flat=True).first()
                     if article_id else None)
    return Consultation.objects.create(
        question=clean_question(question), language=language if language in Language.values else Language.ZH,
        channel=channel, article_id=article_id, department_id=department_id, confidence=float(confidence),
        answered=answered, conversation=conversation)


@transaction.atomic
def gap_note(*, question: str, language: str, source: str, best_article_id: int | None = None,
             confidence: float = 0.0) -> Gap:
    """Count a question on its open gap, opening one (and telling the knowledge team) the first time."""
    question = clean_question(question)
    key = gap_key(question) or question.casefold()
    language = language if language in Language.values else Language.ZH
    now = timezone.now()
    updated = Gap.objects.filter(language=language, key=key, state=GapState.OPEN).update(
        times=F("times") + 1, last_asked_at=now, updated_at=now)
    if updated:
        return Gap.objects.get(language=language, key=key, state=GapState.OPEN)
    try:
        with transaction.atomic():
            gap = Gap.objects.create(question=question, key=key, language=language, source=source,
                                     last_asked_at=now, best_article_id=best_article_id, confidence=confidence)
    except IntegrityError:  # opened meanwhile by another request: count on it
        Gap.objects.filter(language=language, key=key, state=GapState.OPEN).update(
            times=F("times") + 1, last_asked_at=now, updated_at=now)
        return Gap.objects.get(language=language, key=key, state=GapState.OPEN)
    announce_gap(gap)
    return gap


@transaction.atomic
def feedback_record(*, article_id: int, helpful: bool, channel: str, comment: str = "",
                    consultation_id: int | None = None) -> Feedback:
    """A reader's "did this help?". An unhelpful answer to a question the bot was asked is a gap too."""
    if channel not in AskChannel.values:
        raise ValidationFailed(_("渠道无效"), details={"field": "channel"})
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        raise NotFound(_("文章不存在"))
    consultation = None
    if consultation_id is not None:
        consultation = Consultation.objects.filter(pk=consultation_id, article_id=article_id).first()
        if consultation is None:
            raise ValidationFailed(_("咨询记录不存在"), details={"field": "consultation"})
    comment = re.sub(r"\s+", " ", comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(_("意见最多 %(n)s 个字") % {"n": COMMENT_MAX}, details={"field": "comment"})
    feedback = Feedback.objects.create(article=article, helpful=helpful, comment=comment, channel=channel,
                                       consultation=consultation)
    counter = "helpful_count" if helpful else "unhelpful_count"
    Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
    if consultation is not None:
        Consultation.objects.filter(pk=consultation.pk).update(helpful=helpful)
        if not helpful:
            gap_note(question=consultation.question, language=consultation.language, source=GapSource.UNHELPFUL,
                     best_article_id=article.pk, confidence=consultation.confidence)
    return feedback


@transaction.atomic
def gap_resolve(*, actor: Any, gap: Gap, article: Article | None, dismiss: bool = False) -> Gap:
    """The knowledge team closes a gap: answered by `article` (usually one just written or given the question
    as a new example), or dismissed (not a question for the knowledge base)."""
    from kefu.core.actors import person
    from kefu.core.audit import audit_record
    from kefu.knowledge.permissions import KnowledgeRight
    from kefu.knowledge.services.articles import require

    require(actor, KnowledgeRight.INSIGHT)
    locked = Gap.objects.select_for_update().filter(pk=gap.pk).first()
    if locked is None:
        raise NotFound(_("知识缺口不存在"))
    if locked.state != GapState.OPEN:
        from kefu.core.errors import Conflict

        raise Conflict(_("这个知识缺口已经处理过了"), details={"field": "state"})
    if not dismiss and article is None:
        raise ValidationFailed(_("请选择补充答案的文章"), details={"field": "article"})
    locked.state = GapState.DISMISSED if dismiss else GapState.ANSWERED
    locked.article = None if dismiss else article
    locked.handled_by = person(actor)
    locked.save(update_fields=["state", "article", "handled_by", "updated_at"])
    audit_record(actor=person(actor), action="gap.dismissed" if dismiss else "gap.answered", obj=locked,
                 summary=locked.question[:100])
    return locked
