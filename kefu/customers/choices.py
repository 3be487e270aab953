from django.db import models
from django.utils.translation import gettext_lazy as _


class Tier(models.TextChoices):
    A = "A", _("A 类")
    B = "B", _("B 类")
    C = "C", _("C 类")
    D = "D", _("D 类")


class CustomerKind(models.TextChoices):
    PERSON = "person", _("个人")
    COMPANY = "company", _("企业")


class ContactKind(models.TextChoices):
    PHONE = "phone", _("电话")
    EMAIL = "email", _("邮箱")
    WECHAT = "wechat", _("微信")
