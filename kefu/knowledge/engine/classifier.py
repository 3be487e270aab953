"""A word classifier over a knowledge base's example questions, for knowledge bases whose examples are often filed
under the wrong article.

Multinomial logistic regression (scikit-learn) on TF-IDF weights of the same tokens BM25 ranks by (text.tokens:
Chinese characters and character pairs, English stems), one class per article. Where examples disagree with their
neighbours, the nearest example and even the vote of the nearest ten follow whatever was filed near the question;
a classifier weighs every example of every article at once and learns which words tell articles apart, so a few
misfiled examples move it little. The index adds its log-probabilities to the article scores of such knowledge bases
only (index._View.classifier_weight); the figures behind it are in docs/knowledge-bot.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

MIN_DOCUMENT_FREQUENCY = 2  # a token must appear in two example questions to be a feature (one-offs are noise)
INVERSE_REGULARISATION = 3.0  # scikit-learn's C, chosen by cross-validation on CIC train (docs/knowledge-bot.md)
TOLERANCE = 1e-3  # L-BFGS stops after ≈ 40 iterations on 10,000 examples of 118 articles (≈ 5 s); scikit-learn's
# 1e-4 takes ≈ 70 and is no more accurate in cross-validation (stopping early regularises a little more)
MAX_ITERATIONS = 300
LOG_FLOOR = -30.0  # groups the model never saw, and vanishing probabilities, stay finite


def _identity(terms: list[str]) -> list[str]:
    return terms


class WordClassifier:
    """Log-probabilities of each group (article) for token lists; `log_probabilities` columns follow group numbers
    0 … groups-1. A group without examples, or a classifier that could not be trained (fewer than two groups, no
    token shared by two examples), gets log-probability 0 for every group: it then changes no ranking."""

    def __init__(self, documents: Sequence[list[str]], group_of_document: np.ndarray, groups: int) -> None:
        self.groups = groups
        self._vectoriser = None
        self._model = None
        labels = np.asarray(group_of_document, dtype=np.int64)
        if groups < 2 or len(np.unique(labels)) < 2:
            return
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectoriser = TfidfVectorizer(
            analyzer=_identity, sublinear_tf=True, min_df=min(MIN_DOCUMENT_FREQUENCY, len(documents))
        )
        try:
            features = vectoriser.fit_transform(list(documents))
        except ValueError:  # no token left after the document-frequency cut
            return
        model = LogisticRegression(C=INVERSE_REGULARISATION, tol=TOLERANCE, max_iter=MAX_ITERATIONS)
        with warnings.catch_warnings():  # a fit that stops at MAX_ITERATIONS is still a usable classifier
            warnings.simplefilter("ignore")
            model.fit(features, labels)
        self._vectoriser, self._model = vectoriser, model

    def log_probabilities(self, questions: Sequence[list[str]]) -> np.ndarray:
        """(questions, groups) natural-log probabilities (≤ 0); all zeros when the classifier is not trained."""
        out = np.zeros((len(questions), self.groups), dtype=np.float32)
        if self._model is None or self._vectoriser is None or not len(questions):
            return out
        out[:] = -np.inf
        out[:, self._model.classes_] = self._model.predict_log_proba(self._vectoriser.transform(list(questions)))
        return np.maximum(out, LOG_FLOOR)
