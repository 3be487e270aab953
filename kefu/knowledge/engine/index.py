"""The in-memory index of a knowledge base: example questions (entries) of articles, their sentence vectors and a BM25
index of their tokens, one of each per language.

How a question is scored (the figures behind each choice are in docs/knowledge-bot.md):
1. Candidates: the entries in the question's language. When the knowledge base has no entry in that language, all
   entries are candidates (the sentence model is multilingual, so meaning carries across languages).
2. Each entry scores the cosine of its vector with the question's, plus `lexical_weight` × its BM25 score divided by
   the best BM25 score among the candidates.
3. Each article scores a weighted sum of three kinds of evidence (`Scoring`): its best entry; its share of the ten
   best entries overall (a nearest-neighbour vote, weighted only in knowledge bases whose examples often disagree
   with their neighbours); and its centroid (cosine with the mean of its vectors, plus BM25 over all its examples).
   In such knowledge bases a word classifier trained on all the examples (classifier.py) adds its log-probability
   of the article, so many examples' words outweigh a few misfiled ones.
4. Confidence: the article's share of a soft-max over all article scores and one "none of these" pseudo-article of
   fixed score `null_score`, at temperature `temperature`. It is high only when the best article scores well in
   absolute terms AND clearly above the runner-up; it lies in (0, 1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .classifier import WordClassifier
from .embedding import DIMENSIONS, embed, normalise_rows
from .text import detect_language, tokens

_ANY = "*"


@dataclass(frozen=True, slots=True)
class Entry:
    """One example question (or the title) of an article."""

    article_id: int
    language: str  # "zh-hans" | "en"
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: int
    score: float  # the article's confidence in [0, 1], comparable with the threshold


@dataclass(frozen=True, slots=True)
class Answer:
    article_id: int | None  # the best article even when handoff is True (None only for an empty index)
    confidence: float  # in [0, 1]
    handoff: bool  # confidence < threshold (or empty index)
    hits: list[Hit]  # top three articles, best first
    language: str  # of the question


@dataclass(frozen=True, slots=True)
class Scoring:
    """The constants of the scoring (chosen on held-out folds of training data; see docs/knowledge-bot.md).

    An article's score = max_weight × its best entry + vote_weight × its share of the `vote_depth` best entries (a
    k-nearest-neighbour vote) + centroid_weight × (cosine with its mean vector + centroid_lexical_weight × BM25 of
    all its entries as one document) + classifier_weight × the word classifier's log-probability of the article.
    Entry scores are cosine + lexical_weight × BM25 / best BM25.
    `vote_weight=None`, `classifier_weight=None`: chosen by the index from how consistent the knowledge base is (see
    `_inconsistency`); `max_weight=None`: whatever the vote and the centroid leave of 1.
    """

    lexical_weight: float = 0.05
    centroid_weight: float = 0.5
    centroid_lexical_weight: float = 0.05
    vote_weight: float | None = None
    max_weight: float | None = None
    noisy_vote_weight: float = 0.25  # the vote's weight in a knowledge base whose examples disagree (_inconsistency)
    classifier_weight: float | None = None
    noisy_classifier_weight: float = 0.05  # per unit of log-probability (nats), likewise
    vote_depth: int = 10
    temperature: float = 0.01
    null_score: float = 0.90
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    lexical_scale: str = "self"  # BM25 divided by: "self", the question's score against itself; "best", the best one's


DEFAULT_SCORING = Scoring()


class _Lexical:
    """BM25 over token lists (bm25s), scoring many questions at once."""

    def __init__(self, corpus: list[list[str]], scoring: Scoring) -> None:
        self.size = len(corpus)
        self.model: Any = None
        self.vocab: dict[str, int] = {}
        if any(corpus):
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)
            self.model = bm25s.BM25(k1=scoring.bm25_k1, b=scoring.bm25_b)
            self.model.index(corpus, show_progress=False)
            self.vocab = self.model.vocab_dict
        self.scale = scoring.lexical_scale
        self.k1, self.b = scoring.bm25_k1, scoring.bm25_b
        self.average_length = float(np.mean([len(d) for d in corpus])) if corpus else 0.0
        self.frequency: dict[str, int] = {}
        for document in corpus:
            for term in set(document):
                self.frequency[term] = self.frequency.get(term, 0) + 1

    def _idf(self, term: str) -> float:
        frequency = self.frequency.get(term, 0)
        return float(np.log(1.0 + (self.size - frequency + 0.5) / (frequency + 0.5)))

    def self_score(self, terms: list[str]) -> float:
        """The question's BM25 score against itself as a document, every term counted (also those no example
        has, which no document can match): what a perfect match would score."""
        if not terms or not self.average_length:
            return 0.0
        counts: dict[str, int] = {}
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        length = self.k1 * (1.0 - self.b + self.b * len(terms) / self.average_length)
        return sum(n * self._idf(t) * n / (n + length) for t, n in counts.items())

    def scores(self, questions: list[list[str]]) -> np.ndarray:
        """(questions, documents) BM25 scores in [0, 1] (zero without a match): each row divided by the question's
        score against itself (`lexical_scale` "self": a match on a few common characters scores little), or by
        the row's best ("best")."""
        out = np.zeros((len(questions), self.size), dtype=np.float32)
        if self.model is None:
            return out
        for row, terms in enumerate(questions):
            ids = [self.vocab[t] for t in terms if t in self.vocab]
            if ids:
                out[row] = self.model.get_scores_from_ids(ids)
        if self.scale == "self":
            scale = np.array([[self.self_score(terms)] for terms in questions], dtype=np.float32)
            clipped: np.ndarray = np.clip(np.divide(out, scale, out=np.zeros_like(out), where=scale > 0), 0.0, 1.0)
            return clipped
        top = out.max(axis=1, keepdims=True)
        normalised: np.ndarray = np.divide(out, top, out=np.zeros_like(out), where=top > 0)
        return normalised


