"""Live pages: outbox events pushed to the browsers of their audience, with the counters they change.

Each browser joins the websocket groups of its own audiences only (`user.7`, `team.3`, `department.2`,
`role.manager`; see `audience_groups`). For each batch of committed events the relay sends:

* `{"type": "event", ...}` to every audience group of an event: what happened to which object, enough for a
  page showing that object to say so;
* `{"type": "counters", "scope": "team.3", "counters": {...}}` once per scope the batch touched (a person,
  a team, a department, the whole centre), computed once here instead of by every browser.

Where the relay runs: without Redis the channel layer lives in the server's memory, so the server process runs
it itself (`LocalRelay`, started with the first websocket); with Redis the worker runs it as the durable
consumer "web.live", and Redis carries the pushes to every app server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from kefu.core.events import Audience, on_wake
from kefu.core.models import OutboxEvent
from kefu.core.policy import has_right, rights
from kefu.core.relay import Consumer, Position, fetch_pending, latest_event_id, register_consumer

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)  # older events are not news to a page (a relay catching up skips them)
CENTRE = "centre"


# --- who joins what ---------------------------------------------------------------------------------------


def audience_groups(user: Any) -> list[str]:
    """The websocket groups a signed-in user's browser joins: their own, their team's (and the teams they lead),
    their department's, their role's."""
    from kefu.accounts.models import Team

    groups = [Audience.user(user.pk).group, Audience.role(user.role).group]
    teams = {user.team_id} | set(Team.objects.filter(lead_id=user.pk).values_list("pk", flat=True))
    groups += [Audience.team(t).group for t in sorted(t for t in teams if t)]
    if user.department_id:
        groups.append(Audience.department(user.department_id).group)
    return groups


def centre_groups() -> list[str]:
    """The groups of the roles that watch the whole centre's counters."""
    return [Audience.role(role).group for role in sorted(rights().get("ticket.view_all", ()))]


def user_sees_centre(user: Any) -> bool:
    return has_right(user, "ticket.view_all")


# --- what is pushed ---------------------------------------------------------------------------------------

CounterProvider = Callable[[list[str]], dict[str, dict[str, int]]]
_COUNTER_PROVIDERS: list[CounterProvider] = []


def register_counter_provider(provider: CounterProvider) -> None:
    """`provider(scopes) -> {scope: {name: value}}` for the scopes it knows ("user.7", "team.3", "centre" …)."""
    if provider not in _COUNTER_PROVIDERS:
        _COUNTER_PROVIDERS.append(provider)


def _event_message(event: OutboxEvent) -> dict[str, Any]:
    payload = event.payload or {}
    ticket = payload.get("ticket") or {}
    message: dict[str, Any] = {"type": "live.event", "id": event.pk, "event": event.type,
                               "object": {"type": event.object_type, "id": event.object_id},
                               "actor": event.actor_id}
    if ticket:
        message["ticket"] = {"id": ticket.get("id"), "number": ticket.get("number"),
                             "status": ticket.get("status"), "version": ticket.get("version")}
    if event.type == "notification.created":
        message["notification"] = payload
    return message


def _scopes(event: OutboxEvent) -> set[str]:
    """The counter scopes an event may have changed: its audience's people, teams and departments, and the
    centre when supervisors hear of it."""
    scopes: set[str] = set()
    centre = set(centre_groups())
    for group in event.audience or []:
        kind = group.partition(".")[0]
        if kind in (Audience.USER, Audience.TEAM, Audience.DEPARTMENT):
            scopes.add(group)
        elif group in centre:
            scopes.add(CENTRE)
    return scopes


def build_messages(events: Iterable[OutboxEvent], *, now: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """(group, message) pairs for a batch of events: one event message per audience group, then one counters
    message per scope touched (to that scope's group; the centre's to every supervisor role)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    out: list[tuple[str, dict[str, Any]]] = []
    scopes: set[str] = set()
    for event in events:
        if event.created_at < cutoff:
            continue
        message = _event_message(event)
        for group in event.audience or []:
            out.append((group, message))
        if event.type.startswith(("ticket.", "clock.")):
            scopes |= _scopes(event)
    if scopes:
        values: dict[str, dict[str, int]] = {}
        for provider in _COUNTER_PROVIDERS:
            values.update(provider(sorted(scopes)))
        for scope in sorted(values):
            message = {"type": "live.counters", "scope": scope, "counters": values[scope]}
            for group in (centre_groups() if scope == CENTRE else [scope]):
                out.append((group, message))
    return out


def _send(messages: list[tuple[str, dict[str, Any]]]) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    async_to_sync(send_all)()


def handle(batch: list[OutboxEvent]) -> None:
    """The durable consumer "web.live" (worker, with Redis): push the batch."""
    _send(build_messages(batch))


# --- the relay inside the server (no Redis) ---------------------------------------------------------------


class LocalRelay:
    """Reads the outbox from this process's event loop and pushes to the in-memory channel layer. Its place
    is in memory: it starts at the newest event (pages that were not open did not miss anything)."""

    POLL_SECONDS = 1.0
    _instance: LocalRelay | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.woken = asyncio.Event()
        self.position: Position | None = None
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def ensure_started(cls) -> None:
        """Start the relay on the running loop (once per process; again if its loop has gone)."""
        if not live_relay_is_local():
            return
        loop = asyncio.get_running_loop()
        current = cls._instance
        if current is not None and current.loop is loop and current.task is not None and not current.task.done():
            return
        relay = cls._instance = cls(loop)
        on_wake(relay.wake_threadsafe)
        relay.task = loop.create_task(relay.run())

    def wake_threadsafe(self) -> None:
        if LocalRelay._instance is not self or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.woken.set)

    async def run(self) -> None:
        from channels.db import database_sync_to_async
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        self.position = Position(last_id=await database_sync_to_async(latest_event_id)())
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.POLL_SECONDS)
            self.woken.clear()
            try:
                messages = await database_sync_to_async(self.collect)()
                for group, message in messages:
                    await layer.group_send(group, message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live relay pass failed", exc_info=True)

    def collect(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.position is not None
        messages: list[tuple[str, dict[str, Any]]] = []
        while True:
            events = fetch_pending(self.position)
            if not events:
                self.position.advance([], timezone.now())
                return messages
            self.position.advance([e.pk for e in events], timezone.now())
            messages += build_messages(events)


def live_relay_is_local() -> bool:
    return not settings.REDIS_URL


def register() -> None:
    from kefu.web.live_counters import scope_counters

    register_counter_provider(scope_counters)
    if not live_relay_is_local():
        register_consumer(Consumer(name="web.live", handle=handle,
                                   description="live pages: events and counters pushed to browsers"))
