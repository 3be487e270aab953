"""The visitor's side of the answer bot in the widget (JSON endpoints under /chat/<code>/bot/…, authenticated by the
visitor token like the other endpoints): "转人工" (talk to a person), a suggested article's answer, and "有帮助 /
没帮助" on an answer. The bot's answers themselves come as messages of the conversation
(kefu.conversations.services.bot)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kefu.conversations.choices import AuthorKind, ConversationStatus
from kefu.conversations.models import Channel, Conversation, Message
from kefu.core.errors import ApplicationError, NotFound, ValidationFailed
from kefu.core.policy import PUBLIC, requires
from kefu.widget import inbound, selectors
from kefu.widget.views import _body, _json, _visitor, visitor_endpoint, visitor_signed


def bot_available(channel: Channel) -> dict[str, Any] | None:
    """The bot as the widget shows it ({"name"}), or None when it does not answer on this channel."""
    if not channel.bot_first:
        return None
    from kefu.knowledge.models import BotSettings

    settings_row = BotSettings.current()
    return {"name": settings_row.name} if settings_row.enabled else None


def _read(request: HttpRequest, channel: Channel) -> tuple[dict[str, Any], Conversation]:
    """The request's JSON and the visitor's conversation: a bad token answers 401 before a bad body 400."""
    try:
        data, problem = _body(request), None
    except ApplicationError as exc:
        data, problem = {}, exc
    visitor = _visitor(channel, request.headers.get("X-Kefu-Visitor") or data.get("token"))
    if problem is not None:
        raise problem
    conversation = selectors.visitor_conversation(channel, visitor)
    if conversation is None:
        raise ApplicationError(_("还没有会话"), code="no_conversation", status=404)
    return data, conversation


def _int(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValidationFailed(_("编号无效"), details={"field": field})
    return value


def _offered(conversation: Conversation, article_id: int) -> dict[str, Any] | None:
    """The bot's message of this conversation that offered or gave `article_id` (its `bot` details), if any: a
    visitor may read and rate only what the bot gave them."""
    for meta in (Message.objects.filter(conversation=conversation, author_kind=AuthorKind.BOT)
                 .order_by("-seq").values_list("meta", flat=True)[:50]):
        bot = (meta or {}).get("bot") or {}
        if bot.get("article_id") == article_id or any(
                s.get("article_id") == article_id for s in bot.get("suggestions") or []):
            return dict(bot)
    return None


@csrf_exempt
@requires(PUBLIC)
@visitor_signed
@visitor_endpoint
def handoff(request: HttpRequest, channel: Channel) -> HttpResponse:
    """"转人工": `{"token", "client_id"}` → the conversation handed over to a person (once; pressing again, or
    when a person already has it, changes nothing)."""
    from kefu.conversations.services.bot import customer_asks_for_person

    data, conversation = _read(request, channel)
    client_id = inbound.check_client_id(data.get("client_id"))
    if conversation.status != ConversationStatus.OPEN:
        raise ApplicationError(_("会话已结束"), code="conversation_closed", status=409)
    done = customer_asks_for_person(conversation=conversation, client_id=client_id)
    return _json({"conversation_id": done.pk, "bot_state": done.bot_state})


@csrf_exempt
@requires(PUBLIC)
@visitor_signed
@visitor_endpoint
def article(request: HttpRequest, channel: Channel) -> HttpResponse:
    """A suggested article's answer: `{"token", "article_id"}` → `{"article_id", "title", "body",
    "consultation_id"}`. Only an article the bot offered this visitor, still served to customers; reading it is a
    question answered by the knowledge base (a consultation, once per article and conversation), which the
    visitor may then rate."""
    from kefu.knowledge.index import served
    from kefu.knowledge.models import Consultation
    from kefu.knowledge.services.insight import consultation_record

    data, conversation = _read(request, channel)
    article_id = _int(data.get("article_id"), "article_id")
    offered = _offered(conversation, article_id)
    found = served("public").articles.get(article_id)
    if offered is None or found is None:
        raise NotFound(_("文章不存在或已下线"))
    question = str(offered.get("question") or found.title)
    consultation = (Consultation.objects.filter(conversation=conversation, article_id=article_id, answered=True)
                    .order_by("-pk").first())
    if consultation is None:
        consultation = consultation_record(
            question=question, language=found.language, channel="chat", article_id=article_id, confidence=0.0,
            answered=True, conversation=conversation)
    return _json({"article_id": found.id, "title": found.title, "body": found.body,
                  "consultation_id": consultation.pk})


@csrf_exempt
@requires(PUBLIC)
@visitor_signed
@visitor_endpoint
def feedback(request: HttpRequest, channel: Channel) -> HttpResponse:
    """"有帮助 / 没帮助" on an answer the bot gave or an article it offered: `{"token", "article_id",
    "consultation_id", "helpful"}` → `{"ok": true}`. An unhelpful answer is a gap for the knowledge team."""
    from kefu.knowledge.models import Consultation, Feedback
    from kefu.knowledge.services.insight import feedback_record

    data, conversation = _read(request, channel)
    article_id = _int(data.get("article_id"), "article_id")
    consultation_id = _int(data.get("consultation_id"), "consultation_id")
    helpful = data.get("helpful")
    if not isinstance(helpful, bool):
        raise ValidationFailed(_("请选择有帮助或没帮助"), details={"field": "helpful"})
    if not Consultation.objects.filter(pk=consultation_id, conversation=conversation,
                                       article_id=article_id).exists():
        raise ValidationFailed(_("咨询记录不存在"), details={"field": "consultation_id"})
    if Feedback.objects.filter(consultation_id=consultation_id).exists():
        return _json({"ok": True, "duplicate": True})  # rated already (a double click): counted once
    feedback_record(article_id=article_id, helpful=helpful, channel="chat", consultation_id=consultation_id)
    return _json({"ok": True})