@dataclass(slots=True)
class _View:
    """The entries of one language (or of all), grouped by article: entry rows sorted by article id."""

    vectors: np.ndarray  # (n, 384) float32
    starts: np.ndarray  # first row of each article's group
    articles: np.ndarray  # (a,) article ids, one per group
    group_of_row: np.ndarray  # (n,) group index of each row
    entry_lexical: _Lexical  # BM25 over the entries
    centroids: np.ndarray  # (a, 384) unit mean vector of each article's entries
    article_lexical: _Lexical  # BM25 over each article's entries joined into one document
    max_weight: float
    vote_weight: float
    classifier: WordClassifier | None  # trained only when classifier_weight > 0
    classifier_weight: float


def _build_view(
    rows: np.ndarray, entries: Sequence[Entry], vectors: np.ndarray, scoring: Scoring, words: bool = True
) -> _View:
    """`words` False: no word classifier (the view of every language, asked only in a language without examples,
    whose words the classifier could not know)."""
    article_of = np.array([entries[i].article_id for i in rows], dtype=np.int64)
    order = np.argsort(article_of, kind="stable")
    rows = rows[order]
    article_of = article_of[order]
    change = np.flatnonzero(np.diff(article_of)) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    group_of_row = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(rows))))
    corpus = [tokens(entries[i].text) for i in rows]
    documents: list[list[str]] = [[] for _ in starts]
    for group, terms in zip(group_of_row, corpus, strict=True):
        documents[group].extend(terms)
    view_vectors = np.ascontiguousarray(vectors[rows])
    measured = None in (scoring.vote_weight, scoring.classifier_weight)
    share = _inconsistency(view_vectors, group_of_row) if measured else 0.0
    vote = scoring.noisy_vote_weight * share if scoring.vote_weight is None else scoring.vote_weight
    learn = scoring.noisy_classifier_weight * share if scoring.classifier_weight is None else scoring.classifier_weight
    learn = learn if words else 0.0
    return _View(
        vectors=view_vectors,
        starts=starts,
        articles=article_of[starts],
        group_of_row=group_of_row,
        entry_lexical=_Lexical(corpus, scoring),
        centroids=normalise_rows(np.add.reduceat(view_vectors, starts, axis=0)),
        article_lexical=_Lexical(documents, scoring),
        max_weight=1.0 - scoring.centroid_weight - vote if scoring.max_weight is None else scoring.max_weight,
        vote_weight=vote,
        classifier=WordClassifier(corpus, group_of_row, len(starts)) if learn else None,
        classifier_weight=learn,
    )


