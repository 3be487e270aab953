"""The agent's inbox: the list with its tabs, one conversation's pane (messages, composer, actions), the customer
beside it, files, and an order's conversations. Reads through kefu.conversations.selectors, writes through
kefu.conversations.services; live updates come over the `ws/inbox/` socket (kefu.web.consumers)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.models import Team, User
from kefu.conversations import selectors, services
from kefu.conversations.models import Conversation, MessageAttachment
from kefu.conversations.permissions import ConversationRight
from kefu.core.errors import ApplicationError, ValidationFailed
from kefu.core.policy import has_right, may_see, requires
from kefu.core.prepared import Prepared
from kefu.web import forms, inbox
from kefu.web.views.common import application_error_status, error_fragment, form_errors_text, is_htmx

PAGE_SIZE = 50
MAX_PAGES = 20  # deeper than 1,000 conversations: search instead
PANE_RELATED = ("channel", "customer", "assignee", "team", "ticket")


def _conversation(conversation_id: int) -> Any:
    return Conversation.objects.filter(pk=conversation_id).select_related(*PANE_RELATED)


_CONVERSATION = Prepared(_conversation)


def visible_conversation_or_404(request: HttpRequest, conversation_id: int) -> Conversation:
    """The conversation if the user may see it; otherwise 404 (no hint that it exists)."""
    found = _CONVERSATION.run(conversation_id)
    if not found or not may_see(request.user, found[0]):
        raise Http404
    return found[0]  # type: ignore[no-any-return]


# --- the list -----------------------------------------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    error = ""
    try:
        found = selectors.parse_filter(request.GET)
    except ValidationFailed as exc:
        found, error = selectors.ConversationFilter(), exc.message
    if not found.view:
        found = dataclasses.replace(found, view=inbox.default_view(user))
    raw_page = request.GET.get("page", "1")
    page = min(max(int(raw_page), 1), MAX_PAGES) if raw_page.isdigit() and len(raw_page) < 4 else 1
    start = (page - 1) * PAGE_SIZE
    qs = selectors.with_unread(selectors.conversation_list(user, found), user)
    conversations = list(qs[start : start + PAGE_SIZE + 1])
    counts = selectors.inbox_counts(user)
    tabs = [{"view": view, "label": label, "count": counts.get(view), "active": view == found.view}
            for view, label in inbox.tabs_for(user)]
    return {
        "nav": "conversations",
        "inbox_filter": found,
        "view": found.view,
        "q": found.q,
        "tabs": tabs,
        "rows": inbox.inbox_rows(user, conversations[:PAGE_SIZE], view=found.view),
        "page": page,
        "has_next": len(conversations) > PAGE_SIZE and page < MAX_PAGES,
        "filter_error": error,
    }


def _composer_context(request: HttpRequest) -> dict[str, Any]:
    """What the composer needs on the whole page (not per conversation): the canned replies, the file limit."""
    canned = [{"shortcut": r.shortcut, "title": r.title, "body": r.body}
              for r in selectors.canned_replies(request.user)[:300]]
    return {"canned": canned, "attachment_max_mb": settings.KEFU_ATTACHMENT_MAX_BYTES // (1024 * 1024),
            "may_manage_canned": has_right(request.user, ConversationRight.CANNED_MANAGE),
            "inbox_strings": inbox.script_strings()}


@requires(ConversationRight.VIEW)
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    context = _list_context(request)
    status = 422 if context["filter_error"] else 200
    if is_htmx(request) and request.headers.get("HX-Target") == "conv-list":
        return render(request, "web/conversations/_list.html", context, status=status)
    context.update(_composer_context(request))
    return render(request, "web/conversations/inbox.html", context, status=status)


# --- one conversation ---------------------------------------------------------------------------------------


@requires(ConversationRight.VIEW)
@require_GET
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)
    if is_htmx(request) and request.headers.get("HX-Target") == "conv-pane":
        return render(request, "web/conversations/_pane.html", inbox.pane_context(request.user, conversation))
    context = _list_context(request)
    context.update(_composer_context(request))
    context.update(inbox.pane_context(request.user, conversation))
    return render(request, "web/conversations/inbox.html", context)


@requires(ConversationRight.VIEW)
@require_GET
def conversation_messages(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Rendered messages after `?after=<seq>` (a reconnect, a file that arrived live) or before `?before=<seq>`
    (scrolling back)."""
    conversation = visible_conversation_or_404(request, conversation_id)
    after, before = request.GET.get("after"), request.GET.get("before")
    for value in (after, before):
        if value is not None and not (value.isdigit() and len(value) < 10):
            return HttpResponse(_("after 和 before 须为消息序号"), status=400, content_type="text/plain; charset=utf-8")
    if before is not None:
        rows = selectors.messages_before(conversation, int(before), limit=inbox.PANE_MESSAGES)
    elif after is not None:
        rows = list(selectors.messages_after(conversation, int(after), limit=200))
    else:  # the latest, as the pane shows them
        rows = selectors.last_messages(conversation, limit=inbox.PANE_MESSAGES)
    rows = inbox.decorate_messages(rows)
    return render(request, "web/conversations/_messages.html", {
        "conv_messages": rows, "conversation": conversation,
        "earlier": after is None and bool(rows) and rows[0].seq > 1, "first_seq": rows[0].seq if rows else 0})


