"""The password step's gate: a person whose local password is switched off (an account kept by single sign-on)
is refused with a message that points to single sign-on, on the sign-in page and in django-admin alike.

Listed first in AUTHENTICATION_BACKENDS. Raising a form ValidationError from here reaches the sign-in form
(Django's AuthenticationForm turns it into the form's error); the accounts of a directory (LDAP) still sign in
with their directory password through the LDAP backend."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from kefu.identity.choices import AccountSource
from kefu.identity.models import SignInSettings


def sso_hint() -> str:
    from django.utils.translation import gettext as _

    if getattr(settings, "KEFU_OIDC_ENABLED", False):
        return _("此账号已停用本地密码，请点击“%(name)s”登录") % {"name": settings.KEFU_OIDC_BUTTON_LABEL}
    return _("此账号已停用本地密码，请使用单点登录；如有疑问请联系系统管理员")


class LocalPasswordGate:
    """Refuses the password step for accounts whose local password is switched off; otherwise lets the next
    backend decide. It never signs anyone in itself, so it has no get_user (a session never names it)."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> None:
        if not username or password is None:
            return None
        found = (SignInSettings.objects.filter(user__username__iexact=str(username)[:150],
                                               local_password_disabled=True)
                 .values_list("source", flat=True).first())
        if found is None:
            return None
        if found == AccountSource.LDAP and getattr(settings, "KEFU_LDAP_ENABLED", False):
            return None  # the directory password is checked by the LDAP backend (the local one is unusable)
        raise forms.ValidationError(sso_hint(), code="local_password_disabled")