AGREEMENT_SAMPLE = 300
CONSISTENT = 0.75  # agreement at or above which the best entry is trusted alone (no vote)
INCONSISTENT = 0.35  # agreement at or below which the vote gets all of `noisy_vote_weight`


def agreement(vectors: np.ndarray, group_of_row: np.ndarray, sample: int = AGREEMENT_SAMPLE) -> float | None:
    """How often an example question's nearest other example belongs to the same article (a fixed-seed sample of the
    examples of articles with two or more); None when no article has two examples.

    Clean, well-separated knowledge bases score ≈ 0.9 (Banking77: 0.89); a knowledge base with many examples filed
    under the wrong article, or articles that overlap, scores low (CIC, noisy on purpose: 0.28)."""
    sizes = np.bincount(group_of_row)
    candidates = np.flatnonzero(sizes[group_of_row] >= 2)
    if not len(candidates):
        return None
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(candidates, min(sample, len(candidates)), replace=False))
    similarity = vectors[chosen] @ vectors.T
    similarity[np.arange(len(chosen)), chosen] = -np.inf
    return float((group_of_row[similarity.argmax(axis=1)] == group_of_row[chosen]).mean())


def _inconsistency(vectors: np.ndarray, group_of_row: np.ndarray) -> float:
    """How much of the vote's and the word classifier's full weight a knowledge base gets: none in a consistent one
    (the best match is the most precise evidence there), all in an inconsistent one (where a single best match is
    often filed wrongly), linear between (see `agreement`)."""
    measured = agreement(vectors, group_of_row)
    if measured is None:
        return 0.0
    return min(1.0, max(0.0, (CONSISTENT - measured) / (CONSISTENT - INCONSISTENT)))


def _article_scores(view: _View, questions: np.ndarray, terms: list[list[str]], scoring: Scoring) -> np.ndarray:
    """(questions, articles) scores of the view's articles for unit question vectors and their BM25 terms."""
    entry = _cosines(questions, view.vectors)
    if scoring.lexical_weight:
        entry += scoring.lexical_weight * view.entry_lexical.scores(terms)
    total = np.zeros((len(questions), len(view.starts)), dtype=np.float32)
    if view.max_weight:
        total += view.max_weight * np.maximum.reduceat(entry, view.starts, axis=1)
    if view.vote_weight:
        depth = min(scoring.vote_depth, entry.shape[1])
        nearest = np.argpartition(-entry, depth - 1, axis=1)[:, :depth]
        votes = np.zeros_like(total)
        rows = np.repeat(np.arange(len(questions)), depth)
        np.add.at(votes, (rows, view.group_of_row[nearest].ravel()), np.take_along_axis(entry, nearest, 1).ravel())
        total += (view.vote_weight / depth) * votes
    if scoring.centroid_weight:
        centroid = _cosines(questions, view.centroids)
        if scoring.centroid_lexical_weight:
            centroid += scoring.centroid_lexical_weight * view.article_lexical.scores(terms)
        total += scoring.centroid_weight * centroid
    if view.classifier_weight and view.classifier is not None:
        total += view.classifier_weight * view.classifier.log_probabilities(terms)
    return total


def _cosines(questions: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(questions, rows) dot products. One question: NumPy's own loop, not BLAS, whose threads (one per core,
    spinning) made single questions several times slower on a busy 2-core machine."""
    if len(questions) == 1:
        return np.asarray(np.einsum("ij,j->i", matrix, questions[0])[None, :])
    return np.asarray(questions @ matrix.T)


def _top(confidence: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the `limit` highest confidences, best first; ties in position order (deterministic)."""
    if limit <= 0 or not len(confidence):
        return np.zeros(0, dtype=np.int64)
    if limit < len(confidence):
        kth = np.partition(confidence, len(confidence) - limit)[len(confidence) - limit]
        candidates = np.flatnonzero(confidence >= kth)
    else:
        candidates = np.arange(len(confidence))
    return candidates[np.lexsort((candidates, -confidence[candidates]))][:limit]


