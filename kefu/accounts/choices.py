from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    AGENT = "agent", _("客服")
    TEAM_LEAD = "team_lead", _("客服组长")
    SHIFT_LEAD = "shift_lead", _("客服班长")
    QA = "qa", _("质检培训")
    MANAGER = "manager", _("客服经理")
    ADMIN = "admin", _("系统管理员")
    DEPARTMENT = "department", _("部门人员")
