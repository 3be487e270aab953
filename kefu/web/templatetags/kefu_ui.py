"""Template helpers of the workspace: icons, badges, navigation state and durations in words."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

register = template.Library()

# Feather-style line icons (MIT); constant markup, never user data.
_ICONS = {
    "home": '<path d="M3 10.5 12 3l9 7.5V21h-6v-6H9v6H3z"/>',
    "inbox": '<path d="M22 12h-6l-2 3h-4l-2-3H2"/><path d="M5.5 5h13L22 12v7H2v-7z"/>',
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "users": (
        '<circle cx="9" cy="8" r="4"/>'
        '<path d="M2 21c0-4 3-6 7-6s7 2 7 6"/>'
        '<path d="M16 4a4 4 0 0 1 0 8M22 21c0-3-2-5-4-5.6"/>'
    ),
    "truck": (
        '<path d="M1 4h14v12H1zM15 9h4l3 3v4h-7z"/>'
        '<circle cx="5.5" cy="18.5" r="2"/>'
        '<circle cx="18.5" cy="18.5" r="2"/>'
    ),
    "search": '<circle cx="11" cy="11" r="7"/><path d="m21 21-4.3-4.3"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "alert": '<path d="M12 3 2 21h20z"/><path d="M12 10v5M12 18h.01"/>',
    "paperclip": (
        '<path d="m21 11-8.6 8.6a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.6 8.6a2 2 0 0 1-2.8-2.8L15.5 7"/>'
    ),
    "x": '<path d="M18 6 6 18M6 6l12 12"/>',
    "bell": '<path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9"/><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0"/>',
    "bookmark": '<path d="M19 21 12 16l-7 5V3h14z"/>',
    "eye": '<path d="M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z"/><circle cx="12" cy="12" r="3"/>',
    "arrow-up": '<path d="M12 19V5M5 12l7-7 7 7"/>',
    "send": '<path d="M22 2 11 13M22 2l-7 20-4-9-9-4z"/>',
    "chart": '<path d="M3 3v18h18"/><path d="m7 14 4-4 3 3 6-6"/>',
    "download": '<path d="M12 3v12M7 10l5 5 5-5"/><path d="M4 17v4h16v-4"/>',
    "settings": (
        '<circle cx="12" cy="12" r="3"/>'
        '<path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-2.8 1.2V21a2 2 0 1 1-4 0'
        'v-.1a1.7 1.7 0 0 0-2.8-1.2l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1A1.7 1.7 0 0 0 3.2 14H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0'
        ' 1.2-2.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1A1.7 1.7 0 0 0 10 3.2V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 2.8 1.2l.1-.1a2'
        ' 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0 1.2 2.8H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>'
    ),
    "chat": (
        '<path d="M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-4-.9L3 20l1.1-4A8.4 8.4 0 0 1 3 11.5 8.5 8.5 0 0 1 12 3'
        'a8.5 8.5 0 0 1 9 8.5z"/>'
    ),
    "mail": '<rect x="2" y="4" width="20" height="16" rx="2"/><path d="m22 7-10 6L2 7"/>',
    "wechat": (
        '<path d="M9.5 4C5.4 4 2 6.8 2 10.2c0 1.9 1 3.6 2.7 4.7L4 17.5l2.9-1.5c.8.2 1.7.4 2.6.4"/>'
        '<path d="M15.5 9.5c3.6 0 6.5 2.4 6.5 5.3 0 1.6-.9 3-2.3 4l.6 2.2-2.5-1.3c-.7.2-1.5.3-2.3.3-3.6 0-6.5-2.4'
        '-6.5-5.2s2.9-5.3 6.5-5.3z"/>'
    ),
    "app": '<rect x="6" y="2" width="12" height="20" rx="2.5"/><path d="M11 18h2"/>',
    "phone": (
        '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2'
        ' 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.5 2.1L8 9.9a16 16 0 0 0 6 6l1.3-1.3a2 2 0'
        ' 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2z"/>'
    ),
    "user-check": '<circle cx="9" cy="7" r="4"/><path d="M2 21c0-4 3-6 7-6s7 2 7 6"/><path d="m16 11 2 2 4-4"/>',
    "shuffle": '<path d="M16 3h5v5M4 20 21 3M21 16v5h-5M15 15l6 6M4 4l5 5"/>',
    "file-text": (
        '<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z"/><path d="M14 2v6h6M16 13H8M16 17H8'
        'M10 9H8"/>'
    ),
    "check-circle": '<circle cx="12" cy="12" r="9"/><path d="m8 12 3 3 5-6"/>',
    "zap": '<path d="M13 2 3 14h9l-1 8 10-12h-9z"/>',
    "keyboard": (
        '<rect x="2" y="6" width="20" height="12" rx="2"/>'
        '<path d="M6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10"/>'
    ),
}


@register.simple_tag
def icon(name: str, size: int = 16) -> SafeString:
    return _icon(str(name), int(size))


@functools.lru_cache(maxsize=256)
def _icon(name: str, size: int) -> SafeString:
    body = _ICONS.get(name, "")
    return mark_safe(  # noqa: S308 - constant SVG markup from the table above
        f'<svg class="icon" width="{size}" height="{size}" viewBox="0 0 24 24" fill="none" '
        f'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
        f'aria-hidden="true">{body}</svg>'
    )


# Numeric date formats of the pages, as strftime patterns: `stamp` renders them without Django's date
# formatter (language-independent: digits only); any other format is Django's `date` filter.
_STAMPS = {"Y-m-d H:i": "%Y-%m-%d %H:%M", "m-d H:i": "%m-%d %H:%M", "Y-m-d H:i:s": "%Y-%m-%d %H:%M:%S",
           "Y-m-d": "%Y-%m-%d"}


@register.filter
def stamp(value: Any, fmt: str = "Y-m-d H:i") -> str:
    """`{{ when|stamp:"m-d H:i" }}`: a datetime in the current time zone, as the date filter would write it."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    pattern = _STAMPS.get(fmt)
    if pattern is None or not isinstance(value, datetime):
        return date_filter(value, fmt)
    return value.strftime(pattern)


