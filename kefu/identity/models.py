"""Sign-in settings kept beside the accounts: which roles must use a second factor, and per person where the
account comes from and whether its local password may be used. The second factors themselves are django-otp's
devices (an authenticator app: TOTPDevice; recovery codes: StaticDevice, stored as keyed hashes)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.accounts.choices import Role
from kefu.identity.choices import AccountSource


class RoleTwoFactorRule(models.Model):
    """Whether the people of one role must sign in with a second factor (no row: not required)."""

    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, unique=True)
    required = models.BooleanField(_("必须两步验证"), default=False)
    version = models.PositiveIntegerField(_("版本"), default=1)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("角色两步验证要求")
        verbose_name_plural = _("角色两步验证要求")
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.required}"


class SignInSettings(models.Model):
    """One person's sign-in settings (no row: a local account whose password may be used)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signin_settings",
                                verbose_name=_("用户"))
    source = models.CharField(_("账号来源"), max_length=10, choices=AccountSource.choices,
                              default=AccountSource.LOCAL)
    # The provider's stable subject ("sub" of OIDC, the entry's DN in LDAP): the account is found by it again
    # even when the person's user name changes at the provider.
    external_subject = models.CharField(_("外部标识"), max_length=255, blank=True, db_index=True)
    local_password_disabled = models.BooleanField(_("禁用本地密码"), default=False)
    last_sso_at = models.DateTimeField(_("最近单点登录"), null=True, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("登录设置")
        verbose_name_plural = _("登录设置")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_subject"], condition=~models.Q(external_subject=""),
                                    name="signin_settings_subject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.source})"
