from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "kefu.integrations"
    label = "integrations"
    verbose_name = _("集成")

    def ready(self) -> None:
        from kefu.integrations import permissions

        permissions.register()

        from kefu.integrations import handlers

        handlers.register()
