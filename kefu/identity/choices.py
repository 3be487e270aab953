from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountSource(models.TextChoices):
    """Where a person's account comes from and is kept up to date."""

    LOCAL = "local", _("本地账号")
    OIDC = "oidc", _("单点登录（OIDC）")
    LDAP = "ldap", _("LDAP / AD 目录")
