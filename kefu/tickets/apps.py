from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "kefu.tickets"
    label = "tickets"
    verbose_name = _("工单")

    def ready(self) -> None:
        from kefu.tickets import permissions

        permissions.register()

        from kefu.tickets import handlers

        handlers.register()
