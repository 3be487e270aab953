"""Chats through routing: a conversation on a channel with a routed queue waits in line (once, in the transaction
of the message that opened it), is offered to a free agent and, accepted, assigned to them; every later change of
hands tells routing (a pick-up withdraws the offer, a transfer to a team puts it back in line, closing ends it) and
the agent's chats in hand follow. A channel without a queue behaves as before."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from kefu.accounts.tests.factories import UserFactory
from kefu.conversations import services
from kefu.conversations.models import Conversation
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.core.errors import Conflict, ValidationFailed
from kefu.core.models import OutboxEvent
from kefu.customers.models import Customer
from kefu.routing.models import AgentState, Offer, Queue, RoutedContact
from kefu.routing.services import (
    ROUTING,
    StateChange,
    agent_state_set,
    offer_accept,
    routing_dispatch,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def t0() -> datetime:
    return timezone.now().replace(microsecond=0) - timedelta(minutes=10)


@pytest.fixture
def line(team: Any) -> Queue:
    return Queue.objects.create(code="webchat", name="网页咨询", kind="chat", routed=True, team=team,
                                vip_priority=10)


@pytest.fixture
def routed_channel(team: Any, line: Queue) -> Any:
    return ChannelFactory(chat=True, code="web", team=team, queue=line)


def available(user: Any, at: datetime) -> Any:
    agent_state_set(actor=ROUTING, user=user, change=StateChange(state="available", source="system", at=at))
    return user


def chats(user: Any) -> int:
    return AgentState.objects.get(user=user).chats


def contact_of(conversation: Conversation) -> RoutedContact:
    return RoutedContact.objects.filter(ref=f"conversation:{conversation.pk}").latest("pk")


def open_offer(contact: RoutedContact) -> Offer | None:
    return Offer.objects.filter(contact=contact, outcome="").first()


def receive(channel: Any, message_id: str, at: datetime, **extra: Any) -> services.Received:
    return services.message_receive(channel=channel, inbound=inbound(message_id, **extra), at=at)


def test_a_chat_waits_is_offered_and_accepted_then_closing_frees_the_agent(
        routed_channel: Any, line: Queue, agent: Any, t0: datetime) -> None:
    available(agent, t0)
    received = receive(routed_channel, "m1", t0)
    conversation = received.conversation
    contact = contact_of(conversation)
    assert (contact.kind, contact.queue, contact.state, contact.customer_id, contact.enqueued_at) == (
        "chat", line, "waiting", conversation.customer_id, t0)
    assert routing_dispatch(now=t0 + timedelta(seconds=1)) == 1
    offer = open_offer(contact)
    assert offer is not None
    assert offer.agent == agent
    offer_accept(actor=agent, offer_id=offer.pk, now=t0 + timedelta(seconds=5))
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.assigned_at) == (agent, t0 + timedelta(seconds=5))
    assert chats(agent) == 1
    assigned = OutboxEvent.objects.filter(type="conversation.assigned").latest("pk")
    assert (assigned.actor_id, assigned.actor_system) == (None, "routing")  # the history says routing gave it
    assert assigned.payload["data"]["to_id"] == agent.pk
    services.conversation_close(actor=agent, conversation=conversation, reason="resolved",
                                at=t0 + timedelta(minutes=3))
    contact.refresh_from_db()
    assert (contact.state, contact.ended_at) == ("finished", t0 + timedelta(minutes=3))
    assert chats(agent) == 0


def test_the_same_message_twice_and_a_second_message_keep_one_place_in_line(routed_channel: Any,
                                                                            t0: datetime) -> None:
    first = receive(routed_channel, "m1", t0)
    again = receive(routed_channel, "m1", t0 + timedelta(seconds=3))
    assert again.duplicate
    receive(routed_channel, "m2", t0 + timedelta(seconds=4), text="还在吗")
    assert RoutedContact.objects.filter(ref=f"conversation:{first.conversation.pk}").count() == 1
    assert contact_of(first.conversation).enqueued_at == t0  # the place of the first message


def test_a_vip_customer_goes_ahead_and_a_new_conversation_after_closing_enters_again(
        routed_channel: Any, line: Queue, agent: Any, t0: datetime) -> None:
    first = receive(routed_channel, "m1", t0).conversation
    assert contact_of(first).priority == 0
    services.conversation_close(actor=agent, conversation=first, reason="resolved", at=t0 + timedelta(seconds=30))
    assert contact_of(first).state == "abandoned"  # nobody ever had it
    Customer.objects.filter(pk=first.customer_id).update(is_vip=True)
    second = receive(routed_channel, "m2", t0 + timedelta(minutes=1)).conversation
    assert second.pk != first.pk
    contact = contact_of(second)
    assert (contact.state, contact.priority, contact.is_vip) == ("waiting", line.vip_priority, True)


def test_a_pick_up_from_the_inbox_withdraws_the_offer(routed_channel: Any, team: Any, agent: Any,
                                                      t0: datetime) -> None:
    colleague = UserFactory(role="agent", team=team)
    available(agent, t0)
    conversation = receive(routed_channel, "m1", t0).conversation
    routing_dispatch(now=t0 + timedelta(seconds=1))
    contact = contact_of(conversation)
    offer = open_offer(contact)
    assert offer is not None
    assert offer.agent == agent
    services.conversation_claim(actor=colleague, conversation=conversation, at=t0 + timedelta(seconds=3))
    offer.refresh_from_db(), contact.refresh_from_db()
    assert offer.outcome == "withdrawn"
    assert (contact.state, contact.agent) == ("assigned", colleague)
    assert (chats(agent), chats(colleague)) == (0, 1)
    with pytest.raises(Conflict):
        offer_accept(actor=agent, offer_id=offer.pk, now=t0 + timedelta(seconds=4))
    with pytest.raises(Conflict):  # the pick-up stays atomic: a second agent is refused
        services.conversation_claim(actor=agent, conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.assignee == colleague


def test_a_reply_picks_the_chat_up_and_a_lead_reassigns_it(routed_channel: Any, agent: Any, team_lead: Any,
                                                          team: Any, t0: datetime) -> None:
    conversation = receive(routed_channel, "m1", t0).conversation
    services.message_send(actor=agent, conversation=conversation, text="您好", at=t0 + timedelta(seconds=8))
    contact = contact_of(conversation)
    assert (contact.state, contact.agent, contact.assigned_at) == ("assigned", agent, t0 + timedelta(seconds=8))
    colleague = UserFactory(role="agent", team=team)
    conversation.refresh_from_db()
    services.conversation_assign(actor=team_lead, conversation=conversation, assignee=colleague,
                                 at=t0 + timedelta(seconds=20))
    contact.refresh_from_db()
    assert contact.agent == colleague
    assert (chats(agent), chats(colleague)) == (0, 1)


def test_a_transfer_to_a_person_takes_it_and_to_the_team_puts_it_back_in_line(
        routed_channel: Any, agent: Any, team: Any, t0: datetime) -> None:
    conversation = receive(routed_channel, "m1", t0).conversation
    services.conversation_claim(actor=agent, conversation=conversation, at=t0 + timedelta(seconds=5))
    colleague = UserFactory(role="agent", team=team)
    conversation.refresh_from_db()
    services.conversation_transfer(actor=agent, conversation=conversation, to_user=colleague,
                                   at=t0 + timedelta(seconds=30))
    assert (contact_of(conversation).agent, chats(agent), chats(colleague)) == (colleague, 0, 1)
    conversation.refresh_from_db()
    services.conversation_transfer(actor=colleague, conversation=conversation, to_team=team,
                                   at=t0 + timedelta(seconds=60))
    refs = RoutedContact.objects.filter(ref=f"conversation:{conversation.pk}").order_by("pk")
    assert [(c.state, c.agent_id) for c in refs] == [("finished", colleague.pk), ("waiting", None)]
    assert chats(colleague) == 0


def test_a_transfer_to_a_team_without_a_routed_queue_leaves_the_line(routed_channel: Any, agent: Any,
                                                                     other_team: Any, t0: datetime) -> None:
    conversation = receive(routed_channel, "m1", t0).conversation
    services.conversation_claim(actor=agent, conversation=conversation, at=t0 + timedelta(seconds=5))
    conversation.refresh_from_db()
    services.conversation_transfer(actor=agent, conversation=conversation, to_team=other_team,
                                   at=t0 + timedelta(seconds=9))
    assert not RoutedContact.objects.filter(ref=f"conversation:{conversation.pk}",
                                            state__in=["waiting", "offered", "assigned"]).exists()
    receive(routed_channel, "m2", t0 + timedelta(seconds=20), text="还在吗")  # waits in the other team's inbox
    assert not RoutedContact.objects.filter(ref=f"conversation:{conversation.pk}", state="waiting").exists()


def test_a_reopened_conversation_goes_back_to_its_agent_and_counts(agent: Any, team: Any, line: Queue,
                                                                   t0: datetime) -> None:
    mail = ChannelFactory(email=True, code="mail", team=team, queue=line)
    conversation = receive(mail, "<a@x>", t0, kind="email", external_id="a@example.com").conversation
    services.conversation_claim(actor=agent, conversation=conversation, at=t0 + timedelta(seconds=5))
    services.conversation_close(actor=agent, conversation=conversation, reason="resolved",
                                at=t0 + timedelta(minutes=1))
    assert chats(agent) == 0
    again = services.message_receive(channel=mail, at=t0 + timedelta(hours=1), inbound=inbound(
        "<b@x>", kind="email", external_id="a@example.com", thread_refs=("<a@x>",)))
    assert again.conversation.pk == conversation.pk
    contact = contact_of(conversation)
    assert (contact.state, contact.agent) == ("assigned", agent)
    assert chats(agent) == 1


def test_a_channel_without_a_queue_behaves_as_before(chat_channel: Any, agent: Any, t0: datetime) -> None:
    available(agent, t0)
    conversation = receive(chat_channel, "m1", t0).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    services.conversation_close(actor=agent, conversation=conversation, reason="resolved")
    assert not RoutedContact.objects.exists()
    assert not OutboxEvent.objects.filter(type__startswith="routing.").exists()
    assert chats(agent) == 0


def test_a_channel_accepts_only_an_active_routed_chat_queue(routed_channel: Any, admin_user: Any,
                                                            line: Queue) -> None:
    phone = Queue.objects.create(code="hotline", name="热线", kind="phone", routed=True)
    unrouted = Queue.objects.create(code="plain", name="普通", kind="chat", routed=False)
    for queue in (phone, unrouted):
        with pytest.raises(ValidationFailed) as refused:
            services.channel_update(actor=admin_user, channel=routed_channel, expected_version=None,
                                    changes=services.ChannelChanges(queue=queue))
        assert refused.value.details["field"] == "queue"
        with pytest.raises(ValidationFailed) as refused:
            services.channel_create(actor=admin_user, kind="chat", code="other", queue=queue,
                                    config={"allowed_origins": ["*"]})
        assert refused.value.details["field"] == "queue"
    routed_channel.refresh_from_db()
    assert routed_channel.queue == line
    changed = services.channel_update(actor=admin_user, channel=routed_channel, expected_version=None,
                                      changes=services.ChannelChanges(clear_queue=True))
    assert changed.queue is None


def test_an_accepted_contact_whose_conversation_is_gone_ends_after_the_accept(
        line: Queue, agent: Any, t0: datetime, django_capture_on_commit_callbacks: Any) -> None:
    from kefu.routing.services import ContactIn, contact_enqueue

    available(agent, t0)
    contact = contact_enqueue(data=ContactIn(ref="conversation:999999", queue=line, at=t0))
    routing_dispatch(now=t0 + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        offer_accept(actor=agent, offer_id=open_offer(contact).pk, now=t0 + timedelta(seconds=2))
    contact.refresh_from_db()
    assert contact.state == "finished"
    assert chats(agent) == 0


def race(actions: dict[str, Any]) -> dict[str, str]:
    """Run the actions in threads released at once, each on its own connection → name: ok, refused (a conflict)
    or the error (a deadlock, anything else)."""
    from django.db import connections

    start = threading.Barrier(len(actions))
    results: dict[str, str] = {}

    def run(name: str, action: Any) -> None:
        try:
            start.wait(timeout=60)
            action()
            results[name] = "ok"
        except Conflict:
            results[name] = "refused"
        except BaseException as exc:  # a deadlock or any other error fails the test
            results[name] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in actions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs a database with real concurrent connections: runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_an_accept_and_a_pick_up_at_once_one_wins_and_nothing_deadlocks(team: Any, agent: Any) -> None:
    """The accept locks contact → offer → agent → conversation; the pick-up takes the contact's lock first too:
    whichever comes second waits, then is refused; the chat is one agent's, and the counters agree."""
    from kefu.routing.services import routing_repair

    line = Queue.objects.create(code="webchat", name="网页咨询", kind="chat", routed=True, team=team)
    channel = ChannelFactory(chat=True, code="web", team=team, queue=line)
    colleague = UserFactory(role="agent", team=team)
    available(agent, timezone.now() - timedelta(minutes=1))
    for round_ in range(8):
        conversation = receive(channel, f"m{round_}", timezone.now(), external_id=f"u{round_}").conversation
        routing_dispatch()
        offer = open_offer(contact_of(conversation))
        assert offer is not None
        results = race({
            "accept": lambda offer_id=offer.pk: offer_accept(actor=agent, offer_id=offer_id),
            "claim": lambda c=conversation: services.conversation_claim(actor=colleague, conversation=c)})
        assert sorted(results.values()) == ["ok", "refused"], results
        conversation.refresh_from_db()
        contact = contact_of(conversation)
        winner = agent if results["accept"] == "ok" else colleague
        assert (conversation.assignee, contact.state, contact.agent) == (winner, "assigned", winner)
        services.conversation_close(actor=winner, conversation=conversation, reason="resolved")
    assert routing_repair() == 0  # every agent's chat count agrees with the contacts
    assert (chats(agent), chats(colleague)) == (0, 0)


