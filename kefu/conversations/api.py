"""REST API of conversations: the inbound webhook of app / mini-program channels (signed, public), the inbox
(lists, one conversation, its messages), replies, pick-up, assignment, transfer, closing and the order link.
Writes go through kefu.conversations.services; visibility comes from kefu.core.policy."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from kefu.accounts.models import Team, User
from kefu.apiutils.auth import requires
from kefu.apiutils.errors import error_response
from kefu.apiutils.pagination import number_page
from kefu.apiutils.schemas import MAX_VERSION, Id, InSchema, OptionalBodyIn, PathId
from kefu.conversations import selectors, services
from kefu.conversations.adapters import webhook
from kefu.conversations.choices import ChannelKind, CloseReason, ConversationStatus
from kefu.conversations.models import Conversation, Message
from kefu.conversations.permissions import ConversationRight
from kefu.core.errors import NotFound, ValidationFailed
from kefu.core.policy import PUBLIC, visible

router = Router()
log = logging.getLogger(__name__)

# --- schemas ------------------------------------------------------------------------------------------------


class InboundOut(Schema):
    conversation_id: int
    message_id: int = Field(description="Kefu's id of the stored message (the same on a retry).")


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class ConversationMessageOut(Schema):
    id: int
    seq: int = Field(description="1, 2, 3 … within the conversation; resume with ?after=<last seq seen>.")
    direction: str = Field(description="in (from the customer) or out (to the customer)")
    author_kind: str = Field(description="customer, agent, system or bot (the answer bot)")
    author_id: int | None
    author_name: str
    body: str
    kind: str
    external_id: str
    client_id: str
    automated: str = Field(description="'' or auto_reply, bounce, loop (never answered)")
    delivery_state: str = Field(description="received (inbound); queued, sent, delivered, read or failed")
    last_error: str
    attachments: list[AttachmentOut]
    created_at: datetime


class ConversationCallOut(Schema):
    id: int = Field(description="The call's id (`/calls/{call_id}/…`, `call.changed`'s `call.id`)")
    call_id: str = Field(description="The PBX's id of the call")


class ConversationOut(Schema):
    id: int
    channel: str = Field(description="The channel's code")
    channel_kind: str = Field(description="chat, email, wechat_oa, wecom_kf, webhook, sms or phone (a call)")
    channel_name: str
    status: str = Field(description="open or closed")
    subject: str
    customer_id: int
    customer_name: str
    team_id: int | None
    assignee_id: int | None
    assignee_name: str | None
    ticket_id: int | None
    ticket_number: str | None
    last_seq: int
    last_message_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    close_reason: str
    csat_score: int | None
    call: ConversationCallOut | None = Field(description="A phone conversation's call (null for other channels, "
                                                          "and for a call's record whose call was deleted)")
    version: int
    created_at: datetime


class ConversationPage(Schema):
    items: list[ConversationOut]
    next: str | None
    page: int
    page_size: int
    count: int


class ConversationFilters(InSchema):
    """Read by kefu.conversations.selectors.parse_filter, the same definition the inbox page uses."""

    view: Literal["mine", "waiting", "team", "all", "closed"] | None = Field(
        None, description="mine (open, yours), waiting (open, nobody's), team (open, your team's), all, closed")
    status: ConversationStatus | None = None
    channel: str | None = Field(None, max_length=40, description="A channel's code")
    assignee: str | None = Field(None, max_length=20, description="A user id, me or none")
    team: str | None = Field(None, max_length=20)
    customer: str | None = Field(None, max_length=20)
    q: str | None = Field(None, max_length=100, description="Words of the subject or the customer's name, or the "
                                                            "customer's exact address on the channel")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class MessagesQuery(InSchema):
    after: int = Field(0, ge=0, le=MAX_VERSION, description="Only messages with a larger seq")
    limit: int = Field(100, ge=1, le=500)


class SendIn(InSchema):
    text: str = Field(min_length=1, max_length=services.BODY_MAX)
    client_id: str = Field("", max_length=64, description="Your id of this message: a retry with the same id "
                                                          "returns the stored message and sends nothing twice.")


class ConversationAssignIn(InSchema):
    assignee_id: Id | None = Field(description="null puts it back in the team's inbox")
    version: int | None = Field(None, ge=1, le=MAX_VERSION)


class TransferIn(InSchema):
    to_user_id: Id | None = None
    to_team_id: Id | None = None
    note: str = Field("", max_length=500)
    version: int | None = Field(None, ge=1, le=MAX_VERSION)


class CloseIn(InSchema):
    reason: CloseReason
    note: str = Field("", max_length=500)


class ConversationTicketIn(OptionalBodyIn):
    subject: str = Field("", max_length=services.SUBJECT_MAX)


class TicketRef(Schema):
    id: int
    number: str | None


class ChannelOut(Schema):
    id: int
    code: str
    kind: str
    name: str
    team_id: int | None
    queue: str | None = Field(None, description="The routed chat queue its conversations wait in (its code)")
    is_active: bool
    creates_tickets: bool
    first_response_seconds: int
    config: dict[str, Any]
    created_at: datetime


# --- serialization -----------------------------------------------------------------------------------------


def message_out(message: Message) -> dict[str, Any]:
    author = message.author
    return {
        "id": message.pk, "seq": message.seq, "direction": message.direction, "author_kind": message.author_kind,
        "author_id": message.author_id,
        "author_name": str(author) if author else str(((message.meta or {}).get("bot") or {}).get("name") or ""),
        "body": message.body, "kind": message.kind, "external_id": message.external_id,
        "client_id": message.client_id, "automated": message.automated, "delivery_state": message.delivery_state,
        "last_error": message.last_error,
        "attachments": [{"id": a.pk, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "url": f"/conversations/attachments/{a.pk}/"} for a in message.attachments.all()],
        "created_at": message.created_at,
    }


def conversation_out(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.pk, "channel": c.channel.code, "channel_kind": c.channel.kind, "channel_name": c.channel.name,
        "status": c.status, "subject": c.subject, "customer_id": c.customer_id, "customer_name": c.customer.name,
        "team_id": c.team_id, "assignee_id": c.assignee_id,
        "assignee_name": str(c.assignee) if c.assignee else None,
        "ticket_id": c.ticket_id, "ticket_number": c.ticket.number if c.ticket_id else None,
        "last_seq": c.last_seq, "last_message_at": c.last_message_at, "first_response_at": c.first_response_at,
        "closed_at": c.closed_at, "close_reason": c.close_reason, "csat_score": c.csat_score,
        "call": _call_of(c), "version": c.version, "created_at": c.created_at,
    }


def _call_of(c: Conversation) -> dict[str, Any] | None:
    """The call a phone conversation was made of (read with the conversation: `select_related("call")`)."""
    if c.channel.kind != ChannelKind.PHONE:
        return None
    call = getattr(c, "call", None)  # the reverse side of the call's link; missing: no call
    return {"id": call.pk, "call_id": call.call_id} if call is not None else None


def _visible(request: HttpRequest, conversation_id: int) -> Conversation:
    qs = visible(request.auth, Conversation.objects.all()).select_related(
        "channel", "customer", "assignee", "ticket", "call")
    try:
        return qs.get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound(_("会话不存在")) from None


def _fresh(conversation_id: int) -> dict[str, Any]:
    return conversation_out(Conversation.objects.select_related("channel", "customer", "assignee", "ticket",
                                                                "call").get(pk=conversation_id))


# --- the inbound webhook -----------------------------------------------------------------------------------


@router.post("/inbound/{code}", auth=None, response={200: InboundOut}, openapi_extra={"x-kefu-auth": "signature"},
             summary="A customer's message from your app or mini-program (signed; see docs/conversations.md)")
@requires(PUBLIC)
def inbound_webhook(request: HttpRequest,
                    code: Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]) -> Any:
    """Headers `X-Kefu-Timestamp` (Unix seconds) and `X-Kefu-Signature: sha256=<hex HMAC-SHA256(secret,
    "<timestamp>.<raw body>")>`; body `{"message_id", "customer": {"external_id", "name"?, "phone"?}, "text",
    "sent_at"}`. The same `message_id` again gets the same answer and stores nothing. A bad signature or a
    timestamp more than 5 minutes off: 401."""
    channel = selectors.channel_by_code(code[:40])
    if channel is None or channel.kind != ChannelKind.WEBHOOK or not channel.is_active:
        return error_response(404, "not_found", _("没有这个接入渠道：%(code)s") % {"code": code[:40]})
    body = request.body
    try:
        webhook.verify(secret=channel.secret("secret"), timestamp=request.headers.get("X-Kefu-Timestamp", ""),
                       signature=request.headers.get("X-Kefu-Signature", ""), body=body)
    except webhook.SignatureRefused as exc:
        return error_response(401, "bad_signature", _("签名或时间戳无效：%(why)s") % {"why": exc})
    try:
        inbound = webhook.parse(body)
    except ValueError as exc:
        field, message = exc.args if len(exc.args) == 2 else ("body", str(exc))
        raise ValidationFailed(_("请求内容不符合约定：%(field)s %(msg)s") % {"field": field, "msg": message},
                               details={"field": field}) from None
    received = services.message_receive(channel=channel, inbound=inbound)
    return {"conversation_id": received.conversation.pk, "message_id": received.message.pk}


# --- the inbox -----------------------------------------------------------------------------------------------


@router.get("/conversations", response=ConversationPage, summary="Conversations you can see (the inbox)")
@requires(ConversationRight.VIEW)
def conversation_list(request: HttpRequest, filters: Query[ConversationFilters]) -> Any:
    parsed = selectors.parse_filter(request.GET)
    qs = selectors.conversation_list(request.auth, parsed).select_related("ticket", "call")
    return number_page(qs, page=filters.page, page_size=filters.page_size,
                       serialize=lambda rows: [conversation_out(c) for c in rows])


@router.get("/conversations/{conversation_id}", response=ConversationOut, summary="One conversation")
@requires(ConversationRight.VIEW)
def conversation_detail(request: HttpRequest, conversation_id: PathId) -> Any:
    return conversation_out(_visible(request, conversation_id))


@router.get("/conversations/{conversation_id}/messages", response=list[ConversationMessageOut],
            summary="A conversation's messages in order (after a seq)")
@requires(ConversationRight.VIEW)
def conversation_messages(request: HttpRequest, conversation_id: PathId, query: Query[MessagesQuery]) -> Any:
    conversation = _visible(request, conversation_id)
    return [message_out(m) for m in selectors.messages_after(conversation, query.after, query.limit)]


@router.post("/conversations/{conversation_id}/messages", response={201: ConversationMessageOut},
             summary="Reply to the customer through the conversation's channel")
@requires(ConversationRight.REPLY)
def conversation_send(request: HttpRequest, conversation_id: PathId, payload: SendIn) -> Any:
    conversation = _visible(request, conversation_id)
    message = services.message_send(actor=request.auth, conversation=conversation, text=payload.text,
                                    client_id=payload.client_id)
    return 201, message_out(Message.objects.select_related("author").prefetch_related("attachments")
                            .get(pk=message.pk))


@router.post("/conversations/{conversation_id}/claim", response=ConversationOut,
             summary="Pick up a waiting conversation (409 when a colleague was first)")
@requires(ConversationRight.REPLY)
def conversation_claim(request: HttpRequest, conversation_id: PathId) -> Any:
    conversation = _visible(request, conversation_id)
    services.conversation_claim(actor=request.auth, conversation=conversation)
    return _fresh(conversation_id)


@router.post("/conversations/{conversation_id}/assign", response=ConversationOut,
             summary="Give the conversation to an agent (a lead), or back to the inbox")
@requires(ConversationRight.ASSIGN)
def conversation_assign(request: HttpRequest, conversation_id: PathId, payload: ConversationAssignIn) -> Any:
    conversation = _visible(request, conversation_id)
    assignee = None
    if payload.assignee_id is not None:
        assignee = User.objects.filter(pk=payload.assignee_id).first()
        if assignee is None:
            raise ValidationFailed(_("没有这个用户"), details={"field": "assignee_id"})
    services.conversation_assign(actor=request.auth, conversation=conversation, assignee=assignee,
                                 expected_version=payload.version)
    return _fresh(conversation_id)


@router.post("/conversations/{conversation_id}/transfer", response=ConversationOut,
             summary="Transfer to a colleague or to a team's inbox")
@requires(ConversationRight.REPLY)
def conversation_transfer(request: HttpRequest, conversation_id: PathId, payload: TransferIn) -> Any:
    conversation = _visible(request, conversation_id)
    to_user = to_team = None
    if payload.to_user_id is not None:
        to_user = User.objects.filter(pk=payload.to_user_id).first()
        if to_user is None:
            raise ValidationFailed(_("没有这个用户"), details={"field": "to_user_id"})
    if payload.to_team_id is not None:
        to_team = Team.objects.filter(pk=payload.to_team_id).first()
        if to_team is None:
            raise ValidationFailed(_("没有这个班组"), details={"field": "to_team_id"})
    services.conversation_transfer(actor=request.auth, conversation=conversation, to_user=to_user, to_team=to_team,
                                   note=payload.note, expected_version=payload.version)
    return _fresh(conversation_id)


@router.post("/conversations/{conversation_id}/close", response=ConversationOut, summary="End the conversation")
@requires(ConversationRight.REPLY)
def conversation_close(request: HttpRequest, conversation_id: PathId, payload: CloseIn) -> Any:
    conversation = _visible(request, conversation_id)
    services.conversation_close(actor=request.auth, conversation=conversation, reason=payload.reason, note=payload.note)
    return _fresh(conversation_id)


@router.post("/conversations/{conversation_id}/ticket", response={201: TicketRef},
             summary="Turn the conversation into a work order")
@requires(ConversationRight.REPLY)
def conversation_ticket(request: HttpRequest, conversation_id: PathId, payload: ConversationTicketIn) -> Any:
    conversation = _visible(request, conversation_id)
    ticket = services.conversation_create_ticket(actor=request.auth, conversation=conversation,
                                                 subject=payload.subject)
    return 201, {"id": ticket.pk, "number": ticket.number}


@router.get("/channels", response=list[ChannelOut], summary="The channels (administration)")
@requires(ConversationRight.CHANNEL_MANAGE)
def channel_list(request: HttpRequest) -> Any:
    from kefu.conversations.models import Channel

    return [{"id": c.pk, "code": c.code, "kind": c.kind, "name": c.name, "team_id": c.team_id,
             "queue": c.queue.code if c.queue_id else None, "is_active": c.is_active,
             "creates_tickets": c.creates_tickets,
             "first_response_seconds": services.first_response_target(c), "config": c.config,
             "created_at": c.created_at}
            for c in Channel.objects.select_related("queue").order_by("kind", "code")]

