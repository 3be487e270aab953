"""What the agent's inbox shows: the tabs, the rows of the list (plain dicts, labels translated once per request)
and the conversation pane, read in a constant number of queries through kefu.conversations.selectors.

Whether a customer is online comes from the cache key the chat visitor's socket keeps alive
(`kefu:chat:online:<conversation id>`, docs/conversations.md), not from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.conversations import selectors
from kefu.conversations.choices import (
    AuthorKind,
    Automated,
    ChannelKind,
    CloseReason,
    ConversationStatus,
    DeliveryState,
    Direction,
)
from kefu.conversations.models import Conversation, Message
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services import first_response_target
from kefu.core.policy import has_right

TABS = (
    ("mine", gettext_lazy("我的")),
    ("waiting", gettext_lazy("待接入")),
    ("team", gettext_lazy("本组")),
    ("all", gettext_lazy("全部")),
    ("closed", gettext_lazy("已结束")),
)
# the line icon of each channel kind (kefu.web.templatetags.kefu_ui)
CHANNEL_ICONS = {
    ChannelKind.CHAT: "chat", ChannelKind.EMAIL: "mail", ChannelKind.WECHAT_OA: "wechat",
    ChannelKind.WECOM_KF: "wechat", ChannelKind.WEBHOOK: "app", ChannelKind.SMS: "phone",
    ChannelKind.PHONE: "phone",
}
PANE_MESSAGES = 50
PREVIEW = 60
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# reasons an agent picks; "the customer left" is the widget's own
AGENT_CLOSE_REASONS = [c for c in CloseReason.choices if c[0] not in (
    CloseReason.CUSTOMER_LEFT, CloseReason.AUTOMATED, CloseReason.CALL_ENDED, CloseReason.CALL_MISSED)]
_ID_MARK = 987654321


def online_key(conversation_id: int | str) -> str:
    """The cache key the visitor's socket keeps while the customer is on the page (90 s, refreshed)."""
    return f"kefu:chat:online:{conversation_id}"


def customer_online(conversation_id: int) -> bool:
    return bool(cache.get(online_key(conversation_id)))


def tabs_for(user: Any) -> list[tuple[str, str]]:
    """The inbox tabs a person has: "my team's" only for members of a team."""
    return [(view, str(label)) for view, label in TABS if view != "team" or user.team_id]


def default_view(user: Any) -> str:
    return "mine" if has_right(user, ConversationRight.REPLY) else "all"


