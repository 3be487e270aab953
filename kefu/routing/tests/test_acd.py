"""The ACD: contacts are offered in line order to one free, skilled agent at a time by the queue's strategy;
offers are accepted, declined or ring out; VIP, complaint and long-wait priority; affinity with its timeout;
overflow; callback instead of waiting; chat concurrency; and what the database refuses whatever the code does."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from kefu.accounts.models import AgentSkill, Skill
from kefu.accounts.tests.factories import TeamFactory, UserFactory
from kefu.core.errors import Conflict, NotFound, ValidationFailed
from kefu.core.models import OutboxEvent
from kefu.customers.tests.factories import CustomerFactory
from kefu.routing.models import AgentState, IntervalStat, Offer, Queue, RoutedContact
from kefu.routing.services import (
    ROUTING,
    ContactIn,
    QueueData,
    StateChange,
    agent_state_set,
    contact_callback,
    contact_end,
    contact_enqueue,
    contact_taken,
    offer_accept,
    offer_decline,
    queue_create,
    queue_update,
    routing_dispatch,
    routing_repair,
    routing_tick,
)

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 4, 10, 0, tzinfo=SH)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_queue(code: str = "hotline", **fields: Any) -> Queue:
    fields.setdefault("routed", True)
    return Queue.objects.create(code=code, name=code, **fields)


def make_agent(*, at: datetime = T0, state: str = "available", team: Any = None, skills: dict[Any, int] | None = None,
               **fields: Any) -> Any:
    user = UserFactory(role="agent", team=team, **fields)
    for skill, level in (skills or {}).items():
        AgentSkill.objects.create(user=user, skill=skill, proficiency=level)
    if state:
        agent_state_set(actor=ROUTING, user=user, change=StateChange(state=state, source="system", at=at))
    return user


def enqueue(ref: str, queue: Queue, at: datetime = T0, **fields: Any) -> RoutedContact:
    return contact_enqueue(data=ContactIn(ref=ref, queue=queue, at=at, **fields))


def open_offer(contact: RoutedContact) -> Offer | None:
    return Offer.objects.filter(contact=contact, outcome="").first()


def offered_to(contact: RoutedContact) -> Any:
    offer = open_offer(contact)
    return offer.agent if offer else None


def test_a_contact_is_offered_to_the_longest_idle_agent_and_accepted() -> None:
    queue = make_queue()
    early, late = make_agent(at=s(-600)), make_agent(at=s(-60))
    call = enqueue("call:1", queue)
    assert routing_dispatch(now=s(1)) == 1
    call.refresh_from_db()
    assert (call.state, offered_to(call)) == ("offered", early)
    made = OutboxEvent.objects.filter(type="routing.offer_made").latest("pk")
    assert made.audience == [f"user.{early.pk}"]
    taken = offer_accept(actor=early, offer_id=open_offer(call).pk, now=s(5))
    assert (taken.state, taken.agent, taken.assigned_at) == ("assigned", early, s(5))
    assert AgentState.objects.get(user=early).state == "on_contact"  # a call puts the agent on contact
    assert routing_dispatch(now=s(6)) == 0
    assert late.pk
    ended = contact_end(ref="call:1", at=s(65))
    assert (ended.state, ended.ended_at) == ("finished", s(65))
    assert AgentState.objects.get(user=early).idle_since == s(65)


def test_line_order_is_priority_then_time_vip_and_complaints_first() -> None:
    queue = make_queue(vip_priority=10, complaint_priority=5)
    plain = enqueue("chat:plain", queue, at=s(0))
    complaint = enqueue("chat:complaint", queue, at=s(10), is_complaint=True)
    vip = enqueue("chat:vip", queue, at=s(20), customer=CustomerFactory(is_vip=True))
    assert (plain.priority, complaint.priority, vip.priority) == (0, 5, 10)
    agents = [make_agent(at=s(-300 + i)) for i in range(3)]
    routing_dispatch(now=s(30))
    assert [offered_to(c) for c in (vip, complaint, plain)] == agents  # the longest idle gets the first in line


def test_long_waits_gain_priority_on_the_tick() -> None:
    queue = make_queue(long_wait_seconds=60, long_wait_priority=7)
    old, new = enqueue("call:old", queue, at=s(0)), enqueue("call:new", queue, at=s(50), is_complaint=True)
    assert routing_tick(now=s(59)).boosted == 0
    assert routing_tick(now=s(61)).boosted == 1
    old.refresh_from_db(), new.refresh_from_db()
    assert (old.priority, old.long_wait_boosted, new.priority) == (7, True, 5)
    assert routing_tick(now=s(120)).boosted == 1  # the newer one's turn; each is boosted once
    old.refresh_from_db()
    assert old.priority == 7


def test_skills_with_proficiency_and_the_strategies() -> None:
    en, billing = Skill.objects.create(code="en", name="English"), Skill.objects.create(code="bill", name="账单")
    queue = make_queue(strategy="proficiency")
    queue_update(actor=ROUTING, queue=queue, expected_version=None, data=QueueData(
        code="hotline", name="hotline", routed=True, strategy="proficiency", skills=((en, 2), (billing, 1))))
    make_agent(at=s(-900), skills={en: 5})  # no billing: never offered
    make_agent(at=s(-800), skills={en: 1, billing: 5})  # English too weak
    fair = make_agent(at=s(-700), skills={en: 3, billing: 2})
    expert = make_agent(at=s(-10), skills={en: 5, billing: 4})
    first = enqueue("call:a", queue)
    routing_dispatch(now=s(1))
    assert offered_to(first) == expert  # proficiency first, idle time second
    second = enqueue("call:b", queue, at=s(2))
    routing_dispatch(now=s(3))
    assert offered_to(second) == fair
    third = enqueue("call:c", queue, at=s(4))
    routing_dispatch(now=s(5))
    third.refresh_from_db()
    assert third.state == "waiting"  # nobody else qualifies


def test_least_occupied_gives_chats_to_the_agent_with_fewest_in_hand() -> None:
    queue = make_queue("chat", kind="chat", strategy="least_occupied")
    busy, free = make_agent(at=s(-900)), make_agent(at=s(-10))
    AgentState.objects.filter(user=busy).update(chats=2)
    chat = enqueue("conversation:9", queue, at=s(5))
    routing_dispatch(now=s(6))
    assert offered_to(chat) == free  # longest idle would have been `busy`


def test_chat_concurrency_caps_an_agents_chats() -> None:
    queue = make_queue("chat", kind="chat")
    agent = make_agent()
    AgentState.objects.filter(user=agent).update(chat_capacity=2)
    for i in range(3):
        contact = enqueue(f"conversation:{i}", queue, at=s(i))
        routing_dispatch(now=s(i + 0.5))
        offer = open_offer(contact)
        if i < 2:
            offer_accept(actor=agent, offer_id=offer.pk, now=s(i + 0.7))
        else:
            assert offer is None  # two chats in hand: full
    assert AgentState.objects.get(user=agent).chats == 2
    assert AgentState.objects.get(user=agent).state == "available"  # chats do not take an agent off the line
    contact_end(ref="conversation:0", at=s(30))  # one chat ends: the third is offered at once
    routing_dispatch(now=s(30))
    assert offered_to(RoutedContact.objects.get(ref="conversation:2")) == agent
    assert routing_repair() == 0  # the counters agree with the contacts


def test_a_declined_offer_goes_to_another_agent_and_keeps_its_place() -> None:
    queue = make_queue()
    first, second = make_agent(at=s(-100)), make_agent(at=s(-50))
    call = enqueue("call:1", queue)
    later = enqueue("call:2", queue, at=s(3))
    routing_dispatch(now=s(3))
    assert offered_to(call) == first
    assert offered_to(later) == second
    offer_decline(actor=first, offer_id=open_offer(call).pk, now=s(4))
    call.refresh_from_db()
    assert call.state == "waiting"
    routing_dispatch(now=s(5))
    assert offered_to(call) is None  # the only free agent declined it a moment ago
    offer_decline(actor=second, offer_id=open_offer(later).pk, now=s(6))
    routing_dispatch(now=s(7))
    assert offered_to(call) == second  # first in line again, to the agent who has not declined it
    routing_dispatch(now=s(4 + 61))
    assert offered_to(later) == first  # a minute later the first agent may be offered call:2
    with pytest.raises(Conflict):  # an offer closed is closed
        offer_accept(actor=first, offer_id=Offer.objects.get(contact=call, agent=first).pk, now=s(70))
    with pytest.raises(NotFound):  # another agent's offer is not found
        offer_accept(actor=first, offer_id=open_offer(call).pk, now=s(70))


def test_an_offer_that_rings_out_goes_back_and_the_agent_is_set_missed() -> None:
    queue = make_queue(offer_seconds=15)
    sleepy, awake = make_agent(at=s(-100)), make_agent(at=s(-50))
    call = enqueue("call:1", queue)
    routing_dispatch(now=s(0))
    offer = open_offer(call)
    assert offer.agent == sleepy
    assert offer.expires_at == s(15)
    assert routing_tick(now=s(14)).timed_out == 0
    result = routing_tick(now=s(16))
    assert (result.timed_out, result.offered) == (1, 1)
    offer.refresh_from_db()
    assert (offer.outcome, offer.decided_at) == ("timeout", s(15))
    assert AgentState.objects.get(user=sleepy).state == "missed"
    assert offered_to(call) == awake
    with pytest.raises(Conflict):
        offer_accept(actor=sleepy, offer_id=offer.pk, now=s(17))
    with pytest.raises(Conflict):  # too late for the second one as well
        offer_accept(actor=awake, offer_id=open_offer(call).pk, now=s(16 + 15))


def test_leaving_available_withdraws_the_open_offer() -> None:
    queue = make_queue()
    agent, other = make_agent(at=s(-100)), make_agent(at=s(-50))
    call = enqueue("call:1", queue)
    routing_dispatch(now=s(0))
    agent_state_set(actor=agent, user=agent, change=StateChange(state="break", at=s(2)))
    assert Offer.objects.get(agent=agent).outcome == "withdrawn"
    routing_dispatch(now=s(3))
    assert offered_to(call) == other


def test_last_agent_affinity_waits_for_them_then_times_out() -> None:
    queue = make_queue(affinity="last_agent", affinity_seconds=30)
    customer = CustomerFactory()
    known, stranger = make_agent(at=s(-10)), make_agent(at=s(-500))
    first = enqueue("call:1", queue, customer=customer)
    RoutedContact.objects.filter(pk=first.pk).update(state="finished", agent=known, assigned_at=s(1), ended_at=s(9))
    agent_state_set(actor=known, user=known, change=StateChange(state="break", at=s(10)))
    again = enqueue("call:2", queue, at=s(100), customer=customer)
    assert (again.preferred_agent, again.preferred_until) == (known, s(130))
    routing_dispatch(now=s(101))
    assert offered_to(again) is None  # the stranger is free, but the customer's agent is waited for
    assert routing_tick(now=s(131)).offered == 1
    assert offered_to(again) == stranger


def test_dedicated_agent_gets_their_customer_at_once() -> None:
    queue = make_queue(affinity="dedicated", affinity_seconds=60)
    manager = make_agent(at=s(-1))
    make_agent(at=s(-900))
    call = enqueue("call:1", queue, customer=CustomerFactory(dedicated_agent=manager))
    routing_dispatch(now=s(1))
    assert offered_to(call) == manager


def test_overflow_moves_a_waiting_contact_after_n_seconds_keeping_its_place() -> None:
    backup = make_queue("backup")
    queue = make_queue(overflow_to=backup, overflow_after_seconds=45)
    make_agent(team=TeamFactory(), at=s(-5))
    backup.team = TeamFactory()
    backup.save()
    queue.team = TeamFactory()
    queue.save()
    helper = make_agent(team=backup.team, state="")
    call = enqueue("call:1", queue, at=s(0))
    assert routing_tick(now=s(44)).overflowed == 0
    assert routing_tick(now=s(46)).overflowed == 1
    call.refresh_from_db()
    assert (call.queue, call.overflowed_from, call.enqueued_at, call.queue_entered_at) == (backup, queue, s(0), s(45))
    agent_state_set(actor=helper, user=helper, change=StateChange(state="available", at=s(50)))
    routing_dispatch(now=s(50))
    assert offered_to(call) == helper


def test_overflow_chains_must_end() -> None:
    a = queue_create(actor=ROUTING, data=QueueData(code="qa", name="A", routed=True))
    b = queue_create(actor=ROUTING, data=QueueData(code="qb", name="B", routed=True, overflow_to=a,
                                                   overflow_after_seconds=30))
    with pytest.raises(ValidationFailed) as refused:
        queue_update(actor=ROUTING, queue=a, expected_version=None, data=QueueData(
            code="qa", name="A", routed=True, overflow_to=b, overflow_after_seconds=30))
    assert refused.value.details["field"] == "overflow_to"
    with pytest.raises(ValidationFailed) as refused:
        queue_create(actor=ROUTING, data=QueueData(code="qc", name="C", overflow_to=a))
    assert refused.value.details["field"] == "overflow_after_seconds"


def test_callback_instead_of_waiting_keeps_the_place_in_line() -> None:
    queue = make_queue()
    first = enqueue("call:1", queue, at=s(0))
    second = enqueue("call:2", queue, at=s(10))
    contact_callback(ref="call:1", number="13800138000", at=s(20))
    assert contact_end(ref="call:1", at=s(21)).state == "waiting"  # the caller hung up: still in line
    agent = make_agent(at=s(30))
    routing_dispatch(now=s(30))
    assert offered_to(first) == agent
    assert offered_to(second) is None
    made = OutboxEvent.objects.filter(type="routing.offer_made").latest("pk")
    assert made.payload["callback_number"] == "13800138000"
    with pytest.raises(ValidationFailed):
        contact_callback(ref="call:2", number="call me")
    with pytest.raises(NotFound):
        contact_callback(ref="call:404", number="13800138000")


def test_abandoned_and_taken_elsewhere() -> None:
    queue = make_queue()
    agent = make_agent()
    call = enqueue("call:1", queue)
    routing_dispatch(now=s(1))
    assert contact_end(ref="call:1", at=s(8)).state == "abandoned"
    assert Offer.objects.get(contact=call).outcome == "withdrawn"
    chat = enqueue("call:2", queue, at=s(10))
    routing_dispatch(now=s(11))
    other = make_agent(state="")
    taken = contact_taken(ref="call:2", agent=other, at=s(12))  # the PBX put it through to someone else
    assert (taken.state, taken.agent) == ("assigned", other)
    assert Offer.objects.get(contact=chat).outcome == "withdrawn"
    assert contact_end(ref="call:404", at=s(13)) is None
    assert agent.pk


def test_enqueue_is_idempotent_and_refuses_unrouted_queues() -> None:
    queue = make_queue()
    assert enqueue("call:1", queue).pk == enqueue("call:1", queue, at=s(5)).pk
    with pytest.raises(ValidationFailed) as refused:
        enqueue("call:2", make_queue("pbx", routed=False))
    assert refused.value.details["field"] == "queue"
    with pytest.raises(ValidationFailed):
        enqueue("", queue)


def test_a_contact_never_lands_in_a_queue_switched_off_meanwhile() -> None:
    """The caller read the queue while it was on; it was switched off before the contact's insert committed: the
    check after the insert refuses it and takes the contact back out."""
    queue = make_queue()
    Queue.objects.filter(pk=queue.pk).update(is_active=False)  # `queue` in memory still says it is on
    with pytest.raises(ValidationFailed) as refused:
        enqueue("call:late", queue)
    assert refused.value.details["field"] == "queue"
    assert not RoutedContact.objects.filter(ref="call:late").exists()


def test_the_database_refuses_two_open_offers_for_one_contact_or_one_agent() -> None:
    queue = make_queue()
    a, b = make_agent(), make_agent()
    one, two = enqueue("call:1", queue), enqueue("call:2", queue)
    Offer.objects.create(contact=one, agent=a, offered_at=T0, expires_at=s(20))
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(contact=one, agent=b, offered_at=T0, expires_at=s(20))
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(contact=two, agent=a, offered_at=T0, expires_at=s(20))


def test_chat_queue_intervals_are_counted_from_contacts() -> None:
    queue = make_queue("chat", kind="chat", target_seconds=30, short_abandon_seconds=5)
    agent = make_agent()
    answered = enqueue("conversation:1", queue, at=s(0))
    routing_dispatch(now=s(1))
    offer_accept(actor=agent, offer_id=open_offer(answered).pk, now=s(10))
    contact_end(ref="conversation:1", at=s(310))
    enqueue("conversation:2", queue, at=s(60))
    contact_end(ref="conversation:2", at=s(62))  # a short abandon
    enqueue("conversation:3", queue, at=s(70))
    contact_end(ref="conversation:3", at=s(170))
    row = IntervalStat.objects.get(queue=queue)
    assert row.start == T0
    assert (row.offered, row.answered, row.answered_within_target, row.abandoned, row.short_abandoned) == (
        3, 1, 1, 1, 1)
    assert (row.wait_seconds, row.talk_seconds) == (10, 300)


def test_the_offers_api_lists_accepts_and_declines_only_ones_own() -> None:
    from kefu.apiutils.testing import api_as, assert_error_shape

    queue = make_queue(offer_seconds=600)
    first, second = make_agent(at=s(-100)), make_agent(at=s(-50))
    call = enqueue("call:1", queue, at=s(0))
    routing_dispatch()
    mine = api_as(first)
    listed = mine.get("/agents/me/offers").json()
    assert [(o["ref"], o["queue"], o["kind"]) for o in listed] == [("call:1", "hotline", "phone")]
    assert api_as(second).get("/agents/me/offers").json() == []
    assert_error_shape(api_as(second).request("post", f"/offers/{listed[0]['id']}/accept"), 404)
    declined = mine.request("post", f"/offers/{listed[0]['id']}/decline")
    assert declined.status_code == 200, declined.content
    assert declined.json()["state"] in ("waiting", "offered")
    assert_error_shape(mine.request("post", f"/offers/{listed[0]['id']}/accept"), 409, "offer_declined")
    routing_dispatch()
    again = api_as(second).get("/agents/me/offers").json()
    taken = api_as(second).request("post", f"/offers/{again[0]['id']}/accept")
    assert taken.status_code == 200, taken.content
    assert (taken.json()["state"], taken.json()["agent_id"]) == ("assigned", second.pk)
    call.refresh_from_db()
    assert call.agent == second
    assert_error_shape(api_as(UserFactory(role="qa")).get("/agents/me/offers"), 403)


def test_a_call_in_a_routed_queue_follows_its_cti_events(admin_user: Any) -> None:
    from kefu.telephony.services import CtiEventIn, cti_event_record

    make_queue(vip_priority=10)
    vip = CustomerFactory(is_vip=True)
    vip.contacts.create(kind="phone", value="13800138000", normalized="13800138000")
    agent = make_agent(at=s(-60))

    def cti(event: str, at: float, **extra: str) -> None:
        cti_event_record(actor=admin_user, now=s(3600), data=CtiEventIn(
            call_id="c1", event=event, at=s(at), caller="13800138000", called="4008001234", queue="hotline",
            **extra))

    cti("offered", 0)
    assert not RoutedContact.objects.exists()  # offered is the IVR's: the line starts at queued
    cti("queued", 5)
    contact = RoutedContact.objects.get(ref="call:c1")
    assert (contact.state, contact.customer, contact.priority, contact.enqueued_at) == ("waiting", vip, 10, s(5))
    routing_dispatch(now=s(6))
    assert offered_to(contact) == agent
    cti("answered", 12, agent=agent.username)  # the PBX put it through: the offer is settled
    contact.refresh_from_db()
    assert (contact.state, contact.agent, contact.assigned_at) == ("assigned", agent, s(12))
    assert Offer.objects.get(contact=contact).outcome == "withdrawn"
    cti("ended", 70)
    contact.refresh_from_db()
    assert (contact.state, contact.ended_at) == ("finished", s(70))
    cti("queued", 5)  # a retry changes nothing
    assert RoutedContact.objects.count() == 1


def test_an_agent_offered_a_call_of_a_queue_without_team_sees_it_before_the_pbx_reports_them(
        admin_user: Any) -> None:
    """Routing alone knows whose the call is until the PBX puts it through: the offered agent (and, after
    accepting, the assigned one) may open the caller's card; another agent may not."""
    from kefu.core.policy import can_see
    from kefu.telephony.models import Call
    from kefu.telephony.services import CtiEventIn, cti_event_record

    make_queue()  # no team
    agent, other = make_agent(at=s(-60)), make_agent(at=s(-60), state="")
    cti_event_record(actor=admin_user, now=s(3600), data=CtiEventIn(
        call_id="c9", event="queued", at=s(5), caller="13800138000", called="4008001234", queue="hotline"))
    call = Call.objects.get(call_id="c9")
    assert not can_see(agent, call)
    routing_dispatch(now=s(6))
    offer = open_offer(RoutedContact.objects.get(ref="call:c9"))
    assert offer is not None
    assert offer.agent == agent
    assert can_see(agent, call)
    assert not can_see(other, call)
    offer_accept(actor=agent, offer_id=offer.pk, now=s(8))
    assert can_see(agent, call)
    assert not can_see(other, call)
    from django.test import Client

    browser = Client()
    browser.force_login(agent)
    assert browser.get(f"/calls/{call.pk}/pop/").status_code == 200  # the caller's card opens on accept
    browser.force_login(other)
    assert browser.get(f"/calls/{call.pk}/pop/").status_code == 404


