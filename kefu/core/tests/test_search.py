"""Text search conditions: the short-term form finds exactly what `icontains` finds."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core.search import text_contains, trigram_indexable
from kefu.tickets import services
from kefu.tickets.models import Ticket


@pytest.mark.parametrize(
    ("term", "indexable"),
    [
        ("漏水", False),
        ("李磊", False),
        ("ab", False),
        ("a b c", False),
        ("A-1", False),
        ("冰箱异响", True),
        ("abc", True),
        ("ab abc", True),
        ("GD2026", True),
        ("", False),
    ],
)
def test_which_terms_a_trigram_index_can_answer(term: str, indexable: bool) -> None:
    assert trigram_indexable(term) is indexable


def test_short_and_long_terms_find_what_icontains_finds(agent: Any) -> None:
    subjects = ["空调漏水", "Wi-Fi 断网", "WIFI slow", "wifi 已恢复", "卫生间漏水了", "表扬 AB 师傅", "ab"]
    for subject in subjects:
        services.ticket_create(actor=agent, subject=subject)
    for term in ["漏水", "水", "wi", "Wi", "WIFI", "Fi", "ab", "AB", "漏水了", "断网", "a", "-", "不存在"]:
        expected = set(Ticket.objects.filter(subject__icontains=term).values_list("subject", flat=True))
        found = set(Ticket.objects.filter(text_contains("subject", term)).values_list("subject", flat=True))
        assert found == expected, term
