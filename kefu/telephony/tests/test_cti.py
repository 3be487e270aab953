"""The CTI event contract (POST /api/v1/cti/events): a call's events in, the call they add up to out; the same
event again is one event; late and out-of-order events end in the same call; bad input names its field and writes
nothing; only a token with the telephony scope and right may report."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from kefu.accounts.choices import TokenScope
from kefu.accounts.services import api_token_create
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape
from kefu.core.models import OutboxEvent
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.models import Call, CallEvent

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 4, 9, 0, 0, tzinfo=SH)


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))


@pytest.fixture
def pbx(admin_user: Any) -> ApiClient:
    """The PBX's token: an administrator's, with the telephony scope alone."""
    return ApiClient(api_token_create(actor=admin_user, name="PBX", scopes=[TokenScope.TELEPHONY]).key)


def event(name: str, seconds: float, call_id: str = "1733302800.42", **extra: Any) -> dict[str, Any]:
    return {"call_id": call_id, "event": name, "at": (T0 + timedelta(seconds=seconds)).isoformat(),
            "caller": "13800138000", "called": "4008001234", **extra}


def test_a_call_from_offer_to_hang_up(pbx: ApiClient, hotline: Any, agent: Any) -> None:
    answers = [pbx.post("/cti/events", e) for e in (
        event("offered", 0), event("queued", 2, queue="hotline"),
        event("ringing", 14, queue="hotline", agent=agent.username),
        event("answered", 17, agent=agent.username), event("held", 60), event("resumed", 90),
        event("ended", 200), event("recording", 205, recording_url="https://pbx.example.cn/rec/42.wav"))]
    assert [a.status_code for a in answers] == [200] * 8
    body = answers[-1].json()
    assert body["duplicate"] is False
    call = body["call"]
    assert call["call_id"] == "1733302800.42"
    assert (call["queue"], call["agent_id"], call["state"]) == ("hotline", agent.pk, "ended")
    assert call["wait_seconds"] == 15  # from entering the queue to the answer
    assert call["hold_seconds"] == 30
    assert call["talk_seconds"] == 200 - 17 - 30
    row = Call.objects.get()
    assert row.recording_url == "https://pbx.example.cn/rec/42.wav"
    assert (row.caller, row.called) == ("13800138000", "4008001234")
    assert row.offered_at == T0


def test_the_same_event_again_is_one_event(pbx: ApiClient, hotline: Any) -> None:
    first = pbx.post("/cti/events", event("offered", 0, queue="hotline"))
    again = pbx.post("/cti/events", event("offered", 0, queue="hotline"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert again.json()["call"] == first.json()["call"]
    assert CallEvent.objects.count() == 1
    assert OutboxEvent.objects.filter(type="call.changed").count() == 1
    # the same event at another time is another event (a second transfer, a second hold)
    pbx.post("/cti/events", event("offered", 1, queue="hotline"))
    assert CallEvent.objects.count() == 2


def test_late_and_out_of_order_events_end_in_the_same_call(pbx: ApiClient, hotline: Any, agent: Any) -> None:
    """A PBX that was cut off sends its backlog days later, in any order: the call is as if it came on time."""
    call_id = "late-1"
    for e in (event("ended", 300, call_id), event("answered", 40, call_id, agent=agent.username),
              event("queued", 5, call_id, queue="hotline"), event("offered", 0, call_id)):
        assert pbx.post("/cti/events", e).status_code == 200
    call = Call.objects.get(call_id=call_id)
    assert (call.offered_at, call.answered_at, call.ended_at) == (
        T0, T0 + timedelta(seconds=40), T0 + timedelta(seconds=300))
    assert (call.wait_seconds, call.talk_seconds, call.state, call.agent_id) == (35, 260, "ended", agent.pk)


def test_an_abandoned_call_and_a_voicemail(pbx: ApiClient, hotline: Any) -> None:
    for e in (event("offered", 0, "a-1", queue="hotline"), event("queued", 1, "a-1", queue="hotline"),
              event("abandoned", 9, "a-1")):
        pbx.post("/cti/events", e)
    for e in (event("offered", 0, "v-1", queue="hotline"), event("voicemail", 40, "v-1"),
              event("ended", 70, "v-1")):
        pbx.post("/cti/events", e)
    abandoned, voicemail = Call.objects.get(call_id="a-1"), Call.objects.get(call_id="v-1")
    assert (abandoned.state, abandoned.wait_seconds, abandoned.answered_at) == ("abandoned", 8, None)
    assert (voicemail.state, voicemail.voicemail, voicemail.talk_seconds) == ("voicemail", True, 0)


def test_a_time_without_an_offset_is_the_centres_local_time(pbx: ApiClient, hotline: Any) -> None:
    pbx.post("/cti/events", {**event("offered", 0), "at": "2026-12-04T09:00:00"})
    assert Call.objects.get().offered_at == T0


@pytest.mark.parametrize(("change", "field"), [
    ({"event": "exploded"}, "event"),
    ({"call_id": ""}, "call_id"),
    ({"call_id": "x" * 101}, "call_id"),
    ({"at": "yesterday"}, "at"),
    ({"at": (datetime.now(tz=SH) + timedelta(days=1)).isoformat()}, "at"),
    ({"at": "1970-01-01T00:00:00+00:00"}, "at"),
    ({"queue": "no-such-queue"}, "queue"),
    ({"agent": "nobody"}, "agent"),
    ({"caller": "1380\x01"}, "caller"),
    ({"recording_url": "ftp://pbx/rec.wav"}, "recording_url"),
])
def test_bad_input_names_the_field_and_writes_nothing(pbx: ApiClient, hotline: Any, change: dict[str, Any],
                                                      field: str) -> None:
    response = pbx.post("/cti/events", {**event("offered", 0), **change})
    assert response.status_code in (400, 422)  # the schema's refusal, or the service's
    body = assert_error_shape(response, response.status_code)
    assert field in str(body["details"]) or field in body["message"], body
    assert not Call.objects.exists()
    assert not OutboxEvent.objects.filter(type="call.changed").exists()


def test_only_the_telephony_scope_and_right_may_report(admin_user: Any, agent: Any, hotline: Any) -> None:
    assert_error_shape(ApiClient(None).post("/cti/events", event("offered", 0)), 401)
    assert_error_shape(api_as(agent).post("/cti/events", event("offered", 0)), 403)  # an agent's role: no right
    reading = ApiClient(api_token_create(actor=admin_user, name="r", scopes=[TokenScope.READ]).key)
    assert_error_shape(reading.post("/cti/events", event("offered", 0)), 403)  # the right, not the scope
    assert not Call.objects.exists()
    assert api_as(admin_user).post("/cti/events", event("offered", 0)).status_code == 200


def test_a_ringing_call_is_announced_to_the_agent_it_rings(pbx: ApiClient, hotline: Any, agent: Any,
                                                           team: Any) -> None:
    pbx.post("/cti/events", event("offered", 0, queue="hotline"))
    pbx.post("/cti/events", event("ringing", 3, queue="hotline", agent=agent.username))
    ringing = OutboxEvent.objects.filter(type="call.changed").latest("pk")
    assert ringing.payload["cti"]["event"] == "ringing"
    assert ringing.payload["call"]["caller"] == "13800138000"
    assert f"user.{agent.pk}" in ringing.audience
    assert f"team.{team.pk}" in ringing.audience


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs a database with real concurrent connections: runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_reporting_the_same_new_call_at_once(admin_user: Any, team: Any) -> None:
    """The PBX retries while the first request is still running, and another event of the call arrives too:
    one call, each event once."""
    from django.db import connections

    from kefu.telephony.services import CtiEventIn, cti_event_record

    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def report(name: str, seconds: int) -> None:
        try:
            start.wait(timeout=60)
            cti_event_record(actor=admin_user, data=CtiEventIn(
                call_id="race-1", event=name, at=T0 + timedelta(seconds=seconds), caller="13800138000",
                called="4008001234", queue="hotline"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=args)
               for args in (("offered", 0), ("offered", 0), ("queued", 1), ("queued", 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert Call.objects.count() == 1
    assert sorted(CallEvent.objects.values_list("event", flat=True)) == ["offered", "queued"]
    assert Call.objects.get().queued_at == T0 + timedelta(seconds=1)
