"""Live pages: outbox events pushed to the browsers of their audience, with the counters they change.

Each browser joins the groups of its own audiences only (`user.7`, `team.3`, `department.2`, `role.manager`;
see `audience_groups`). For each batch of committed events the relay builds:

* `{"type": "event", ...}` for every audience of an event: what happened to which object, enough for a page
  showing that object to say so;
* `{"type": "counters", "scope": "team.3", "counters": {...}}` once per scope the batch touched (a person,
  a team, a department, the whole centre), computed once here instead of by every browser.

Delivery: each server process keeps its own sockets by group (`LiveHub`) and writes each message, encoded once,
to the sockets of its groups — one browser gets one copy however many of its groups a message names.
Without Redis the server process reads the outbox itself (`LocalRelay`). With Redis the worker runs the relay
(the durable consumer "web.live") and publishes each batch once on a Redis channel that every server process
listens to. docs/decisions/0002-live-pushes.md says why this is not a channel-layer message per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from kefu.core.events import Audience, on_committed, on_wake
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
    groups = [Audience.user(user.pk).group, Audience.role(user.role).group]
    groups += [Audience.team(t).group for t in sorted(user.team_ids())]
    if user.department_id:
        groups.append(Audience.department(user.department_id).group)
    return groups


# The open wallboards (实时监控): a page of a person who may see the floor's states asks to join (a `board`
# frame) and hears that the floor changed, without the change itself. A queue's calls are heard only by its team
# and the roles that see every call, but its figures are on every wallboard.
BOARD_GROUP = "board.floor"
BOARD_EVENTS = frozenset({"call.changed", "routing.contact_changed", "agent.state_changed"})


def may_watch_board(user: Any) -> bool:
    return has_right(user, "agent_state.view")


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


def _event_message(event: OutboxEvent, names: dict[int, str] | None = None) -> dict[str, Any]:
    payload = event.payload or {}
    ticket = payload.get("ticket") or {}
    message: dict[str, Any] = {"type": "event", "id": event.pk, "event": event.type,
                               "object": {"type": event.object_type, "id": event.object_id},
                               "actor": event.actor_id}
    if ticket:
        message["ticket"] = {"id": ticket.get("id"), "number": ticket.get("number"),
                             "status": ticket.get("status"), "version": ticket.get("version")}
        if names and event.actor_id in names:  # the order's page says who changed it ("工单已被 李娜 更新")
            message["actor_name"] = names[event.actor_id]
    if event.type == "notification.created":
        message["notification"] = payload
    if event.type == "call.changed":  # the ringing agent's page pops the caller's card
        message["call"] = payload.get("call")
        message["cti"] = payload.get("cti")
    if event.type == "agent.state_changed":
        message["agent_state"] = payload
    if event.type.startswith("conversation."):  # enough for the inbox to update without asking
        message["conversation"] = payload.get("conversation")
        if payload.get("message"):
            message["message"] = payload["message"]
        if payload.get("data"):
            message["data"] = payload["data"]
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


Push = tuple[list[str], dict[str, Any]]  # (the groups it is for, the message)


def build_messages(events: Iterable[OutboxEvent], *, now: Any = None) -> list[Push]:
    """What a batch of events pushes: each event to its audience's groups, then one counters message per scope
    touched (to that scope's group; the centre's to every supervisor role)."""
    events = _fresh(events, now)
    return event_pushes(events) + counter_pushes(events)


def _fresh(events: Iterable[OutboxEvent], now: Any = None) -> list[OutboxEvent]:
    cutoff = (now or timezone.now()) - STALE_AFTER
    return [e for e in events if e.created_at >= cutoff]


def event_pushes(events: list[OutboxEvent], names: dict[int, str] | None = None) -> list[Push]:
    """Each event to its audience; a work order's events also to the people viewing its page (whether in the
    audience or not: kefu.web.watching); a conversation's events also to its chat visitor, as visitor frames.
    `names`: the actors' names (`actor_names`), looked up here when not given."""
    from kefu.conversations.live import visitor_frames, visitor_group
    from kefu.web.watching import ticket_watch_group

    names = actor_names(events) if names is None else names
    pushes: list[Push] = []
    for event in events:
        groups = list(event.audience or [])
        ticket_id = ((event.payload or {}).get("ticket") or {}).get("id")
        if isinstance(ticket_id, int):
            groups.append(ticket_watch_group(ticket_id))
        pushes.append((groups, _event_message(event, names)))
        if event.type in BOARD_EVENTS:  # the open wallboards refresh their figures (nothing of the call itself)
            pushes.append(([BOARD_GROUP], {"type": "board", "event": event.type}))
        if event.type.startswith("conversation.") and event.object_id:
            group = visitor_group(event.object_id)
            pushes += [([group], frame) for frame in visitor_frames(event.type, event.payload or {})]
    return pushes


