"""The worker's frequent clock sweep (`kefu worker` runs it every KEFU_CLOCK_SWEEP_SECONDS)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.clocks import tasks
from kefu.clocks.models import Clock
from kefu.conversations import services
from kefu.conversations.tests.factories import ChannelFactory, inbound

pytestmark = pytest.mark.django_db


class _Turns(threading.Event):
    """A stop event that lets the loop make `turns` passes, then stops it (no waiting)."""

    def __init__(self, turns: int) -> None:
        super().__init__()
        self.turns = turns

    def wait(self, timeout: float | None = None) -> bool:
        self.turns -= 1
        return self.turns < 0


@pytest.fixture(autouse=True)
def _connections_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop closes its thread's old connections around each pass; here it runs in the test's transaction."""
    import django.db

    monkeypatch.setattr(django.db, "close_old_connections", lambda **kwargs: None)


def test_each_pass_of_the_loop_announces_what_fell_due(team: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = ChannelFactory(code="app", team=team)
    conversation = services.message_receive(channel=channel, inbound=inbound("m1")).conversation
    later = timezone.now() + timedelta(minutes=5)
    monkeypatch.setattr(tasks.timezone, "now", lambda: later)
    tasks.sweep_loop(_Turns(1), seconds=5)
    clock = Clock.objects.get(subject_type="conversations.conversation", subject_id=conversation.pk)
    assert clock.breached_at is not None


def test_a_failing_pass_does_not_end_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.clocks import services as clock_services

    passes: list[int] = []

    def sweep(*, now: Any) -> Any:
        passes.append(1)
        raise RuntimeError("database gone")

    monkeypatch.setattr(clock_services, "clock_sweep", sweep)
    tasks.sweep_loop(_Turns(3), seconds=5)
    assert len(passes) == 3


@pytest.mark.parametrize(("value", "seconds"), [("", 5.0), ("2.5", 2.5), ("0", 0.0), ("soon", 5.0), ("-3", 0.0)])
def test_the_sweep_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str,
                                                       seconds: float) -> None:
    if value:
        monkeypatch.setenv("KEFU_CLOCK_SWEEP_SECONDS", value)
    else:
        monkeypatch.delenv("KEFU_CLOCK_SWEEP_SECONDS", raising=False)
    assert tasks.sweep_seconds() == seconds
    if not seconds:
        assert tasks.start_sweep_thread() is None
