"""Who is told what (with the outsider who must hear nothing), once per event, on the channels each person
wants: in the app, by e-mail through a real SMTP server on this machine, by SMS (console), and to a 企业微信
group robot (HTTP faked at the transport)."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.models import ConsumerCursor
from kefu.core.relay import drain
from kefu.notifications.adapters import wecom
from kefu.notifications.adapters.sms import ConsoleBackend
from kefu.notifications.choices import DeliveryState
from kefu.notifications.models import Delivery, Notification, Preference, WecomRobot
from kefu.notifications.services import MAX_ATTEMPTS, delivery_attempt
from kefu.tickets import services
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.sla import sla_sweep

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


def told(user: Any, kind: str | None = None) -> list[Notification]:
    qs = Notification.objects.filter(recipient=user)
    return list(qs.filter(kind=kind) if kind else qs)


@pytest.fixture
def complaint(agent: Any, team_lead: Any) -> Any:
    """Owned by the agent (team lead: team_lead); first response due 11:00, on site Wednesday 09:00."""
    sla_install_defaults()
    return services.ticket_create(actor=agent, subject="物业投诉", ticket_type="complaint", assignee=agent,
                                  at=MONDAY_9)


# --- who ---------------------------------------------------------------------------------------------------


def test_sla_warning_and_breaches_go_up_the_line(complaint: Any, agent: Any, team_lead: Any, manager: Any,
                                                 other_agent: Any, qa: Any) -> None:
    sla_sweep(now=datetime(2026, 3, 2, 10, 40, tzinfo=SH))
    drain()
    assert [n.kind for n in told(agent)] == ["ticket.sla_warning"]
    assert not told(team_lead)
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))  # first response breached → level 1
    drain()
    assert len(told(agent, "ticket.sla_breached")) == 1
    assert len(told(team_lead, "ticket.sla_breached")) == 1
    assert not told(manager)
    sla_sweep(now=datetime(2026, 3, 4, 9, 0, 1, tzinfo=SH))  # on site breached → level 2
    drain()
    assert len(told(manager, "ticket.sla_breached")) == 1
    assert len(told(agent, "ticket.sla_breached")) == 2
    assert not told(other_agent)
    assert not told(qa)
    assert not Notification.objects.filter(kind="ticket.escalated").exists()  # the breach notice says it


def test_assignment_dispatch_mention_and_customer_message(agent: Any, team_lead: Any, other_agent: Any,
                                                          department_user: Any, repair_department: Any) -> None:
    ticket = services.ticket_create(actor=team_lead, subject="热水器漏水", ticket_type="repair")
    services.ticket_assign(actor=team_lead, ticket=ticket, assignee=agent)
    mine = services.ticket_create(actor=agent, subject="自己的工单", assignee=agent)  # self-assigned: no notice
    services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department,
                             due_at=datetime.now(tz=SH) + timedelta(hours=2))
    services.ticket_add_note(actor=agent, ticket=ticket, body="@lead 请看一下 @other_agent")
    services.ticket_customer_message(ticket=ticket, body="什么时候上门？", channel="phone")
    drain()
    assert [n.kind for n in told(agent)] == ["ticket.customer_message", "ticket.assigned"]
    assert told(agent, "ticket.assigned")[0].params["handover"] is False
    assert [n.kind for n in told(department_user)] == ["ticket.dispatched"]
    assert [n.kind for n in told(team_lead)] == ["ticket.noted"]  # the author of the note is not told
    assert not told(other_agent)  # mentioned, but may not see another team's order
    assert not Notification.objects.filter(object_id=str(mine.pk)).exists()


def test_an_overdue_dispatch_tells_the_department_and_the_owner(agent: Any, department_user: Any,
                                                                 repair_department: Any) -> None:
    from kefu.clocks.services import clock_sweep

    ticket = services.ticket_create(actor=agent, subject="空调不制冷", ticket_type="repair", assignee=agent)
    dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department,
                                        due_at=datetime.now(tz=SH) + timedelta(hours=1))
    clock_sweep(now=dispatch.due_at + timedelta(minutes=1))
    drain()
    overdue = Notification.objects.filter(kind="ticket.dispatch_overdue")
    assert sorted(n.recipient_id for n in overdue) == sorted([agent.pk, department_user.pk])
    assert overdue[0].params["department"] == repair_department.name


def test_a_replayed_event_adds_nothing(complaint: Any, agent: Any) -> None:
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    before = Notification.objects.count()
    ConsumerCursor.objects.filter(name="notifications").update(last_id=0)  # as after a crash and restart
    drain()
    assert Notification.objects.count() == before


def test_a_consumer_starting_on_old_events_does_not_tell_the_past(complaint: Any, agent: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kefu.core.models import OutboxEvent

    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(days=3))  # a worker down over a holiday
    drain()
    assert not Notification.objects.exists()
    assert ConsumerCursor.objects.get(name="notifications").last_id == OutboxEvent.objects.latest("id").pk


# --- channels --------------------------------------------------------------------------------------------


class SmtpCatcher:
    """A real SMTP server (aiosmtpd) on a free loopback port, in a thread."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        catcher = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                catcher.messages.append(envelope)
                return "250 OK"

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpCatcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


