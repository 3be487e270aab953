"""Agent states: set by the agent, by their lead (their team only) and by the PBX as calls are answered and end;
each change closes one span of the history and opens the next; after-contact work ends by itself; the same state
again changes nothing; the API names bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import OutboxEvent
from kefu.routing.models import AgentState, AgentStateSpan
from kefu.routing.services import AGENT_STATES, StateChange, agent_state_set, agent_states_expire

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
NINE = datetime(2026, 12, 4, 9, 0, tzinfo=SH)


def spans(user: Any) -> list[tuple[str, datetime, datetime | None, str]]:
    return [(s.state, s.started_at, s.ended_at, s.source)
            for s in AgentStateSpan.objects.filter(user=user).order_by("started_at", "pk")]


def test_each_change_closes_a_span_and_opens_the_next(agent: Any) -> None:
    ten, later = NINE + timedelta(hours=1), NINE + timedelta(hours=1, minutes=1)
    agent_state_set(actor=agent, user=agent, change=StateChange(state="available", at=NINE))
    agent_state_set(actor=agent, user=agent, change=StateChange(state="break", note="喝水", at=ten))
    again = agent_state_set(actor=agent, user=agent, change=StateChange(state="break", at=later))
    assert (again.state, again.since, again.note) == ("break", NINE + timedelta(hours=1), "喝水")  # nothing changed
    assert spans(agent) == [("available", NINE, NINE + timedelta(hours=1), "agent"),
                            ("break", NINE + timedelta(hours=1), None, "agent")]
    changed = OutboxEvent.objects.filter(type="agent.state_changed").order_by("pk")
    assert [(e.payload["before"], e.payload["state"]) for e in changed] == [("offline", "available"),
                                                                           ("available", "break")]
    assert f"user.{agent.pk}" in changed[0].audience


def test_who_may_set_whose_state(agent: Any, team_lead: Any, other_agent: Any, shift_lead: Any) -> None:
    agent_state_set(actor=team_lead, user=agent, change=StateChange(state="meeting", source="supervisor"))
    with pytest.raises(PermissionDenied):  # another team's agent
        agent_state_set(actor=team_lead, user=other_agent, change=StateChange(state="meeting", source="supervisor"))
    with pytest.raises(PermissionDenied):  # a colleague
        agent_state_set(actor=other_agent, user=agent, change=StateChange(state="offline"))
    with pytest.raises(PermissionDenied):  # only the PBX speaks for the PBX
        agent_state_set(actor=agent, user=agent, change=StateChange(state="on_contact", source="pbx"))
    agent_state_set(actor=shift_lead, user=other_agent, change=StateChange(state="training", source="supervisor"))
    assert AgentState.objects.get(user=other_agent).state == "training"
    with pytest.raises(ValidationFailed) as refused:
        agent_state_set(actor=agent, user=agent, change=StateChange(state="asleep"))
    assert refused.value.details["field"] == "state"


def test_after_contact_work_ends_by_itself_at_its_exact_time(agent: Any, settings: Any) -> None:
    settings.KEFU_AFTER_CONTACT_SECONDS = 30
    agent_state_set(actor=AGENT_STATES, user=agent, change=StateChange(state="after_contact", source="pbx", at=NINE))
    assert agent_states_expire(now=NINE + timedelta(seconds=29)) == 0
    assert agent_states_expire(now=NINE + timedelta(seconds=75)) == 1  # the sweep ran late …
    assert spans(agent)[-2:] == [("after_contact", NINE, NINE + timedelta(seconds=30), "pbx"),
                                 ("available", NINE + timedelta(seconds=30), None, "system")]  # … the time is exact
    assert agent_states_expire(now=NINE + timedelta(minutes=5)) == 0


def test_the_pbx_moves_the_agent_as_calls_are_answered_and_end(admin_user: Any, agent: Any, team: Any) -> None:
    from kefu.routing.services import QueueData, queue_create
    from kefu.telephony.services import CtiEventIn, cti_event_record

    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    now = timezone.now().replace(microsecond=0)

    def report(event: str, seconds: int, **extra: Any) -> None:
        cti_event_record(actor=admin_user, now=now + timedelta(seconds=seconds), data=CtiEventIn(
            call_id="live-1", event=event, at=now + timedelta(seconds=seconds), caller="13800138000",
            called="4008001234", queue="hotline", **extra))

    report("queued", 0)
    report("answered", 10, agent=agent.username)
    assert AgentState.objects.get(user=agent).state == "on_contact"
    report("ended", 130)
    state = AgentState.objects.get(user=agent)
    assert (state.state, state.source, state.since) == ("after_contact", "pbx", now + timedelta(seconds=130))
    # yesterday's backlog does not move the agent now
    cti_event_record(actor=admin_user, data=CtiEventIn(call_id="old-1", event="answered",
                                                       at=now - timedelta(days=1), caller="1", called="2",
                                                       agent=agent.username))
    assert AgentState.objects.get(user=agent).state == "after_contact"


def test_the_api(agent: Any, team_lead: Any, other_agent: Any) -> None:
    mine = api_as(agent)
    assert mine.get("/agents/me/state").json()["state"] == "offline"
    answer = mine.request("put", "/agents/me/state", {"state": "available"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["state"] == "available"
    assert_error_shape(mine.request("put", "/agents/me/state", {"state": "asleep"}), 422)
    lead = api_as(team_lead)
    assert lead.request("put", f"/agents/{agent.pk}/state", {"state": "meeting", "note": "周会"}).json()[
        "source"] == "supervisor"
    assert_error_shape(lead.request("put", f"/agents/{other_agent.pk}/state", {"state": "meeting"}), 403)
    assert_error_shape(mine.request("put", f"/agents/{other_agent.pk}/state", {"state": "offline"}), 403)
    board = {row["user_id"]: row for row in lead.get("/agents/states").json()}
    assert board[agent.pk]["state"] == "meeting"
    assert board[other_agent.pk]["state"] == "offline"
