"""kefu_i18n's `translate` and `url` render exactly what Django's tags render, in both languages, with ids,
strings, `as` and contexts; and `stamp` writes what the date filter writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import translation

DJANGO = "{% load i18n %}"
OURS = "{% load i18n kefu_i18n kefu_ui %}"
BODY = ('{% translate "工单" %}|{% translate "客户" context "导航" %}|{% translate "保存" as label %}{{ label }}|'
        '{% trans "<b>" %}|{% translate text %}|'
        "{% url 'web:ticket_detail' ticket_id=7 %}|{% url 'web:ticket_detail' 12 %}|"
        "{% url 'web:ticket_detail' ticket_id=tid %}|{% url 'web:ticket_list' %}|"
        "{% url 'web:ticket_detail' ticket_id=7 as link %}{{ link }}|{% url name ticket_id=3 %}")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("autoescape", [True, False])
def test_the_same_output_as_djangos_tags(language: str, autoescape: bool) -> None:
    request = RequestFactory().get("/")
    values = {"text": "客户", "tid": 42, "name": "web:ticket_detail", "request": request}
    with translation.override(language):
        ours = Template(OURS + BODY)
        twice = [ours.render(Context(values, autoescape=autoescape)) for _ in range(2)]
        expected = Template(DJANGO + BODY).render(Context(values, autoescape=autoescape))
    assert twice == [expected, expected]
    assert "/tickets/42/" in expected


def test_a_translation_kept_for_one_language_is_not_served_in_the_other() -> None:
    template = Template(OURS + '{% translate "工单" %}')
    with translation.override("en"):
        english = template.render(Context())
    with translation.override("zh-hans"):
        chinese = template.render(Context())
    assert (english, chinese) == ("Work orders", "工单")


def test_an_argument_that_is_not_an_id_is_djangos_tag() -> None:
    template = Template(OURS + "{% url 'web:ticket_detail' ticket_id=value %}")
    assert template.render(Context({"value": "77"})) == "/tickets/77/"


def test_stamp_writes_what_the_date_filter_writes() -> None:
    when = datetime(2026, 12, 5, 16, 30, 5, tzinfo=UTC)
    for fmt in ("Y-m-d H:i", "m-d H:i", "Y-m-d H:i:s", "Y-m-d", "D, j M"):
        ours = Template(OURS + '{{ when|stamp:"' + fmt + '" }}').render(Context({"when": when}))
        django = Template(DJANGO + '{{ when|date:"' + fmt + '" }}').render(Context({"when": when}))
        assert ours == django, fmt
    assert Template(OURS + "{{ when|stamp }}").render(Context({"when": None})) == ""


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fixed_choices_render_what_the_form_s_loop_rendered(language: str) -> None:
    from kefu.tickets.choices import Priority, TicketType
    from kefu.web.option_lists import choice_options

    loop = Template('{% for v, l in choices %}<option value="{{ v }}"{% if v == selected %} selected{% endif %}>'
                    "{{ l }}</option>{% endfor %}")
    with translation.override(language):
        for enum, selected in ((TicketType, TicketType.REPAIR), (Priority, "urgent"), (Priority, None)):
            expected = loop.render(Context({"choices": enum.choices, "selected": selected}))
            assert [str(choice_options(enum, selected)) for _ in range(2)] == [expected, expected]
    with translation.override("en"):
        assert ">Repair</option>" in str(choice_options(TicketType, None))
    with translation.override("zh-hans"):
        assert ">报修</option>" in str(choice_options(TicketType, None))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_counters_bar_is_the_counters_template_and_follows_its_figures(language: str) -> None:
    from django.template.loader import render_to_string

    from kefu.tickets.selectors import Figure, ScopeCounters
    from kefu.web.templatetags.kefu_ui import counters_bar

    def groups(breached: int) -> list[ScopeCounters]:
        return [ScopeCounters(scope=("user", 7), key="user.7", figures=[
                    Figure("open", 3, "/tickets/?view=mine"), Figure("breached", breached, "/tickets/?sla=b")]),
                ScopeCounters(scope=("team", 2), key="team.2", figures=[Figure("due_soon", 1, "/tickets/?t")])]

    with translation.override(language):
        for breached in (0, 4, 0):
            expected = render_to_string("web/_counters.html", {"header_counters": groups(breached)})
            assert str(counters_bar(groups(breached))) == expected
        assert 'data-counter="breached">4</b>' in str(counters_bar(groups(4)))
