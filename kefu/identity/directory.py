"""LDAP / Active Directory sign-in on django-auth-ldap: the person types their directory user name and password on
Kefu's sign-in page; the directory checks the password (a bind as the person); their entry and groups are handed to
kefu.identity.sso, which creates or updates the account. django-auth-ldap never writes the account itself
(AUTH_LDAP_ALWAYS_UPDATE_USER is off and get_or_build_user returns the account the service kept)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db import transaction
from django_auth_ldap.backend import LDAPBackend

from kefu.accounts.backends import AccountBackend
from kefu.core.errors import ApplicationError
from kefu.identity.choices import AccountSource
from kefu.identity.sso import ExternalIdentity, sso_refused, sso_sign_in


def _attr(attrs: Any, name: str) -> str:
    values = attrs.get(name) or attrs.get(name.lower()) or []
    return str(values[0]).strip() if values else ""


class DirectoryBackend(LDAPBackend):
    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[Any, bool]:
        groups = sorted(ldap_user.group_names) if self.settings.GROUP_TYPE is not None else []
        identity = ExternalIdentity(
            source=AccountSource.LDAP, subject=str(ldap_user.dn)[:255], username=username[:150],
            display_name=_attr(ldap_user.attrs, settings.KEFU_LDAP_NAME_ATTR)[:100],
            email=_attr(ldap_user.attrs, settings.KEFU_LDAP_EMAIL_ATTR)[:254], groups=groups)
        try:
            return sso_sign_in(identity=identity), False
        except ApplicationError as refused:
            with transaction.atomic():
                sso_refused(identity=identity, source=AccountSource.LDAP, reason=refused.message)
            # reaches the sign-in form as its error (see kefu.identity.backends)
            raise forms.ValidationError(refused.message, code=refused.code) from None

    def get_user(self, user_id: Any) -> Any:
        return AccountBackend().get_user(user_id)  # an account deactivated in Kefu is signed out
