"""The dispatcher's two ways of listing a queue's free agents agree: the pass's snapshot, sorted in memory, and the
candidates statement, one queue at a time. Both are checked on a mixed floor (roles, inactive users, breaks, open
offers, chats in hand, teams, skills at several levels, ties in idle time) for every queue shape and strategy; a
whole pass offers the same agents either way; and the offers' events carry the offers' ids."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from kefu.accounts.models import AgentSkill, Skill
from kefu.accounts.tests.factories import TeamFactory, UserFactory
from kefu.core.models import OutboxEvent
from kefu.routing.models import AgentState, Offer, Queue, QueueSkill, RoutedContact
from kefu.routing.services import ContactIn, contact_enqueue, matching, routing_dispatch

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _floor(seed: int) -> tuple[list[Skill], list[Any]]:
    """Sixty people: mostly agents, some leads, a manager; some inactive, some on a break, some holding an open
    offer; idle since one of a few moments (ties) or never; chats in hand up to their capacity."""
    rng = random.Random(seed)
    skills = [Skill.objects.create(code=f"k{seed}-{i}", name=f"技能{i}") for i in range(4)]
    teams = [TeamFactory(), TeamFactory()]
    moments = [T0 - timedelta(minutes=m) for m in (30, 20, 10)]
    holder = Queue.objects.create(code=f"held-{seed}", name="held", routed=True)
    people = []
    for index in range(60):
        user = UserFactory(role=rng.choice(["agent"] * 6 + ["lead", "manager"]), team=rng.choice([None, *teams]),
                           is_active=rng.random() > 0.1)
        AgentState.objects.create(
            user=user, state=rng.choice(["available"] * 4 + ["break"]), since=rng.choice(moments),
            idle_since=rng.choice([None, *moments]), chats=rng.randint(0, 3), chat_capacity=rng.randint(1, 3))
        for skill in rng.sample(skills, rng.randint(0, 3)):
            AgentSkill.objects.create(user=user, skill=skill, proficiency=rng.randint(1, 5))
        if rng.random() < 0.1:
            held = RoutedContact.objects.create(ref=f"held:{seed}:{index}", kind="phone", queue=holder,
                                                state="offered", enqueued_at=T0, queue_entered_at=T0)
            Offer.objects.create(contact=held, agent=user, offered_at=T0, expires_at=T0 + timedelta(seconds=20))
        people.append(user)
    return skills, teams


def _queues(skills: list[Skill], teams: list[Any]) -> list[Queue]:
    """Every shape: phone or chat, each strategy, with or without a team, needing no, one or two skills."""
    queues = []
    shapes = product(["phone", "chat"], ["longest_idle", "least_occupied", "proficiency"], [None, teams[0]],
                     [(), ((0, 1),), ((1, 2), (2, 3))])
    for number, (kind, strategy, team, needs) in enumerate(shapes):
        queue = Queue.objects.create(code=f"shape-{skills[0].code}-{number}", name="shape", kind=kind,
                                     strategy=strategy, team=team, routed=True)
        for skill, level in needs:
            QueueSkill.objects.create(queue=queue, skill=skills[skill], min_proficiency=level)
        queues.append(queue)
    return queues


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_snapshot_lists_every_queue_as_the_candidates_statement_does(seed: int) -> None:
    skills, teams = _floor(seed)
    queues = _queues(skills, teams)
    matcher = matching.Matcher(T0)
    matcher._load_skills({queue.pk for queue in queues})
    matcher._snapshot()
    listed_somebody = 0
    for queue in queues:
        contact = RoutedContact(ref="probe", kind=queue.kind, queue=queue, enqueued_at=T0, queue_entered_at=T0)
        expected = matcher._fetch(contact, 10_000).agents
        assert list(matcher._listed(queue).each()) == expected, (queue.kind, queue.strategy, queue.team_id)
        listed_somebody += bool(expected)
    assert listed_somebody >= len(queues) // 2  # the floor gives most shapes somebody to compare


def _dispatch(snapshot_from: int, monkeypatch: Any) -> dict[str, str]:
    monkeypatch.setattr(matching, "SNAPSHOT_QUEUES", snapshot_from)
    with transaction.atomic():
        routing_dispatch(now=T0 + timedelta(seconds=1))
        offered = dict(Offer.objects.filter(outcome="").exclude(
            contact__ref__startswith="held:").values_list("contact__ref", "agent__username"))
        transaction.set_rollback(True)
    return offered


def test_a_pass_offers_the_same_agents_with_the_snapshot_or_without(monkeypatch: Any) -> None:
    skills, teams = _floor(4)
    queues = _queues(skills, teams)
    rng = random.Random(4)
    for index in range(80):
        contact_enqueue(data=ContactIn(ref=f"c:{index}", queue=rng.choice(queues), is_complaint=rng.random() < 0.2,
                                       at=T0 - timedelta(seconds=rng.randint(0, 300))))
    monkeypatch.setattr("kefu.routing.services.acd.BATCH", 7)  # several batches, lists carried between them
    with_snapshot, without = _dispatch(1, monkeypatch), _dispatch(10**6, monkeypatch)
    assert len(with_snapshot) >= 10
    assert with_snapshot == without


def test_each_offer_event_names_its_own_offer() -> None:
    skills, teams = _floor(5)
    queues = [queue for queue in _queues(skills, teams) if not queue.team_id]
    for index, queue in enumerate(queues):
        contact_enqueue(data=ContactIn(ref=f"e:{index}", queue=queue, at=T0))
    made = routing_dispatch(now=T0 + timedelta(seconds=1))
    assert made >= 5
    events = OutboxEvent.objects.filter(type="routing.offer_made")
    assert events.count() == made
    offers = {offer.pk: offer for offer in Offer.objects.filter(outcome="").select_related("contact")}
    for event in events:
        offer = offers[event.payload["id"]]
        assert event.object_id == str(offer.pk)
        assert (event.payload["contact_id"], event.payload["ref"]) == (offer.contact_id, offer.contact.ref)
        assert (event.payload["agent_id"], event.audience) == (offer.agent_id, [f"user.{offer.agent_id}"])
        assert offer.contact.state == "offered"
        assert offer.contact.offers == 1
