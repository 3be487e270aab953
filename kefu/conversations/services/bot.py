"""The answer bot in conversations: on a channel where it answers first, a new conversation is the bot's until it
hands over to a person. Each customer text is answered from the knowledge base (kefu.knowledge.services.bot) by an
outbound message of the bot, sent like an agent's; when the bot is unsure, the customer asks for a person, or sends
what it cannot read, the conversation is handed over: it enters its team's inbox (or routing queue) as a
conversation without a bot would, its first-response clock starts, and the agent reads everything said so far.

The bot hears of customers' messages through the outbox (`conversation.message_received`): it answers after the
message has committed, once (its reply's client id is `bot-<message id>`), and a crash replays it."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.conversations import events
from kefu.conversations.adapters.base import InboundMessage
from kefu.conversations.choices import BotState, ChannelKind, ConversationStatus, Direction
from kefu.conversations.models import Channel, Conversation, Message
from kefu.conversations.services._common import BODY_MAX, _bump, _lock, _start_first_response_clock
from kefu.conversations.services.lines import line_enter

log = logging.getLogger("kefu.conversations.services")

# channel kinds the bot can answer on (text both ways); e-mail and phone never
BOT_KINDS = frozenset({ChannelKind.CHAT, ChannelKind.WEBHOOK, ChannelKind.WECHAT_OA, ChannelKind.WECOM_KF,
                       ChannelKind.SMS})
WECHAT_KINDS = frozenset({ChannelKind.WECHAT_OA, ChannelKind.WECOM_KF})
# an article scoring less than this for a question is unrelated to it: never offered as a suggestion
SUGGESTION_MIN = 0.02
# what a customer types to reach a person (compared without spaces, punctuation or case)
HANDOFF_WORDS = frozenset({"转人工", "人工", "人工客服", "转人工客服", "找人工", "真人", "客服", "人工服务",
                           "agent", "human", "person", "operator", "talktoaperson", "talktoahuman", "humanagent",
                           "realperson", "liveagent", "speaktoaperson"})


COMING = gettext_lazy("好的，正在为您转接人工客服，请稍候。")
CANNOT = gettext_lazy("这个问题我还回答不了，正在为您转接人工客服，请稍候。")
TEXT_ONLY = gettext_lazy("我只能阅读文字消息，正在为您转接人工客服，请稍候。")


class Reason:
    ASKED = "asked"  # the customer asked for a person (typed it or pressed 转人工)
    UNSURE = "unsure"  # below the confidence threshold
    ATTACHMENT = "attachment"  # a picture, a file, a voice message: not for the bot
    DISABLED = "disabled"  # the bot was switched off meanwhile
    ERROR = "error"  # the bot failed: a person answers rather than nobody


def bot_answers_first(channel: Channel, inbound: InboundMessage) -> bool:
    """A new conversation from `inbound` is the bot's: the channel has the bot first, it is a customer's own
    message (not machine mail, not an event) and the bot is switched on."""
    if not channel.bot_first or channel.kind not in BOT_KINDS or inbound.automated or inbound.kind == "event":
        return False
    from kefu.knowledge.models import BotSettings

    return bool(BotSettings.current().enabled)


def asks_for_person(text: str) -> bool:
    key = re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text or "").casefold())
    return key in HANDOFF_WORDS


def _language(text: str) -> str:
    from kefu.knowledge.engine import detect_language  # the bot's own rule: any Chinese character → Chinese

    return detect_language(text or "")


def _ask_channel(channel: Channel) -> str:
    return "wechat" if channel.kind in WECHAT_KINDS else "chat"


def bot_attend(*, message_id: int, at: datetime | None = None) -> Message | None:
    """The bot's turn after a customer's message (outbox consumer): answer it, or hand over. None when the bot
    does not hold the conversation (any more) or has already answered this message."""
    from kefu.knowledge.services.bot import BOT

    at = at or timezone.now()
    with transaction.atomic():
        message = (Message.objects.filter(pk=message_id, direction=Direction.INBOUND)
                   .values("conversation_id", "body", "kind", "pk").first())
        if message is None:
            return None
        conversation = _lock(message["conversation_id"])
        if not _held(conversation):
            return None
        client_id = f"bot-{message_id}"
        if Message.objects.filter(conversation=conversation, client_id=client_id).exists():
            return None  # answered already (a replayed event)
        text = (message["body"] or "").strip()
        if message["kind"] != "text" or not text:
            return _hand_over_saying(conversation, client_id, _language(text), Reason.ATTACHMENT,
                                     TEXT_ONLY, at=at, actor=BOT)
        if asks_for_person(text):
            return _hand_over_saying(conversation, client_id, _language(text), Reason.ASKED,
                                     COMING, at=at, actor=BOT)
        reply = _ask(text, conversation)
        if reply is None:
            return _hand_over_saying(conversation, client_id, _language(text), Reason.ERROR,
                                     CANNOT, at=at, actor=BOT)
        return _answer(conversation, client_id, reply, at=at, actor=BOT)


def _held(conversation: Conversation) -> bool:
    return (conversation.bot_state == BotState.ACTIVE and conversation.assignee_id is None
            and conversation.status == ConversationStatus.OPEN)


def _ask(text: str, conversation: Conversation) -> Any:
    """The knowledge base's answer (recorded as a consultation), or None when the bot failed: the failure is
    logged and rolled back alone, and a person takes over."""
    from kefu.knowledge.services.bot import bot_ask

    try:
        with transaction.atomic():
            # a long message is asked by its beginning (the knowledge base takes questions of up to 500 characters)
            return bot_ask(question=text[:500], channel=_ask_channel(conversation.channel), conversation=conversation)
    except Exception:
        log.exception("the bot could not answer a message of conversation %s", conversation.pk)
        return None


def _bot_meta(kind: str, language: str, **extra: Any) -> dict[str, Any]:
    from kefu.knowledge.models import BotSettings

    return {"bot": {"kind": kind, "name": str(BotSettings.current().name), "language": language, **extra}}


def _answer(conversation: Conversation, client_id: str, reply: Any, *, at: datetime, actor: Any) -> Message:
    from kefu.conversations.services.outbound import _send

    with translation.override(reply.language):
        if not reply.handoff:
            body = reply.answer.strip()
            if not _widget(conversation):
                body += "\n\n" + _("（如需人工服务，请回复“人工”）")
            return _send(actor=actor, conversation=conversation, text=body[:BODY_MAX], client_id=client_id, at=at,
                         count_as_response=False,
                         meta=_bot_meta("answer", reply.language, article_id=reply.article_id, title=reply.title,
                                        consultation_id=reply.consultation_id, question=reply.question))
        suggestions = [{"article_id": s.article_id, "title": s.title} for s in reply.suggestions[:3]
                       if s.score >= SUGGESTION_MIN]
        if suggestions:
            lines = [_("这个问题我还不能确定答案。您可以先看看下面这些文章，人工客服马上为您服务：")]
            if not _widget(conversation):  # the widget shows them as buttons
                lines += [f"{n}. {s['title']}" for n, s in enumerate(suggestions, 1)]
            body = "\n".join(lines)
        else:
            body = str(CANNOT)
        sent = _send(actor=actor, conversation=conversation, text=body, client_id=client_id, at=at,
                     count_as_response=False,
                     meta=_bot_meta("suggestions" if suggestions else "handoff", reply.language,
                                    suggestions=suggestions, question=reply.question,
                                    consultation_id=reply.consultation_id))
    conversation_hand_over(conversation=conversation, reason=Reason.UNSURE, at=at)
    return sent


def _widget(conversation: Conversation) -> bool:
    return conversation.channel.kind == ChannelKind.CHAT


def _hand_over_saying(conversation: Conversation, client_id: str, language: str, reason: str, text: Any, *,
                      at: datetime, actor: Any) -> Message:
    """Tell the customer a person is coming (in their language), then hand over."""
    from kefu.conversations.services.outbound import _send

    with translation.override(language):
        sent = _send(actor=actor, conversation=conversation, text=str(text), client_id=client_id, at=at,
                     count_as_response=False, meta=_bot_meta("handoff", language))
    conversation_hand_over(conversation=conversation, reason=reason, at=at)
    return sent


@transaction.atomic
def conversation_hand_over(*, conversation: Conversation, reason: str, at: datetime | None = None) -> Conversation:
    """The bot lets go of the conversation: it enters its team's inbox, or its channel's routing queue, exactly
    as a conversation without the bot does at its first message, and its first-response clock starts now.
    Handing over twice is handing over once."""
    at = at or timezone.now()
    conversation = _lock(conversation)
    if conversation.bot_state != BotState.ACTIVE:
        return conversation
    conversation.bot_state = BotState.HANDED_OVER
    _bump(conversation, "bot_state")
    if conversation.status == ConversationStatus.OPEN:
        if conversation.assignee_id is None:
            _start_first_response_clock(conversation, at)
        line_enter(conversation, at)
    events.announce(events.CONVERSATION_BOT_HANDED_OVER, conversation, data={"reason": reason})
    return conversation


def customer_asks_for_person(*, conversation: Conversation, client_id: str = "") -> Conversation:
    """The customer pressed "转人工" in the widget: the bot says a person is coming and hands over at once
    (nothing happens when the bot does not hold the conversation; the same `client_id` again is one request)."""
    from kefu.knowledge.services.bot import BOT

    with transaction.atomic():
        conversation = _lock(conversation)
        if not _held(conversation):
            return conversation
        language = _last_language(conversation)
        _hand_over_saying(conversation, (client_id or "")[:64] or f"bot-handoff-{conversation.pk}", language,
                          Reason.ASKED, COMING, at=timezone.now(), actor=BOT)
        return Conversation.objects.select_related("channel").get(pk=conversation.pk)


def _last_language(conversation: Conversation) -> str:
    body = (Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
            .order_by("-seq").values_list("body", flat=True).first())
    return _language(body or "")


def handle(batch: list[Any]) -> None:
    """Outbox consumer of `conversation.message_received`: the bot's turn on the conversations it holds."""
    for event in batch:
        payload = event.payload or {}
        conversation, message = payload.get("conversation") or {}, payload.get("message") or {}
        if conversation.get("bot_state") != BotState.ACTIVE or message.get("direction") != Direction.INBOUND:
            continue
        bot_attend(message_id=int(message["id"]))