def test_an_agent_offered_a_contact_by_another_dispatcher_meanwhile_is_passed_over(monkeypatch: Any) -> None:
    """The dispatcher's snapshot may not show an offer another process committed a moment ago: the unique index
    refuses the second offer and the next best agent gets the contact, while the rest of the batch keeps its
    offers."""
    from kefu.routing.services import acd

    queue = make_queue()
    taken, next_best, third = make_agent(at=s(-100)), make_agent(at=s(-50)), make_agent(at=s(-10))
    other = enqueue("call:other", queue)
    Offer.objects.create(contact=other, agent=taken, offered_at=T0, expires_at=s(20))
    RoutedContact.objects.filter(pk=other.pk).update(state="offered")
    real = acd._match
    calls: list[int] = []

    def stale_first(matcher: Any, contacts: Any) -> Any:
        calls.append(1)
        pairs = real(matcher, contacts)
        if len(calls) == 1:  # what a stale snapshot would pick: the agent who was just offered `other`
            assert [agent_id for _contact, agent_id in pairs] == [next_best.pk, third.pk]
            matcher.taken.discard(next_best.pk)
            matcher.taken.add(taken.pk)
            return [(pairs[0][0], taken.pk), pairs[1]]
        return pairs

    monkeypatch.setattr(acd, "_match", stale_first)
    call, later = enqueue("call:1", queue), enqueue("call:2", queue, at=s(1))
    assert routing_dispatch(now=s(1)) == 2
    assert len(calls) == 2
    assert (offered_to(call), offered_to(later)) == (next_best, third)
    assert Offer.objects.filter(agent=taken, outcome="").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite holds the line from the read to the commit: nothing changes in between")
