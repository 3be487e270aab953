"""Template filters of the agent's desktop."""

from __future__ import annotations

from django import template

from kefu.web.desk import clock as _clock

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as 1:05 or 1:02:03 (— for none)."""
    return _clock(seconds)


@register.filter
def seconds_attr(seconds: float | None) -> str:
    """Seconds for a data attribute the page counts on from ("" for none), in a locale-free form."""
    return "" if seconds is None else f"{float(seconds):.1f}"
