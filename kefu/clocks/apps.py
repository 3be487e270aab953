from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClocksConfig(AppConfig):
    name = "kefu.clocks"
    label = "clocks"
    verbose_name = _("计时")

    def ready(self) -> None:
        from kefu.clocks import events, handlers
        from kefu.clocks.tasks import start_sweep_thread
        from kefu.core.workers import register_worker_thread

        assert events.CLOCK_BREACHED
        handlers.register()
        # warnings and breaches within seconds (the minute's periodic sweep backs it up)
        register_worker_thread("clocks.sweep", start_sweep_thread)
