"""The base model's choice displays: the label of the value, translated at display time, as Django's own."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from kefu.tickets.choices import Status
from kefu.tickets.models import Ticket


@pytest.mark.parametrize("status", list(Status))
def test_display_is_the_translated_label_in_each_language(status: Status) -> None:
    ticket = Ticket(status=status)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert ticket.get_status_display() == str(status.label)
    with translation.override("en"):
        assert Ticket(status=Status.NEW).get_status_display() == "New"


def test_an_unknown_value_is_shown_as_it_is() -> None:
    ticket: Any = Ticket(status="archived")
    assert ticket.get_status_display() == "archived"
    assert Ticket(status=None).get_status_display() is None
