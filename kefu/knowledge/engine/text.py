"""Language detection and the tokens of the lexical (BM25) ranking.

One tokenizer serves both languages, so a Chinese question with an English product name still matches:
- runs of Chinese characters give their single characters and their overlapping pairs (字 and 字词 "bigrams"; no
  word segmenter is needed: the pairs carry most of what words would, and nothing is lost on unknown words);
- Latin words and numbers are lower-cased, stop words dropped, and English words reduced to their Snowball stem
  ("refunds", "refunded" → "refund").
"""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer

ZH = "zh-hans"
EN = "en"
LANGUAGES = (ZH, EN)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:'[a-z]+)?")

# Function words that say nothing about what is asked. Negations, question words and "card"-like nouns stay.
_STOP_WORDS = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "if", "then", "than", "so", "as", "of", "at", "by", "for", "with",
        "about", "into", "onto", "from", "to", "in", "on", "up", "out", "off", "over", "under", "again",
        "further", "once", "here", "there", "all", "any", "both", "each", "few", "more", "most", "other",
        "some", "such", "own", "same", "too", "very", "s", "t", "just", "i", "me", "my", "myself", "we", "our",
        "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself",
        "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
        "this", "that", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have",
        "has", "had", "having", "do", "does", "did", "doing", "would", "should", "could", "ought", "i'm",
        "you're", "he's", "she's", "it's", "we're", "they're", "i've", "you've", "we've", "they've", "i'd",
        "you'd", "he'd", "she'd", "we'd", "they'd", "i'll", "you'll", "he'll", "she'll", "we'll", "they'll",
        "let's", "that's", "there's", "here's", "please", "pls", "thanks", "thank", "hi", "hello", "hey", "can",
        "will", "shall", "may", "might", "must", "also", "just", "ok", "okay"
    ]
)

_stemmer_lock = threading.Lock()
_stemmer = Stemmer.Stemmer("english")


def detect_language(text: str) -> str:
    """ "zh-hans" when the text holds Chinese characters (mixed text with Chinese counts as Chinese), else "en"."""
    return ZH if _HAN.search(text) else EN


def normalise(text: str) -> str:
    """Full-width forms folded (ＡＢＣ１ → ABC1), lower case, curly apostrophes made straight."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")


def tokens(text: str) -> list[str]:
    """The BM25 terms of `text` (see the module's docstring)."""
    out: list[str] = []
    words: list[str] = []
    for piece in _TOKEN.findall(normalise(text)):
        if piece[0] >= "\u3400":  # a run of Chinese characters (the pattern's other branch is ASCII)
            out += piece
            out += [piece[i : i + 2] for i in range(len(piece) - 1)]
        elif piece not in _STOP_WORDS:
            words.append(piece.split("'", 1)[0])
    if words:
        with _stemmer_lock:  # a Stemmer object is not safe to share between threads
            out += _stemmer.stemWords(words)
    return out
