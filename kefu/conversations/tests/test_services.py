"""The conversation services: inbound messages find or make the customer and the conversation, exactly once;
replies are stored, then sent by the worker with retries; pick-up is atomic; orders and conversations meet."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.clocks.models import Clock
from kefu.conversations import services
from kefu.conversations.choices import ConversationStatus, DeliveryState, Direction
from kefu.conversations.models import ChannelIdentity, Conversation, Message
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import OutboxEvent
from kefu.customers.models import ContactPoint, Customer
from kefu.customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _types() -> list[str]:
    return list(OutboxEvent.objects.order_by("id").values_list("type", flat=True))


def test_first_message_makes_customer_conversation_clock_and_events(app_channel: Any, team: Any) -> None:
    received = services.message_receive(channel=app_channel, inbound=inbound("m1", external_id="u-9", name="李雷"))
    conversation, message = received.conversation, received.message
    assert received.opened
    assert not received.duplicate
    assert conversation.team == team
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.customer.name == "李雷"
    assert message.seq == 1
    assert message.direction == Direction.INBOUND
    assert message.body == "你好"
    assert ChannelIdentity.objects.get(channel=app_channel, value="u-9").customer == conversation.customer
    clock = Clock.objects.get(subject_type="conversations.conversation", subject_id=conversation.pk)
    assert clock.metric == "first_response"
    assert clock.target_seconds == 30
    assert _types()[-2:] == ["conversation.opened", "conversation.message_received"]


def test_same_message_id_again_is_a_duplicate_and_writes_nothing(app_channel: Any) -> None:
    first = services.message_receive(channel=app_channel, inbound=inbound("m1"))
    events_before, customers_before = OutboxEvent.objects.count(), Customer.objects.count()
    again = services.message_receive(channel=app_channel, inbound=inbound("m1", text="changed"))
    assert again.duplicate
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1
    assert OutboxEvent.objects.count() == events_before
    assert Customer.objects.count() == customers_before


def test_next_message_continues_the_open_conversation(app_channel: Any) -> None:
    first = services.message_receive(channel=app_channel, inbound=inbound("m1"))
    second = services.message_receive(channel=app_channel, inbound=inbound("m2", text="在吗"))
    assert second.conversation.pk == first.conversation.pk
    assert not second.opened
    assert second.message.seq == 2
    other = services.message_receive(channel=app_channel, inbound=inbound("m3", external_id="u2"))
    assert other.conversation.pk != first.conversation.pk


def test_phone_of_an_existing_customer_finds_them(team: Any) -> None:
    customer = CustomerFactory(name="老客户")
    ContactPoint.objects.create(customer=customer, kind="phone", value="13800138000", normalized="13800138000")
    channel = ChannelFactory(code="sms-1", team=team)
    got = services.message_receive(channel=channel,
                                   inbound=inbound("s1", kind="phone", external_id="+86 138-0013-8000"))
    assert got.conversation.customer == customer


def test_merged_customers_are_followed(app_channel: Any) -> None:
    first = services.message_receive(channel=app_channel, inbound=inbound("m1"))
    duplicate = first.conversation.customer
    keeper = CustomerFactory(name="合并后")
    Customer.objects.filter(pk=duplicate.pk).update(merged_into=keeper)
    services.conversation_close(actor=services.CHANNEL_ACTOR, conversation=first.conversation, reason="resolved")
    later = services.message_receive(channel=app_channel, inbound=inbound("m2"))
    assert later.conversation.customer == keeper
    assert later.opened
    assert ChannelIdentity.objects.get(channel=app_channel, value="u1").customer == keeper


def test_empty_message_and_missing_id_are_refused_naming_the_field(app_channel: Any) -> None:
    with pytest.raises(ValidationFailed) as empty:
        services.message_receive(channel=app_channel, inbound=inbound("m1", text="  "))
    assert empty.value.details["field"] == "text"
    with pytest.raises(ValidationFailed) as no_id:
        services.message_receive(channel=app_channel, inbound=inbound(""))
    assert no_id.value.details["field"] == "message_id"
    assert not Conversation.objects.exists()
    assert not Customer.objects.exists()


def test_reply_is_stored_queued_then_sent_and_stops_the_first_response_clock(
        app_channel: Any, agent: Any, transport: Any, django_capture_on_commit_callbacks: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.message_send(actor=agent, conversation=conversation, text="您好，我来帮您")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.attempts == 1
    url, body, headers = transport.calls[0]
    assert url == "http://127.0.0.1:9/hook"
    assert json.loads(body)["text"] == "您好，我来帮您"
    assert headers["X-Kefu-Signature"].startswith("sha256=")
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert conversation.first_response_at is not None
    clock = Clock.objects.get(subject_type="conversations.conversation", subject_id=conversation.pk)
    assert clock.state == "met"


def test_same_client_id_sends_once(app_channel: Any, agent: Any, transport: Any,
                                   django_capture_on_commit_callbacks: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with django_capture_on_commit_callbacks(execute=True):
        one = services.message_send(actor=agent, conversation=conversation, text="好的", client_id="c-1")
        two = services.message_send(actor=agent, conversation=conversation, text="好的", client_id="c-1")
    assert one.pk == two.pk
    assert len(transport.calls) == 1


def test_failed_sends_are_retried_with_backoff_until_a_2xx(app_channel: Any, agent: Any, transport: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    transport.statuses = [500, None, 200]
    message = services.message_send(actor=agent, conversation=conversation, text="稍等")  # not committed: no send
    now = timezone.now()
    rng = random.Random(1)
    first = services.message_deliver(message_id=message.pk, now=now, rng=rng)
    assert first.delivery_state == DeliveryState.QUEUED
    assert first.next_attempt_at > now
    assert services.message_deliver(message_id=message.pk, now=now) is None  # not due: nobody sends it again
    later = first.next_attempt_at
    second = services.message_deliver(message_id=message.pk, now=later, rng=rng)
    assert second.delivery_state == DeliveryState.QUEUED
    assert second.next_attempt_at - later >= timedelta(seconds=24)
    assert services.messages_retry_due(now=second.next_attempt_at) == 1
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.SENT
    assert message.attempts == 3
    assert len(transport.calls) == 3


def test_give_up_after_the_last_attempt(app_channel: Any, agent: Any, transport: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    transport.statuses = [503] * services.MAX_ATTEMPTS
    message = services.message_send(actor=agent, conversation=conversation, text="稍等")
    at = timezone.now()
    for _ in range(services.MAX_ATTEMPTS):
        result = services.message_deliver(message_id=message.pk, now=at)
        at = result.next_attempt_at or at
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED
    assert "503" in message.last_error
    assert _types()[-2:] == ["conversation.message_delivery_changed", "conversation.message_failed"]
    failed = OutboxEvent.objects.get(type="conversation.message_failed")
    assert failed.payload["error"] == message.last_error
    assert failed.payload["message"]["id"] == message.pk
    assert f"user.{agent.pk}" in failed.audience


def test_the_author_of_a_reply_given_up_is_notified_with_the_reason(app_channel: Any, agent: Any, team: Any,
                                                                     other_agent: Any, transport: Any) -> None:
    """The agent who wrote it (who believes it went out) and the conversation's agent now, not the whole team;
    in the notification centre, with the channel's reason, linked to the conversation."""
    from kefu.core.relay import drain
    from kefu.notifications.kinds import title_of
    from kefu.notifications.models import Notification

    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    transport.statuses = [410]
    message = services.message_send(actor=agent, conversation=conversation, text="您的订单已发货")
    at = timezone.now()
    for _ in range(services.MAX_ATTEMPTS):
        result = services.message_deliver(message_id=message.pk, now=at)
        if result is None or result.delivery_state == DeliveryState.FAILED:
            break
        at = result.next_attempt_at or at
        transport.statuses = [410]
    drain()
    (notice,) = Notification.objects.filter(kind="conversation.message_failed")
    assert notice.recipient == agent
    assert notice.link.endswith(f"/conversations/{conversation.pk}/")
    assert "410" in notice.params["error"]
    assert "的回复未能送达（" in title_of(notice.kind, notice.params, "zh-hans")
    assert title_of(notice.kind, notice.params, "en").startswith("A reply to ")
    assert not Notification.objects.filter(recipient=other_agent).exists()


