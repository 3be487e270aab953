"""Conversations with customers on every channel: the channels themselves, conversations, their messages and
attachments, the people taking part, the customers' identities on each channel, and canned replies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.conversations.choices import (
    AuthorKind,
    Automated,
    BotState,
    ChannelKind,
    CloseReason,
    ConversationStatus,
    DeliveryState,
    Direction,
    IdentityKind,
)

USER = settings.AUTH_USER_MODEL


class Channel(models.Model):
    """One way customers reach the centre: a chat widget, a mailbox, an official account, an app's webhook…
    Its conversations land in its team's inbox."""

    code = models.SlugField(_("渠道代码"), max_length=40, unique=True)
    kind = models.CharField(_("渠道类型"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("名称"), max_length=100)
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="channels", verbose_name=_("接待班组"))
    # conversations of this channel wait in this queue and are offered to agents by routing; empty: they wait in
    # the team's inbox for an agent to pick up
    queue = models.ForeignKey("routing.Queue", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="channels", verbose_name=_("路由队列"))
    is_active = models.BooleanField(_("启用"), default=True)
    # kind-specific settings (mailbox host and user, app id, outbound URL, widget origins…) — no secrets
    config = models.JSONField(_("配置"), default=dict, blank=True)
    # kind-specific secrets (webhook secret, mailbox password, app secret, token, AES key), by name
    secrets = models.JSONField(_("密钥"), default=dict, blank=True)
    # what the transport keeps between runs (IMAP UIDVALIDITY and last UID, WeCom sync cursor, access tokens)
    state = models.JSONField(default=dict, blank=True)
    first_response_seconds = models.PositiveIntegerField(
        _("首次响应目标（秒）"), null=True, blank=True, help_text=_("空：使用系统默认值"))
    calendar = models.ForeignKey("core.BusinessCalendar", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("工作日历"))
    # opens a work order for every new conversation (e-mail usually does) instead of leaving it to the agent
    creates_tickets = models.BooleanField(_("新会话自动建工单"), default=False)
    # the answer bot answers a new conversation's questions first and hands over to a person when unsure
    bot_first = models.BooleanField(_("机器人先接待"), default=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("接入渠道")
        verbose_name_plural = _("接入渠道")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.name or self.code

    def secret(self, name: str) -> str:
        return str(self.secrets.get(name, ""))


class ChannelIdentity(models.Model):
    """A customer's identity on a channel (an openid, an app user id, a widget visitor): how the next message
    from the same person finds the same customer. E-mail addresses and phone numbers are matched through the
    customer's contacts as well."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="identities",
                                verbose_name=_("渠道"))
    kind = models.CharField(_("类型"), max_length=16, choices=IdentityKind.choices)
    value = models.CharField(_("标识"), max_length=200)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="channel_identities",
                                 verbose_name=_("客户"))
    display_name = models.CharField(_("渠道昵称"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("渠道身份")
        verbose_name_plural = _("渠道身份")
        constraints = [models.UniqueConstraint(fields=["channel", "kind", "value"], name="channel_identity_unique")]

    def __str__(self) -> str:
        return f"{self.channel.code}:{self.kind}:{self.value}"


class Conversation(models.Model):
    """A conversation with one customer on one channel, from the first message until it is closed."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations",
                                verbose_name=_("渠道"))
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="conversations",
                                 verbose_name=_("客户"))
    identity_kind = models.CharField(_("身份类型"), max_length=16, choices=IdentityKind.choices)
    identity_value = models.CharField(_("客户渠道身份"), max_length=200)
    subject = models.CharField(_("主题"), max_length=200, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=ConversationStatus.choices,
                              default=ConversationStatus.OPEN)
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="conversations", verbose_name=_("班组"))
    assignee = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="conversations", verbose_name=_("接待客服"))
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="conversations", verbose_name=_("关联工单"))
    last_seq = models.PositiveIntegerField(_("消息序号"), default=0)
    last_message_at = models.DateTimeField(_("最后消息时间"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("客户最后发言"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("首次响应时间"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("接入时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    closed_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                  verbose_name=_("结束人"))
    close_reason = models.CharField(_("结束原因"), max_length=16, choices=CloseReason.choices, blank=True)
    close_note = models.CharField(_("结束说明"), max_length=500, blank=True)
    csat_score = models.PositiveSmallIntegerField(_("满意度"), null=True, blank=True)  # 1 … 5
    csat_comment = models.CharField(_("评价"), max_length=500, blank=True)
    # the bot's hold: while `active` the conversation waits in no inbox nor queue; handed over, it enters them
    bot_state = models.CharField(_("机器人接待"), max_length=12, choices=BotState.choices, blank=True, default="")
    # transport context for answering in the same session (WeCom open_kfid, the widget's page…)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("开始时间"), auto_now_add=True, db_index=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("会话")
        verbose_name_plural = _("会话")
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["status", "team", "-last_message_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["channel", "identity_kind", "identity_value", "status"]),
            models.Index(fields=["customer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == ConversationStatus.OPEN


def attachment_path(instance: MessageAttachment, filename: str) -> str:
    return f"conversations/{instance.conversation_id}/{instance.storage_name}"


class Message(models.Model):
    """One message of a conversation, either way. `seq` orders a conversation's messages (1, 2, 3 …: a client
    resumes after the last one it saw). Inbound messages are unique by the channel's own id; messages a client
    sends carry the client's id, so a resend is recognised."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages",
                                     verbose_name=_("会话"))
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", verbose_name=_("渠道"))
    seq = models.PositiveIntegerField(_("序号"))
    direction = models.CharField(_("方向"), max_length=3, choices=Direction.choices)
    author_kind = models.CharField(_("发送方"), max_length=10, choices=AuthorKind.choices)
    author = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               verbose_name=_("客服"))
    author_system = models.CharField(max_length=40, blank=True)  # a SystemActor's key
    body = models.TextField(_("内容"), blank=True)
    body_html = models.TextField(_("HTML 内容（已净化）"), blank=True)
    kind = models.CharField(_("消息类型"), max_length=10, default="text")
    external_id = models.CharField(_("渠道消息编号"), max_length=300, blank=True)
    client_id = models.CharField(_("客户端消息编号"), max_length=64, blank=True)
    automated = models.CharField(_("自动消息"), max_length=12, choices=Automated.choices, blank=True)
    delivery_state = models.CharField(_("投递状态"), max_length=10, choices=DeliveryState.choices)
    attempts = models.PositiveSmallIntegerField(_("发送次数"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("最后错误"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("会话消息")
        verbose_name_plural = _("会话消息")
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(fields=["channel", "direction", "external_id"], condition=~Q(external_id=""),
                                    name="message_external_id_unique"),
            models.UniqueConstraint(fields=["conversation", "client_id"], condition=~Q(client_id=""),
                                    name="message_client_id_unique"),
        ]
        indexes = [
            models.Index(fields=["delivery_state", "next_attempt_at"]),
            models.Index(fields=["channel", "external_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"


class MessageAttachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("消息"))
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="attachments",
                                     verbose_name=_("会话"))
    file = models.FileField(_("文件"), upload_to=attachment_path, max_length=300)
    storage_name = models.CharField(max_length=80)
    filename = models.CharField(_("文件名"), max_length=200)
    content_type = models.CharField(_("类型"), max_length=100)
    size = models.PositiveIntegerField(_("大小（字节）"))
    content_id = models.CharField(max_length=200, blank=True)  # inline image of an e-mail
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("会话附件")
        verbose_name_plural = _("会话附件")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename


class Participant(models.Model):
    """An agent taking part in a conversation (the assignee, a colleague it was transferred from, a lead who
    joined), with how far they have read."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="conversation_participations")
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)
    last_read_seq = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("会话参与人")
        verbose_name_plural = _("会话参与人")
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique")]

    def __str__(self) -> str:
        return f"{self.conversation_id}:{self.user_id}"


class Activity(models.Model):
    """What people (and the system) did with a conversation, kept as long as the conversation: who picked it up,
    assigned or transferred it (with the note), closed it (with the reason), made an order of it. Written with
    the event that announces it (kefu.conversations.events.announce), in the same transaction. `kind` is the
    event's type; `data` its data (`to_id`, `from_id`, `from_team_id`, `how`, `note`, `reason`, `number`…);
    `team` the conversation's team after the change."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="activity",
                                     verbose_name=_("会话"))
    created_at = models.DateTimeField(_("时间"))
    kind = models.CharField(_("类型"), max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("操作人"))
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             verbose_name=_("班组"))
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("会话处理记录")
        verbose_name_plural = _("会话处理记录")
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.conversation_id}:{self.kind}"


class CannedReply(models.Model):
    """A prepared reply agents insert with a shortcut. No team: everybody's."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, null=True, blank=True,
                             related_name="canned_replies", verbose_name=_("班组"))
    shortcut = models.CharField(_("快捷词"), max_length=30)
    title = models.CharField(_("标题"), max_length=100)
    body = models.TextField(_("内容"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("快捷回复")
        verbose_name_plural = _("快捷回复")
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return self.title
