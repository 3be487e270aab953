from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "kefu.accounts"
    label = "accounts"
    verbose_name = _("账号与组织")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from kefu.accounts import permissions
        from kefu.accounts.sessions import index_on_login

        permissions.register()
        # Every way of signing in (the sign-in page, django-admin, a second factor, SSO, a test's force_login) ends
        # in Django's login(): the session is indexed there, so the first page after it pays nothing extra.
        user_logged_in.connect(index_on_login, dispatch_uid="kefu.accounts.sessions.index_on_login")
