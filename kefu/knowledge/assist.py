"""Agent assist: the articles most likely to answer what a customer is asking, beside a conversation (its latest
customer messages) or a work order (its subject and description), from everything agents may read (internal
articles too). Reads only: nothing is recorded until an agent uses one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kefu.knowledge.index import served
from kefu.knowledge.models import BotSettings

LIMIT = 3
TEXT_MAX = 500  # characters of the customer's words searched (the latest first)
LATEST = 3  # customer messages read
MIN_SCORE = 0.005  # below this an article is unrelated to the question: not suggested


@dataclass(frozen=True, slots=True)
class Suggested:
    article_id: int
    title: str
    body: str
    language: str
    internal: bool
    score: float  # in [0, 1]


def suggest(text: str, *, limit: int = LIMIT) -> list[Suggested]:
    """The best `limit` served articles for `text` (staff view), best first; [] for empty text."""
    text = " ".join((text or "").split())[:TEXT_MAX]
    if not text:
        return []
    current = served("staff")
    hits = current.index.search(text, limit=limit, null_score=BotSettings.current().null_score)
    found = []
    for hit in hits:
        article = current.articles.get(hit.article_id)
        if article is None or hit.score < MIN_SCORE:
            continue
        found.append(Suggested(article_id=article.id, title=article.title, body=article.body,
                               language=article.language, internal=article.visibility == "internal",
                               score=float(hit.score)))
    return found


def conversation_text(conversation: Any) -> str:
    """What the customer asked lately: their last few text messages, oldest first (one query)."""
    from kefu.conversations.choices import Direction
    from kefu.conversations.models import Message

    bodies = list(Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
                  .exclude(body="").order_by("-seq").values_list("body", flat=True)[:LATEST])
    return "\n".join(reversed(bodies))[-TEXT_MAX:]


def ticket_text(ticket: Any) -> str:
    return f"{ticket.subject}\n{ticket.description or ''}"[:TEXT_MAX]
