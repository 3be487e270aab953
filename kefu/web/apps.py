from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "kefu.web"
    label = "web"
    verbose_name = _("客服工作台")

    def ready(self) -> None:
        from kefu.web import live

        live.register()
