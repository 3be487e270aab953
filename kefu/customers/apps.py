from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "kefu.customers"
    label = "customers"
    verbose_name = _("客户档案")

    def ready(self) -> None:
        from kefu.customers import permissions

        permissions.register()
