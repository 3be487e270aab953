"""What a PBX reports about a call (the CTI contract's `event`), and the state a call is in."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CtiEvent(models.TextChoices):
    OFFERED = "offered", _("来电")
    QUEUED = "queued", _("进入队列")
    RINGING = "ringing", _("振铃")
    ANSWERED = "answered", _("接通")
    HELD = "held", _("保持")
    RESUMED = "resumed", _("恢复通话")
    TRANSFERRED = "transferred", _("转接")
    ENDED = "ended", _("挂断")
    ABANDONED = "abandoned", _("放弃")
    VOICEMAIL = "voicemail", _("语音留言")
    RECORDING = "recording", _("录音就绪")


class CallState(models.TextChoices):
    OFFERED = "offered", _("来电")
    QUEUED = "queued", _("排队中")
    RINGING = "ringing", _("振铃中")
    TALKING = "talking", _("通话中")
    HELD = "held", _("保持中")
    ENDED = "ended", _("已结束")
    ABANDONED = "abandoned", _("已放弃")
    VOICEMAIL = "voicemail", _("语音留言")


# Events at the same instant are applied in the order a call lives them (a PBX often stamps several with one
# second): a call is offered, queued, rings, is answered, held and resumed, transferred, then ends.
EVENT_ORDER = {e: i for i, e in enumerate((
    CtiEvent.OFFERED, CtiEvent.QUEUED, CtiEvent.RINGING, CtiEvent.ANSWERED, CtiEvent.HELD, CtiEvent.RESUMED,
    CtiEvent.TRANSFERRED, CtiEvent.VOICEMAIL, CtiEvent.ABANDONED, CtiEvent.ENDED, CtiEvent.RECORDING))}


class IvrAction(models.TextChoices):
    """What a digit (or a menu's timeout rule) of an IVR flow does."""

    MENU = "menu", _("进入子菜单")
    QUEUE = "queue", _("转人工队列")
    VOICEMAIL = "voicemail", _("语音留言")
    ORDER_STATUS = "order_status", _("自助查询工单状态")
    TRANSFER = "transfer", _("转接号码")
    HANGUP = "hangup", _("挂机")
    REPEAT = "repeat", _("重听本菜单")


# Actions that end the caller's time in the menus: a flow must let every caller reach one.
IVR_EXITS = frozenset({IvrAction.QUEUE, IvrAction.VOICEMAIL, IvrAction.TRANSFER, IvrAction.HANGUP})


class ClosedAction(models.TextChoices):
    """What follows the out-of-hours or holiday message."""

    VOICEMAIL = "voicemail", _("播放后转语音留言")
    HANGUP = "hangup", _("播放后挂机")


class IvrLanguage(models.TextChoices):
    """The language of the sentences Kefu adds to the prompts (order status, "invalid choice")."""

    ZH = "zh-hans", _("中文")
    EN = "en", _("英文")