def short_duration(seconds: float) -> str:
    """A waiting time in the largest unit that fits: 45秒, 3分钟, 2小时, 3天."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return _("%(n)s秒") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)s分钟") % {"n": seconds // 60}
    if seconds < 86400:
        return _("%(n)s小时") % {"n": seconds // 3600}
    return _("%(n)s天") % {"n": seconds // 86400}


def when_text(at: datetime | None, now: datetime) -> str:
    """Today: 14:05; this year: 03-08; before: 2025-11-02."""
    if at is None:
        return ""
    local, today = timezone.localtime(at), timezone.localtime(now)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%m-%d")
    return local.strftime("%Y-%m-%d")


def _preview(message: dict[str, Any] | None, kinds: dict[str, str]) -> str:
    if message is None:
        return ""
    body = " ".join((message["body"] or "").split())
    if not body:
        body = kinds.get(message["kind"]) or _("[附件]")
    if message["direction"] == Direction.OUTBOUND:
        body = (_("我方：%(text)s") if message["author_kind"] == AuthorKind.AGENT else _("系统：%(text)s")) % {
            "text": body}
    return body[:PREVIEW] + ("…" if len(body) > PREVIEW else "")


def _kind_labels() -> dict[str, str]:
    return {"image": _("[图片]"), "voice": _("[语音]"), "file": _("[文件]"), "video": _("[视频]"),
            "event": _("[事件]")}


def script_strings() -> dict[str, Any]:
    """The words inbox.js writes into the page, in the interface language."""
    return {
        "sending": _("发送中…"), "uploading": _("上传中…"), "failed": _("发送失败"), "retry": _("重试"),
        "no_canned": _("没有匹配的快捷回复"), "attachment": _("[附件]"), "mine": _("我方：%(text)s"),
        "system_prefix": _("系统：%(text)s"),
        "system": _("系统"), "states": {state.value: str(state.label) for state in DeliveryState},
        "kinds": _kind_labels(),
    }


def conversation_url(conversation_id: int, view: str = "") -> str:
    url = reverse("web:conversation_detail", kwargs={"conversation_id": conversation_id})
    return f"{url}?view={view}" if view else url


def inbox_rows(user: Any, conversations: list[Conversation], *, view: str = "") -> list[dict[str, Any]]:
    """The list's rows: customer, channel, last message, how long the customer has waited, unread, online.
    Two reads for the page (the last messages, the online flags from the cache), none per row."""
    last = selectors.last_message_of([c.pk for c in conversations])
    online = cache.get_many([online_key(c.pk) for c in conversations]) if conversations else {}
    in_line = in_line_of([c for c in conversations if c.status == ConversationStatus.OPEN and c.assignee_id is None])
    kinds = _kind_labels()
    now = timezone.now()
    pattern = conversation_url(_ID_MARK, view)
    rows = []
    for c in conversations:
        message = last.get(c.pk)
        is_open = c.status == ConversationStatus.OPEN
        waiting = None
        if is_open and message is not None and message["direction"] == Direction.INBOUND and c.last_inbound_at:
            waiting = (now - c.last_inbound_at).total_seconds()
        mine_or_waiting = c.assignee_id in (None, user.pk)
        rows.append({
            "id": c.pk,
            "url": pattern.replace(str(_ID_MARK), str(c.pk)),
            "customer_name": c.customer.name,
            "initial": (c.customer.name or "?")[:1],
            "channel_name": c.channel.name,
            "channel_kind": c.channel.kind,
            "icon": CHANNEL_ICONS.get(c.channel.kind, "chat"),
            "subject": c.subject,
            "preview": _preview(message, kinds) or c.subject,  # a call's conversation has no messages
            "when": when_text(c.last_message_at, now),
            "waiting": short_duration(waiting) if waiting is not None else "",
            "late": waiting is not None and waiting > first_response_target(c.channel),
            "unread": getattr(c, "unread", 0) if mine_or_waiting and is_open else 0,
            "online": bool(online.get(online_key(c.pk))),
            "open": is_open,
            "assignee": str(c.assignee) if c.assignee_id else "",
            "unassigned": is_open and c.assignee_id is None,
            "in_line": in_line.get(c.pk, ""),  # the routed queue it waits in: routing offers it to a free agent
            "closed_reason": CloseReason(c.close_reason).label if c.close_reason in CloseReason.values else "",
        })
    return rows


def in_line_of(conversations: list[Conversation]) -> dict[int, str]:
    """Of these (open, unassigned) conversations, those waiting in a routed queue → the queue's name; one read,
    none when there is nothing to ask about."""
    if not conversations:
        return {}
    from kefu.routing.selectors import conversations_in_line

    return conversations_in_line([c.pk for c in conversations])


# --- the conversation pane ----------------------------------------------------------------------------------

def decorate_messages(messages: list[Message]) -> list[Message]:
    """Display attributes on loaded messages (their authors and attachments already read)."""
    states = {state.value: str(state.label) for state in DeliveryState}
    automated = {a.value: str(a.label) for a in Automated if a.value}
    today = timezone.localtime().date()
    for m in messages:
        local = timezone.localtime(m.created_at)
        m.when = local.strftime("%H:%M" if local.date() == today else "%m-%d %H:%M")  # type: ignore[attr-defined]
        m.outbound = m.direction == Direction.OUTBOUND  # type: ignore[attr-defined]
        m.state_label = states.get(m.delivery_state, "") if m.outbound else ""  # type: ignore[attr-defined]
        m.automated_label = automated.get(m.automated, "")  # type: ignore[attr-defined]
        m.files = [(a, a.content_type in IMAGE_TYPES) for a in m.attachments.all()]  # type: ignore[attr-defined]
        if m.author_kind == AuthorKind.AGENT and m.author is not None:
            m.who = str(m.author)  # type: ignore[attr-defined]
        elif m.author_kind == AuthorKind.SYSTEM:
            m.who = _("系统")  # type: ignore[attr-defined]
        elif m.author_kind == AuthorKind.BOT:  # the answer bot: its name, marked as the bot's
            m.who = _("机器人 %(name)s") % {"name": ((m.meta or {}).get("bot") or {}).get("name", "")}  # type: ignore[attr-defined]
            # the articles it offered (the widget shows them as buttons; the agent reads their titles)
            offered = ((m.meta or {}).get("bot") or {}).get("suggestions") or []
            m.suggested = [str(s.get("title", "")) for s in offered if isinstance(s, dict)]  # type: ignore[attr-defined]
        else:
            m.who = ""  # type: ignore[attr-defined]
    return messages


def pane_messages(conversation: Conversation) -> list[Message]:
    return decorate_messages(selectors.last_messages(conversation, limit=PANE_MESSAGES))


@dataclass
class Activity:
    """A line of the conversation's own history among its messages: picked up, transferred (with the note),
    assigned, closed, made a work order. Staff only: the customer never sees these."""

    created_at: datetime
    text: str
    note: str = ""
    when: str = ""
    activity: bool = True


def activity_lines(rows: list[Any]) -> list[Activity]:
    """The conversation's history in words; the people it names read together (one small query at most)."""
    from kefu.accounts.models import USER_LABEL_FIELDS, User

    people_ids = {row.data.get("to_id") for row in rows} - {None}
    people = {u.pk: str(u) for u in User.objects.only(*USER_LABEL_FIELDS).filter(pk__in=people_ids)} \
        if people_ids else {}
    today = timezone.localtime().date()
    lines = []
    for row in rows:
        data = row.data or {}
        if row.kind == "conversation.closed" and data.get("reason") in (CloseReason.CALL_ENDED,
                                                                        CloseReason.CALL_MISSED):
            continue  # closed by its call: the call's own lines say how it ended (kefu.web.call_course)
        who = str(row.actor) if row.actor_id else _("系统")
        to = people.get(data.get("to_id"), "")
        team = row.team.name if row.team_id else ""
        if row.kind == "conversation.assigned":
            how = data.get("how")
            if how == "claimed":
                text = _("%(who)s 接入了会话") % {"who": who}
            elif how == "answered":
                text = _("%(to)s 接听了来电") % {"to": to}
            elif how == "transferred":
                text = (_("%(who)s 将会话转接给 %(to)s") % {"who": who, "to": to} if to else
                        _("%(who)s 将会话转到 %(team)s 的待接入队列") % {"who": who, "team": team})
            else:
                text = (_("%(who)s 将会话分配给 %(to)s") % {"who": who, "to": to} if to else
                        _("%(who)s 将会话放回待接入队列") % {"who": who})
        elif row.kind == "conversation.closed":
            reason = data.get("reason", "")
            label = CloseReason(reason).label if reason in CloseReason.values else ""
            text = (_("客户结束了会话") if reason == CloseReason.CUSTOMER_LEFT else
                    _("%(who)s 结束了会话：%(reason)s") % {"who": who, "reason": label})
        elif row.kind == "conversation.bot_handed_over":
            text = (_("客户要求转人工，机器人已转入待接入队列") if data.get("reason") == "asked" else
                    _("机器人无法回答，已转入待接入队列"))
        else:
            text = _("%(who)s 由会话创建了工单 %(n)s") % {"who": who, "n": data.get("number", "")}
        local = timezone.localtime(row.created_at)
        lines.append(Activity(created_at=row.created_at, text=text, note=str(data.get("note") or ""),
                              when=local.strftime("%H:%M" if local.date() == today else "%m-%d %H:%M")))
    return lines


