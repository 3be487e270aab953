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


class ConsentSource(models.TextChoices):
    """How a consent (or a refusal) was given: kept beside who recorded it and when."""

    PHONE = "phone", _("电话中确认")
    WRITTEN = "written", _("书面/签字")
    WEB_FORM = "web_form", _("网页或小程序表单")
    SMS_REPLY = "sms_reply", _("短信回复（如回复 TD 退订）")
    IN_PERSON = "in_person", _("现场当面")
    IMPORT = "import", _("批量导入")
    API = "api", _("接口同步")