def _confidences(scores: np.ndarray, scoring: Scoring, null_score: float | None = None) -> np.ndarray:
    """Soft-max of each row of article scores with a "none of these" pseudo-article of score `null_score` (the
    scoring's own unless given: calibration measures one per knowledge base)."""
    best, spread = _spread(scores, scoring)
    return confidences_of(
        best, spread, scoring.temperature, scoring.null_score if null_score is None else null_score, scores=scores
    )


def _spread(scores: np.ndarray, scoring: Scoring) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the best article score, and the sum over all articles of exp((score - best) / temperature) (≥ 1).
    With these two a row's best confidence follows for any null score (`confidences_of`)."""
    scores = scores.astype(np.float64)
    best = scores.max(axis=1) if scores.shape[1] else np.zeros(len(scores))
    spread = np.exp((scores - best[:, None]) / scoring.temperature).sum(axis=1)
    return best, spread


def confidences_of(
    best: np.ndarray, spread: np.ndarray, temperature: float, null_score: float, scores: np.ndarray | None = None
) -> np.ndarray:
    """The best article's confidence for rows summarised by `_spread`, or every article's when `scores` is given."""
    null = np.exp(np.minimum((null_score - best) / temperature, 700.0))
    if scores is None:
        return np.asarray(1.0 / (spread + null), dtype=np.float64)
    weights = np.exp((scores.astype(np.float64) - best[:, None]) / temperature)
    return np.asarray(weights / (spread + null)[:, None], dtype=np.float64)