def pane_items(conversation: Conversation, messages: list[Message]) -> list[Any]:
    """The messages with the conversation's history lines among them, by time (those before the first message
    shown are left for "earlier messages")."""
    lines: list[Any] = list(activity_lines(selectors.conversation_activity(conversation.pk)))
    call = getattr(conversation, "phone_call", None)
    if call is not None:
        from kefu.web.call_course import call_lines

        lines += call_lines(call)
    if messages and messages[0].seq > 1:
        lines = [line for line in lines if line.created_at >= messages[0].created_at]
    return sorted([*messages, *lines], key=lambda item: item.created_at)


def actions_for(user: Any, conversation: Conversation) -> dict[str, bool]:
    """Which buttons the pane offers; the services decide again when one is pressed."""
    from kefu.tickets.permissions import TicketRight

    is_open = conversation.status == ConversationStatus.OPEN
    reply = has_right(user, ConversationRight.REPLY)
    lead = has_right(user, ConversationRight.ASSIGN)
    theirs = conversation.assignee_id not in (None, user.pk)
    silent = conversation.channel.kind == ChannelKind.PHONE  # a call's record: agents call back, nothing is sent
    return {
        "reply": reply and is_open and (not theirs or lead) and not silent,
        "phone": silent,
        "claim": reply and is_open and conversation.assignee_id is None,
        "transfer": reply and is_open and (not theirs or lead),
        "close": reply and is_open and (not theirs or lead),
        "ticket": reply and not conversation.ticket_id and has_right(user, TicketRight.CREATE),
        "assign": lead and is_open,
        "theirs": theirs,
    }


