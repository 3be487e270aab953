"""Stable codes of the conversations app (stored in the database, sent in the API and in events)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    """The kind of a channel: which adapter moves its messages (kefu.conversations.adapters)."""

    CHAT = "chat", _("网页/App 在线客服")
    EMAIL = "email", _("邮件")
    WECHAT_OA = "wechat_oa", _("微信公众号")
    WECOM_KF = "wecom_kf", _("企业微信客服")
    WEBHOOK = "webhook", _("App/小程序接入")
    SMS = "sms", _("短信")
    PHONE = "phone", _("电话")  # made from calls (kefu.telephony): no messages go out through it


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("进行中")
    CLOSED = "closed", _("已结束")


class Direction(models.TextChoices):
    INBOUND = "in", _("客户发来")
    OUTBOUND = "out", _("发给客户")


class AuthorKind(models.TextChoices):
    CUSTOMER = "customer", _("客户")
    AGENT = "agent", _("客服")
    SYSTEM = "system", _("系统")
    BOT = "bot", _("机器人")  # the answer bot (kefu.knowledge), on channels where it answers first


class BotState(models.TextChoices):
    """Where a conversation is with the bot, on a channel where the bot answers first: "" it never had it,
    `active` the bot is answering (the conversation is in nobody's inbox yet), `handed_over` a person takes over."""

    NONE = "", _("无")
    ACTIVE = "active", _("机器人接待中")
    HANDED_OVER = "handed_over", _("已转人工")


class DeliveryState(models.TextChoices):
    """Where a message is on its way. Inbound messages are `received`; outbound ones go queued → sent →
    delivered → read, or end `failed` (given up, the agent is told)."""

    RECEIVED = "received", _("已接收")
    QUEUED = "queued", _("待发送")
    SENT = "sent", _("已发送")
    DELIVERED = "delivered", _("已送达")
    READ = "read", _("已读")
    FAILED = "failed", _("发送失败")


class Automated(models.TextChoices):
    """Why an inbound message is machine-made and must not be answered (nor open an order)."""

    NONE = "", _("否")
    AUTO_REPLY = "auto_reply", _("自动回复")
    BOUNCE = "bounce", _("退信")
    LOOP = "loop", _("邮件回环")


class CloseReason(models.TextChoices):
    RESOLVED = "resolved", _("问题已解决")
    NO_REPLY = "no_reply", _("客户无回应")
    TICKET = "ticket", _("已转工单跟进")
    SPAM = "spam", _("骚扰/垃圾信息")
    CUSTOMER_LEFT = "customer_left", _("客户结束会话")
    AUTOMATED = "automated", _("自动发出的邮件，无需处理")
    CALL_ENDED = "call_ended", _("通话结束")  # a phone conversation, closed by its call
    CALL_MISSED = "call_missed", _("来电未接通")
    OTHER = "other", _("其他")


class IdentityKind(models.TextChoices):
    """What identifies a customer on a channel."""

    EMAIL = "email", _("邮箱")
    PHONE = "phone", _("手机号")
    OPENID = "openid", _("微信 OpenID")
    EXTERNAL = "external", _("外部用户编号")
    VISITOR = "visitor", _("网页访客")