class KnowledgeIndex:
    """Search over the example questions of a knowledge base; build it with `KnowledgeIndex.build`."""

    def __init__(self, entries: Sequence[Entry], vectors: np.ndarray, scoring: Scoring) -> None:
        self._entries = list(entries)
        self._vectors = vectors
        self._scoring = scoring
        self._article_ids = {entry.article_id for entry in self._entries}
        self._views: dict[str, _View] = {}
        languages = sorted({entry.language for entry in self._entries})
        for language in languages:
            rows = np.array([i for i, e in enumerate(self._entries) if e.language == language], dtype=np.int64)
            self._views[language] = _build_view(rows, self._entries, vectors, scoring)

    @classmethod
    def build(
        cls, entries: Sequence[Entry], vectors: np.ndarray | None = None, *, scoring: Scoring = DEFAULT_SCORING
    ) -> KnowledgeIndex:
        """The index of `entries`; `vectors` row-aligned with them (as `embed` gave them), or None to embed them."""
        entries = list(entries)
        if vectors is None:
            matrix = embed([entry.text for entry in entries])
        else:
            matrix = np.asarray(vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape != (len(entries), DIMENSIONS):
                raise ValueError(f"vectors must have shape ({len(entries)}, {DIMENSIONS}), not {matrix.shape}")
            matrix = normalise_rows(matrix)
        return cls(entries, matrix, scoring)

    def __len__(self) -> int:
        return len(self._entries)

    def article_ids(self) -> set[int]:
        return set(self._article_ids)

    def _view(self, language: str) -> _View | None:
        if not self._entries:
            return None
        if language in self._views:
            return self._views[language]
        if _ANY not in self._views:
            rows = np.arange(len(self._entries), dtype=np.int64)
            self._views[_ANY] = _build_view(rows, self._entries, self._vectors, self._scoring, words=False)
        return self._views[_ANY]

    def _rank(
        self, view: _View, vector: np.ndarray, terms: list[str], limit: int, null_score: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `limit` (article ids, confidences), best first, for a question's unit vector and BM25 terms."""
        scores = _article_scores(view, vector[None, :], [terms], self._scoring)
        confidence = _confidences(scores, self._scoring, null_score)[0]
        order = _top(confidence, limit)
        return view.articles[order], confidence[order]

    def _best_many(
        self, texts: Sequence[str], vectors: np.ndarray, language: str, null_score: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(best article id, its confidence) for many questions of one language at once (for calibration)."""
        ids, confidence, _ = self._top_many(texts, vectors, language, 1, null_score=null_score)
        return ids[:, 0], confidence[:, 0]

    def _spread_many(self, texts: Sequence[str], vectors: np.ndarray, language: str) -> tuple[np.ndarray, np.ndarray]:
        """(best article score, spread) of many questions of one language (see `_spread`): what their confidence
        would be under any null score (`confidences_of`). Empty index: best 0, spread 0."""
        best, spread = np.zeros(len(texts)), np.zeros(len(texts))
        view = self._view(language)
        if view is None:
            return best, spread
        for start in range(0, len(texts), 256):
            chunk = slice(start, start + 256)
            scores = _article_scores(view, vectors[chunk], [tokens(t) for t in texts[chunk]], self._scoring)
            best[chunk], spread[chunk] = _spread(scores, self._scoring)
        return best, spread

    def _top_many(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        language: str,
        depth: int,
        own: np.ndarray | None = None,
        null_score: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For many questions of one language at once (for calibration): the `depth` best (article ids, confidences),
        best first, as (questions, depth) arrays (id -1, confidence 0 where the index has fewer articles), and the
        confidence of each question's `own` article id (0 when `own` is None or the article is not indexed)."""
        depth = max(1, depth)
        ids = np.full((len(texts), depth), -1, dtype=np.int64)
        confidences = np.zeros((len(texts), depth))
        own_confidence = np.zeros(len(texts))
        view = self._view(language)
        if view is None:
            return ids, confidences, own_confidence
        column = {int(a): c for c, a in enumerate(view.articles)}
        own_column = np.array([column.get(int(a), -1) for a in own], dtype=np.int64) if own is not None else None
        width = min(depth, len(view.articles))
        for start in range(0, len(texts), 256):
            chunk = slice(start, start + 256)
            scores = _article_scores(view, vectors[chunk], [tokens(t) for t in texts[chunk]], self._scoring)
            confidence = _confidences(scores, self._scoring, null_score)
            for row in range(len(confidence)):
                order = _top(confidence[row], width)
                ids[start + row, :width] = view.articles[order]
                confidences[start + row, :width] = confidence[row, order]
            if own_column is not None:
                columns = own_column[chunk]
                found = columns >= 0
                rows = np.arange(len(confidence))
                own_confidence[chunk] = np.where(found, confidence[rows, np.maximum(columns, 0)], 0.0)
        return ids, confidences, own_confidence

    def _query(
        self, text: str, language: str | None, vector: np.ndarray | None, limit: int, null_score: float | None = None
    ) -> tuple[str, np.ndarray, np.ndarray]:
        language = language or detect_language(text)
        view = self._view(language)
        if view is None:
            return language, np.zeros(0, dtype=np.int64), np.zeros(0)
        if vector is None:
            vector = embed([text])[0]
        articles, confidence = self._rank(view, vector, tokens(text), limit, null_score)
        return language, articles, confidence

    def search(
        self, text: str, *, language: str | None = None, limit: int = 3, null_score: float | None = None
    ) -> list[Hit]:
        """The best `limit` articles for `text`, best first, with their confidences (under `null_score`, the one
        `calibrate` measured for this knowledge base, or the scoring's own)."""
        _, articles, confidence = self._query(text, language, None, max(0, limit), null_score)
        return [Hit(int(a), float(c)) for a, c in zip(articles, confidence, strict=True)]

    def answer(
        self, text: str, *, threshold: float, language: str | None = None, null_score: float | None = None
    ) -> Answer:
        """The best article and whether the bot may give it (confidence ≥ threshold) or hands over to a person;
        `threshold` and `null_score` as `calibrate` measured them for this knowledge base."""
        return self._answer(text, threshold, language, None, null_score)

    def _answer(
        self,
        text: str,
        threshold: float,
        language: str | None,
        vector: np.ndarray | None,
        null_score: float | None = None,
    ) -> Answer:
        language, articles, confidence = self._query(text, language, vector, 3, null_score)
        if not len(articles):
            return Answer(article_id=None, confidence=0.0, handoff=True, hits=[], language=language)
        hits = [Hit(int(a), float(c)) for a, c in zip(articles[:3], confidence[:3], strict=True)]
        return Answer(
            article_id=hits[0].article_id,
            confidence=hits[0].score,
            handoff=hits[0].score < threshold,
            hits=hits,
            language=language,
        )
