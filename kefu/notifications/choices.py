from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    IN_APP = "in_app", _("站内通知")
    EMAIL = "email", _("邮件")
    SMS = "sms", _("短信")
    WECOM = "wecom", _("企业微信群机器人")


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENT = "sent", _("已发送")
    RETRYING = "retrying", _("重试中")
    FAILED = "failed", _("已放弃")
    SKIPPED = "skipped", _("未发送")  # no address (no e-mail, no phone, no robot for the team)


EXTERNAL = (Channel.EMAIL, Channel.SMS, Channel.WECOM)
