"""Agent-state events announced through the outbox (the wallboard and the agent's own pages follow them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from kefu.core.events import Audience, emit, emit_many, event_type
from kefu.core.policy import rights
from kefu.routing.models import AgentState


class AgentStateInfo(BaseModel):
    user_id: int
    state: str
    before: str
    since: datetime
    source: str
    note: str
    after_contact_until: datetime | None
    team_id: int | None


AGENT_STATE_CHANGED = event_type(
    "agent.state_changed", version=1, schema=AgentStateInfo, object_type="accounts.user",
    description="An agent's state changed (available, on_contact, after_contact, break, meal, training, meeting, "
                "offline); `source`: agent, supervisor, routing, pbx or system.")


def announce_state(state: AgentState, *, before: str, actor: Any = None) -> None:
    user = state.user
    audience = [Audience.user(user.pk)] + [Audience.role(r) for r in sorted(rights().get("agent_state.others", ()))]
    if user.team_id:
        audience.append(Audience.team(user.team_id))
    emit(AGENT_STATE_CHANGED, obj=user, actor=actor, audience=audience, payload={
        "user_id": user.pk, "state": state.state, "before": before, "since": state.since, "source": state.source,
        "note": state.note, "after_contact_until": state.after_contact_until, "team_id": user.team_id})


# --- routing: offers to agents and contacts in line -------------------------------------------------------------


class OfferInfo(BaseModel):
    id: int
    agent_id: int
    contact_id: int
    ref: str
    kind: str
    queue: str  # the queue's code
    queue_name: str
    customer_id: int | None
    customer_name: str
    is_vip: bool
    callback_number: str
    offered_at: datetime
    expires_at: datetime
    outcome: str  # "" while open; accepted, declined, timeout, withdrawn


class ContactInfo(BaseModel):
    id: int
    ref: str
    kind: str
    queue: str
    state: str
    priority: int
    enqueued_at: datetime
    agent_id: int | None
    callback_number: str
    version: int


OFFER_MADE = event_type(
    "routing.offer_made", version=1, schema=OfferInfo, object_type="routing.offer",
    description="A contact is offered to an agent (to the agent only): accept or decline before `expires_at`.")
OFFER_CLOSED = event_type(
    "routing.offer_closed", version=1, schema=OfferInfo, object_type="routing.offer",
    description="An offer ended: `outcome` accepted, declined, timeout (rang out) or withdrawn (the contact was "
                "taken elsewhere, abandoned, or the agent left available).")
CONTACT_CHANGED = event_type(
    "routing.contact_changed", version=1, schema=ContactInfo, object_type="routing.routedcontact",
    description="A contact in a queue moved on: waiting, offered, assigned, finished or abandoned; an overflow "
                "names the new queue; `callback_number` once the caller asked to be called back.")


def _offer_info(offer: Any, contact: Any) -> dict[str, object]:
    customer = contact.customer if contact.customer_id else None
    return {"id": offer.pk, "agent_id": offer.agent_id, "contact_id": contact.pk, "ref": contact.ref,
            "kind": contact.kind, "queue": contact.queue.code, "queue_name": contact.queue.name,
            "customer_id": contact.customer_id, "customer_name": str(customer.name) if customer else "",
            "is_vip": contact.is_vip, "callback_number": contact.callback_number, "offered_at": offer.offered_at,
            "expires_at": offer.expires_at, "outcome": offer.outcome}


def offer_items(made: list[tuple[Any, Any]]) -> list[tuple[dict[str, object], list[Audience], Any]]:
    """The (payload, audience, object) of each offer's OFFER_MADE event (to the agent only)."""
    return [(_offer_info(offer, contact), [Audience.user(offer.agent_id)], offer) for offer, contact in made]


def announce_offers(made: list[tuple[Any, Any]]) -> None:
    """Several offers at once (one dispatch batch): one insert into the outbox."""
    emit_many(OFFER_MADE, offer_items(made))


def announce_offer_closed(offer: Any) -> None:
    emit(OFFER_CLOSED, obj=offer, payload=_offer_info(offer, offer.contact),
         audience=[Audience.user(offer.agent_id)])


def announce_contact(contact: Any) -> None:
    """To the queue's team, the contact's agent and the roles that set others' states (the floor's leads)."""
    audience = [Audience.role(r) for r in sorted(rights().get("agent_state.others", ()))]
    if contact.queue.team_id:
        audience.append(Audience.team(contact.queue.team_id))
    if contact.agent_id:
        audience.append(Audience.user(contact.agent_id))
    emit(CONTACT_CHANGED, obj=contact, audience=audience, payload={
        "id": contact.pk, "ref": contact.ref, "kind": contact.kind, "queue": contact.queue.code,
        "state": contact.state, "priority": contact.priority, "enqueued_at": contact.enqueued_at,
        "agent_id": contact.agent_id, "callback_number": contact.callback_number, "version": contact.version})
