from django.db import models
from django.utils.translation import gettext_lazy as _


class ErasureStatus(models.TextChoices):
    PENDING = "pending", _("待审批")
    DONE = "done", _("已执行")
    REJECTED = "rejected", _("已驳回")
    EXPIRED = "expired", _("已过期")


class AskedBy(models.TextChoices):
    """Who asked for the erasure (the data subject's request, or another lawful ground)."""

    CUSTOMER = "customer", _("客户本人")
    REPRESENTATIVE = "representative", _("代理人或监护人")
    REGULATOR = "regulator", _("监管机构或司法机关")
    INTERNAL = "internal", _("公司内部（如目的已实现）")


class ScrubCause(models.TextChoices):
    ERASURE = "erasure", _("删除申请")
    RETENTION = "retention", _("保存期限")
