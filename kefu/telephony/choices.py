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