@register.simple_tag(takes_context=True)
def nav_active(context: template.Context, section: str) -> str:
    return "active" if context.get("nav") == section else ""


@register.filter
def initial(user: Any) -> str:
    text = str(user or "?").strip()
    return text[:1].upper() if text else "?"


@register.simple_tag
def badge(kind: str, value: str, label: Any) -> str:
    """A coloured badge: `kind` picks the palette (status, priority, sla, type, tier, dispatch)."""
    return format_html('<span class="badge badge-{}-{}">{}</span>', kind, value or "none", label)


def _business_words(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(d)s天%(h)s小时") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s小时%(m)s分") % {"h": hours, "m": minutes}
    return ngettext("%(m)s分钟", "%(m)s分钟", minutes) % {"m": minutes}


@register.filter
def remaining(due: datetime | None) -> str:
    """'2小时5分后到期' / '已超时 3小时' relative to now (wall-clock; the SLA engine owns business time)."""
    if not due:
        return ""
    delta = (due - timezone.now()).total_seconds()
    if delta >= 0:
        return _("剩余 %(t)s") % {"t": _business_words(delta)}
    return _("超时 %(t)s") % {"t": _business_words(delta)}


@register.filter
def duration_words(seconds: int | float | timedelta | None) -> str:
    if seconds is None:
        return ""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    return _business_words(seconds)


@register.filter
def filesize(num: int) -> str:
    num = int(num or 0)
    if num < 1024:
        return f"{num} B"
    if num < 1024 * 1024:
        return f"{num / 1024:.0f} KB"
    return f"{num / 1024 / 1024:.1f} MB"


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """The current GET query with some parameters replaced (None/'' removes them)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()


@register.filter
def lookup(mapping: Any, key: Any) -> Any:
    """mapping[key] in a template, "" when absent (for error slots keyed by object id)."""
    try:
        return mapping.get(key, "") if mapping else ""
    except AttributeError:
        return ""


@register.filter
def category_name(category: Any) -> str:
    """A category in the interface language (the English name when there is one)."""
    from django.utils.translation import get_language

    if category is None:
        return ""
    if (get_language() or "").startswith("en") and getattr(category, "name_en", ""):
        return str(category.name_en)
    return str(category)


_COUNTERS_RENDERED: dict[Any, str] = {}
_COUNTERS_KEPT = 512


@register.simple_tag
def counters_bar(groups: Any) -> SafeString:
    """The header's counters (web/_counters.html), rendered once per language and set of figures: on every
    page, and the figures change a few times an hour."""
    key = (get_language(), tuple((g.key, tuple((f.name, f.value, f.url) for f in g.figures)) for g in groups))
    html = _COUNTERS_RENDERED.get(key)
    if html is None:
        html = render_to_string("web/_counters.html", {"header_counters": groups})
        if len(_COUNTERS_RENDERED) >= _COUNTERS_KEPT:
            _COUNTERS_RENDERED.clear()
        _COUNTERS_RENDERED[key] = html
    return mark_safe(html)  # noqa: S308 - rendered by the template engine, escaped there