@requires(ConversationRight.VIEW)
@require_GET
def conversation_side(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The panel beside the conversation (loaded after it): the customer card, their orders and conversations."""
    from kefu.customers.permissions import CustomerRight
    from kefu.customers.selectors import customer_detail
    from kefu.tickets.permissions import TicketRight
    from kefu.tickets.selectors import customer_ticket_history
    from kefu.web.views.customers import ticket_rows_for_history

    conversation = visible_conversation_or_404(request, conversation_id)
    user = request.user
    card, orders = None, []
    if has_right(user, CustomerRight.VIEW):
        try:
            card = customer_detail(user, conversation.customer_id, brief=True)
        except ApplicationError:
            card = None
    if card is not None and has_right(user, TicketRight.VIEW):
        orders = ticket_rows_for_history(customer_ticket_history(user, conversation.customer_id, limit=5))
    earlier = selectors.customer_conversations(conversation.customer_id, exclude=conversation.pk, limit=5)
    sees_all = has_right(user, ConversationRight.VIEW_ALL)
    others = [{"conversation": c, "icon": inbox.CHANNEL_ICONS.get(c.channel.kind, "chat"),
               "url": inbox.conversation_url(c.pk) if sees_all or c.assignee_id == user.pk
               or (c.team_id is not None and c.team_id == user.team_id) else ""} for c in earlier]
    return render(request, "web/conversations/_side.html", {
        "conversation": conversation, "customer_card": card, "orders": orders, "others": others,
        "customer_may_view": has_right(user, CustomerRight.VIEW)})


def _attachments(request: HttpRequest) -> list[services.AttachmentIn]:
    limit = settings.KEFU_ATTACHMENT_MAX_BYTES
    files = request.FILES.getlist("files")[:11]
    for upload in files:
        if upload.size and upload.size > limit:
            raise ValidationFailed(_("文件 %(name)s 超过 %(mb)s MB") % {"name": upload.name[:100],
                                                                    "mb": limit // 1048576},
                                   details={"field": "attachments"})
    return [services.AttachmentIn(filename=f.name or "file", content_type=f.content_type or "", content=f.read())
            for f in files]


@requires(ConversationRight.REPLY)
@require_POST
def conversation_send(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """A reply with files (or without the socket): stored through message_send, answered like the socket's ack."""
    conversation = visible_conversation_or_404(request, conversation_id)
    form = forms.ConversationSendForm(request.POST)
    client_id = (request.POST.get("client_id") or "")[:64]
    if not form.is_valid():
        return JsonResponse({"type": "error", "code": "invalid", "message": form_errors_text(form),
                             "client_id": client_id}, status=422)
    try:
        message = services.message_send(actor=request.user, conversation=conversation,
                                        text=form.cleaned_data["text"], attachments=_attachments(request),
                                        client_id=form.cleaned_data["client_id"])
        services.participant_read(user=request.user, conversation=conversation, up_to_seq=message.seq)
    except ApplicationError as error:
        return JsonResponse({"type": "error", "code": error.code, "message": error.message,
                             "field": (error.details or {}).get("field", ""), "client_id": client_id},
                            status=application_error_status(error))
    return JsonResponse({"type": "ack", "client_id": message.client_id, "id": message.pk, "seq": message.seq,
                         "conversation": conversation.pk})


# --- actions ------------------------------------------------------------------------------------------------


def _after_action(request: HttpRequest, conversation_id: int, flash: str) -> HttpResponse:
    """Success: HTMX gets the refreshed pane (and the list is told to refresh); a plain post is redirected."""
    found = _CONVERSATION.run(conversation_id)
    conversation = found[0] if found and may_see(request.user, found[0]) else None
    if is_htmx(request):
        if conversation is None:  # transferred out of one's sight: the pane says so
            response = render(request, "web/conversations/_gone.html", {"flash": flash})
        else:
            context = inbox.pane_context(request.user, conversation)
            context["flash"] = flash
            response = render(request, "web/conversations/_pane.html", context)
        response["HX-Trigger"] = "kefu:inbox-changed"
        return response
    messages.success(request, flash)
    if conversation is None:
        return redirect("web:inbox")
    return redirect("web:conversation_detail", conversation_id=conversation_id)


def _refused(request: HttpRequest, conversation_id: int, message: str, status: int = 422) -> HttpResponse:
    if is_htmx(request):
        return error_fragment(request, target="#err-conv-actions", message=message, status=status)
    messages.error(request, message)
    return redirect("web:conversation_detail", conversation_id=conversation_id)


def _run(request: HttpRequest, conversation_id: int, form: Any, action: Any, flash: Any) -> HttpResponse:
    if form is not None and not form.is_valid():
        return _refused(request, conversation_id, form_errors_text(form))
    try:
        done = action(form.cleaned_data if form is not None else {})
    except ApplicationError as error:
        return _refused(request, conversation_id, error.message, application_error_status(error))
    return _after_action(request, conversation_id, flash(done) if callable(flash) else flash)


@requires(ConversationRight.REPLY)
@require_POST
def conversation_claim(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)
    return _run(request, conversation_id, None,
                lambda data: services.conversation_claim(actor=request.user, conversation=conversation),
                _("已接入会话"))


def _transfer_target(value: str) -> dict[str, Any]:
    kind, _sep, raw = value.partition(":")
    if kind == "team":
        team = Team.objects.filter(pk=int(raw), is_active=True).first()
        if team is None:
            raise ValidationFailed(_("找不到该班组"), details={"field": "target"})
        return {"to_team": team}
    user = User.objects.filter(pk=int(raw), is_active=True).first()
    if user is None:
        raise ValidationFailed(_("找不到该同事"), details={"field": "target"})
    return {"to_user": user}


@requires(ConversationRight.REPLY)
@require_POST
def conversation_transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)

    def transfer(data: dict[str, Any]) -> Conversation:
        return services.conversation_transfer(actor=request.user, conversation=conversation,
                                              note=data.get("note") or "", expected_version=data.get("version"),
                                              **_transfer_target(data["target"]))

    def flash(done: Conversation) -> str:
        if done.assignee_id:
            return _("已转接给 %(name)s") % {"name": done.assignee}
        return _("已转到 %(team)s 的待接入队列") % {"team": done.team}

    return _run(request, conversation_id, forms.ConversationTransferForm(request.POST), transfer, flash)


