"""Routed calls put through: an agent accepts a call waiting in a queue Kefu routes, and after the accept commits
the PBX is told to send the caller's leg to the agent's extension (the loopback fake PBXs record what was sent).
Sent or not, it is recorded; a failure (no PBX, no extension, the PBX refusing or unreachable) is audited and told
to the agent — and the accept stands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.core.models import AuditLog, OutboxEvent
from kefu.notifications.handlers import notices_for
from kefu.routing.models import Offer, Queue, RoutedContact
from kefu.routing.services import ROUTING, StateChange, agent_state_set, offer_accept, routing_dispatch
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.services import PBX_ACTOR, cti_event_record
from kefu.telephony.tests.fake_pbx import FakeAmi, FakeEsl, closed_port

pytestmark = pytest.mark.django_db
CALLER_LEG = "PJSIP/trunk-00000077"


@pytest.fixture
def ami(settings: Any) -> Iterator[FakeAmi]:
    fake = FakeAmi()
    settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{fake.port}?context=from-kefu"
    yield fake
    fake.close()


@pytest.fixture
def hotline(team: Any) -> Queue:
    return Queue.objects.create(code="hotline", name="服务热线", kind="phone", routed=True, team=team)


@pytest.fixture
def ready_agent(agent: Any) -> Any:
    agent.extension = "1001"
    agent.save(update_fields=["extension"])
    agent_state_set(actor=ROUTING, user=agent, change=StateChange(
        state="available", source="system", at=timezone.now() - timedelta(minutes=5)))
    return agent


def offered_call(hotline: Queue, *, channel: str = CALLER_LEG) -> Offer:
    """A call queued in the hotline a few seconds ago and offered to the free agent."""
    start = timezone.now() - timedelta(seconds=30)
    for event, seconds in (("offered", 0), ("queued", 2)):
        cti_event_record(actor=PBX_ACTOR, data=CtiEventIn(
            call_id="1796500000.7", event=event, at=start + timedelta(seconds=seconds), caller="13800138000",
            called="4008001234", queue="hotline", pbx_channel=channel if event == "offered" else ""))
    assert routing_dispatch() == 1
    return Offer.objects.get(contact__ref="call:1796500000.7", outcome="")


def accept(agent: Any, offer: Offer, capture: Any) -> RoutedContact:
    with capture(execute=True):
        contact = offer_accept(actor=agent, offer_id=offer.pk)
    return contact


def test_an_accepted_call_is_put_through_to_the_agents_extension_by_the_ami(
        ami: FakeAmi, hotline: Queue, ready_agent: Any, django_capture_on_commit_callbacks: Any) -> None:
    offer = offered_call(hotline)
    assert not ami.sent("Redirect")  # nothing before the accept
    contact = accept(ready_agent, offer, django_capture_on_commit_callbacks)
    assert (contact.state, contact.agent) == ("assigned", ready_agent)
    (redirect,) = ami.sent("Redirect")
    assert {k: redirect[k] for k in ("Channel", "Exten", "Context", "Priority")} == {
        "Channel": CALLER_LEG, "Exten": "1001", "Context": "from-kefu", "Priority": "1"}
    row = AuditLog.objects.get(action="call.put_through")
    assert (row.actor, row.object_type, row.data["extension"], row.data["contact_id"]) == (
        ready_agent, "telephony.call", "1001", contact.pk)
    assert not OutboxEvent.objects.filter(type="call.put_through_failed").exists()


def test_the_event_socket_transfers_the_callers_leg(settings: Any, hotline: Queue, ready_agent: Any,
                                                    django_capture_on_commit_callbacks: Any) -> None:
    fake = FakeEsl()
    settings.KEFU_PBX_URL = f"esl://:ClueCon@127.0.0.1:{fake.port}"
    try:
        accept(ready_agent, offered_call(hotline, channel="6f1c2a3b-uuid"), django_capture_on_commit_callbacks)
        assert fake.sent("api uuid_transfer") == ["api uuid_transfer 6f1c2a3b-uuid 1001 XML default"]
    finally:
        fake.close()


def test_a_refusing_pbx_is_recorded_and_told_to_the_agent_and_the_accept_stands(
        settings: Any, hotline: Queue, ready_agent: Any, django_capture_on_commit_callbacks: Any) -> None:
    fake = FakeAmi(answers={"Redirect": "Error"})
    settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{fake.port}"
    try:
        contact = accept(ready_agent, offered_call(hotline), django_capture_on_commit_callbacks)
    finally:
        fake.close()
    assert RoutedContact.objects.get(pk=contact.pk).state == "assigned"
    row = AuditLog.objects.get(action="call.put_through_failed")
    assert (row.actor, row.data["code"]) == (ready_agent, "pbx_refused")
    assert "No such channel" in row.data["error"]
    event = OutboxEvent.objects.get(type="call.put_through_failed")
    assert event.audience == [f"user.{ready_agent.pk}"]
    assert (event.payload["code"], event.payload["extension"]) == ("pbx_refused", "1001")
    (notice,) = notices_for(event)
    assert notice.recipient == ready_agent
    assert notice.params["caller"] == "138****8000"  # a notice keeps no number in clear


@pytest.mark.parametrize(("setup", "code"), [("no_pbx", "pbx_not_configured"), ("no_extension", "no_extension"),
                                             ("unreachable", "pbx_unavailable"), ("no_leg", "no_pbx_channel")])
def test_what_keeps_the_command_from_going_out_is_recorded(settings: Any, hotline: Queue, ready_agent: Any,
                                                          django_capture_on_commit_callbacks: Any, setup: str,
                                                          code: str) -> None:
    settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{closed_port()}" if setup == "unreachable" else ""
    if setup in ("no_extension", "no_leg"):
        fake = FakeAmi()
        settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{fake.port}"
    if setup == "no_extension":
        ready_agent.extension = ""
        ready_agent.save(update_fields=["extension"])
    contact = accept(ready_agent, offered_call(hotline, channel="" if setup == "no_leg" else CALLER_LEG),
                     django_capture_on_commit_callbacks)
    if setup in ("no_extension", "no_leg"):
        assert not fake.sent("Redirect")
        fake.close()
    assert RoutedContact.objects.get(pk=contact.pk).state == "assigned"  # the PBX's own queue may still ring them
    assert AuditLog.objects.get(action="call.put_through_failed").data["code"] == code
    assert OutboxEvent.objects.get(type="call.put_through_failed").payload["code"] == code
    assert not AuditLog.objects.filter(action="call.put_through").exists()


def test_a_rolled_back_accept_sends_nothing(ami: FakeAmi, hotline: Queue, ready_agent: Any,
                                            django_capture_on_commit_callbacks: Any) -> None:
    from django.db import transaction

    offer = offered_call(hotline)

    def accept_then_fail() -> None:
        with transaction.atomic():
            offer_accept(actor=ready_agent, offer_id=offer.pk)
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        accept_then_fail()
    assert not ami.sent("Redirect")
    assert not AuditLog.objects.filter(action__startswith="call.put_through").exists()
