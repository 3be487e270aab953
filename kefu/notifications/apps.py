from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "kefu.notifications"
    label = "notifications"
    verbose_name = _("通知")

    def ready(self) -> None:
        from kefu.notifications import events, handlers, permissions

        permissions.register()
        handlers.register()
        assert events.NOTIFICATION_CREATED