@requires(ConversationRight.ASSIGN)
@require_POST
def conversation_assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)

    def assign(data: dict[str, Any]) -> Conversation:
        assignee = None
        if data.get("assignee"):
            assignee = User.objects.filter(pk=data["assignee"], is_active=True).first()
            if assignee is None:
                raise ValidationFailed(_("找不到该客服"), details={"field": "assignee"})
        return services.conversation_assign(actor=request.user, conversation=conversation, assignee=assignee,
                                            expected_version=data.get("version"))

    def flash(done: Conversation) -> str:
        if done.assignee_id:
            return _("已分配给 %(name)s") % {"name": done.assignee}
        return _("已放回待接入队列")

    return _run(request, conversation_id, forms.ConversationAssignForm(request.POST), assign, flash)


@requires(ConversationRight.REPLY)
@require_POST
def conversation_close(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)
    return _run(request, conversation_id, forms.ConversationCloseForm(request.POST),
                lambda data: services.conversation_close(actor=request.user, conversation=conversation,
                                                         reason=data["reason"], note=data.get("note") or ""),
                _("会话已结束"))


@requires(ConversationRight.REPLY)
@require_POST
def conversation_ticket(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = visible_conversation_or_404(request, conversation_id)
    return _run(request, conversation_id, None,
                lambda data: services.conversation_create_ticket(actor=request.user, conversation=conversation),
                lambda ticket: _("已创建工单 %(n)s") % {"n": ticket.number})


# --- files --------------------------------------------------------------------------------------------------


@requires(ConversationRight.VIEW)
@require_GET
def conversation_attachment(request: HttpRequest, conversation_attachment_id: int) -> FileResponse:
    attachment = (MessageAttachment.objects.select_related("conversation")
                  .filter(pk=conversation_attachment_id).first())
    if attachment is None or not may_see(request.user, attachment.conversation):
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    inline = attachment.content_type in inbox.IMAGE_TYPES or attachment.content_type == "application/pdf"
    response = FileResponse(handle, as_attachment=not inline, filename=attachment.filename,
                            content_type=attachment.content_type if inline else "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


# --- an order's conversations ---------------------------------------------------------------------------------


@requires(ConversationRight.VIEW)
@require_GET
def ticket_conversations(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The "conversations" section of the work-order page, loaded after the page (it costs the page nothing)."""
    from kefu.web.views.common import visible_ticket_or_404

    visible_ticket_or_404(request, ticket_id)
    user = request.user
    sees_all = has_right(user, ConversationRight.VIEW_ALL)
    rows = [{"conversation": c, "icon": inbox.CHANNEL_ICONS.get(c.channel.kind, "chat"),
             "url": inbox.conversation_url(c.pk) if sees_all or c.assignee_id == user.pk
             or (c.team_id is not None and c.team_id == user.team_id) else ""}
            for c in selectors.ticket_conversations(ticket_id)]
    return render(request, "web/conversations/_ticket_conversations.html", {"rows": rows})
