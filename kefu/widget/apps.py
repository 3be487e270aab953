from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WidgetConfig(AppConfig):
    """The customer's side of web and app chat: the embeddable widget, its pages and its websocket."""

    name = "kefu.widget"
    label = "widget"
    verbose_name = _("网页在线客服")
