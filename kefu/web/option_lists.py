"""The option lists every work-order page offers (people to assign, departments to dispatch to), rendered once
and kept in the cache for a minute (per language): the directory changes rarely, the page is opened all day.
Services that change people, teams or departments bump the directory's version (kefu.core.versions)."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kefu.accounts.models import Department, User
from kefu.core.versions import DIRECTORY, current

TTL_SECONDS = 60


# Fixed choices (an enum of the code) rendered once per process and language: (value, "<option value=…", ">label…")
_FIXED: dict[tuple[Any, str], tuple[tuple[str, str, str], ...]] = {}


def choice_options(choices: Any, selected: Any) -> SafeString:
    """`<option>`s of a `TextChoices` enum, `selected` marked: the labels are translated and escaped once per
    language, not on every page."""
    language = get_language()
    rendered = _FIXED.get((choices, language))
    if rendered is None:
        rendered = tuple((str(value), format_html('<option value="{}"', value), format_html(">{}</option>", label))
                         for value, label in choices.choices)
        _FIXED[(choices, language)] = rendered
    chosen = "" if selected is None else str(selected)
    return mark_safe("".join(  # noqa: S308 - parts built with format_html from escaped values
        f"{start}{' selected' if value == chosen else ''}{end}" for value, start, end in rendered))


def _key(name: str) -> str:
    return f"kefu:option-lists:{name}:{current(DIRECTORY)}:{get_language()}"


def assignee_options(roles: frozenset[str]) -> SafeString:
    """`<optgroup>`s of the active people who may be assigned, by team (none selected: the select's data-value
    says which one is, see app.js)."""
    key = _key("assignees")
    html = cache.get(key)
    if html is None:
        people = (User.objects.filter(is_active=True, role__in=roles).select_related("team")
                  .only("id", "username", "display_name", "first_name", "last_name", "employee_no", "team__name")
                  .order_by("team__name", "display_name", "username"))
        groups: dict[str, list[User]] = {}
        for person in people:
            groups.setdefault(person.team.name if person.team else _("未分组"), []).append(person)
        html = "".join(
            format_html('<optgroup label="{}">{}</optgroup>', team, format_html_join(
                "", '<option value="{}">{}{}</option>',
                ((p.pk, str(p), f" · {p.employee_no}" if p.employee_no else "") for p in members)))
            for team, members in groups.items())
        cache.set(key, html, TTL_SECONDS)
    return mark_safe(html)  # noqa: S308 - built above with format_html from escaped values


def department_options() -> SafeString:
    """`<option>`s of the departments that receive dispatches."""
    key = _key("departments")
    html = cache.get(key)
    if html is None:
        html = format_html_join("", '<option value="{}">{}</option>', Department.objects.filter(
            is_service_center=False).order_by("name").values_list("pk", "name"))
        cache.set(key, html, TTL_SECONDS)
    return mark_safe(html)  # noqa: S308 - built with format_html_join from escaped values


def transfer_options() -> SafeString:
    """Where a conversation may be transferred: a team's inbox (`team:<id>`) or a colleague who answers
    conversations (`user:<id>`, grouped by team)."""
    from kefu.accounts.choices import FRONT_LINE
    from kefu.accounts.models import Team

    key = _key("transfer")
    html = cache.get(key)
    if html is None:
        teams = format_html_join("", '<option value="team:{}">{}</option>',
                                 Team.objects.filter(is_active=True).order_by("name").values_list("pk", "name"))
        people = (User.objects.filter(is_active=True, role__in=FRONT_LINE).select_related("team")
                  .only("id", "username", "display_name", "first_name", "last_name", "team__name")
                  .order_by("team__name", "display_name", "username"))
        groups: dict[str, list[User]] = {}
        for person in people:
            groups.setdefault(person.team.name if person.team else _("未分组"), []).append(person)
        html = format_html('<optgroup label="{}">{}</optgroup>', _("转到班组（排队待接入）"), teams) + "".join(
            format_html('<optgroup label="{}">{}</optgroup>', _("同事：%(team)s") % {"team": team},
                        format_html_join("", '<option value="user:{}">{}</option>',
                                         ((p.pk, str(p)) for p in members)))
            for team, members in groups.items())
        cache.set(key, html, TTL_SECONDS)
    return mark_safe(html)  # noqa: S308 - built above with format_html from escaped values
