"""REST API for work orders: list (keyset pages, filters), detail, create, edit with `version`, replies,
notes, transitions, assignment, escalation, dispatch and the department's acknowledge/complete.
Writes go through kefu.tickets.services; visibility comes from kefu.core.policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from kefu.accounts.models import Department, Team, User
from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_page
from kefu.apiutils.schemas import MAX_VERSION, Id, InSchema, Moment, PathId
from kefu.core.errors import Conflict, NotFound, ValidationFailed
from kefu.core.policy import visible
from kefu.customers.models import Customer
from kefu.tickets import selectors, services
from kefu.tickets.choices import Channel, Priority, Status, TicketType
from kefu.tickets.models import Category, Dispatch, Ticket, TicketEvent, TicketMessage
from kefu.tickets.permissions import TicketRight

router = Router()

SUBJECT_MAX = services.SUBJECT_MAX
BODY_MAX = services.BODY_MAX


# --- schemas ------------------------------------------------------------------------------------------------


class CustomerRef(Schema):
    id: int
    code: str
    name: str
    tier: str
    is_vip: bool


class TicketOut(Schema):
    id: int
    number: str | None
    subject: str
    type: str = Field(description="inquiry, complaint, repair, suggestion, praise or other")
    priority: str
    channel: str
    status: str
    customer_id: int | None
    customer: CustomerRef | None
    assignee_id: int | None
    assignee_name: str | None
    first_contact_owner_id: int | None
    team_id: int | None
    team_name: str | None
    category_id: int | None
    sla_standing: str = Field(description="none, ok, warning (due soon) or breached")
    sla_due_at: datetime | None
    escalation_level: int
    external_ref: str
    version: int = Field(description="Send it back on updates; a stale one gets 409.")
    created_at: datetime
    updated_at: datetime


class MessageOut(Schema):
    id: int
    kind: str = Field(description="reply (to the customer), note (internal) or customer")
    author_id: int | None
    author_name: str | None
    body: str
    channel: str
    created_at: datetime


class EventOut(Schema):
    id: int
    kind: str
    actor_id: int | None
    from_status: str
    to_status: str
    data: dict[str, Any]
    created_at: datetime


class DispatchOut(Schema):
    id: int
    ticket_id: int
    department_id: int
    department_name: str
    status: str
    instructions: str
    dispatched_by_id: int | None
    dispatched_at: datetime
    due_at: datetime | None
    acknowledged_by_id: int | None
    acknowledged_at: datetime | None
    completed_by_id: int | None
    completed_at: datetime | None
    result: str


class TicketDetail(TicketOut):
    description: str
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    messages: list[MessageOut]
    events: list[EventOut]
    dispatches: list[DispatchOut]


class TicketPage(Schema):
    items: list[TicketOut]
    next: str | None = Field(description="Cursor of the next page (pass as ?cursor=), null on the last page.")
    limit: int
    count: int | None = Field(None, description="Only with ?count=true; capped (see count_capped).")
    count_capped: bool | None = None


class TicketIn(InSchema):
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX)
    description: str = Field("", max_length=BODY_MAX)
    type: TicketType = TicketType.INQUIRY
    priority: Priority = Priority.NORMAL
    channel: Channel = Channel.API
    customer_id: Id | None = None
    category_id: Id | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    external_ref: str = Field("", max_length=100, description="Your system's reference for this order.")


class TicketPatch(InSchema):
    version: int = Field(ge=1, le=MAX_VERSION, description="The version you read; required.")
    subject: str | None = Field(None, min_length=1, max_length=SUBJECT_MAX)
    description: str | None = Field(None, max_length=BODY_MAX)
    type: TicketType | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    category_id: Id | None = Field(None, description="null removes the category.")
    customer_id: Id | None = None


class TransitionIn(InSchema):
    to: Status
    version: int | None = Field(None, ge=1, le=MAX_VERSION, description="The version you read (recommended).")
    reason: str = Field("", max_length=500)


class AssignIn(InSchema):
    assignee_id: Id | None = Field(description="null unassigns.")
    version: int | None = Field(None, ge=1, le=MAX_VERSION)
    reason: str = Field("", max_length=500)


class BodyIn(InSchema):
    body: str = Field(min_length=1, max_length=BODY_MAX)


class EscalateIn(InSchema):
    reason: str = Field(min_length=1, max_length=500)


class DispatchIn(InSchema):
    department_id: Id
    instructions: str = Field("", max_length=BODY_MAX)
    due_at: Moment | None = Field(None, description="When the department must be done (ISO 8601).")


class CompleteIn(InSchema):
    result: str = Field(min_length=1, max_length=BODY_MAX)


class TicketFilters(InSchema):
    """Documents the list's query parameters; they are read by kefu.tickets.selectors.parse_ticket_filter, the
    same definition the web list and the export use."""

    scope: Literal["mine", "team", "all"] | None = Field(
        None, description="mine (you are the assignee or first-contact owner), team (your team's) or all (default)"
    )
    status: list[str] | None = Field(
        None, description="Repeat for several: ?status=new&status=assigned; `open` means every open status"
    )
    type: list[TicketType] | None = None
    priority: list[Priority] | None = None
    channel: list[Channel] | None = None
    assignee: str | None = Field(None, description="A user id, me or none")
    team: str | None = Field(None, description="A team id")
    customer: str | None = Field(None, description="A customer id")
    category: str | None = Field(None, description="A category id")
    sla: str | None = Field(None, description="due_soon (SLA warning) or breached")
    dispatch: str | None = Field(
        None, description="open (waiting on a department) or overdue (a department is past its due time)"
    )
    tier: str | None = Field(None, description="The customer's tier, A–D")
    created_from: str | None = Field(None, description="ISO 8601 date or date-time; a date is local midnight")
    created_to: str | None = Field(None, description="Exclusive; a date means the end of that day")
    resolved_from: str | None = None
    resolved_to: str | None = None
    q: str | None = Field(
        None,
        max_length=100,
        description="Work-order number, words of the subject, the customer's name, or the customer's full phone "
        "number or e-mail address (exact)",
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)
    count: bool = Field(False, description="Also count the matches (capped at 10,000).")


# --- serialization ------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_summary(t: Ticket) -> dict[str, Any]:
    """A list item: kefu.tickets.selectors.ticket_summary with the customer and the names; expects
    `list_queryset` (or customer, assignee and team selected)."""
    return selectors.ticket_list_item(t)


def _summary_of(ticket_id: int) -> dict[str, Any]:
    return ticket_summary(selectors.list_queryset(Ticket.objects.filter(pk=ticket_id)).get())


def _message(m: TicketMessage) -> dict[str, Any]:
    return {
        "id": m.pk,
        "kind": m.kind,
        "author_id": m.author_id,
        "author_name": str(m.author) if m.author else None,
        "body": m.body,
        "channel": m.channel,
        "created_at": _iso(m.created_at),
    }


def _event(e: TicketEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "actor_id": e.actor_id,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "data": e.data,
        "created_at": _iso(e.created_at),
    }


def dispatch_out(d: Dispatch) -> dict[str, Any]:
    return {
        "id": d.pk,
        "ticket_id": d.ticket_id,
        "department_id": d.department_id,
        "department_name": d.department.name,
        "status": d.status,
        "instructions": d.instructions,
        "dispatched_by_id": d.dispatched_by_id,
        "dispatched_at": _iso(d.dispatched_at),
        "due_at": _iso(d.due_at),
        "acknowledged_by_id": d.acknowledged_by_id,
        "acknowledged_at": _iso(d.acknowledged_at),
        "completed_by_id": d.completed_by_id,
        "completed_at": _iso(d.completed_at),
        "result": d.result,
    }


def ticket_detail_data(ticket_id: int, *, created: Ticket | None = None) -> dict[str, Any]:
    """The order as the API shows it. `created`: the order `services.ticket_create` just returned, used as it
    is (it has no messages or dispatches yet), which spares re-reading it."""
    t = created or Ticket.objects.select_related("customer", "assignee", "team").get(pk=ticket_id)
    data = ticket_summary(t)
    data.update(
        {
            "description": t.description,
            "first_responded_at": _iso(t.first_responded_at),
            "resolved_at": _iso(t.resolved_at),
            "closed_at": _iso(t.closed_at),
            "reopen_count": t.reopen_count,
            "messages": []
            if created
            else [_message(m) for m in t.messages.select_related("author").order_by("created_at", "id")],
            "events": [_event(e) for e in t.events.order_by("created_at", "id")],
            "dispatches": []
            if created
            else [dispatch_out(d) for d in t.dispatches.select_related("department").order_by("id")],
        }
    )
    return data


# --- lookups ------------------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _visible_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    """The order if the user may see it; 404 otherwise (no hint that it exists)."""
    ticket = visible(_user(request), Ticket.objects.filter(pk=ticket_id)).first()
    if ticket is None:
        raise NotFound(_("工单不存在或您无权查看"), details={"ticket_id": ticket_id})
    return ticket


def _ref(model: type, pk: int | None, field: str, label: str, queryset: QuerySet[Any] | None = None) -> Any:
    """Resolve an id given in the body; an unknown one is a 422 naming the field."""
    if pk is None:
        return None
    found = (queryset if queryset is not None else model.objects.all()).filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is None:
        raise ValidationFailed(
            _("%(label)s %(pk)s 不存在") % {"label": label, "pk": pk},
            code="invalid",
            status=422,
            details={
                "fields": [
                    {"field": field, "location": "body", "message": "unknown id", "type": "unknown_id"}
                ]
            },
        )
    return found


def _with_current_state(call: Callable[[], Any], ticket_id: int) -> Any:
    """Run a service; a stale version answers 409 with the order as it is now in `details.current`."""
    try:
        return call()
    except Conflict as exc:
        if exc.code == "stale_version":
            exc.details = {
                **exc.details,
                "current": _summary_of(ticket_id),
            }
        raise


# --- reads --------------------------------------------------------------------------------------------------


@router.get("", response=TicketPage, summary="List work orders")
@requires(TicketRight.VIEW)
def ticket_list(request: HttpRequest, filters: Query[TicketFilters]) -> Any:
    """Newest first, by keyset: follow `next` with ?cursor= (the other filters must stay the same).
    Only the orders you may see are listed. The filters mean what they mean in the web list and its export."""
    found = selectors.ticket_filter_from(request.GET)
    qs = selectors.list_queryset(selectors.filter_tickets(_user(request), found))
    return cursor_page(
        qs,
        limit=filters.limit,
        cursor=filters.cursor,
        count=filters.count,
        serialize=lambda rows: [ticket_summary(t) for t in rows],
    )


@router.get(
    "/{ticket_id}", response=TicketDetail, summary="One work order with messages, history and dispatches"
)
@requires(TicketRight.VIEW)
def ticket_detail(request: HttpRequest, ticket_id: PathId) -> Any:
    _visible_ticket(request, ticket_id)
    return ticket_detail_data(ticket_id)


# --- writes -------------------------------------------------------------------------------------------------


@router.post("", response={201: TicketDetail}, summary="Create a work order")
@requires(TicketRight.CREATE)
def ticket_create(request: HttpRequest, payload: TicketIn) -> Any:
    """The caller becomes the first-contact owner. Send `Idempotency-Key` to make retries safe."""
    user = _user(request)

    def create() -> tuple[int, Any]:
        customer = _ref(
            Customer,
            payload.customer_id,
            "customer_id",
            _("客户"),
            visible(user, Customer.objects.all()),
        )
        ticket = services.ticket_create(
            actor=user,
            subject=payload.subject,
            description=payload.description,
            ticket_type=payload.type,
            priority=payload.priority,
            channel=payload.channel,
            customer=customer,
            category=_ref(Category, payload.category_id, "category_id", _("分类")),
            assignee=_ref(User, payload.assignee_id, "assignee_id", _("处理人")),
            team=_ref(Team, payload.team_id, "team_id", _("班组")),
            external_ref=payload.external_ref,
        )
        return 201, ticket_detail_data(ticket.pk, created=ticket)

    return idempotent_create(
        request, user=user, payload=payload.model_dump(mode="json"), create=create, schema=TicketDetail
    )


@router.patch("/{ticket_id}", response=TicketDetail, summary="Edit a work order (optimistic concurrency)")
@requires(TicketRight.EDIT)
def ticket_update(request: HttpRequest, ticket_id: PathId, payload: TicketPatch) -> Any:
    """Only the fields you send change. A stale `version` gets 409 with `details.current`."""
    ticket = _visible_ticket(request, ticket_id)
    user = _user(request)
    given = payload.model_fields_set
    changes = services.TicketChanges(
        subject=payload.subject if "subject" in given else None,
        description=payload.description if "description" in given else None,
        ticket_type=payload.type.value if payload.type else None,
        priority=payload.priority.value if payload.priority else None,
        channel=payload.channel.value if payload.channel else None,
        category=_ref(Category, payload.category_id, "category_id", _("分类")),
        clear_category="category_id" in given and payload.category_id is None,
        customer=_ref(
            Customer,
            payload.customer_id,
            "customer_id",
            _("客户"),
            visible(user, Customer.objects.all()),
        ),
    )
    _with_current_state(
        lambda: services.ticket_update(
            actor=user, ticket=ticket, expected_version=payload.version, changes=changes
        ),
        ticket_id,
    )
    return ticket_detail_data(ticket_id)


@router.post("/{ticket_id}/transitions", response=TicketOut, summary="Move a work order to another status")
@requires(TicketRight.TRANSITION)
def ticket_transition(request: HttpRequest, ticket_id: PathId, payload: TransitionIn) -> Any:
    """A refused move is 409 with the allowed next statuses in `details.allowed`."""
    ticket = _visible_ticket(request, ticket_id)
    updated = _with_current_state(
        lambda: services.ticket_transition(
            actor=_user(request),
            ticket=ticket,
            to_status=payload.to.value,
            expected_version=payload.version,
            reason=payload.reason,
        ),
        ticket_id,
    )
    return _summary_of(updated.pk)


@router.post("/{ticket_id}/assign", response=TicketOut, summary="Assign (hand over) a work order")
@requires(TicketRight.ASSIGN)
def ticket_assign(request: HttpRequest, ticket_id: PathId, payload: AssignIn) -> Any:
    """The first-contact owner stays the same through hand-overs."""
    ticket = _visible_ticket(request, ticket_id)
    assignee = _ref(User, payload.assignee_id, "assignee_id", _("处理人"))
    _with_current_state(
        lambda: services.ticket_assign(
            actor=_user(request),
            ticket=ticket,
            assignee=assignee,
            expected_version=payload.version,
            reason=payload.reason,
        ),
        ticket_id,
    )
    return _summary_of(ticket_id)


@router.post(
    "/{ticket_id}/escalate", response=TicketOut, summary="Escalate to the team lead, then the manager"
)
@requires(TicketRight.ESCALATE)
def ticket_escalate(request: HttpRequest, ticket_id: PathId, payload: EscalateIn) -> Any:
    ticket = _visible_ticket(request, ticket_id)
    services.ticket_escalate(actor=_user(request), ticket=ticket, reason=payload.reason)
    return _summary_of(ticket_id)


def _message_create(
    request: HttpRequest, ticket_id: int, payload: BodyIn, write: Callable[..., TicketMessage]
) -> Any:
    ticket = _visible_ticket(request, ticket_id)
    user = _user(request)

    def create() -> tuple[int, Any]:
        message = write(actor=user, ticket=ticket, body=payload.body)
        return 201, _message(TicketMessage.objects.select_related("author").get(pk=message.pk))

    return idempotent_create(request, user=user, payload=payload.model_dump(), create=create, schema=MessageOut)


@router.post("/{ticket_id}/replies", response={201: MessageOut}, summary="Reply to the customer")
@requires(TicketRight.REPLY)
def ticket_reply(request: HttpRequest, ticket_id: PathId, payload: BodyIn) -> Any:
    """The first reply stops the first-response SLA clock. Supports `Idempotency-Key`."""
    return _message_create(request, ticket_id, payload, services.ticket_reply)


@router.post("/{ticket_id}/notes", response={201: MessageOut}, summary="Add an internal note")
@requires(TicketRight.NOTE)
def ticket_note(request: HttpRequest, ticket_id: PathId, payload: BodyIn) -> Any:
    """Seen by staff only. Supports `Idempotency-Key`."""
    return _message_create(request, ticket_id, payload, services.ticket_add_note)


@router.post("/{ticket_id}/dispatches", response={201: DispatchOut}, summary="Dispatch work to a department")
@requires(TicketRight.DISPATCH)
def ticket_dispatch(request: HttpRequest, ticket_id: PathId, payload: DispatchIn) -> Any:
    """The first-contact owner keeps the order while the department works on it.
    Supports `Idempotency-Key`."""
    ticket = _visible_ticket(request, ticket_id)
    user = _user(request)

    def create() -> tuple[int, Any]:
        department = _ref(Department, payload.department_id, "department_id", _("部门"))
        dispatch = services.ticket_dispatch(
            actor=user,
            ticket=ticket,
            department=department,
            instructions=payload.instructions,
            due_at=payload.due_at,
        )
        return 201, dispatch_out(Dispatch.objects.select_related("department").get(pk=dispatch.pk))

    return idempotent_create(
        request, user=user, payload=payload.model_dump(mode="json"), create=create, schema=DispatchOut
    )


def _visible_dispatch(request: HttpRequest, ticket_id: int, dispatch_id: int) -> Dispatch:
    ticket = _visible_ticket(request, ticket_id)
    dispatch = Dispatch.objects.filter(pk=dispatch_id, ticket=ticket).first()
    if dispatch is None:
        raise NotFound(_("派单不存在"), details={"dispatch_id": dispatch_id})
    return dispatch


@router.post(
    "/{ticket_id}/dispatches/{dispatch_id}/acknowledge",
    response=DispatchOut,
    summary="The department takes the dispatched work",
)
@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
def dispatch_acknowledge(request: HttpRequest, ticket_id: PathId, dispatch_id: PathId) -> Any:
    """Only one person can take it: a second acknowledge gets 409 `dispatch_taken`."""
    dispatch = _visible_dispatch(request, ticket_id, dispatch_id)
    services.dispatch_acknowledge(actor=_user(request), dispatch=dispatch)
    return dispatch_out(Dispatch.objects.select_related("department").get(pk=dispatch_id))


@router.post(
    "/{ticket_id}/dispatches/{dispatch_id}/complete",
    response=DispatchOut,
    summary="The department reports its work done",
)
@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
def dispatch_complete(
    request: HttpRequest, ticket_id: PathId, dispatch_id: PathId, payload: CompleteIn
) -> Any:
    dispatch = _visible_dispatch(request, ticket_id, dispatch_id)
    services.dispatch_complete(actor=_user(request), dispatch=dispatch, result=payload.result)
    return dispatch_out(Dispatch.objects.select_related("department").get(pk=dispatch_id))