def test_a_phone_channel_takes_no_chat_queue(admin_user: Any, line: Queue) -> None:
    phone = ChannelFactory(code="hotline-4008001234", kind="phone", name="服务热线")
    with pytest.raises(ValidationFailed) as refused:
        services.channel_update(actor=admin_user, channel=phone, expected_version=None,
                                changes=services.ChannelChanges(queue=line))
    assert refused.value.details["field"] == "queue"


def test_the_channel_list_of_the_api_names_the_queue(routed_channel: Any, admin_user: Any) -> None:
    from kefu.apiutils.testing import api_as

    listed = {c["code"]: c for c in api_as(admin_user).get("/channels").json()}
    assert listed["web"]["queue"] == "webchat"


def test_a_lead_sending_a_chat_back_to_the_inbox_puts_it_back_in_line(routed_channel: Any, agent: Any,
                                                                     team_lead: Any, t0: datetime) -> None:
    conversation = receive(routed_channel, "m1", t0).conversation
    services.conversation_claim(actor=agent, conversation=conversation, at=t0 + timedelta(seconds=5))
    assert chats(agent) == 1
    services.conversation_assign(actor=team_lead, conversation=conversation, assignee=None,
                                 at=t0 + timedelta(seconds=40))
    contacts = RoutedContact.objects.filter(ref=f"conversation:{conversation.pk}").order_by("pk")
    assert [(c.state, c.agent_id) for c in contacts] == [("finished", agent.pk), ("waiting", None)]
    assert contacts.last().enqueued_at == t0 + timedelta(seconds=40)
    assert chats(agent) == 0