@pytest.fixture
def smtp(settings: Any) -> Any:
    with SmtpCatcher() as catcher:
        settings.KEFU_SMTP_HOST, settings.KEFU_SMTP_PORT = "127.0.0.1", catcher.port
        settings.KEFU_MAIL_FROM = "Kefu <kefu@example.com>"
        settings.KEFU_BASE_URL = "https://kefu.example.com"
        yield catcher


class FakeRobotTransport:
    def __init__(self, answers: list[tuple[int | None, str]]) -> None:
        self.answers = answers
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def post(self, url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]:
        self.posts.append((url, body))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def robot_transport(monkeypatch: pytest.MonkeyPatch) -> FakeRobotTransport:
    fake = FakeRobotTransport([(200, '{"errcode":0,"errmsg":"ok"}')])
    monkeypatch.setattr(wecom, "TRANSPORT", fake)
    return fake


def test_a_breach_reaches_the_owner_by_email_in_their_language_and_by_the_team_robot(
        complaint: Any, agent: Any, team: Any, smtp: SmtpCatcher, robot_transport: FakeRobotTransport) -> None:
    agent.email, agent.phone, agent.language = "li@example.com", "13900139000", "en"
    agent.save()
    WecomRobot.objects.create(name="一组群", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1", team=team)
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    (email,) = Delivery.objects.filter(notification__recipient=agent, channel="email")
    (robot,) = Delivery.objects.filter(notification__recipient=agent, channel="wecom")
    for delivery in (email, robot):
        assert delivery_attempt(delivery_id=delivery.pk).state == DeliveryState.SENT
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["li@example.com"]
    message = message_from_bytes(envelope.content)
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject.startswith("[Kefu] SLA breached")
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert f"https://kefu.example.com/tickets/{complaint.pk}/" in text
    assert complaint.number in text
    url, body = robot_transport.posts[0]
    assert url.endswith("key=k1")
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13900139000"]
    assert complaint.number in body["text"]["content"]


def test_preferences_are_honoured(complaint: Any, agent: Any, smtp: SmtpCatcher) -> None:
    agent.email = "li@example.com"
    agent.save()
    Preference.objects.create(user=agent, kind="ticket.sla_breached", channel="email", enabled=False)
    Preference.objects.create(user=agent, kind="ticket.sla_warning", channel="email", enabled=True)
    sla_sweep(now=datetime(2026, 3, 2, 10, 40, tzinfo=SH))
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    emailed = set(Delivery.objects.filter(channel="email", notification__recipient=agent)
                  .values_list("notification__kind", flat=True))
    assert emailed == {"ticket.sla_warning"}
    assert {n.kind for n in told(agent)} == {"ticket.sla_warning", "ticket.sla_breached"}  # in-app always


def test_no_address_is_skipped_not_retried(complaint: Any, agent: Any, smtp: SmtpCatcher) -> None:
    agent.email = ""
    agent.save()
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    (delivery,) = Delivery.objects.filter(notification__recipient=agent, channel="email")
    assert (delivery.state, delivery.last_error) == (DeliveryState.SKIPPED, "no address")


def test_sms_console(complaint: Any, agent: Any, settings: Any) -> None:
    settings.KEFU_SMS_BACKEND = "console"
    agent.phone = "13900139000"
    agent.save()
    Preference.objects.create(user=agent, kind="ticket.sla_breached", channel="sms", enabled=True)
    ConsoleBackend.sent = []
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    (delivery,) = Delivery.objects.filter(channel="sms")
    assert delivery_attempt(delivery_id=delivery.pk).state == DeliveryState.SENT
    ((phone, text),) = ConsoleBackend.sent
    assert phone == "13900139000"
    assert complaint.number in text


def test_failures_retry_with_backoff_then_give_up(complaint: Any, agent: Any, team: Any,
                                                  robot_transport: FakeRobotTransport) -> None:
    robot_transport.answers = [(503, "busy")]
    WecomRobot.objects.create(name="一组群", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1", team=team)
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    (delivery,) = Delivery.objects.filter(notification__recipient=agent, channel="wecom")
    now = datetime.now(tz=SH)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = delivery_attempt(delivery_id=delivery.pk, now=now)
        assert result is not None
        assert result.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert result.state == DeliveryState.RETRYING
            waits.append((result.next_attempt_at - now).total_seconds())
            assert delivery_attempt(delivery_id=delivery.pk, now=now) is None  # not due yet
            now = result.next_attempt_at
    assert result.state == DeliveryState.FAILED
    assert waits == sorted(waits)
    assert "503" in result.last_error


def test_a_refused_robot_message_fails_at_once(complaint: Any, agent: Any, team: Any,
                                               robot_transport: FakeRobotTransport) -> None:
    robot_transport.answers = [(200, '{"errcode":93000,"errmsg":"invalid webhook url"}')]
    WecomRobot.objects.create(name="一组群", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=bad", team=team)
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    (delivery,) = Delivery.objects.filter(notification__recipient=agent, channel="wecom")
    assert delivery_attempt(delivery_id=delivery.pk).state == DeliveryState.FAILED


# --- pages and API -----------------------------------------------------------------------------------------


def test_the_bell_the_page_and_marking_read(complaint: Any, agent: Any, django_assert_max_num_queries: Any) -> None:
    sla_sweep(now=datetime(2026, 3, 2, 10, 40, tzinfo=SH))
    sla_sweep(now=datetime(2026, 3, 2, 11, 0, 1, tzinfo=SH))
    drain()
    client = Client()
    client.force_login(agent)
    home = client.get("/tickets/").content.decode()
    assert 'data-bell-count data-testid="bell-count">2<' in home
    with django_assert_max_num_queries(4):
        latest = client.get("/notifications/latest/").content.decode()
    assert "SLA 已超时" in latest
    assert complaint.number in latest
    with django_assert_max_num_queries(8):
        page = client.get("/notifications/")
    assert page.status_code == 200
    first = told(agent)[0]
    opened = client.get(f"/notifications/{first.pk}/")
    assert opened["Location"] == f"/tickets/{complaint.pk}/"
    first.refresh_from_db()
    assert first.read_at is not None
    client.post("/notifications/read-all/")
    assert not Notification.objects.filter(recipient=agent, read_at__isnull=True).exists()


def test_one_cannot_open_another_persons_notification(complaint: Any, agent: Any, other_agent: Any) -> None:
    sla_sweep(now=datetime(2026, 3, 2, 10, 40, tzinfo=SH))
    drain()
    client = Client()
    client.force_login(other_agent)
    assert client.get(f"/notifications/{told(agent)[0].pk}/").status_code == 404


def test_the_preferences_page(agent: Any) -> None:
    client = Client()
    client.force_login(agent)
    assert client.get("/notifications/preferences/").status_code == 200
    client.post("/notifications/preferences/", {})  # everything off that may be turned off
    assert not Preference.objects.filter(user=agent, enabled=True).exists()


def test_the_api(complaint: Any, agent: Any) -> None:
    sla_sweep(now=datetime(2026, 3, 2, 10, 40, tzinfo=SH))
    drain()
    api = api_as(agent)
    page = api.get("/notifications").json()
    assert page["unread"] == 1
    assert page["items"][0]["kind"] == "ticket.sla_warning"
    read = api.post(f"/notifications/{page['items'][0]['id']}/read")
    assert read.json()["read"] is True
    assert api.post("/notifications/read-all").json() == {"marked": 0}
    bad = api.request("put", "/notifications/preferences",
                      {"preferences": [{"kind": "ticket.nothing", "channel": "email", "enabled": True}]})
    assert assert_error_shape(bad, 400)["details"]["field"] == "kind"
    good = api.request("put", "/notifications/preferences",
                       {"preferences": [{"kind": "ticket.sla_warning", "channel": "email", "enabled": True}]})
    assert {"kind": "ticket.sla_warning", "channel": "email", "enabled": True, "always": False} not in good.json()
    assert Preference.objects.get(user=agent, kind="ticket.sla_warning").enabled


def test_robots_are_for_administrators_and_bad_input_names_the_field(admin_user: Any, team: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    refused = client.post("/admin/notifications/robots/new/", {"name": "群", "url": "http://x", "team": team.pk})
    assert refused.status_code == 422
    assert "https://" in refused.content.decode()
    neither = client.post("/admin/notifications/robots/new/", {"name": "群", "url": "https://qyapi.weixin.qq.com/x"})
    assert neither.status_code == 422
    assert not WecomRobot.objects.exists()
    made = client.post("/admin/notifications/robots/new/", {"name": "一组群", "url": "https://qyapi.weixin.qq.com/x",
                                                            "team": team.pk, "is_active": "on"})
    assert made.status_code == 302
    assert WecomRobot.objects.get().team == team


def test_the_smtp_catcher_is_a_real_server(smtp: SmtpCatcher) -> None:
    """The fixture is a real server: a plain SMTP client can talk to it."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello")
    assert smtp.messages[0].rcpt_tos == ["b@example.com"]
