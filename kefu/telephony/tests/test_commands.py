"""Commands out to the PBX (click-to-dial and transfer) against the loopback fake PBXs, Asterisk's AMI and
FreeSWITCH's event socket: the exact action or command sent, the audit row, who may (the call's agent and the leads
who see it; the outsider is refused), bad input named by its field, and a PBX that is not configured, unreachable
or refusing answered with a clear message — through the service, the API and the pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from kefu.accounts.tests.factories import UserFactory
from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.commands import (
    PbxNotConfigured,
    PbxRefusedCommand,
    PbxUnavailable,
    call_dial,
    call_transfer,
    dial_available,
    transfer_available,
)
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.models import Call
from kefu.telephony.services import PBX_ACTOR, cti_event_record
from kefu.telephony.tests.fake_pbx import FakeAmi, FakeEsl, closed_port

CALLER_LEG = "PJSIP/trunk-00000042"


@pytest.fixture
def ami(settings: Any) -> Iterator[FakeAmi]:
    fake = FakeAmi()
    settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{fake.port}?context=from-kefu&caller_id=4008001234"
    yield fake
    fake.close()


@pytest.fixture
def esl(settings: Any) -> Iterator[FakeEsl]:
    fake = FakeEsl()
    settings.KEFU_PBX_URL = f"esl://:ClueCon@127.0.0.1:{fake.port}"
    yield fake
    fake.close()


@pytest.fixture
def no_pbx(settings: Any) -> None:
    settings.KEFU_PBX_URL = ""


@pytest.fixture
def dialler(agent: Any) -> Any:
    agent.extension = "1001"
    agent.save(update_fields=["extension"])
    return agent


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))


def talking_call(agent: Any, *, channel: str = CALLER_LEG, answered: bool = True) -> Call:
    """A call of the hotline, answered by `agent` a minute ago (or still ringing them)."""
    start = timezone.now() - timedelta(minutes=2)
    events = [("offered", 0), ("queued", 2), ("ringing", 5)] + ([("answered", 20)] if answered else [])
    for event, seconds in events:
        cti_event_record(actor=PBX_ACTOR, data=CtiEventIn(
            call_id="1796400000.42", event=event, at=start + timedelta(seconds=seconds), caller="13800138000",
            called="4008001234", queue="hotline", agent=agent.username if event in ("ringing", "answered") else "",
            pbx_channel=channel if event == "offered" else ""))
    return Call.objects.get(call_id="1796400000.42")


# --- click-to-dial ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dial_rings_the_agents_extension_then_the_number_through_the_ami(ami: FakeAmi, dialler: Any,
                                                                          customer: Any) -> None:
    dialled = call_dial(actor=dialler, number="138-0013 8000", customer=customer)
    assert (dialled.number, dialled.extension) == ("13800138000", "1001")
    (originate,) = ami.sent("Originate")
    assert {k: originate[k] for k in ("Channel", "Exten", "Context", "Priority", "Async", "CallerID")} == {
        "Channel": "PJSIP/1001", "Exten": "13800138000", "Context": "from-kefu", "Priority": "1", "Async": "true",
        "CallerID": "4008001234"}
    row = AuditLog.objects.get(action="call.dialled")
    assert (row.actor, row.object_type, row.object_id) == (dialler, "customers.customer", str(customer.pk))
    assert row.data["number"] == "138****8000"  # the log keeps no number in clear
    assert "13800138000" not in str(row.data) + row.summary


@pytest.mark.django_db
def test_dial_through_the_event_socket(esl: FakeEsl, dialler: Any) -> None:
    call_dial(actor=dialler, number="+8613800138000")
    assert esl.sent("bgapi") == ["bgapi originate user/1001 +8613800138000 XML default"]
    assert AuditLog.objects.get(action="call.dialled").object_type == "telephony.dial"


@pytest.mark.django_db
@pytest.mark.parametrize(("number", "field"), [("", "number"), ("   ", "number"), ("abc", "number"),
                                               ("138001380001380013800138001380013", "number"),
                                               ("1380013800\n0", "number"), ("12", "number")])
def test_a_bad_number_is_named_and_nothing_is_sent(ami: FakeAmi, dialler: Any, number: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        call_dial(actor=dialler, number=number)
    assert refused.value.details["field"] == field
    assert not ami.sent("Originate")
    assert not AuditLog.objects.filter(action="call.dialled").exists()


@pytest.mark.django_db
def test_who_may_dial(ami: FakeAmi, agent: Any, department_user: Any, qa: Any) -> None:
    with pytest.raises(ValidationFailed, match="分机号") as refused:  # an agent without an extension
        call_dial(actor=agent, number="13800138000")
    assert refused.value.details["field"] == "extension"
    for outsider in (department_user, qa):
        outsider.extension = "1009"
        with pytest.raises(PermissionDenied):
            call_dial(actor=outsider, number="13800138000")
        assert not dial_available(outsider)
    assert not ami.sent("Originate")


@pytest.mark.django_db
def test_no_pbx_an_unreachable_pbx_and_a_refusal_are_said_plainly(settings: Any, dialler: Any) -> None:
    settings.KEFU_PBX_URL = ""
    with pytest.raises(PbxNotConfigured, match="未配置电话系统"):
        call_dial(actor=dialler, number="13800138000")
    assert not dial_available(dialler)
    settings.KEFU_PBX_URL = "sip://pbx"
    with pytest.raises(PbxNotConfigured, match="KEFU_PBX_URL"):
        call_dial(actor=dialler, number="13800138000")
    settings.KEFU_PBX_URL = f"esl://:ClueCon@127.0.0.1:{closed_port()}"
    with pytest.raises(PbxUnavailable, match="电话系统未接通"):
        call_dial(actor=dialler, number="13800138000")
    fake = FakeAmi(answers={"Originate": "Error"})
    settings.KEFU_PBX_URL = f"ami://kefu:s3cret@127.0.0.1:{fake.port}"
    try:
        with pytest.raises(PbxRefusedCommand, match="No such channel") as refused:
            call_dial(actor=dialler, number="13800138000")
    finally:
        fake.close()
    assert (refused.value.status, refused.value.code) == (409, "pbx_refused")
    assert not AuditLog.objects.filter(action="call.dialled").exists()


# --- transfer ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_transfer_redirects_the_callers_channel_and_is_recorded(ami: FakeAmi, agent: Any, hotline: Any) -> None:
    call = talking_call(agent)
    assert transfer_available(agent, call)
    done = call_transfer(actor=agent, call=call, to="1002")
    (redirect,) = ami.sent("Redirect")
    assert {k: redirect[k] for k in ("Channel", "Exten", "Context", "Priority")} == {
        "Channel": CALLER_LEG, "Exten": "1002", "Context": "from-kefu", "Priority": "1"}
    assert (done.to, done.queue, done.call.transfers) == ("1002", "", 1)
    row = AuditLog.objects.get(action="call.transferred")
    assert (row.actor, row.object_id, row.data["to"]) == (agent, str(call.pk), "1002")


@pytest.mark.django_db
def test_transfer_to_a_queue_through_the_event_socket(esl: FakeEsl, agent: Any, hotline: Any) -> None:
    call = talking_call(agent, channel="7f4de4bc-1e2a-4a8e-9d1c-0a1b2c3d4e5f")
    done = call_transfer(actor=agent, call=call, to="Hotline")
    assert esl.sent("api") == ["api uuid_transfer 7f4de4bc-1e2a-4a8e-9d1c-0a1b2c3d4e5f hotline XML default"]
    assert done.queue == "hotline"


@pytest.mark.django_db
@pytest.mark.parametrize(("to", "message"), [("", "请填写转接目标"), ("nosuch", "没有这个队列：nosuch"),
                                             ("hot line", "只能是分机号"), ("1002; api shutdown", "只能是分机号"),
                                             ("chat-line", "不是电话队列")])
def test_a_bad_transfer_target_is_named(ami: FakeAmi, agent: Any, admin_user: Any, hotline: Any, to: str,
                                        message: str) -> None:
    queue_create(actor=admin_user, data=QueueData(code="chat-line", name="在线", kind="chat"))
    call = talking_call(agent)
    with pytest.raises(ValidationFailed, match=message) as refused:
        call_transfer(actor=agent, call=call, to=to)
    assert refused.value.details["field"] == "to"
    assert not ami.sent("Redirect")


@pytest.mark.django_db
def test_who_may_transfer(ami: FakeAmi, agent: Any, team: Any, team_lead: Any, other_agent: Any, qa: Any,
                          hotline: Any) -> None:
    call = talking_call(agent)
    teammate = UserFactory(username="teammate", agent=True, team=team)
    with pytest.raises(PermissionDenied, match="坐席或其组长"):  # sees the team's call, is not on it
        call_transfer(actor=teammate, call=call, to="1002")
    with pytest.raises(NotFound):  # another team's agent: the call does not exist for them
        call_transfer(actor=other_agent, call=call, to="1002")
    with pytest.raises(PermissionDenied):  # quality sees every call and transfers none
        call_transfer(actor=qa, call=call, to="1002")
    assert not any(transfer_available(u, call) for u in (teammate, other_agent, qa))
    assert not ami.sent("Redirect")
    call_transfer(actor=team_lead, call=call, to="1002")  # the agent's lead may
    assert len(ami.sent("Redirect")) == 1


@pytest.mark.django_db
def test_only_an_answered_call_with_a_known_channel_is_transferred(ami: FakeAmi, agent: Any,
                                                                   hotline: Any) -> None:
    ringing = talking_call(agent, answered=False)
    assert not transfer_available(agent, ringing)
    with pytest.raises(Exception, match="已接通") as refused:
        call_transfer(actor=agent, call=ringing, to="1002")
    assert getattr(refused.value, "code", "") == "call_not_in_progress"
    Call.objects.filter(pk=ringing.pk).update(state="talking", pbx_channel="")
    ringing.refresh_from_db()
    with pytest.raises(Exception, match="通道") as refused:
        call_transfer(actor=agent, call=ringing, to="1002")
    assert getattr(refused.value, "code", "") == "no_pbx_channel"
    assert not ami.sent("Redirect")


# --- the API and the pages -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_dials_and_transfers(ami: FakeAmi, dialler: Any, customer: Any, other_agent: Any,
                                     hotline: Any) -> None:
    client = api_as(dialler)
    answer = client.post("/calls/dial", {"number": "13800138000", "customer_id": customer.pk})
    assert answer.status_code == 200, answer.content
    assert answer.json()["extension"] == "1001"
    assert assert_error_shape(client.post("/calls/dial", {"number": "phone me"}), 400)["details"]["field"] == "number"
    assert_error_shape(client.post("/calls/dial", {"number": "13800138000", "customer_id": 999_999}), 404)
    call = talking_call(dialler)
    moved = client.post(f"/calls/{call.pk}/transfer", {"to": "hotline"})
    assert moved.status_code == 200, moved.content
    assert (moved.json()["queue"], moved.json()["call"]["call_id"]) == ("hotline", call.call_id)
    assert_error_shape(api_as(other_agent).post(f"/calls/{call.pk}/transfer", {"to": "1002"}), 404)
    assert len(ami.sent("Redirect")) == 1


@pytest.mark.django_db
def test_the_api_says_when_no_pbx_is_configured(no_pbx: None, dialler: Any) -> None:
    body = assert_error_shape(api_as(dialler).post("/calls/dial", {"number": "13800138000"}), 409,
                              "pbx_not_configured")
    assert "KEFU_PBX_URL" in body["message"]


@pytest.mark.django_db
def test_the_customer_page_offers_dial_only_when_it_can(settings: Any, ami: FakeAmi, login: Any, agent: Any,
                                                        customer: Any) -> None:
    page = reverse("web:customer_detail", kwargs={"customer_id": customer.pk})
    client = login(agent)
    assert 'data-testid="dial"' not in client.get(page).content.decode()  # no extension yet
    agent.extension = "1001"
    agent.save(update_fields=["extension"])
    html = client.get(page).content.decode()
    assert 'data-testid="dial"' in html
    contact = customer.contacts.get(kind="phone")
    url = reverse("web:customer_dial", kwargs={"customer_id": customer.pk})
    answer = client.post(url, {"contact": contact.pk}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert "正在呼叫您的分机 1001" in answer.content.decode()
    assert ami.sent("Originate")[0]["Exten"] == "13800138000"  # the full number, though the page masks it
    assert client.post(url, {"contact": "x"}).status_code == 422
    settings.KEFU_PBX_URL = ""
    assert 'data-testid="dial"' not in client.get(page).content.decode()
    refused = client.post(url, {"contact": contact.pk})
    assert refused.status_code == 409
    assert "未配置电话系统" in refused.content.decode()


@pytest.mark.django_db
def test_the_screen_pop_offers_transfer_for_an_answered_call(ami: FakeAmi, login: Any, agent: Any,
                                                             other_agent: Any, hotline: Any) -> None:
    call = talking_call(agent, answered=False)
    client = login(agent)
    pop = reverse("web:call_pop", kwargs={"call_id": call.pk})
    assert 'data-testid="screen-pop-transfer"' not in client.get(pop).content.decode()  # still ringing
    call = talking_call(agent)
    assert 'data-testid="screen-pop-transfer"' in client.get(pop).content.decode()
    url = reverse("web:call_transfer", kwargs={"call_id": call.pk})
    bad = client.post(url, {"to": "no such queue"})
    assert bad.status_code == 422
    assert "只能是分机号" in bad.content.decode()
    done = client.post(url, {"to": "1002"})
    assert (done.status_code, "已转接到 1002" in done.content.decode()) == (200, True)
    assert login(other_agent).post(url, {"to": "1002"}).status_code == 404


@pytest.mark.django_db
def test_an_administrator_sets_the_extension_on_the_staff_form(login: Any, admin_user: Any, agent: Any,
                                                               other_agent: Any) -> None:
    from kefu.accounts.staff import StaffData, staff_update

    def data(user: Any, extension: str) -> StaffData:
        return StaffData(username=user.username, display_name=user.display_name, role=user.role, team=user.team,
                         extension=extension)

    staff_update(actor=admin_user, user=agent, data=data(agent, " 8001 "), expected_version=None)
    agent.refresh_from_db()
    assert agent.extension == "8001"
    for bad, message in (("80a1", "只能包含数字"), ("8001", "已被在职人员使用"), ("1" * 21, "不能超过")):
        with pytest.raises(ValidationFailed, match=message) as refused:
            staff_update(actor=admin_user, user=other_agent, data=data(other_agent, bad), expected_version=None)
        assert refused.value.details["field"] == "extension"
    page = login(admin_user).get(reverse("administration:staff_edit", kwargs={"user_id": agent.pk}))
    assert 'name="extension"' in page.content.decode()
    assert 'value="8001"' in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["ami://kefu:s3cret", "esl://:ClueCon"])
def test_a_pbx_that_answers_nothing_is_unavailable_not_a_hang(settings: Any, monkeypatch: Any, dialler: Any,
                                                              scheme: str) -> None:
    import socket

    from kefu.telephony import commands

    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never says a word
    monkeypatch.setattr(commands, "COMMAND_TIMEOUT", 0.2)
    settings.KEFU_PBX_URL = f"{scheme}@127.0.0.1:{silent.getsockname()[1]}"
    try:
        with pytest.raises(PbxUnavailable, match="电话系统未接通"):
            call_dial(actor=dialler, number="13800138000")
    finally:
        silent.close()
