from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClocksConfig(AppConfig):
    name = "kefu.clocks"
    label = "clocks"
    verbose_name = _("计时")

    def ready(self) -> None:
        from kefu.clocks import events, handlers

        assert events.CLOCK_BREACHED
        handlers.register()
