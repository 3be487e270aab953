"""The answer bot: a customer's question matched against the served articles; answered when the match's confidence
reaches the calibrated threshold, otherwise the three best articles are offered and a person takes over. Every
question is recorded (the consultation library); one handed over is a gap for the knowledge team."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import ValidationFailed
from kefu.knowledge.choices import AskChannel, GapSource, Language
from kefu.knowledge.models import BotSettings
from kefu.knowledge.services.insight import QUESTION_MAX, consultation_record, gap_note

BOT = system_actor("bot", gettext_lazy("机器人"))
AUDIENCES = ("public", "staff")


@dataclass(frozen=True, slots=True)
class Suggestion:
    article_id: int
    title: str
    score: float  # in [0, 1]


@dataclass(frozen=True, slots=True)
class BotReply:
    question: str
    language: str  # of the question: zh-hans or en
    article_id: int | None  # the best article, even when handing over (None: nothing served)
    title: str
    answer: str  # the best article's answer, even when handing over
    spoken: str  # its short spoken version ("" when none)
    confidence: float  # in [0, 1]
    handoff: bool  # below the threshold (or the bot switched off): a person should answer
    suggestions: list[Suggestion] = field(default_factory=list)  # the three best articles, best first
    consultation_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_bot_question(question: Any) -> str:
    """One line of at most QUESTION_MAX characters; empty or longer is refused (naming the field "question")."""
    text = re.sub(r"\s+", " ", str(question or "")).strip()
    if not text:
        raise ValidationFailed(_("请输入问题"), details={"field": "question"})
    if len(text) > QUESTION_MAX:
        raise ValidationFailed(_("问题太长，最多 %(n)s 个字") % {"n": QUESTION_MAX},
                               details={"field": "question", "max_length": QUESTION_MAX})
    return text


def bot_ask(*, question: str, channel: str, language: str | None = None, conversation: Any = None,
            audience: Literal["public", "staff"] = "public", record: bool = True) -> BotReply:
    """Answer `question` from the articles `audience` may be told (`language` None: detected from the text).

    The bot answers (`handoff` False) only when it is switched on and the best article's confidence reaches the
    calibrated threshold; otherwise `answer` still holds the best article's text (for "did you mean…" offers) and
    a person should take over. A question in a language without served articles is matched against all of them
    (the sentence vectors are multilingual). An empty knowledge base hands over with no article.

    With `record`, the question is kept in the consultation library and, when the bot could not answer it, noted
    as a gap — in one transaction. A bot switched off by the knowledge team records its questions but opens no
    gaps for those it could have answered. Raises ValidationFailed naming "question" (empty, or longer than
    QUESTION_MAX characters), "language", "channel" or "audience".
    """
    from kefu.knowledge.index import served

    text = clean_bot_question(question)
    if language is not None and language not in Language.values:
        raise ValidationFailed(_("语言只能是 zh-hans 或 en"), details={"field": "language"})
    if channel not in AskChannel.values:
        raise ValidationFailed(_("渠道无效"), details={"field": "channel"})
    if audience not in AUDIENCES:
        raise ValidationFailed(_("可见范围无效"), details={"field": "audience"})
    settings_row = BotSettings.current()
    current = served(audience)
    found = current.index.answer(text, threshold=settings_row.threshold, language=language,
                                 null_score=settings_row.null_score)
    best = current.articles.get(found.article_id) if found.article_id is not None else None
    could_answer = not found.handoff and best is not None
    handoff = not (could_answer and settings_row.enabled)
    suggestions = [Suggestion(article_id=h.article_id, title=current.articles[h.article_id].title,
                              score=float(h.score))
                   for h in found.hits if h.article_id in current.articles]
    confidence = float(found.confidence) if best is not None else 0.0
    consultation_id = None
    if record:
        with transaction.atomic():
            consultation = consultation_record(
                question=text, language=found.language, channel=channel, article_id=best.id if best else None,
                confidence=confidence, answered=not handoff, conversation=conversation)
            consultation_id = consultation.pk
            if not could_answer:
                gap_note(question=text, language=found.language, source=GapSource.HANDOFF,
                         best_article_id=best.id if best else None, confidence=confidence)
    return BotReply(question=text, language=found.language, article_id=best.id if best else None,
                    title=best.title if best else "", answer=best.body if best else "",
                    spoken=best.spoken if best else "", confidence=confidence, handoff=handoff,
                    suggestions=suggestions, consultation_id=consultation_id)


def spoken_answer(reply: BotReply, *, limit: int = 300) -> str:
    """What a phone caller hears: the article's spoken version, else its answer as one line, cut at a sentence
    end within `limit` characters (text-to-speech of a whole page helps nobody)."""
    text = reply.spoken or re.sub(r"\s+", " ", reply.answer).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    ends = [cut.rfind(mark) for mark in "。！？；.!?;"]
    end = max(ends)
    return cut[:end + 1] if end >= limit // 3 else cut.rstrip() + "…"
