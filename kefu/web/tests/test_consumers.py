"""The workspace websocket: a browser joins the groups of its own audiences only, and hears the events (and the
counters) of those audiences: an agent of team A nothing of team B's, a supervisor all of it."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import AnonymousUser

from kefu.core.models import OutboxEvent
from kefu.core.testing import FRAME_WAIT
from kefu.core.testing import in_thread as _in_thread
from kefu.tickets import services
from kefu.web.consumers import WorkspaceConsumer
from kefu.web.live import HUB, audience_groups, build_messages

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(user: Any) -> ApplicationCommunicator:
    # asgiref's communicator: channels.testing would import daphne, which Kefu does not use
    scope = {"type": "websocket", "path": "/ws/workspace/", "headers": [], "subprotocols": [], "user": user}
    return ApplicationCommunicator(WorkspaceConsumer.as_asgi(), scope)


async def _connect(user: Any) -> ApplicationCommunicator:
    communicator = _communicator(user)
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(timeout=FRAME_WAIT))["type"] == "websocket.accept"
    return communicator


async def _received(communicator: ApplicationCommunicator) -> list[dict[str, Any]]:
    """The pushes heard (the inbox badge's counts, sent on connecting, left out)."""
    got = []
    while not await communicator.receive_nothing(timeout=0.2):
        got.append(json.loads((await communicator.receive_output(timeout=1))["text"]))
    return [frame for frame in got if frame["type"] != "inbox_counts"]


async def _close(*communicators: ApplicationCommunicator) -> None:
    for communicator in communicators:
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=FRAME_WAIT)


def test_anonymous_is_refused() -> None:
    async def run() -> None:
        communicator = _communicator(AnonymousUser())
        await communicator.send_input({"type": "websocket.connect"})
        assert await communicator.receive_output(timeout=FRAME_WAIT) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_a_browser_joins_its_own_audiences_only(agent: Any, team_lead: Any, shift_lead: Any,
                                                department_user: Any) -> None:
    assert audience_groups(agent) == [f"user.{agent.pk}", "role.agent", f"team.{agent.team_id}",
                                      f"department.{agent.department_id}"]
    assert f"team.{team_lead.team_id}" in audience_groups(team_lead)
    assert audience_groups(shift_lead)[:2] == [f"user.{shift_lead.pk}", "role.shift_lead"]
    assert f"department.{department_user.department_id}" in audience_groups(department_user)
    for groups in (audience_groups(u) for u in (agent, team_lead, shift_lead, department_user)):
        assert not any(g in ("workspace", "all") for g in groups)


def test_team_b_changes_reach_team_b_and_supervisors_not_team_a(agent: Any, other_agent: Any, shift_lead: Any,
                                                                 department_user: Any) -> None:
    """The outbox events of another team's order: its agent and the supervisors hear them (and their counters),
    an agent of team A and a department outside the order hear nothing."""

    async def run() -> None:
        mine, theirs, supervisor, department = [
            await _connect(u) for u in (agent, other_agent, shift_lead, department_user)]
        ticket = await _in_thread(lambda: services.ticket_create(actor=other_agent, subject="二组的工单",
                                                                 assignee=other_agent))
        messages = await _in_thread(lambda: build_messages(OutboxEvent.objects.order_by("id")))
        HUB.deliver(messages)
        assert await _received(mine) == []
        assert await _received(department) == []
        got = await _received(theirs)
        # the frames' order is not fixed: with Redis the committing process pushes the event and its counters
        # itself, and the relay's pass (HUB.deliver) may push the counters before its copy of the event
        events = [m for m in got if m["type"] == "event"]
        assert events
        assert {"type": "event", "event": "ticket.created"}.items() <= events[0].items()
        assert {m["id"] for m in events} == {events[0]["id"]}
        assert events[0]["ticket"]["id"] == ticket.pk
        team = next(m for m in got if m["type"] == "counters" and m["scope"] == f"team.{other_agent.team_id}")
        assert team["counters"]["open"] == 1
        seen = await _received(supervisor)
        # at least once: the relay of this process may have pushed the same event too (same id)
        assert {(m["id"], m["event"]) for m in seen if m["type"] == "event"} == {(events[0]["id"], "ticket.created")}
        assert next(m for m in seen if m["type"] == "counters" and m["scope"] == "centre")["counters"]["open"] == 1
        await _close(mine, theirs, supervisor, department)

    async_to_sync(run)()


def test_a_committed_change_is_pushed_without_any_request(agent: Any, team_lead: Any) -> None:
    """End to end: the relay of this process (or, with Redis, the relay run after commit) pushes the event of a
    committed change to the browser of its team lead."""

    async def run() -> None:
        lead = await _connect(team_lead)
        ticket = await _in_thread(lambda: services.ticket_create(actor=agent, subject="推送", assignee=agent))
        message = json.loads((await lead.receive_output(timeout=FRAME_WAIT))["text"])
        while message["type"] != "event":
            message = json.loads((await lead.receive_output(timeout=FRAME_WAIT))["text"])
        assert (message["event"], message["ticket"]["id"]) == ("ticket.created", ticket.pk)
        await _close(lead)

    async_to_sync(run)()


