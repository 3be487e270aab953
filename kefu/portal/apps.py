from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The public self-service portal under /help/: FAQ search and categories, a web form that opens a work order,
    the order-status lookup and the chat widget, in Chinese and English, for anonymous customers."""

    name = "kefu.portal"
    label = "portal"
    verbose_name = _("自助服务门户")

    def ready(self) -> None:
        from kefu.core.audit_log import register_action_labels
        from kefu.portal.services import LOOKUP_REFUSED, ORDERS_READ, WEB_ORDER

        register_action_labels({ORDERS_READ: _("自助门户查询工单状态"), LOOKUP_REFUSED: _("自助门户工单查询未通过验证"),
                                WEB_ORDER: _("自助门户提交工单")})
