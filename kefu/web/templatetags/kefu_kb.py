"""Template filters of the knowledge-base pages."""

from __future__ import annotations

from typing import Any

from django import template

from kefu.knowledge.choices import AskChannel

register = template.Library()


@register.filter
def kb_percent(value: Any) -> str:
    """A fraction (0.8125) as a percentage with one decimal ("81.3%"); "—" when unknown."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


@register.filter
def kb_channel(value: str) -> str:
    return str(dict(AskChannel.choices).get(value, value))