@pytest.mark.django_db(transaction=False)
def test_counters_computed_beside_the_relay_merge_what_came_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's live relay hands the scopes a batch touched to the counter pusher and goes on with the next
    events; scopes handed while a round computes are merged into one next round."""
    from kefu.web import live

    computing, release, done = threading.Event(), threading.Event(), threading.Event()
    rounds: list[list[str]] = []
    published: list[Any] = []

    def scope_pushes(scopes: Any) -> list[Any]:
        rounds.append(sorted(scopes))
        if len(rounds) == 1:
            computing.set()
            assert release.wait(10)
        return [([scope], {"type": "counters", "scope": scope, "counters": {}}) for scope in sorted(scopes)]

    def publish(pushes: Any) -> None:
        published.append([p[1]["scope"] for p in pushes])
        if len(published) == 2:
            done.set()

    monkeypatch.setattr(live, "scope_pushes", scope_pushes)
    monkeypatch.setattr(live, "_publish", publish)
    pusher = live.CounterPusher()
    pusher.add({"team.1"})
    assert computing.wait(10)
    pusher.add({"team.2"})
    pusher.add({"team.2", "centre"})
    release.set()
    assert done.wait(10)
    assert rounds == [["team.1"], ["centre", "team.2"]]
    assert published == [["team.1"], ["centre", "team.2"]]


class _FakeRedis:
    """Redis as `publish_once` uses it: the script's claim-and-publish, run as Redis runs a script (whole)."""

    def __init__(self) -> None:
        self.published: list[list[Any]] = []
        self.keys: dict[str, Any] = {}
        self.down = False

    def eval(self, script: str, numkeys: int, *args: Any) -> int:
        if self.down:
            raise ConnectionError("redis is down")
        keys, (_ttl, _channel, *messages) = args[:numkeys], args[numkeys:]
        published = 0
        for key, message in zip(keys, messages, strict=True):
            if key not in self.keys:
                self.keys[key] = "1"
                self.published.append(json.loads(message))
                published += 1
        return published


@pytest.mark.django_db
def test_the_committing_process_pushes_its_events_and_the_worker_only_what_nobody_pushed(
        agent: Any, monkeypatch: pytest.MonkeyPatch, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    """The fast path: right after a commit the process that committed publishes the events' pushes; the worker's
    durable consumer publishes only the events nobody published (a process that died between commit and publish,
    or could not reach Redis): each event exactly once while Redis answers."""
    from django.db import transaction

    from kefu.web import live

    fake = _FakeRedis()
    monkeypatch.setattr(live, "_redis", lambda: fake)
    monkeypatch.setattr(live, "live_relay_is_local", lambda: False)
    monkeypatch.setattr(live, "COUNTERS", type("Counters", (), {"add": lambda self, scopes: None})())
    settings.KEFU_OUTBOX_INLINE = False

    def create(subject: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            ticket = services.ticket_create(actor=agent, subject=subject, assignee=agent)
        return ticket

    first = create("推送一")
    # the commit hook ran: the events are published, and marked
    ids = {m["ticket"]["id"] for pushes in fake.published for _groups, m in pushes if m.get("ticket")}
    assert ids == {first.pk}
    marked = set(fake.keys)
    assert marked
    assert all(k.startswith(f"{settings.KEFU_LIVE_CHANNEL}:pushed:") for k in marked)

    fake.down = True  # the next commit cannot reach Redis: nothing is marked, and the request does not fail
    second = create("推送二")
    fake.down = False
    fake.published.clear()
    live.handle(list(OutboxEvent.objects.order_by("id")))  # the worker's consumer over every event
    pushed = [m["ticket"]["id"] for pushes in fake.published for _groups, m in pushes
              if m.get("type") == "event" and m.get("ticket")]
    assert second.pk in pushed
    assert first.pk not in pushed
    fake.published.clear()
    live.handle(list(OutboxEvent.objects.order_by("id")))  # a replay of the batch (a crash before the cursor moved)
    assert fake.published == []


def test_an_open_wallboard_hears_that_the_floor_changed_and_nothing_more(team_lead: Any, other_agent: Any,
                                                                        department_user: Any) -> None:
    """A team lead's wallboard shows every queue: it joins the board group and hears that another team's agent
    changed state (the board frame says what kind of change, never what changed: that stays with the event's
    audience); a page of someone who may not see the floor is refused."""
    from kefu.routing.services import ROUTING, StateChange, agent_state_set

    async def run() -> None:
        lead, department = await _connect(team_lead), await _connect(department_user)
        await _received(lead)
        await lead.send_input({"type": "websocket.receive", "text": json.dumps({"type": "board"})})
        assert await _received(lead) == [{"type": "board_joined"}]
        await department.send_input({"type": "websocket.receive", "text": json.dumps({"type": "board"})})
        refused = await _received(department)
        assert [(frame["type"], frame["code"]) for frame in refused] == [("error", "forbidden")]
        await _in_thread(lambda: agent_state_set(actor=ROUTING, user=other_agent, change=StateChange(
            state="break", source="agent")))
        HUB.deliver(await _in_thread(lambda: build_messages(OutboxEvent.objects.order_by("id"))))
        # at least once (the committing process pushed it too), and only that it changed, not what
        board = [frame for frame in await _received(lead) if frame["type"] == "board"]
        assert board
        assert all(frame == {"type": "board", "event": "agent.state_changed"} for frame in board)
        assert await _received(department) == []
        await _close(lead, department)

    async_to_sync(run)()