def test_a_contact_changed_between_its_read_and_its_offer_is_left_for_the_next_pass(monkeypatch: Any) -> None:
    """On PostgreSQL the line is read without locking it, and the statement that writes the offers takes a contact
    only while it is waiting with the version that was read. One changed meanwhile (here a long wait's priority,
    as the tick raises it) is not offered by that batch: its agent goes on to the next contact's choice, and the
    next pass offers it."""
    from kefu.routing.services import acd

    queue = make_queue()
    first, second = make_agent(at=s(-100)), make_agent(at=s(-50))
    boosted, later = enqueue("call:1", queue), enqueue("call:2", queue, at=s(1))
    real = acd._match
    chosen: list[list[tuple[str, Any]]] = []

    def changed_meanwhile(matcher: Any, contacts: Any) -> Any:
        pairs = real(matcher, contacts)
        if not chosen:
            RoutedContact.objects.filter(pk=boosted.pk).update(priority=5, version=F("version") + 1)
        chosen.append([(contact.ref, agent_id) for contact, agent_id in pairs])
        return pairs

    monkeypatch.setattr(acd, "_match", changed_meanwhile)
    assert routing_dispatch(now=s(2)) == 1
    assert chosen == [[("call:1", first.pk), ("call:2", second.pk)]]
    assert (offered_to(boosted), offered_to(later)) == (None, second)
    assert RoutedContact.objects.get(pk=boosted.pk).state == "waiting"
    assert routing_dispatch(now=s(3)) == 1
    assert offered_to(boosted) == first