def actor_names(events: Iterable[OutboxEvent]) -> dict[int, str]:
    """The names of the people who made the work-order events among `events`: from the rows when they hold
    their actor (the committing process's), otherwise one query for all."""
    field = OutboxEvent._meta.get_field("actor")
    names: dict[int, str] = {}
    missing: set[int] = set()
    for event in events:
        if event.actor_id is None or not (event.payload or {}).get("ticket"):
            continue
        if not field.is_cached(event):
            missing.add(event.actor_id)
        elif event.actor is not None:
            names[event.actor_id] = str(event.actor)
    if missing:
        names.update((person.pk, str(person)) for person in _people().filter(pk__in=missing))
    return names


def load_actors(events: list[OutboxEvent]) -> None:
    """Read the actors of `events` beside them (one query), so that `actor_names` needs none: for the relay of
    this process, whose pushes are built in the event loop."""
    from django.db.models import Prefetch, prefetch_related_objects

    wanted = [e for e in events if e.actor_id is not None and (e.payload or {}).get("ticket")]
    if wanted:
        prefetch_related_objects(wanted, Prefetch("actor", queryset=_people()))


def _people() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.only("pk", "display_name", "first_name", "last_name", "username")


def counter_pushes(events: list[OutboxEvent]) -> list[Push]:
    """The counters of every scope the events touched, computed once for the batch (a few queries)."""
    return scope_pushes(touched_scopes(events))


def touched_scopes(events: Iterable[OutboxEvent]) -> set[str]:
    scopes: set[str] = set()
    for event in events:
        if event.type.startswith(("ticket.", "clock.")):
            scopes |= _scopes(event)
    return scopes


def scope_pushes(scopes: Iterable[str]) -> list[Push]:
    """One counters message per scope (the centre's to every supervisor role)."""
    scopes = set(scopes)
    if not scopes:
        return []
    values: dict[str, dict[str, int]] = {}
    for provider in _COUNTER_PROVIDERS:
        values.update(provider(sorted(scopes)))
    return [(centre_groups() if scope == CENTRE else [scope],
             {"type": "counters", "scope": scope, "counters": values[scope]}) for scope in sorted(values)]


# --- delivery inside one server process ---------------------------------------------------------------------


class Socket(Protocol):
    def push(self, text: str) -> None: ...


class LiveHub:
    """The live sockets of this process by group. `deliver` encodes each message once and hands it to every
    socket of its groups, once per socket."""

    def __init__(self) -> None:
        self.groups: dict[str, set[Socket]] = {}

    def join(self, socket: Socket, groups: Iterable[str]) -> None:
        for group in groups:
            self.groups.setdefault(group, set()).add(socket)

    def leave(self, socket: Socket, groups: Iterable[str]) -> None:
        for group in groups:
            members = self.groups.get(group)
            if members is not None:
                members.discard(socket)
                if not members:
                    del self.groups[group]

    def deliver(self, pushes: Iterable[Push]) -> int:
        """→ frames written."""
        frames = 0
        for groups, message in pushes:
            sockets: set[Socket] = set()
            for group in groups:
                sockets |= self.groups.get(group, set())
            if not sockets:
                continue
            text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
            for socket in sockets:
                socket.push(text)
                frames += 1
        return frames


HUB = LiveHub()


def handle(batch: list[OutboxEvent]) -> None:
    """The durable consumer "web.live" (worker, with Redis): publish each of the batch's events once, to every
    server, unless the committing process has published it already (`push_committed`); then the counters they
    change, computed by `COUNTERS` beside the relay so that the next events need not wait for them (and a burst
    of changes costs one computation per scope, not one per batch)."""
    events = _fresh(batch)
    publish_once(events)
    scopes = touched_scopes(events)
    if scopes:
        if getattr(settings, "KEFU_OUTBOX_INLINE", False):  # tests: at once, in order
            _publish(scope_pushes(scopes))
        else:
            COUNTERS.add(scopes)


def _publish(pushes: list[Push]) -> None:
    if pushes:
        _redis().publish(settings.KEFU_LIVE_CHANNEL, json.dumps(pushes, ensure_ascii=False, separators=(",", ":")))


# --- the fast path: pushed by the process that committed ----------------------------------------------------
# Waiting for the worker's relay (woken through Redis, then a pass of its consumer) adds a hop and the worker's
# load to every chat message. So the process that commits events publishes their pushes itself, right after the
# commit. Both it and the worker's consumer publish through `publish_once`: a script that Redis runs atomically
# claims each event's mark (SET NX) and publishes the event only when the claim is new. Whoever comes first
# publishes, the other finds the mark: each event is published exactly once while Redis is reachable, by the
# worker when the committing process died after its commit or could not reach Redis.

PUSHED_TTL = 3600  # seconds a mark is kept: longer than STALE_AFTER, after which the relay pushes nothing anyway
_PUBLISH_ONCE = """
local published = 0
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, '1', 'NX', 'EX', ARGV[1]) then
    redis.call('PUBLISH', ARGV[2], ARGV[i + 2])
    published = published + 1
  end
end
return published
"""


def _pushed_key(event_id: int) -> str:
    return f"{settings.KEFU_LIVE_CHANNEL}:pushed:{event_id}"


