"""Calls as the PBX reports them: every CTI event kept once (`CallEvent`), and the call they add up to (`Call`),
recomputed from all its events whenever one arrives — so late and out-of-order events end in the same call."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.telephony.choices import CallState, ClosedAction, CtiEvent, IvrAction, IvrLanguage


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
    # the agent's after-contact work following the call (their after_contact span), once it has ended
    acw_seconds = models.FloatField(_("话后处理秒数"), default=0)
    transfers = models.PositiveSmallIntegerField(_("转接次数"), default=0)
    voicemail = models.BooleanField(_("语音留言"), default=False)
    recording_url = models.CharField(_("录音地址"), max_length=500, blank=True)
    # the caller's leg as the PBX names it (Asterisk's channel, FreeSWITCH's UUID): what a transfer moves
    pbx_channel = models.CharField(_("电话系统通道"), max_length=200, blank=True)
    # the caller's region from the number (归属地: "广东 深圳 中国移动"), set once it is known (kefu.telephony.regions)
    region = models.CharField(_("归属地"), max_length=60, blank=True)
    # the call as a conversation of a phone channel (kefu.telephony.conversation): the customer's history
    conversation = models.OneToOneField("conversations.Conversation", on_delete=models.SET_NULL, null=True,
                                        blank=True, related_name="call", verbose_name=_("会话"))
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


# --- IVR (语音导航): menus edited in the web, served to the PBX step by step (kefu.telephony.ivr_selectors) ------


class IvrFlow(models.Model):
    """A voice menu tree answering one called number (DID), with its opening hours. Every change to the flow, its
    nodes or its choices bumps `version`: an editor working on an old copy of the tree is refused."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    number = models.CharField(_("呼入号码"), max_length=40, unique=True)  # digits, as normalised by the service
    calendar = models.ForeignKey("core.BusinessCalendar", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("工作日历"))
    entry = models.ForeignKey("IvrNode", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("首个菜单"))
    language = models.CharField(_("提示语言"), max_length=8, choices=IvrLanguage.choices, default=IvrLanguage.ZH)
    out_of_hours_prompt = models.CharField(_("非工作时间提示"), max_length=500, blank=True)
    holiday_prompt = models.CharField(_("节假日提示"), max_length=500, blank=True)
    closed_action = models.CharField(_("非工作时间处理"), max_length=10, choices=ClosedAction.choices,
                                     default=ClosedAction.VOICEMAIL)
    is_active = models.BooleanField(_("启用"), default=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("语音导航")
        verbose_name_plural = _("语音导航")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IvrTarget(models.Model):
    """Where a choice, or a menu's timeout rule, leads: another menu, a queue, a number …"""

    action = models.CharField(_("动作"), max_length=16, choices=IvrAction.choices, default=IvrAction.HANGUP)
    target_node = models.ForeignKey("IvrNode", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("子菜单"))
    queue = models.ForeignKey("routing.Queue", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("队列"))
    number = models.CharField(_("转接号码"), max_length=40, blank=True)

    class Meta:
        abstract = True


class IvrNode(IvrTarget):
    """One menu: what is said, then the caller's digit picks a choice. No digit within `timeout_seconds`, or a
    digit without a choice, replays the menu up to `retries` times; then the menu's own action (the inherited
    target fields) is taken."""

    flow = models.ForeignKey(IvrFlow, on_delete=models.CASCADE, related_name="nodes", verbose_name=_("语音导航"))
    key = models.CharField(_("菜单代码"), max_length=40)  # what the PBX sends back as `node`
    name = models.CharField(_("名称"), max_length=100)
    prompt = models.CharField(_("提示语"), max_length=1000)
    audio = models.CharField(_("录音文件"), max_length=200, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(_("等待按键秒数"), default=5)
    retries = models.PositiveSmallIntegerField(_("重复次数"), default=2)
    # Where the PBX recognises speech, a caller may say a question in this menu: the knowledge base's answer is
    # read out when the bot is confident, else the call goes to `kb_queue` (none: the menu's own timeout rule).
    ask_kb = models.BooleanField(_("语音提问知识库"), default=False)
    kb_queue = models.ForeignKey("routing.Queue", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("知识库答不了时转入的队列"))

    class Meta:
        verbose_name = _("语音菜单")
        verbose_name_plural = _("语音菜单")
        ordering = ["flow", "id"]
        constraints = [models.UniqueConstraint(fields=["flow", "key"], name="ivr_node_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


class IvrChoice(IvrTarget):
    """A digit of a menu (0–9, * or #) and what it does."""

    node = models.ForeignKey(IvrNode, on_delete=models.CASCADE, related_name="choices", verbose_name=_("语音菜单"))
    digit = models.CharField(_("按键"), max_length=1)
    label = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("菜单按键")
        verbose_name_plural = _("菜单按键")
        ordering = ["node", "digit"]
        constraints = [models.UniqueConstraint(fields=["node", "digit"], name="ivr_choice_digit_unique")]

    def __str__(self) -> str:
        return f"{self.node.key}:{self.digit}"


class BlacklistEntry(models.Model):
    """A number (or, with `is_prefix`, every number starting with it) whose calls are refused, with why and until
    when (no expiry: until removed)."""

    number = models.CharField(_("号码"), max_length=40)  # digits, as normalised by the service
    is_prefix = models.BooleanField(_("按号码前缀"), default=False)
    reason = models.CharField(_("原因"), max_length=200)
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("添加人"))
    created_at = models.DateTimeField(_("添加时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("黑名单")
        verbose_name_plural = _("黑名单")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["number", "is_prefix"], name="blacklist_number_unique")]

    def __str__(self) -> str:
        return f"{self.number}{'*' if self.is_prefix else ''}"


class NumberSegment(models.Model):
    """A mobile number segment (the first seven digits) and where it was issued, imported by an operator
    (`kefu region import`): the province and city of a mobile caller."""

    prefix = models.CharField(_("号段"), max_length=7, unique=True)
    province = models.CharField(_("省份"), max_length=20)
    city = models.CharField(_("城市"), max_length=30, blank=True)
    carrier = models.CharField(_("运营商"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("手机号段")
        verbose_name_plural = _("手机号段")

    def __str__(self) -> str:
        return self.prefix
