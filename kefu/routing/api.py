"""REST API of routing: agents' states (one's own, a lead setting a team member's, the floor's list), and the
offers routing makes to an agent (list, accept, decline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import Id, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.routing.choices import AgentStateKind
from kefu.routing.permissions import RoutingRight
from kefu.routing.selectors import agent_states, effective_state, open_offers
from kefu.routing.services import StateChange, agent_state_set, offer_accept, offer_decline

router = Router()


class AgentStateOut(Schema):
    user_id: int
    name: str
    team_id: int | None
    state: str = Field(description="available, on_contact, after_contact, break, meal, training, meeting, offline")
    since: datetime | None
    seconds_in_state: float | None
    source: str = Field(description="Who set it: agent, supervisor, routing, pbx or system")
    note: str


class StateFilters(InSchema):
    team_id: Id | None = Field(default=None, description="One team's agents only")


class AgentStateIn(InSchema):
    state: AgentStateKind
    note: str = Field(default="", max_length=200, description="Why, for breaks and meetings (optional)")


def _row(user: Any) -> dict[str, Any]:
    rows = agent_states(user, user_id=user.pk)
    if rows:
        return rows[0]
    from django.utils import timezone

    state = getattr(user, "agent_state", None)
    return {"user_id": user.pk, "name": str(user), "team_id": user.team_id,
            "state": effective_state(state, timezone.now()), "since": None, "seconds_in_state": None,
            "source": "", "note": ""}


@router.get("/agents/states", response=list[AgentStateOut], summary="Every agent's state (the wallboard's list)")
@requires(RoutingRight.STATE_VIEW)
def agent_state_list(request: HttpRequest, filters: Query[StateFilters]) -> Any:
    return agent_states(request.auth, team_id=filters.team_id)  # type: ignore[attr-defined]


@router.get("/agents/me/state", response=AgentStateOut, summary="Your own state")
@requires(RoutingRight.STATE_OWN)
def agent_state_get(request: HttpRequest) -> Any:
    return _row(request.auth)  # type: ignore[attr-defined]


@router.put("/agents/me/state", response=AgentStateOut, summary="Set your own state (available, a break, …)")
@requires(RoutingRight.STATE_OWN)
def agent_state_set_own(request: HttpRequest, payload: AgentStateIn) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    agent_state_set(actor=user, user=user, change=StateChange(state=payload.state, note=payload.note))
    return _row(user)


@router.put("/agents/{user_id}/state", response=AgentStateOut, summary="Set an agent's state (leads)")
@requires(RoutingRight.STATE_OTHERS)
def agent_state_set_other(request: HttpRequest, user_id: PathId, payload: AgentStateIn) -> Any:
    from kefu.accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound(_("坐席不存在"), details={"user_id": user_id})
    agent_state_set(actor=request.auth, user=user, change=StateChange(  # type: ignore[attr-defined]
        state=payload.state, note=payload.note, source="supervisor" if user.pk != request.auth.pk else "agent"))  # type: ignore[attr-defined]
    return _row(user)


class OfferOut(Schema):
    id: int
    ref: str = Field(description="The contact in its own app: call:<PBX id>, conversation:<id>, ticket:<id>")
    kind: str = Field(description="phone, chat or ticket")
    queue: str = Field(description="The queue's code")
    queue_name: str
    customer_id: int | None
    customer_name: str
    is_vip: bool
    callback_number: str = Field(description="Set when the caller asked to be called back: the number to call")
    offered_at: datetime
    expires_at: datetime = Field(description="Accept before this; after it the offer rings out")


class RoutedContactOut(Schema):
    id: int
    ref: str
    kind: str
    queue: str
    state: str = Field(description="waiting, offered, assigned, finished or abandoned")
    agent_id: int | None
    assigned_at: datetime | None
    callback_number: str
    version: int


def _contact(contact: Any) -> dict[str, Any]:
    return {"id": contact.pk, "ref": contact.ref, "kind": contact.kind, "queue": contact.queue.code,
            "state": contact.state, "agent_id": contact.agent_id, "assigned_at": contact.assigned_at,
            "callback_number": contact.callback_number, "version": contact.version}


@router.get("/agents/me/offers", response=list[OfferOut], summary="The contacts offered to you now")
@requires(RoutingRight.CONTACT_TAKE)
def offer_list(request: HttpRequest) -> Any:
    return open_offers(request.auth)  # type: ignore[attr-defined]


@router.post("/offers/{offer_id}/accept", response=RoutedContactOut, summary="Accept a contact offered to you")
@requires(RoutingRight.CONTACT_TAKE)
def offer_accept_api(request: HttpRequest, offer_id: PathId) -> Any:
    """409 `offer_timeout` when it rang out, `offer_withdrawn` when the contact left the line meanwhile."""
    return _contact(offer_accept(actor=request.auth, offer_id=offer_id))  # type: ignore[attr-defined]


@router.post("/offers/{offer_id}/decline", response=RoutedContactOut, summary="Decline a contact offered to you")
@requires(RoutingRight.CONTACT_TAKE)
def offer_decline_api(request: HttpRequest, offer_id: PathId) -> Any:
    """The contact goes back to its place in line and is offered to another agent."""
    return _contact(offer_decline(actor=request.auth, offer_id=offer_id))  # type: ignore[attr-defined]
