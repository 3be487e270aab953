"""Agent-state events announced through the outbox (the wallboard and the agent's own pages follow them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from kefu.core.events import Audience, emit, event_type
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
