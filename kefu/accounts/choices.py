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


# Role groups the apps' permission modules grant rights to.
FRONT_LINE = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER, Role.ADMIN})
SERVICE_STAFF = FRONT_LINE | {Role.QA}
LEADS = frozenset({Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER, Role.ADMIN})


class TokenScope(models.TextChoices):
    """What a personal API token may do (kefu/apiutils/scopes.py maps every API operation to one)."""

    READ = "read", _("只读")
    TICKETS = "tickets", _("工单")
    CUSTOMERS = "customers", _("客户")
    ADMIN = "admin", _("管理")
    TELEPHONY = "telephony", _("电话系统上报")
