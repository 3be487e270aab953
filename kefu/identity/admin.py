"""django-admin: the sign-in settings are read-only there (they change through the administration page, audited),
and django-otp's own device pages are taken out: they would show people's authenticator secrets and let devices be
edited with no audit row."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from kefu.identity.models import RoleTwoFactorRule, SignInSettings

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(RoleTwoFactorRule)
class RoleTwoFactorRuleAdmin(ReadOnly):
    list_display = ("role", "required", "version", "updated_at")


@admin.register(SignInSettings)
class SignInSettingsAdmin(ReadOnly):
    list_display = ("user", "source", "local_password_disabled", "last_sso_at")
    list_filter = ("source", "local_password_disabled")
