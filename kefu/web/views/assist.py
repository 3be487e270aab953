"""Agent assist panels ("推荐知识"): the articles likely to answer the customer, beside a conversation and beside a
work order, loaded after the page (HTMX) so the page itself costs nothing more. An agent inserting a suggestion
into a reply is counted in the consultation library (channel `agent`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.conversations.permissions import ConversationRight
from kefu.core.policy import has_right, requires
from kefu.knowledge import assist
from kefu.knowledge.permissions import KnowledgeRight
from kefu.tickets.permissions import TicketRight
from kefu.web.views.common import visible_ticket_or_404
from kefu.web.views.conversations import visible_conversation_or_404


def _panel(request: HttpRequest, text: str, *, insert: bool, conversation_id: int | None = None) -> HttpResponse:
    may_read = has_right(request.user, KnowledgeRight.VIEW)
    rows = assist.suggest(text) if may_read else []
    return render(request, "web/assist/_panel.html", {"rows": rows, "insert": insert, "asked": bool(text.strip()),
                                                      "conversation_id": conversation_id, "may_read": may_read})


@requires(ConversationRight.VIEW)
@require_GET
def conversation_assist(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Suggested articles for the customer's latest messages."""
    conversation = visible_conversation_or_404(request, conversation_id)
    return _panel(request, assist.conversation_text(conversation), insert=True, conversation_id=conversation.pk)


@requires(TicketRight.VIEW)
@require_GET
def ticket_assist(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Suggested articles for the order's subject and description."""
    ticket = visible_ticket_or_404(request, ticket_id)
    return _panel(request, assist.ticket_text(ticket), insert=False)


@requires(ConversationRight.REPLY)
@require_POST
def conversation_assist_used(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """An agent inserted a suggested article into their reply (`article_id`): one consultation of the knowledge
    base by agent assist. 204; a bad or unknown article: 422 naming the field."""
    from kefu.knowledge.index import served
    from kefu.knowledge.services.insight import consultation_record

    conversation = visible_conversation_or_404(request, conversation_id)
    raw = request.POST.get("article_id", "")
    article = served("staff").articles.get(int(raw)) if raw.isdigit() and len(raw) < 12 else None
    if article is None:
        return HttpResponse(_("文章不存在或已下线"), status=422, content_type="text/plain; charset=utf-8",
                            headers={"X-Field": "article_id"})
    question = assist.conversation_text(conversation) or article.title
    consultation_record(question=question[-500:], language=article.language, channel="agent",
                        article_id=article.id, confidence=0.0, answered=True, conversation=conversation)
    return HttpResponse(status=204)


