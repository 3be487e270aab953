from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "kefu.routing"
    label = "routing"
    verbose_name = _("排队与路由")

    def ready(self) -> None:
        from kefu.routing import events, permissions  # noqa: F401  (events: the event types are declared at import)

        permissions.register()

        from kefu.core.workers import register_worker_thread
        from kefu.routing.tasks import start_tick_thread

        register_worker_thread("routing.tick", start_tick_thread)
