"""Calls as the PBX reports them: every CTI event kept once (`CallEvent`), and the call they add up to (`Call`),
recomputed from all its events whenever one arrives — so late and out-of-order events end in the same call."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.telephony.choices import CallState, CtiEvent


class Call(models.Model):
    """One call, known by the PBX's `call_id`. Times are the PBX's (`at` of its events), not arrival times."""

    call_id = models.CharField(_("呼叫编号"), max_length=100, unique=True)
    caller = models.CharField(_("主叫号码"), max_length=40, blank=True)
    called = models.CharField(_("被叫号码"), max_length=40, blank=True)
    queue = models.ForeignKey("routing.Queue", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="calls", verbose_name=_("队列"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("坐席"))
    state = models.CharField(_("状态"), max_length=10, choices=CallState.choices, default=CallState.OFFERED)
    offered_at = models.DateTimeField(_("来电时间"), db_index=True)
    queued_at = models.DateTimeField(_("进入队列"), null=True, blank=True)
    answered_at = models.DateTimeField(_("接通时间"), null=True, blank=True)
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    wait_seconds = models.FloatField(_("等待秒数"), null=True, blank=True)  # queue entry to answer or abandon
    talk_seconds = models.FloatField(_("通话秒数"), default=0)
    hold_seconds = models.FloatField(_("保持秒数"), default=0)
    transfers = models.PositiveSmallIntegerField(_("转接次数"), default=0)
    voicemail = models.BooleanField(_("语音留言"), default=False)
    recording_url = models.CharField(_("录音地址"), max_length=500, blank=True)
    # the caller's leg as the PBX names it (Asterisk's channel, FreeSWITCH's UUID): what a transfer moves
    pbx_channel = models.CharField(_("电话系统通道"), max_length=200, blank=True)
    last_event_at = models.DateTimeField(_("最后事件时间"))
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("通话")
        verbose_name_plural = _("通话")
        indexes = [models.Index(fields=["queue", "offered_at"]), models.Index(fields=["agent", "-offered_at"])]

    def __str__(self) -> str:
        return self.call_id


class CallEvent(models.Model):
    """One event as the PBX reported it; the same (call, event, at) is stored once whatever the retries."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events", verbose_name=_("通话"))
    event = models.CharField(_("事件"), max_length=12, choices=CtiEvent.choices)
    at = models.DateTimeField(_("时间"))
    queue_code = models.CharField(_("队列"), max_length=40, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("坐席"))
    caller = models.CharField(_("主叫号码"), max_length=40, blank=True)
    called = models.CharField(_("被叫号码"), max_length=40, blank=True)
    recording_url = models.CharField(_("录音地址"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("收到时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("通话事件")
        verbose_name_plural = _("通话事件")
        constraints = [models.UniqueConstraint(fields=["call", "event", "at"], name="call_event_once")]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.call_id}:{self.event}@{self.at:%H:%M:%S}"
