from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    name = "kefu.telephony"
    label = "telephony"
    verbose_name = _("电话")

    def ready(self) -> None:
        from kefu.telephony import events, permissions  # noqa: F401  (events: the event types are declared at import)

        permissions.register()
        from kefu.core.audit_log import register_action_labels
        from kefu.telephony.ivr_selectors import ORDERS_READ

        register_action_labels({ORDERS_READ: _("语音导航查询工单状态")})
        from kefu.telephony import after_contact

        after_contact.register()

        from kefu.telephony.routing_handler import register as register_routing

        register_routing()  # accepted routed calls are put through to the agent's extension
