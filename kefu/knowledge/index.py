"""The served articles' search index, held in each process's memory and rebuilt when the knowledge base changes
(its fingerprint — how many articles are served, their latest change — read at each use: one small query, right
in every process whether or not they share a cache). Two views: what customers may be told (public articles, the
portal and the bot) and what staff may read (internal articles too: agents' quick search, agent assist).

A small knowledge base is rebuilt in the request that notices the change (well under a second). A big one
(BACKGROUND_FROM example questions or more) takes seconds once its word classifier is trained (a knowledge base whose
examples often disagree, engine/classifier.py: ≈ 5 s for 10,000), so it is rebuilt in a background thread while
the index it replaces goes on answering: an edit reaches the bot seconds later, and no customer waits for it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
from django.db.models import Count, Max, Sum

from kefu.knowledge.choices import Visibility
from kefu.knowledge.engine import Entry, KnowledgeIndex
from kefu.knowledge.models import SERVED, Article, ExampleQuestion

Audience = Literal["public", "staff"]

BACKGROUND_FROM = 2000  # example questions (titles included) from which a changed index is rebuilt in the background
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedArticle:
    id: int
    title: str
    body: str
    spoken: str
    language: str
    visibility: str
    category_id: int | None
    department_id: int | None
    version: int  # the published version's number


@dataclass(frozen=True, slots=True)
class Served:
    index: KnowledgeIndex
    articles: dict[int, ServedArticle]
    entries: list[Entry]
    vectors: np.ndarray


_lock = threading.Lock()
_cache: dict[str, tuple[tuple[object, ...], Served]] = {}
_rebuilding: dict[str, threading.Thread] = {}


def fingerprint() -> tuple[object, ...]:
    found = Article.objects.filter(SERVED).aggregate(n=Count("id"), last=Max("updated_at"), ids=Sum("published_id"))
    return (found["n"], found["last"], found["ids"])


def index_changed() -> None:
    """Call inside the transaction that changes what is served: the bot's threshold is calibrated again after
    commit (the indexes follow by themselves)."""
    from django.db import transaction

    from kefu.knowledge.tasks import recalibrate_soon

    transaction.on_commit(recalibrate_soon, robust=True)


def _vector(raw: bytes | memoryview | None) -> np.ndarray | None:
    data = bytes(raw or b"")
    return np.frombuffer(data, dtype=np.float32) if len(data) == 384 * 4 else None


def build(audience: Audience) -> Served:
    """Read the served articles and their published example questions (with their stored vectors) and index
    them; a question stored without a vector (an old row) is embedded here."""
    articles, entries, vectors = read(audience)
    return Served(index=KnowledgeIndex.build(entries, vectors), articles=articles, entries=entries, vectors=vectors)


def read(audience: Audience) -> tuple[dict[int, ServedArticle], list[Entry], np.ndarray]:
    """What `build` indexes: the served articles by id, their entries (titles and example questions) and the
    entries' vectors, row for row."""
    from kefu.knowledge.engine import embed

    articles = Article.objects.filter(SERVED).select_related("published")
    if audience == "public":
        articles = articles.filter(visibility=Visibility.PUBLIC)
    served: dict[int, ServedArticle] = {}
    entries: list[Entry] = []
    rows: list[np.ndarray | None] = []
    version_to_article: dict[int, int] = {}
    for article in articles.iterator(chunk_size=2000):
        published = article.published
        assert published is not None
        served[article.pk] = ServedArticle(
            id=article.pk, title=published.title, body=published.body, spoken=published.spoken,
            language=article.language, visibility=article.visibility, category_id=article.category_id,
            department_id=article.department_id, version=published.number)
        version_to_article[published.pk] = article.pk
        entries.append(Entry(article_id=article.pk, language=article.language, text=published.title))
        rows.append(_vector(published.title_vector))
    questions = ExampleQuestion.objects.filter(version_id__in=list(version_to_article)) if version_to_article else []
    for question in (questions.only("version_id", "text", "vector").iterator(chunk_size=5000) if questions else []):
        article_id = version_to_article[question.version_id]
        entries.append(Entry(article_id=article_id, language=served[article_id].language, text=question.text))
        rows.append(_vector(question.vector))
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        for i, vector in zip(missing, embed([entries[i].text for i in missing]), strict=True):
            rows[i] = vector
    vectors = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 384), dtype=np.float32)
    return served, entries, vectors


def served(audience: Audience = "public") -> Served:
    """The current index for `audience`, rebuilt when the knowledge base has changed since it was built (a big one
    in the background, the previous index answering meanwhile: see the module's docstring)."""
    current = fingerprint()
    cached = _cache.get(audience)
    if cached is not None and cached[0] == current:
        return cached[1]
    if cached is not None and len(cached[1].entries) >= BACKGROUND_FROM:
        _rebuild_in_background(audience)
        return cached[1]
    with _lock:
        cached = _cache.get(audience)
        if cached is not None and cached[0] == current:
            return cached[1]
        made = build(audience)
        _cache[audience] = (current, made)
        return made


def _rebuild_in_background(audience: Audience) -> None:
    with _lock:
        if audience in _rebuilding:
            return
        worker = threading.Thread(target=_rebuild, args=(audience,), name=f"kefu-knowledge-{audience}", daemon=True)
        _rebuilding[audience] = worker
    worker.start()


def _rebuild(audience: Audience) -> None:
    from django.db import connection

    try:
        current = fingerprint()  # read first: a change committed during the build makes the next use rebuild again
        made = build(audience)
        with _lock:
            _cache[audience] = (current, made)
    except Exception:  # the previous index goes on answering; the next use tries again
        logger.exception("rebuilding the %s knowledge index failed", audience)
    finally:
        connection.close()  # this thread's own connection
        with _lock:
            _rebuilding.pop(audience, None)


def settle() -> None:
    """Wait for the background rebuilds under way (tests)."""
    for worker in list(_rebuilding.values()):
        worker.join()


def forget() -> None:
    """Drop this process's indexes (tests)."""
    settle()
    _cache.clear()
