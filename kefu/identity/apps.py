from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "kefu.identity"
    label = "identity"
    verbose_name = _("两步验证与单点登录")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from kefu.identity import permissions, second_factor

        permissions.register()
        user_logged_in.connect(second_factor.on_login, dispatch_uid="kefu.identity.on_login")
