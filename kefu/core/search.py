"""Text search conditions shaped for the database's indexes.

On PostgreSQL `field__icontains` (`UPPER(field) LIKE '%Q%'`) is answered from the field's trigram index
(kefu.core.migration_ops.TrigramIndex). A trigram needs three word characters in a row: for a shorter term
(漏水, a two-character name) the index can only hand back every row, which costs more than reading the table,
and the planner does not know it. So a short term is written as `LOWER(field) LIKE '%q%'`, which that index
does not match, and the table is read as it should be. Both forms find the same rows.
"""

from __future__ import annotations

import re

from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.lookups import Contains

TRIGRAM = 3
_WORDS = re.compile(r"\w+")


def trigram_indexable(term: str) -> bool:
    """Whether pg_trgm can draw at least one trigram from `term` (a run of three word characters)."""
    return any(len(word) >= TRIGRAM for word in _WORDS.findall(term))


def text_contains(field: str, term: str) -> Q:
    """`field` contains `term`, in any case, in the form that lets the trigram index help only where it can."""
    if trigram_indexable(term):
        return Q(**{f"{field}__icontains": term})
    return Q(Contains(Lower(F(field)), term.lower()))