def test_claim_is_atomic(app_channel: Any, agent: Any, team_lead: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    with pytest.raises(Conflict) as lost:
        services.conversation_claim(actor=team_lead, conversation=conversation)
    assert lost.value.code == "already_assigned"
    conversation.refresh_from_db()
    assert conversation.assignee == agent


def test_outsider_can_neither_see_nor_claim(app_channel: Any, other_agent: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with pytest.raises(PermissionDenied):
        services.conversation_claim(actor=other_agent, conversation=conversation)
    with pytest.raises(PermissionDenied):
        services.message_send(actor=other_agent, conversation=conversation, text="hi")


def test_transfer_to_a_team_puts_it_back_in_that_inbox(app_channel: Any, agent: Any, other_team: Any,
                                                        other_agent: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    moved = services.conversation_transfer(actor=agent, conversation=conversation, to_team=other_team, note="售后")
    assert moved.assignee is None
    assert moved.team == other_team
    services.conversation_claim(actor=other_agent, conversation=moved)


def test_close_cancels_the_clock_and_a_new_message_reopens(app_channel: Any, agent: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with pytest.raises(ValidationFailed):
        services.conversation_close(actor=agent, conversation=conversation, reason="bogus")
    closed = services.conversation_close(actor=agent, conversation=conversation, reason="resolved")
    assert closed.status == ConversationStatus.CLOSED
    assert closed.closed_by == agent
    assert Clock.objects.get(subject_id=conversation.pk, subject_type="conversations.conversation").state == \
        "cancelled"
    again = services.message_receive(channel=app_channel, inbound=inbound("m2"))
    assert again.opened  # a closed chat-like conversation is not reopened: a new one starts


def test_rating_once_and_in_range(app_channel: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with pytest.raises(ValidationFailed):
        services.conversation_rate(conversation=conversation, score=6)
    services.conversation_rate(conversation=conversation, score=5, comment="很好")
    with pytest.raises(Conflict):
        services.conversation_rate(conversation=conversation, score=1)


def test_conversation_becomes_an_order_and_order_replies_go_out_through_it(
        app_channel: Any, agent: Any, transport: Any, django_capture_on_commit_callbacks: Any) -> None:
    from kefu.tickets.services import ticket_reply

    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1", text="路由器坏了")).conversation
    ticket = services.conversation_create_ticket(actor=agent, conversation=conversation)
    assert ticket.customer == conversation.customer
    assert "路由器坏了" in ticket.description
    assert ticket.subject == "路由器坏了"
    assert ticket.first_contact_owner == agent
    with pytest.raises(Conflict):
        services.conversation_create_ticket(actor=agent, conversation=conversation)
    with django_capture_on_commit_callbacks(execute=True):
        note = ticket_reply(actor=agent, ticket=ticket, body="工程师明天上门")
    sent = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert sent.body == "工程师明天上门"
    assert sent.client_id == f"ticket-message-{note.pk}"
    assert json.loads(transport.calls[-1][1])["text"] == "工程师明天上门"
    # the customer's next message lands on the order too
    services.message_receive(channel=app_channel, inbound=inbound("m2", text="好的谢谢"))
    assert ticket.messages.filter(kind="customer", body="好的谢谢").exists()


def test_channel_rule_opens_orders_as_the_system(team: Any) -> None:
    channel = ChannelFactory(code="rule", team=team, creates_tickets=True)
    conversation = services.message_receive(channel=channel, inbound=inbound("m1", text="发票问题")).conversation
    conversation.refresh_from_db()
    ticket = conversation.ticket
    assert ticket is not None
    assert ticket.first_contact_owner is None
    assert ticket.created_by is None
    assert ticket.team == team
    assert ticket.channel == "api"
    assert ticket.events.get(kind="created").actor_system == "channel"


def test_automated_messages_open_no_order_and_start_no_clock(team: Any) -> None:
    channel = ChannelFactory(code="rule2", team=team, creates_tickets=True)
    got = services.message_receive(channel=channel, inbound=inbound("m1", automated="auto_reply"))
    got.conversation.refresh_from_db()
    assert got.conversation.ticket is None
    assert not Clock.objects.filter(subject_type="conversations.conversation").exists()


def test_delivery_reports_only_move_forward(app_channel: Any, agent: Any, transport: Any,
                                            django_capture_on_commit_callbacks: Any) -> None:
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(actor=agent, conversation=conversation, text="好")
    message.refresh_from_db()
    ext = message.external_id
    assert services.message_delivery_update(channel=app_channel, external_id=ext, state="read").delivery_state == \
        "read"
    assert services.message_delivery_update(channel=app_channel, external_id=ext, state="delivered") \
        .delivery_state == "read"
    assert services.message_delivery_update(channel=app_channel, external_id="nope", state="read") is None


def test_channel_create_validates(admin_user: Any, agent: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.channel_create(actor=agent, kind="webhook", code="x1")
    with pytest.raises(ValidationFailed) as bad_code:
        services.channel_create(actor=admin_user, kind="webhook", code="Bad Code!")
    assert bad_code.value.details["field"] == "code"
    with pytest.raises(ValidationFailed) as bad_url:
        services.channel_create(actor=admin_user, kind="webhook", code="x2",
                                config={"outbound_url": "ftp://example.com"})
    assert bad_url.value.details["field"] == "outbound_url"
    services.channel_create(actor=admin_user, kind="webhook", code="x3")
    with pytest.raises(Conflict):
        services.channel_create(actor=admin_user, kind="webhook", code="x3")


def test_erasure_removes_every_word_and_identity_but_keeps_the_shape(app_channel: Any) -> None:
    from django.utils import timezone as tz

    from kefu.privacy.anonymise import anonymise_customers

    got = services.message_receive(channel=app_channel, inbound=inbound("m1", text="我的地址是桃源路88号"))
    customer = got.conversation.customer
    anonymise_customers([customer.pk], now=tz.now())
    message = Message.objects.get(pk=got.message.pk)
    assert "桃源路" not in message.body
    assert not ChannelIdentity.objects.filter(customer=customer).exists()
    assert Conversation.objects.get(pk=got.conversation.pk).identity_value.startswith("anon-")
    assert not any("桃源路" in json.dumps(e.payload, ensure_ascii=False) for e in OutboxEvent.objects.all())
    # the same person writing again is a new, unknown customer
    again = services.message_receive(channel=app_channel, inbound=inbound("m2"))
    assert again.conversation.customer.pk != customer.pk


def test_conversations_are_on_the_customer_timeline_and_move_with_a_merge(app_channel: Any, agent: Any,
                                                                          manager: Any) -> None:
    from kefu.customers.services import customer_merge
    from kefu.customers.timeline import customer_timeline

    got = services.message_receive(channel=app_channel, inbound=inbound("m1"))
    services.conversation_close(actor=agent, conversation=got.conversation, reason="resolved")
    duplicate = got.conversation.customer
    entries = customer_timeline(agent, duplicate, limit=10).entries
    assert [e.kind for e in entries] == ["conversation.closed", "conversation.opened"]
    assert entries[0].link.endswith(f"/{got.conversation.pk}/")
    keeper = CustomerFactory(name="保留的档案")
    customer_merge(actor=manager, target=keeper, duplicates=[duplicate])
    assert Conversation.objects.get(pk=got.conversation.pk).customer == keeper
    assert ChannelIdentity.objects.get(channel=app_channel, value="u1").customer == keeper


def test_a_missed_first_response_is_told_to_whoever_must_answer_and_the_lead_not_the_whole_team(
        app_channel: Any, agent: Any, team: Any, team_lead: Any) -> None:
    """While nobody has the conversation its team's inbox hears of the breach; once an agent has it, the agent
    and the team's lead do (and the roles watching every conversation), not twenty colleagues."""
    from kefu.clocks.services import clock_sweep

    waiting = services.message_receive(channel=app_channel, inbound=inbound("w1", external_id="u-1")).conversation
    taken = services.message_receive(channel=app_channel, inbound=inbound("t1", external_id="u-2")).conversation
    services.conversation_claim(actor=agent, conversation=taken)
    clock_sweep(now=timezone.now() + timedelta(minutes=5))
    audience = {e.payload["clock"]["subject_id"]: set(e.audience)
                for e in OutboxEvent.objects.filter(type="clock.breached")}
    assert f"team.{team.pk}" in audience[waiting.pk]
    assert f"team.{team.pk}" not in audience[taken.pk]
    assert {f"user.{agent.pk}", f"user.{team_lead.pk}"} <= audience[taken.pk]


def test_each_line_of_a_chat_reaches_its_agent_and_the_teams_lead_not_the_team(
        app_channel: Any, agent: Any, team: Any, team_lead: Any, other_agent: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    """The lead follows a colleague's chat live (their inbox shows every conversation of the team); the rest of
    the team hears of it only while nobody has it. The lead is looked up without a query per message."""
    from kefu.accounts.staff import TeamData, team_update

    got = services.message_receive(channel=app_channel, inbound=inbound("l1", external_id="u-9"))
    first = OutboxEvent.objects.get(type="conversation.message_received", payload__message__id=got.message.pk)
    assert f"team.{team.pk}" in first.audience  # nobody has it: the team's inbox
    services.conversation_claim(actor=agent, conversation=got.conversation)

    services.message_receive(channel=app_channel, inbound=inbound("l2", external_id="u-9"))  # the map is cached
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.conversations.events import message_audience

    taken = Conversation.objects.get(pk=got.conversation.pk)
    with CaptureQueriesContext(connection) as queries:
        message_audience(taken)
    assert len(queries) == 0
    with_lead = OutboxEvent.objects.filter(type="conversation.message_received").latest("pk")
    assert {f"user.{agent.pk}", f"user.{team_lead.pk}"} <= set(with_lead.audience)
    assert f"team.{team.pk}" not in with_lead.audience
    assert not any(a == f"user.{other_agent.pk}" for a in with_lead.audience)
    reply = services.message_send(actor=agent, conversation=got.conversation, text="您好")
    sent = OutboxEvent.objects.filter(type="conversation.message_sent", payload__message__id=reply.pk).get()
    assert f"user.{team_lead.pk}" in sent.audience

    # a new lead is heard at once: editing the team changes the directory's version
    with django_capture_on_commit_callbacks(execute=True):
        team_update(actor=_admin(), team=team, expected_version=None, data=TeamData(
            name=team.name, department=team.department, lead=other_agent_as_lead(other_agent), is_active=True))
    services.message_receive(channel=app_channel, inbound=inbound("l3", external_id="u-9"))
    latest = OutboxEvent.objects.filter(type="conversation.message_received").latest("pk")
    assert f"user.{other_agent.pk}" in latest.audience
    assert f"user.{team_lead.pk}" not in latest.audience


def _admin() -> Any:
    from kefu.accounts.tests.factories import UserFactory

    return UserFactory(username="admin-x", admin=True)


def other_agent_as_lead(user: Any) -> Any:
    """Another team's agent made a team lead without a team of their own, as the lead of this team."""
    from kefu.accounts.choices import Role

    user.role, user.team = Role.TEAM_LEAD, None
    user.save(update_fields=["role", "team"])
    return user


def test_the_history_of_a_conversation_outlives_the_outbox(app_channel: Any, agent: Any, team: Any,
                                                           team_lead: Any, other_team: Any) -> None:
    """Pick-up, transfer (with its note), close and the order made of it are kept with the conversation, written
    with their events: the outbox is purged after 30 days, a QA review months later still reads who did what."""
    from kefu.conversations.selectors import conversation_activity
    from kefu.web.inbox import activity_lines

    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    services.conversation_transfer(actor=agent, conversation=conversation, to_user=team_lead, note="需要组长确认")
    services.conversation_create_ticket(actor=team_lead, conversation=conversation)
    services.conversation_close(actor=team_lead, conversation=conversation, reason="ticket")
    OutboxEvent.objects.all().delete()  # the relay's purge

    rows = conversation_activity(conversation.pk)
    assert [(r.kind, r.actor_id, r.data.get("how")) for r in rows] == [
        ("conversation.assigned", agent.pk, "claimed"), ("conversation.assigned", agent.pk, "transferred"),
        ("conversation.ticket_linked", team_lead.pk, None), ("conversation.closed", team_lead.pk, None)]
    assert rows[1].data["note"] == "需要组长确认"
    lines = [line.text for line in activity_lines(rows)]
    assert lines[0] == "李客服 接入了会话"
    assert lines[1] == "李客服 将会话转接给 王组长"
    assert lines[2].startswith("王组长 由会话创建了工单 GD")
    assert lines[3] == "王组长 结束了会话：已转工单跟进"


def test_the_upgrade_keeps_the_history_still_in_the_outbox(app_channel: Any, agent: Any, team: Any) -> None:
    """Migration 0002 turns the outbox's last 30 days of pick-ups, transfers and closes into kept history."""
    import importlib

    from django.apps import apps

    from kefu.conversations.models import Activity

    migration = importlib.import_module("kefu.conversations.migrations.0002_activity")
    conversation = services.message_receive(channel=app_channel, inbound=inbound("m1")).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    services.conversation_close(actor=agent, conversation=conversation, reason="resolved")
    expected = [(a.kind, a.actor_id, a.team_id, a.data, a.created_at) for a in Activity.objects.order_by("pk")]
    Activity.objects.all().delete()  # as before the upgrade
    migration.from_the_outbox(apps, None)
    assert [(a.kind, a.actor_id, a.team_id, a.data, a.created_at) for a in Activity.objects.order_by("pk")] == \
        expected
