"""The events other systems may subscribe to: every public type of the event catalogue (kefu.core.events),
with its name for administrators (a test keeps the two lists equal)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.TextChoices):
    TICKET_CREATED = "ticket.created", _("工单创建")
    TICKET_UPDATED = "ticket.updated", _("工单修改")
    TICKET_ASSIGNED = "ticket.assigned", _("工单分配")
    TICKET_STATUS_CHANGED = "ticket.status_changed", _("状态变更")
    TICKET_REPLIED = "ticket.replied", _("回复客户")
    TICKET_NOTED = "ticket.noted", _("内部备注")
    TICKET_CUSTOMER_MESSAGE = "ticket.customer_message", _("客户来信")
    TICKET_DISPATCHED = "ticket.dispatched", _("派单")
    TICKET_DISPATCH_ACKNOWLEDGED = "ticket.dispatch_acknowledged", _("部门接单")
    TICKET_DISPATCH_COMPLETED = "ticket.dispatch_completed", _("部门完成")
    TICKET_ESCALATED = "ticket.escalated", _("升级")
    TICKET_SLA_WARNING = "ticket.sla_warning", _("SLA 预警")
    TICKET_SLA_BREACHED = "ticket.sla_breached", _("SLA 超时")
    TICKET_DISPATCH_OVERDUE = "ticket.dispatch_overdue", _("派单超时")
    CLOCK_WARNED = "clock.warned", _("计时预警")
    CLOCK_BREACHED = "clock.breached", _("计时超时")
    SLA_POLICY_CHANGED = "sla_policy.changed", _("SLA 策略修改")
    CALENDAR_CHANGED = "calendar.changed", _("工作日历修改")
    CONVERSATION_OPENED = "conversation.opened", _("新会话")
    CONVERSATION_MESSAGE_RECEIVED = "conversation.message_received", _("会话：客户消息")
    CONVERSATION_MESSAGE_SENT = "conversation.message_sent", _("会话：客服回复")
    CONVERSATION_MESSAGE_DELIVERY = "conversation.message_delivery_changed", _("会话：消息送达状态")
    CONVERSATION_MESSAGE_FAILED = "conversation.message_failed", _("会话：回复未能送达")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("会话接入/转接")
    CONVERSATION_CLOSED = "conversation.closed", _("会话结束")
    CONVERSATION_TICKET_LINKED = "conversation.ticket_linked", _("会话转工单")
    CONVERSATION_RATED = "conversation.rated", _("会话评价")
    CONVERSATION_BOT_HANDED_OVER = "conversation.bot_handed_over", _("会话：机器人转人工")
    CALL_CHANGED = "call.changed", _("通话事件")
    CALL_PUT_THROUGH_FAILED = "call.put_through_failed", _("来电未能转到坐席分机")
    AGENT_STATE_CHANGED = "agent.state_changed", _("坐席状态变化")
    ROUTING_OFFER_MADE = "routing.offer_made", _("路由：分配给坐席")
    ROUTING_OFFER_CLOSED = "routing.offer_closed", _("路由：分配结束")
    ROUTING_CONTACT_CHANGED = "routing.contact_changed", _("路由：排队联络变化")
    KNOWLEDGE_ARTICLE_PUBLISHED = "knowledge.article_published", _("知识文章发布")
    KNOWLEDGE_ARTICLE_WITHDRAWN = "knowledge.article_withdrawn", _("知识文章下线")
    KNOWLEDGE_GAP_OPENED = "knowledge.gap_opened", _("发现知识缺口")
