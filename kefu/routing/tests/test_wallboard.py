"""The wallboard: waiting calls and the longest wait per queue, today's service level under the queue's formula
(stated beside it), answer and abandon rates, agents by state; refreshed in place."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.routing.selectors import QueueToday
from kefu.routing.services import QueueData, StateChange, agent_state_set, queue_create
from kefu.telephony.services import CtiEventIn, cti_event_record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("formula", "expected"), [(1, 9 / 12), (2, 7 / 9), (3, 7 / 12), (4, 7 / 10)])
def test_the_four_service_level_formulas(formula: int, expected: float) -> None:
    from kefu.routing.models import Queue

    today = QueueToday(queue=Queue(code="q", formula=formula), offered=14, answered=9, abandoned=3,
                       short_abandoned=2, answered_within_target=7, abandoned_within_target=2)
    assert today.service_level == pytest.approx(expected)
    assert today.answer_rate == pytest.approx(9 / 14)
    assert today.abandon_rate == pytest.approx(3 / 12)


def test_the_board(client: Client, admin_user: Any, agent: Any, team_lead: Any, team: Any) -> None:
    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team, target_seconds=20))
    now = timezone.now().replace(microsecond=0)

    def report(call_id: str, event: str, seconds: int, **extra: Any) -> None:
        cti_event_record(actor=admin_user, now=now, data=CtiEventIn(
            call_id=call_id, event=event, at=now - timedelta(seconds=seconds), caller="13800138000",
            called="4008001234", queue="hotline", **extra))

    report("w1", "queued", 95)  # waiting 1:35
    report("w2", "queued", 10)
    report("a1", "queued", 300)
    report("a1", "answered", 290, agent=agent.username)  # within 20 s
    report("a1", "ended", 200)
    agent_state_set(actor=team_lead, user=team_lead, change=StateChange(state="break", note="午休"))
    client.force_login(team_lead)
    page = client.get("/wallboard/").content.decode()
    assert 'data-testid="wb-waiting">2<' in page
    longest = re.search(r'data-testid="wb-longest">(\d+):(\d\d)<', page)
    assert longest is not None
    assert 95 <= int(longest[1]) * 60 + int(longest[2]) <= 95 + 60  # the oldest waiting call, as the page is read
    assert 'data-testid="wb-sl">100%<' in page
    assert "Y 秒内接通 / 接通" in page  # the formula stated beside the figure
    assert "午休" in page
    partial = client.get("/wallboard/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert 'data-testid="wb-summary-break">' in partial
