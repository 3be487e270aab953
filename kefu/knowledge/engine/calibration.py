"""The answer threshold, calibrated on the knowledge base itself by cross-validation over its example questions,
and the example questions that seem filed under the wrong article.

Each article's example questions are spread over `folds` folds (shuffled with `seed`). In fold k the index is built
without the questions of fold k, which are then asked as if customers had asked them; an article always keeps at
least one question in the index (the questions of single-question articles are never held out), and the question
each article kept is asked in one more round, against all the other examples. Every held-out question yields
(confidence, was the best article right), and the confidences of its own and of the ten best articles.

Misfiled examples (confident learning, Northcutt et al., "Confident learning: estimating uncertainty in dataset
labels", JAIR 2021): an example is *suspected* when its own article's confidence is below that article's average
self-confidence while another article's is at or above its own (see `Suspects`). The share of misfiled examples is
estimated too (`noise_rate`). When that estimate reaches NOISY (10 %), suspected questions no longer count in the
precision: their label, not the bot, is probably what is wrong, and counting them would make a knowledge base with
some misfiled examples look as if the bot could never be trusted. Below NOISY they count: in a tidy knowledge base
the few suspects are mostly genuinely close articles, and setting them aside would flatter the precision (measured:
on Banking77 and CLINC150, whose estimated noise is 1.5 %, it lowered the threshold and the out-of-scope refusals).

Customers also ask about things no article covers. To price that in, whole articles are held out too (the articles
are spread over the folds as well, up to UNKNOWN_PER_ARTICLE questions of each asked): any answer to those is wrong.
They weigh `unknown_share` (default 10 %) of the questions counted. The threshold is the lowest confidence at which
the answers given (confidence ≥ threshold) are right at least `precision_target` of the time, counting both kinds:
the bot answers as much as it can while its own answers meet the target.

Those unknown-topic questions set two more things, because a precision target alone cannot:
- The "none of these" score (`null_score`, see index.py) is the median best article score of the unknown-topic
  questions (NULL_QUANTILE): what a question on a topic without an article typically scores in *this* knowledge base.
  A fixed constant suited the English benchmark sets but not a small Chinese knowledge base, whose sentence vectors
  lie closer together: there, greetings and questions about anything else ("你们老板是谁") scored above the constant
  and got confidences near 0.9. On Banking77 the measured score (0.96) changed the answered share by 0.1 point
  (docs/knowledge-bot.md).
- The bot refuses at least UNKNOWN_REFUSED (half) of the unknown-topic questions. In a small tidy knowledge base
  every held-out question of a known topic is answered right, so with unknown topics weighing 10 % the precision of
  answering *everything* is exactly the 90 % target, and the threshold fell to ≈ 0: the bot answered anything.
  The floor binds there and on CLINC150 and CIC, where it also lifted the out-of-scope refusals; not on Banking77,
  where the precision target already refuses more (docs/knowledge-bot.md).

Tiny knowledge bases (fewer than MIN_QUESTIONS questions that can be held out) cannot be measured: they get
DEFAULT_THRESHOLD (0.5), above what calibration chooses for a 90 % target on the English benchmark sets (0.30–0.36,
docs/knowledge-bot.md): with nothing measured, it leans towards handing over.
When no threshold reaches the target, the threshold is 1.0: the bot never answers alone, it offers articles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .embedding import DIMENSIONS, embed, normalise_rows
from .index import DEFAULT_SCORING, Entry, KnowledgeIndex, Scoring, confidences_of

DEFAULT_THRESHOLD = 0.5
MIN_QUESTIONS = 20
MIN_UNKNOWN = 10  # unknown-topic questions needed to measure the null score and apply the refusal floor
NULL_QUANTILE = 0.5
UNKNOWN_REFUSED = 0.5
NEVER = 1.0
UNKNOWN_SHARE = 0.10
UNKNOWN_PER_ARTICLE = 3
NOISY = 0.10  # estimated noise rate from which suspected examples no longer count in the precision
TOP = 10  # best articles kept per held-out question (confidences beyond the tenth are negligible)


@dataclass(frozen=True)
class Calibration:
    threshold: float
    precision_target: float
    precision: float  # of the answers given at that threshold (trusted held-out questions); 0.0 when none is given
    answered_share: float  # share of held-out questions answered at that threshold
    top1: float  # share of held-out questions whose best article is right, answered or not
    questions: int  # held-out questions asked
    articles: int
    folds: int
    unknown_refused: float = 0.0  # share of questions on held-out (unknown) articles refused at that threshold
    unknown_questions: int = 0
    suspects: tuple[int, ...] = ()  # indices into the entries: example questions probably filed under the wrong article
    suspect_articles: tuple[int, ...] = ()  # for each suspect, the article it seems to belong to
    noise_rate: float = 0.0  # estimated share of example questions filed under the wrong article
    trusted_top1: float = 0.0  # top-1 over the held-out questions whose precision counted (all but those set aside)
    set_aside: int = 0  # suspected held-out questions left out of the precision (none when noise_rate < NOISY)
    null_score: float = DEFAULT_SCORING.null_score  # the "none of these" score the confidences are measured under


@dataclass(frozen=True)
class CrossValidation:
    """What cross-validation measured: one row per held-out question, then one per question on a held-out article."""

    confidence: np.ndarray  # (m,) float: the best article's confidence
    correct: np.ndarray  # (m,) bool
    articles: int
    folds: int
    unknown_confidence: np.ndarray  # (u,) float: best confidence for questions whose article was held out
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (m,) entry index of each question
    own_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (m,) confidence of its own article
    top_articles: np.ndarray = field(default_factory=lambda: np.zeros((0, TOP), dtype=np.int64))  # (m, TOP) best first
    top_confidence: np.ndarray = field(default_factory=lambda: np.zeros((0, TOP)))  # (m, TOP)
    null_score: float = DEFAULT_SCORING.null_score  # under which all the confidences above were measured


@dataclass(frozen=True)
class Suspects:
    """Example questions probably filed under the wrong article (confident learning, Northcutt et al. 2021).

    From the out-of-fold confidences of cross-validation: each article's *self-confidence* is the average confidence
    its own held-out examples give it. An example is suspected when its own article's confidence is below that
    article's self-confidence while another article's is at or above that other article's self-confidence (the
    other article is then `articles[i]`, the most confident of such). The noise rate is estimated from the counts of
    (filed under, seems to belong to) pairs, each article's row scaled to its number of examples (the calibrated
    confident joint): the share of examples off its diagonal."""

    indices: tuple[int, ...]  # into the entries, ascending
    articles: tuple[int, ...]  # the article each suspect seems to belong to
    noise_rate: float
    self_confidence: dict[int, float]  # per article id: the average confidence of its own held-out examples
    examined: int  # examples that were held out (and so could be suspected)


def fold_assignment(entries: Sequence[Entry], folds: int, seed: int) -> np.ndarray:
    """The fold (0 … folds-1) of each entry, or -1 for entries never held out in these folds (one example of each
    article, kept in every fold's index; `cross_validate` asks those in one more round)."""
    rng = np.random.default_rng(seed)
    assignment = np.full(len(entries), -1, dtype=np.int64)
    by_article: dict[int, list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        by_article[entry.article_id].append(i)
    for article in sorted(by_article):
        rows = by_article[article]
        if len(rows) < 2:
            continue
        shuffled = rng.permutation(rows)
        keep = shuffled[0]  # stays in every fold's index
        offset = int(rng.integers(folds))
        for position, row in enumerate(shuffled):
            if row != keep:
                assignment[row] = (offset + position) % folds
    return assignment


def cross_validate(
    entries: Sequence[Entry],
    vectors: np.ndarray | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    scoring: Scoring = DEFAULT_SCORING,
    null_score: float | None = None,
) -> CrossValidation:
    """Every example of an article with two or more is asked once with itself out of the index: in `folds` rounds
    (see `fold_assignment`), then one more round for the example each article kept (all other examples indexed).
    Confidences are measured under `null_score`; None: the one measured on the unknown-topic questions
    (`measured_null`)."""
    entries = list(entries)
    folds = max(2, int(folds))
    matrix = embed([e.text for e in entries]) if vectors is None else normalise_rows(np.asarray(vectors))
    if matrix.shape != (len(entries), DIMENSIONS):
        raise ValueError(f"vectors must have shape ({len(entries)}, {DIMENSIONS}), not {matrix.shape}")
    unknown_best, unknown_spread = _unknown_topics(entries, matrix, folds, seed, scoring)
    null = measured_null(unknown_best, scoring) if null_score is None else float(null_score)
    unknown = confidences_of(unknown_best, unknown_spread, scoring.temperature, null)
    assignment = fold_assignment(entries, folds, seed)
    sizes: dict[int, int] = defaultdict(int)
    for entry in entries:
        sizes[entry.article_id] += 1
    keeps = np.array([i for i, e in enumerate(entries) if assignment[i] == -1 and sizes[e.article_id] >= 2], dtype=int)
    rounds = [np.flatnonzero(assignment == fold) for fold in range(folds)] + [keeps]
    asked: list[np.ndarray] = []
    top_ids: list[np.ndarray] = []
    top_conf: list[np.ndarray] = []
    own: list[np.ndarray] = []
    for held in rounds:
        if not len(held):
            continue
        kept = np.setdiff1d(np.arange(len(entries)), held)
        index = KnowledgeIndex.build([entries[i] for i in kept], matrix[kept], scoring=scoring)
        for language in sorted({entries[i].language for i in held}):
            rows = np.array([i for i in held if entries[i].language == language], dtype=np.int64)
            articles = np.array([entries[i].article_id for i in rows], dtype=np.int64)
            ids, conf, mine = index._top_many(
                [entries[i].text for i in rows], matrix[rows], language, TOP, articles, null_score=null
            )
            asked.append(rows)
            top_ids.append(ids)
            top_conf.append(conf)
            own.append(mine)
    rows = np.concatenate(asked) if asked else np.zeros(0, dtype=np.int64)
    best_ids = np.concatenate(top_ids) if top_ids else np.zeros((0, TOP), dtype=np.int64)
    best_conf = np.concatenate(top_conf) if top_conf else np.zeros((0, TOP))
    labels = np.array([entries[i].article_id for i in rows], dtype=np.int64)
    return CrossValidation(
        confidence=best_conf[:, 0].astype(np.float64),
        correct=best_ids[:, 0] == labels,
        articles=len({e.article_id for e in entries}),
        folds=folds,
        unknown_confidence=unknown,
        rows=rows,
        own_confidence=np.concatenate(own) if own else np.zeros(0),
        top_articles=best_ids,
        top_confidence=best_conf,
        null_score=null,
    )


def measured_null(unknown_best: np.ndarray, scoring: Scoring = DEFAULT_SCORING) -> float:
    """The "none of these" score for a knowledge base: the NULL_QUANTILE of its unknown-topic questions' best
    article scores, or the scoring's constant when fewer than MIN_UNKNOWN were asked."""
    if len(unknown_best) < MIN_UNKNOWN:
        return float(scoring.null_score)
    return float(np.quantile(unknown_best, NULL_QUANTILE))


def refusal_floor(unknown_confidence: np.ndarray, share: float = UNKNOWN_REFUSED) -> float:
    """The lowest threshold at which at least `share` of the unknown-topic questions are refused (confidence below
    it); 0.0 when fewer than MIN_UNKNOWN were asked."""
    if len(unknown_confidence) < MIN_UNKNOWN or share <= 0.0:
        return 0.0
    ranked = np.sort(unknown_confidence)
    k = int(np.ceil(share * len(ranked)))  # this many must lie below the threshold
    return float(np.nextafter(ranked[k - 1], np.inf))


def suspects_of(entries: Sequence[Entry], result: CrossValidation) -> Suspects:
    """Confident learning over cross-validation's out-of-fold confidences (see `Suspects`)."""
    labels = np.array([entries[i].article_id for i in result.rows], dtype=np.int64)
    if not len(labels):
        return Suspects((), (), 0.0, {}, 0)
    self_confidence = {int(a): float(result.own_confidence[labels == a].mean()) for a in np.unique(labels)}
    suspected, moved, noise = _confident_learning(
        labels, result.own_confidence, result.top_articles, result.top_confidence, self_confidence
    )
    order = np.argsort(result.rows[suspected], kind="stable")
    return Suspects(
        indices=tuple(int(i) for i in result.rows[suspected][order]),
        articles=tuple(int(a) for a in moved[suspected][order]),
        noise_rate=float(noise),
        self_confidence=self_confidence,
        examined=len(labels),
    )


def _confident_learning(
    labels: np.ndarray,
    own: np.ndarray,
    top_articles: np.ndarray,
    top_confidence: np.ndarray,
    self_confidence: dict[int, float],
) -> tuple[np.ndarray, np.ndarray, float]:
    """(suspected mask, the article each question seems to belong to (-1: none confidently), estimated noise rate)
    for questions filed under `labels`, given their confidences: `own` for their own article, `top_*` the best
    articles (best first). An article's confidence counts when at or above its self-confidence."""
    limits = np.array([[self_confidence.get(int(a), np.inf) for a in row] for row in top_articles]).reshape(
        top_articles.shape
    )
    other = (top_confidence >= limits) & (top_articles >= 0) & (top_articles != labels[:, None])
    own_confident = own >= np.array([self_confidence.get(int(a), np.inf) for a in labels])
    first_other = np.where(other.any(axis=1), np.argmax(other, axis=1), -1)  # rows are best first
    rows = np.arange(len(labels))
    other_confidence = np.where(first_other >= 0, top_confidence[rows, np.maximum(first_other, 0)], -np.inf)
    moved = np.where(first_other >= 0, top_articles[rows, np.maximum(first_other, 0)], -1)
    suspected = ~own_confident & (first_other >= 0)
    # the confident joint: each question counted once, under (filed under, most confident confident article)
    seems = np.where(own_confident & (own >= other_confidence), labels, moved)
    counted = seems >= 0
    noise = 0.0
    if counted.any():
        off = total = 0.0
        for label in np.unique(labels[counted]):
            mine = counted & (labels == label)
            scale = float((labels == label).sum()) / float(mine.sum())  # calibrated to the article's example count
            total += scale * mine.sum()
            off += scale * (mine & (seems != label)).sum()
        noise = off / total
    return suspected, moved, float(noise)


def check_labels(
    index: KnowledgeIndex,
    suspects: Suspects,
    texts: Sequence[str],
    vectors: np.ndarray,
    articles: Sequence[int],
    language: str,
    null_score: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Judge questions filed under `articles` (new example questions, or a test set) against an index of the
    knowledge base, with the self-confidences `find_suspects` measured on it (under the same `null_score`, the one
    calibration measured): (suspected mask, the article each seems to belong to or -1, estimated noise rate among
    them). The questions must not be in the index."""
    labels = np.asarray(list(articles), dtype=np.int64)
    matrix = normalise_rows(np.asarray(vectors, dtype=np.float32))
    top_articles, top_confidence, own = index._top_many(
        list(texts), matrix, language, TOP, labels, null_score=null_score
    )
    return _confident_learning(labels, own, top_articles, top_confidence, suspects.self_confidence)


def find_suspects(
    entries: Sequence[Entry],
    vectors: np.ndarray | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    scoring: Scoring = DEFAULT_SCORING,
) -> Suspects:
    """The example questions probably filed under the wrong article, and the estimated share of such (see
    `Suspects`); `calibrate` reports the same in `Calibration.suspects` and `.noise_rate`."""
    return suspects_of(list(entries), cross_validate(entries, vectors, folds=folds, seed=seed, scoring=scoring))


def _unknown_topics(
    entries: list[Entry], matrix: np.ndarray, folds: int, seed: int, scoring: Scoring
) -> tuple[np.ndarray, np.ndarray]:
    """For questions whose whole article is left out of the index (fold by fold): their best article score and
    spread (`confidences_of` turns them into confidences under any null score)."""
    articles = sorted({e.article_id for e in entries})
    if len(articles) < 2:
        return np.zeros(0), np.zeros(0)
    rng = np.random.default_rng(seed + 1)
    group = {article: position % folds for position, article in enumerate(rng.permutation(articles).tolist())}
    asked: dict[int, int] = defaultdict(int)
    best: list[np.ndarray] = []
    spread: list[np.ndarray] = []
    for fold in range(folds):
        kept = [i for i, e in enumerate(entries) if group[e.article_id] != fold]
        held = []
        for i in rng.permutation([i for i, e in enumerate(entries) if group[e.article_id] == fold]).tolist():
            if asked[entries[i].article_id] < UNKNOWN_PER_ARTICLE:
                asked[entries[i].article_id] += 1
                held.append(i)
        if not kept or not held:
            continue
        index = KnowledgeIndex.build([entries[i] for i in kept], matrix[kept], scoring=scoring)
        for language in sorted({entries[i].language for i in held}):
            rows = sorted(i for i in held if entries[i].language == language)
            top, total = index._spread_many([entries[i].text for i in rows], matrix[rows], language)
            best.append(top)
            spread.append(total)
    if not best:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(best), np.concatenate(spread)


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, precision_target: float, weight: np.ndarray | None = None
) -> float:
    """The lowest confidence t with (weighted) precision(confidence ≥ t) ≥ target; NEVER when there is none."""
    if not len(confidence):
        return NEVER
    weights = np.ones(len(confidence)) if weight is None else weight
    order = np.argsort(-confidence, kind="stable")
    ranked = confidence[order]
    precision = np.cumsum(weights[order] * correct[order]) / np.cumsum(weights[order])
    # only cut between distinct confidences: everything at the same confidence is answered together
    last_of_value = np.append(ranked[1:] != ranked[:-1], True)
    ok = np.flatnonzero(last_of_value & (precision >= precision_target - 1e-12))
    if not len(ok):
        return NEVER
    return float(ranked[ok[-1]])


def measure(
    confidence: np.ndarray, correct: np.ndarray, threshold: float, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """((weighted) precision, answered share) of the questions with confidence ≥ threshold."""
    if not len(confidence):
        return 0.0, 0.0
    weights = np.ones(len(confidence)) if weight is None else weight
    answered = confidence >= threshold
    share = float(answered.mean())
    precision = float((weights * correct)[answered].sum() / weights[answered].sum()) if answered.any() else 0.0
    return precision, share


def calibrate(
    entries: Sequence[Entry],
    vectors: np.ndarray | None = None,
    *,
    precision_target: float = 0.90,
    folds: int = 5,
    seed: int = 0,
    unknown_share: float = UNKNOWN_SHARE,
    scoring: Scoring = DEFAULT_SCORING,
    set_aside_suspects: bool | None = None,
    null_score: float | None = None,
    refused_at_least: float = UNKNOWN_REFUSED,
) -> Calibration:
    """The answer threshold for this knowledge base and the null score it holds under (see the module's docstring;
    `null_score` None: measured; `refused_at_least`: the share of unknown-topic questions refused at least)."""
    if not 0.0 < precision_target <= 1.0:
        raise ValueError("precision_target must lie in (0, 1]")
    if not 0.0 <= unknown_share < 1.0:
        raise ValueError("unknown_share must lie in [0, 1)")
    entries = list(entries)
    result = cross_validate(entries, vectors, folds=folds, seed=seed, scoring=scoring, null_score=null_score)
    suspects = suspects_of(entries, result)
    questions = len(result.confidence)
    suspected = np.zeros(len(entries), dtype=bool)
    suspected[list(suspects.indices)] = True
    if set_aside_suspects is None:
        set_aside_suspects = suspects.noise_rate >= NOISY
    trusted = ~suspected[result.rows] if set_aside_suspects else np.ones(questions, dtype=bool)
    unknown = result.unknown_confidence if unknown_share else np.zeros(0)
    confidence = np.concatenate([result.confidence[trusted], unknown])
    correct = np.concatenate([result.correct[trusted], np.zeros(len(unknown), dtype=bool)])
    weight = np.ones(len(confidence))
    counted = int(trusted.sum())
    if len(unknown) and counted:
        weight[counted:] = unknown_share / (1.0 - unknown_share) * counted / len(unknown)
    if questions < MIN_QUESTIONS:
        threshold = DEFAULT_THRESHOLD
    else:
        threshold = choose_threshold(confidence, correct, precision_target, weight)
        if unknown_share:
            threshold = max(threshold, refusal_floor(unknown, refused_at_least))
    precision, _ = measure(confidence, correct, threshold, weight)
    _, share = measure(result.confidence, result.correct, threshold)
    top1 = float(result.correct.mean()) if questions else 0.0
    return Calibration(
        threshold=threshold,
        precision_target=precision_target,
        precision=precision,
        answered_share=share,
        top1=top1,
        questions=questions,
        articles=result.articles,
        folds=result.folds,
        unknown_refused=float((unknown < threshold).mean()) if len(unknown) else 0.0,
        unknown_questions=len(unknown),
        suspects=suspects.indices,
        suspect_articles=suspects.articles,
        noise_rate=suspects.noise_rate,
        trusted_top1=float(result.correct[trusted].mean()) if counted else 0.0,
        set_aside=questions - counted,
        null_score=result.null_score,
    )
