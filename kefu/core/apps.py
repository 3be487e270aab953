from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "kefu.core"
    label = "core"
    verbose_name = _("核心")

    def ready(self) -> None:
        from kefu.core import checks, permissions

        permissions.register()
        assert checks.language_cookie_secure  # registers the deployment checks

        from kefu.core import calendar_admin  # declares the event type calendar.changed

        assert calendar_admin.CALENDAR_CHANGED
