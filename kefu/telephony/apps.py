from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    name = "kefu.telephony"
    label = "telephony"
    verbose_name = _("电话")

    def ready(self) -> None:
        from kefu.telephony import events, permissions  # noqa: F401  (events: the event types are declared at import)

        permissions.register()