def pane_context(user: Any, conversation: Conversation) -> dict[str, Any]:
    from kefu.web.option_lists import assignee_options, transfer_options

    act = actions_for(user, conversation)
    call_card = None
    if act["phone"]:
        from kefu.telephony.selectors import call_of_conversation
        from kefu.web.call_course import call_card as make_card

        conversation.phone_call = call_of_conversation(conversation.pk)  # type: ignore[attr-defined]
        call_card = make_card(conversation.phone_call) if conversation.phone_call else None  # type: ignore[attr-defined]
    messages = pane_messages(conversation)
    return {
        "conversation": conversation,
        "canned_values": _canned_values(conversation, user),
        "conv_messages": pane_items(conversation, messages),  # not "messages": Django's flash messages
        "earlier": bool(messages) and messages[0].seq > 1,
        "first_seq": messages[0].seq if messages else 0,
        "last_seq": conversation.last_seq,
        "online": customer_online(conversation.pk),
        "act": act,
        "in_line": in_line_of([conversation] if act["claim"] else []).get(conversation.pk, ""),
        "call_card": call_card,
        "channel_icon": CHANNEL_ICONS.get(conversation.channel.kind, "chat"),
        "close_reasons": AGENT_CLOSE_REASONS,
        "transfer_options": transfer_options() if act["transfer"] else "",
        "assignee_options": assignee_options(_AGENT_ROLES) if act["assign"] else "",
        "close_reason_label": CloseReason(conversation.close_reason).label
        if conversation.close_reason in CloseReason.values else "",
    }


def _canned_values(conversation: Conversation, user: Any) -> str:
    """The canned-reply variables' values for this conversation, as JSON for the composer (inbox.js)."""
    import json

    from kefu.conversations.services.canned import canned_values

    return json.dumps(canned_values(conversation=conversation, agent=user), ensure_ascii=False)


def _agent_roles() -> frozenset[str]:
    from kefu.accounts.choices import FRONT_LINE

    return frozenset(FRONT_LINE)


_AGENT_ROLES = _agent_roles()