def publish_once(events: list[OutboxEvent]) -> int:
    """Publish each event's pushes to every server unless another process has → events published here."""
    keys, messages = [], []
    names = actor_names(events)
    for event in events:
        pushes = event_pushes([event], names)
        if pushes:
            keys.append(_pushed_key(event.pk))
            messages.append(json.dumps(pushes, ensure_ascii=False, separators=(",", ":")))
    if not keys:
        return 0
    return int(_redis().eval(_PUBLISH_ONCE, len(keys), *keys, PUSHED_TTL, settings.KEFU_LIVE_CHANNEL, *messages))


def push_committed(rows: list[OutboxEvent]) -> None:
    """After a commit (kefu.core.events.on_committed): publish the events' pushes at once. A failure here only
    leaves the events to the worker's relay."""
    if live_relay_is_local() or getattr(settings, "KEFU_OUTBOX_INLINE", False):
        return  # without Redis the server's own relay is woken by the same commit; tests run the relay inline
    publish_once([r for r in rows if r.pk is not None])


class CounterPusher:
    """Computes and publishes the counters of the scopes handed to it, in a thread of its own. Scopes handed
    while it computes are merged and done in the next round. The counters are derived, not durable: a lost
    round is made good by the next change, and a page that reconnects asks for them afresh."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.guard = threading.Lock()
        self.woken = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, scopes: Iterable[str]) -> None:
        with self.guard:
            self.pending |= set(scopes)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="kefu-live-counters", daemon=True)
                self.thread.start()
        self.woken.set()

    def _run(self) -> None:
        from django.db import close_old_connections

        while True:
            self.woken.wait()
            self.woken.clear()
            with self.guard:
                scopes, self.pending = self.pending, set()
            if not scopes:
                continue
            try:
                _publish(scope_pushes(scopes))
            except Exception:
                log.warning("live counters round failed", exc_info=True)
            finally:
                close_old_connections()


COUNTERS = CounterPusher()


_redis_client: Any = None


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


# --- what feeds the hub: the server's own relay (no Redis), or the worker's pushes through Redis -----------


class LocalRelay:
    """Reads the outbox from this process's event loop and delivers to this process's sockets. Its place is in
    memory: it starts at the newest event (pages that were not open did not miss anything)."""

    POLL_SECONDS = 1.0
    _instance: LocalRelay | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.woken = asyncio.Event()
        self.ready = asyncio.Event()  # set once the feed is in place: pushes after that reach this process
        self.position: Position | None = None
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def ensure_started(cls, timeout: float = 5.0) -> None:
        """Start the feed of this process's hub on the running loop (once; again if its loop has gone) and wait
        until it is in place."""
        loop = asyncio.get_running_loop()
        current = cls._instance
        if current is None or current.loop is not loop or current.task is None or current.task.done():
            current = cls._instance = cls(loop)
            if live_relay_is_local():
                on_wake(current.wake_threadsafe)
                current.task = loop.create_task(current.run())
            else:
                current.task = loop.create_task(current.listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(current.ready.wait(), timeout)

    def wake_threadsafe(self, types: frozenset[str] = frozenset()) -> None:
        if LocalRelay._instance is not self or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.woken.set)

    async def run(self) -> None:
        from asgiref.sync import sync_to_async

        # Outbox reads run in a thread of their own, not behind the requests queued on Django's sync thread.
        collect = sync_to_async(self.collect, thread_sensitive=False)
        counters = sync_to_async(counter_pushes, thread_sensitive=False)
        self.position = Position(last_id=await sync_to_async(_latest, thread_sensitive=False)())
        self.ready.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.POLL_SECONDS)
            self.woken.clear()
            try:
                events = await collect()
                if events:
                    HUB.deliver(event_pushes(events))  # the events at once, then the counters they change
                    HUB.deliver(await counters(events))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live relay pass failed", exc_info=True)

    def collect(self) -> list[OutboxEvent]:
        assert self.position is not None
        try:
            found: list[OutboxEvent] = []
            while True:
                events = fetch_pending(self.position)
                if not events:
                    self.position.advance([], timezone.now())
                    found = _fresh(found)
                    load_actors(found)
                    return found
                self.position.advance([e.pk for e in events], timezone.now())
                found += events
        finally:
            from django.db import close_old_connections

            close_old_connections()

    async def listen(self) -> None:
        """With Redis: deliver what the worker's relay publishes."""
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.Redis.from_url(settings.REDIS_URL)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(settings.KEFU_LIVE_CHANNEL)
                self.ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        HUB.deliver(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live channel lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)


def _latest() -> int:
    try:
        return latest_event_id()
    finally:
        from django.db import close_old_connections

        close_old_connections()


def live_relay_is_local() -> bool:
    return not settings.REDIS_URL


def register() -> None:
    from kefu.web.live_counters import scope_counters

    register_counter_provider(scope_counters)
    on_committed(push_committed)
    if not live_relay_is_local():
        # events are pushed at commit by the process that made them (`push_committed`): the relay's pass each
        # second publishes what that missed, and the counters of the second's changes, once per scope
        register_consumer(Consumer(name="web.live", handle=handle, woken_by_commits=False,
                                   description="live pages: events and counters pushed to browsers"))
