"""django-admin: the sign-in settings are read-only there (they change through the administration page, audited),
and django-otp's own device pages are taken out: they would show people's authenticator secrets and let devices be
edited with no audit row."""

from __future__ import annotations

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from kefu.core.admin_base import ReadOnlyModelAdmin
from kefu.identity.models import RoleTwoFactorRule, SignInSettings

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(RoleTwoFactorRule)
class RoleTwoFactorRuleAdmin(ReadOnlyModelAdmin):
    list_display = ("role", "required", "version", "updated_at")


@admin.register(SignInSettings)
class SignInSettingsAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "source", "local_password_disabled", "last_sso_at")
    list_filter = ("source", "local_password_disabled")
