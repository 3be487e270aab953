"""The outbox and its relay: nothing announced before commit, nothing lost after it — a process killed between
commit and publish, or inside a consumer, delivers every event once per consumer after restart —, gaps from
out-of-order commits, a poison event, and the event catalogue as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from pydantic import BaseModel

from kefu.core.events import Audience, EventPayloadInvalid, catalogue, emit, event_type
from kefu.core.models import ConsumerCursor, OutboxEvent
from kefu.core.relay import GAP_TIMEOUT, MAX_ATTEMPTS, Consumer, Position, run_consumer
from kefu.tickets import services

SCENARIO = Path(__file__).with_name("outbox_scenario.py")


class Probe(BaseModel):
    n: int


PROBE = event_type("test.probed", version=1, schema=Probe, description="A test event.")


def _probe(n: int) -> OutboxEvent:
    with transaction.atomic():
        return emit(PROBE, payload={"n": n}, audience=[Audience.user(1)], object_type="test", object_id=n)


# --- emit --------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_emit_needs_the_services_transaction_and_a_valid_payload() -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        emit(PROBE, payload={"n": 1}, audience=[])
    with transaction.atomic(), pytest.raises(EventPayloadInvalid, match=r"test\.probed"):
        emit(PROBE, payload={"n": "not a number"}, audience=[])
    row = _probe(7)
    assert (row.type, row.version, row.payload, row.audience) == ("test.probed", 1, {"n": 7}, ["user.1"])


@pytest.mark.django_db
def test_a_rolled_back_change_announces_nothing(agent: Any) -> None:
    def create_then_fail() -> None:
        with transaction.atomic():
            services.ticket_create(actor=agent, subject="回滚", assignee=agent)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        create_then_fail()
    assert not OutboxEvent.objects.exists()


def test_audience_groups_round_trip() -> None:
    for audience in (Audience.user(7), Audience.team(3), Audience.department(2), Audience.queue("hotline"),
                     Audience.role("manager")):
        assert Audience.parse(audience.group) == audience
    with pytest.raises(ValueError, match="audience"):
        Audience.parse("everyone")


# --- the relay ---------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, name: str = "test.recorder", fail_on: set[int] | None = None) -> None:
        self.seen: list[int] = []
        self.fail_on = fail_on or set()
        self.consumer = Consumer(name=name, handle=self.handle, types=frozenset({"test.probed"}))

    def handle(self, batch: list[OutboxEvent]) -> None:
        for event in batch:
            if event.payload["n"] in self.fail_on:
                raise RuntimeError("poison")
        self.seen += [e.payload["n"] for e in batch]


@pytest.mark.django_db
def test_a_consumer_gets_each_event_once_in_order_and_its_cursor_moves() -> None:
    recorder = Recorder()
    for n in range(5):
        _probe(n)
    assert run_consumer(recorder.consumer, limit=2) == 5
    assert recorder.seen == [0, 1, 2, 3, 4]
    assert run_consumer(recorder.consumer) == 0
    _probe(5)
    run_consumer(recorder.consumer)
    assert recorder.seen == [0, 1, 2, 3, 4, 5]
    assert ConsumerCursor.objects.get(name="test.recorder").last_id == OutboxEvent.objects.latest("id").pk


@pytest.mark.django_db
def test_a_poison_event_is_retried_then_skipped_without_stopping_the_others(caplog: Any) -> None:
    recorder = Recorder(fail_on={1})
    for n in range(3):
        _probe(n)
    for attempt in range(1, MAX_ATTEMPTS):
        run_consumer(recorder.consumer)
        assert recorder.seen == [0], attempt  # the events after the poison one wait: order is kept
    run_consumer(recorder.consumer)
    assert recorder.seen == [0, 2]
    cursor = ConsumerCursor.objects.get(name="test.recorder")
    poison = OutboxEvent.objects.get(payload__n=1).pk
    assert cursor.skipped == [poison]
    assert "gives up event" in caplog.text


def test_gaps_are_remembered_then_filled_or_forgotten() -> None:
    now = timezone.now()
    position = Position(last_id=10)
    position.advance([11, 13, 14], now)  # 12 is not committed yet
    assert (position.last_id, set(position.gaps)) == (14, {12})
    position.advance([12], now + timedelta(seconds=5))  # it commits: handled, out of order
    assert (position.last_id, position.gaps) == (14, {})
    position.advance([16], now)  # 15 rolled back: never appears
    position.advance([], now + GAP_TIMEOUT + timedelta(seconds=1))
    assert (position.last_id, position.gaps) == (16, {})


@pytest.mark.skipif(connection.vendor != "postgresql", reason=(
    "needs transactions that commit out of id order, which PostgreSQL sequences allow and SQLite's single "
    "writer does not: on SQLite ids always commit in order"))
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_later_one_is_not_lost(settings: Any) -> None:
    settings.KEFU_OUTBOX_INLINE = False
    recorder = Recorder()
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        try:
            with transaction.atomic():
                emit(PROBE, payload={"n": 1}, audience=[])
                started.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait(30)
    _probe(2)  # a later id, committed first
    run_consumer(recorder.consumer)
    assert recorder.seen == [2]
    release.set()
    thread.join(30)
    run_consumer(recorder.consumer)
    assert recorder.seen == [2, 1]
    run_consumer(recorder.consumer)
    assert recorder.seen == [2, 1]


# --- a process killed between commit and publish, and inside a consumer ------------------------------------


def _step(env: dict[str, str], step: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCENARIO), step], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False)


def test_a_process_killed_after_commit_loses_nothing_and_delivers_once(tmp_path: Path) -> None:
    """A work order is committed and the process is killed before anything hears of it; then a worker is
    killed inside the webhook consumer. After a restart, each endpoint gets exactly one delivery per event it
    subscribes to, and running the relay again adds nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "DJANGO_SETTINGS"))}
    env.update(KEFU_DATA_DIR=str(tmp_path), KEFU_DATABASE_URL=f"sqlite:///{tmp_path / 'kefu.sqlite3'}",
               KEFU_SECRET_KEY="outbox-test-" + "x" * 40, KEFU_LOG_LEVEL="ERROR",
               PYTHONPATH=os.pathsep.join([str(settings.PROJECT_DIR), env.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], check=True, timeout=120,
                   env={**env, "DJANGO_SETTINGS_MODULE": "kefu.config.settings.base"}, capture_output=True)
    assert _step(env, "setup").returncode == 0
    killed = _step(env, "write-and-die")
    assert killed.returncode == -9, killed.stderr

    def report() -> dict[str, Any]:
        done = _step(env, "report")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    assert report()["events"] == ["ticket.created"]  # committed, though nobody was told
    assert report()["deliveries"] == []
    killed = _step(env, "consume-and-die")
    assert killed.returncode == -9, killed.stderr
    state = report()
    assert state["deliveries"] == []  # the consumer's work rolled back with its cursor
    assert state["cursors"].get("integrations.webhooks", 0) == 0
    assert _step(env, "relay").returncode == 0
    after = report()
    assert after["deliveries"] == [["CRM", "ticket.created"], ["ERP", "ticket.created"]]
    assert all(last == 1 for last in after["cursors"].values()), after["cursors"]
    assert _step(env, "relay").returncode == 0
    assert report()["deliveries"] == after["deliveries"]


# --- the catalogue -----------------------------------------------------------------------------------------


def test_every_event_type_has_a_versioned_schema_and_is_documented() -> None:
    doc = (Path(settings.PROJECT_DIR) / "docs" / "events.md").read_text(encoding="utf-8")
    for name, declared in catalogue().items():
        if name.startswith("test."):
            continue
        assert declared.version >= 1
        assert issubclass(declared.schema, BaseModel)
        assert declared.description
        assert f"`{name}`" in doc, f"{name} is not in docs/events.md"
    for line in doc.splitlines():
        if line.startswith("| `") and "." in line.split("`")[1]:
            assert line.split("`")[1] in catalogue(), f"docs/events.md lists an unknown event: {line}"


def test_webhooks_offer_every_public_event_type() -> None:
    from kefu.integrations.choices import WebhookEvent
    from kefu.integrations.services import PRIVATE_EVENT_PREFIXES

    public = {n for n in catalogue() if not n.startswith((*PRIVATE_EVENT_PREFIXES, "test."))}
    assert set(WebhookEvent.values) == public


@pytest.mark.django_db(transaction=True)
def test_no_side_effect_can_fail_a_committed_request(agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything after commit (waking relays, pushing, queueing deliveries) may fail: the request that made the
    change still succeeds, and its event is there for the relay to hand over later."""
    from kefu.apiutils.testing import api_as
    from kefu.core import events

    def broken() -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(events, "_WAKERS", [broken, *events._WAKERS])
    response = api_as(agent).post("/tickets", {"subject": "提交后的通知失败", "type": "inquiry"})
    assert response.status_code == 201, response.content
    assert OutboxEvent.objects.filter(type="ticket.created", object_id=str(response.json()["id"])).exists()


# --- the worker's loop: a commit wakes every loop, only those with news pass ------------------------------


@pytest.mark.django_db
def test_a_loop_woken_by_events_it_does_not_want_skips_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.core import relay

    probes, others = Recorder(), Recorder()
    probes.consumer = Consumer(name="test.probes", handle=probes.consumer.handle, types=frozenset({"test.probed"}))
    others.consumer = Consumer(name="test.others", handle=others.consumer.handle, types=frozenset({"test.other"}))
    monkeypatch.setattr(relay, "_CONSUMERS", {"test.probes": probes.consumer, "test.others": others.consumer})
    now = [100.0]
    probe_loop = relay.RelayLoop(["test.probes"], poll_seconds=1.0, clock=lambda: now[0])
    other_loop = relay.RelayLoop(["test.others"], poll_seconds=1.0, clock=lambda: now[0])
    assert probe_loop.step() == {"test.probes": 0}  # the first turn always passes
    assert other_loop.step() == {"test.others": 0}
    _probe(1)
    assert relay.has_news(probes.consumer, 0)
    assert not relay.has_news(others.consumer, 0)
    assert probe_loop.step() == {"test.probes": 1}
    assert probes.seen == [1]
    assert other_loop.step() is None  # nothing it wants: no pass, its cursor waits
    assert probe_loop.step() is None  # nothing new since its last pass
    assert ConsumerCursor.objects.get(name="test.others").last_id == 0
    now[0] += 1.0  # the timed pass moves it over the event (passed, not handed to it)
    assert other_loop.step() == {"test.others": 1}
    assert others.seen == []
    assert ConsumerCursor.objects.get(name="test.others").last_id == OutboxEvent.objects.latest("id").pk


@pytest.mark.django_db
def test_a_loop_not_woken_by_commits_passes_on_its_timer_over_what_came_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The live pushes' backup consumer: commits do not wake it (the committing process pushed already); each
    timed pass takes what came since, in one batch."""
    from kefu.core import relay

    recorder = Recorder()
    recorder.consumer = Consumer(name="test.backup", handle=recorder.consumer.handle, woken_by_commits=False)
    monkeypatch.setattr(relay, "_CONSUMERS", {"test.backup": recorder.consumer})
    now = [100.0]
    loop = relay.RelayLoop(["test.backup"], poll_seconds=1.0, clock=lambda: now[0])
    assert loop.step() == {"test.backup": 0}
    _probe(1)
    _probe(2)
    loop.wake(frozenset({"test.probed"}))
    loop.wake()
    assert not loop.woken.is_set()  # commits do not wake it
    assert loop.step() is None  # and a turn before its time does not pass
    now[0] += 1.0
    assert loop.step() == {"test.backup": 2}
    assert recorder.seen == [1, 2]


@pytest.mark.django_db
def test_a_missing_cursor_row_is_made_on_first_use() -> None:
    recorder = Recorder()
    assert not ConsumerCursor.objects.filter(name="test.recorder").exists()
    _probe(1)
    assert run_consumer(recorder.consumer) == 1
    assert ConsumerCursor.objects.filter(name="test.recorder").count() == 1


@pytest.mark.django_db
def test_a_transaction_wakes_the_relays_once_with_its_event_types(
        django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.core import events, relay

    heard: list[frozenset[str]] = []
    monkeypatch.setattr(events, "_WAKERS", [heard.append])
    other = event_type("test.other", version=1, schema=Probe, description="Another test event.")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit(PROBE, payload={"n": 1}, audience=[])
        emit(PROBE, payload={"n": 2}, audience=[])
        emit(other, payload={"n": 3}, audience=[])
    assert heard == [frozenset({"test.probed", "test.other"})]
    # the message other processes get names the types; the loop of a consumer that wants none sleeps on
    monkeypatch.setattr(relay, "_CONSUMERS", {"test.recorder": Recorder().consumer})
    loop = relay.RelayLoop(["test.recorder"])
    loop.wake(relay._wake_types(b"test.other,ticket.created"))
    assert not loop.woken.is_set()
    loop.wake(relay._wake_types(b"test.other,test.probed"))
    assert loop.woken.is_set()
    assert loop.news
    assert relay._wake_types(b"*") == frozenset()  # unknown: any may be news


def test_a_new_cursor_does_not_count_the_old_ids_as_gaps() -> None:
    """Ids far below the first one a new consumer sees were purged or rolled back long ago; the few just below
    it may still commit (another transaction took them a moment before)."""
    from kefu.core.relay import FRESH_GAPS, MAX_GAPS

    now = timezone.now()
    position = Position()
    position.advance([1_000_000, 1_000_002], now)
    assert position.last_id == 1_000_002
    assert set(position.gaps) == {1_000_001} | set(range(1_000_000 - FRESH_GAPS, 1_000_000))
    moved = Position(last_id=10)
    moved.advance([10 + 3 * MAX_GAPS], now)  # a long way on: only the newest MAX_GAPS are examined
    assert len(moved.gaps) == MAX_GAPS - 1
    assert min(moved.gaps) == 10 + 2 * MAX_GAPS + 1
