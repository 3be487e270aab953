"""The relay: reads committed outbox events in order and hands them to each registered consumer.

Each consumer keeps a cursor (ConsumerCursor) that moves in the same transaction as the consumer's own writes,
so for database effects (webhook deliveries, notifications, escalations) every event is handled exactly once,
and for outside effects (a websocket push) at least once: a crash replays from the cursor.

Out-of-order commits: on PostgreSQL a transaction that took id 11 may commit after one that took id 12. A
consumer that passes an id it has not seen remembers it as a gap and looks for it again on every run until it
appears or GAP_TIMEOUT has passed (a rolled-back transaction leaves an id that never appears). On SQLite writers
are serialised, so ids commit in order.

A consumer whose handler fails on an event retries it on the next runs; after MAX_ATTEMPTS the event is skipped
for that consumer, logged as an error and listed in the cursor, so one poison event cannot stop a consumer.

Where the relay runs: `kefu worker` runs the worker consumers in a loop woken after each commit (through Redis
when configured, by polling every POLL_SECONDS otherwise); live pages are fed by kefu.web.live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from kefu.core.events import on_wake
from kefu.core.models import ConsumerCursor, OutboxEvent

log = logging.getLogger(__name__)

BATCH = 500
GAP_TIMEOUT = timedelta(minutes=10)
MAX_GAPS = 10_000
FRESH_GAPS = 100  # ids below the first one a new cursor sees that may still commit (see Position.advance)
MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0
REDIS_CHANNEL = "kefu:outbox"


@dataclass(frozen=True)
class Consumer:
    """A consumer of the outbox. `handle(events)` gets committed events in id order (gaps filled later may
    arrive out of order) and must be idempotent by event id; `types` limits which events it is given (the
    cursor still moves over the others)."""

    name: str
    handle: Callable[[list[OutboxEvent]], None]
    types: frozenset[str] | None = None
    description: str = ""
    # whether it has anything to do at all (one cheap read); when not, its loop passes only on the timed passes
    active: Callable[[], bool] | None = None
    # False: its loop is not woken by commits and passes every POLL_SECONDS only, over what came meanwhile in
    # one batch (for a consumer that only backs up a faster path, e.g. the live pushes made at commit)
    woken_by_commits: bool = True

    def wants(self, event: OutboxEvent) -> bool:
        return self.types is None or event.type in self.types


_CONSUMERS: dict[str, Consumer] = {}


def register_consumer(consumer: Consumer) -> None:
    """Register a worker consumer (from an app's ready())."""
    _CONSUMERS[consumer.name] = consumer


def consumers() -> dict[str, Consumer]:
    return dict(_CONSUMERS)


# --- one consumer, one run -----------------------------------------------------------------------------


@dataclass
class Position:
    """A cursor's state in memory: handled up to `last_id`, except the `gaps` ({id: first seen})."""

    last_id: int = 0
    gaps: dict[int, datetime] = field(default_factory=dict)

    def pending_filter(self) -> Q:
        q = Q(id__gt=self.last_id)
        if self.gaps:
            q |= Q(id__in=list(self.gaps))
        return q

    def advance(self, seen: list[int], now: datetime) -> None:
        """Record the ids just handled. Ids skipped between the old and the new high-water mark become gaps;
        gaps older than GAP_TIMEOUT are forgotten.

        A cursor that has never moved (last_id 0) counts as gaps only the FRESH_GAPS ids just below the first id
        it sees (transactions that took an id a moment before and commit late): the ids further down were purged
        or rolled back before the consumer existed. Counting them all, a new consumer on an outbox whose ids had
        reached a million tracked the newest MAX_GAPS of them for GAP_TIMEOUT, in every batch's query and every
        save of its cursor (and each test's fresh cursor did, after thousands of rolled-back ids). Only the newest
        MAX_GAPS ids below the high-water mark are ever examined."""
        if not seen:
            self._expire(now)
            return
        seen_set = set(seen)
        for event_id in seen_set:
            self.gaps.pop(event_id, None)
        top = max(seen_set)
        if top > self.last_id:
            floor = max(0, min(seen_set) - 1 - FRESH_GAPS) if self.last_id == 0 and not self.gaps else self.last_id
            for missing in range(max(floor, top - MAX_GAPS) + 1, top):
                if missing not in seen_set:
                    self.gaps.setdefault(missing, now)
            self.last_id = top
        self._expire(now)

    def _expire(self, now: datetime) -> None:
        expired = [i for i, first in self.gaps.items() if now - first > GAP_TIMEOUT]
        for event_id in expired:
            del self.gaps[event_id]
        if len(self.gaps) > MAX_GAPS:  # a flood of rolled-back transactions: keep the newest
            for event_id in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[event_id]


def fetch_pending(position: Position, limit: int = BATCH) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(position.pending_filter()).order_by("id")[:limit])


def _load(cursor: ConsumerCursor) -> Position:
    return Position(last_id=cursor.last_id,
                    gaps={int(k): datetime.fromisoformat(v) for k, v in (cursor.gaps or {}).items()})


def _store(cursor: ConsumerCursor, position: Position) -> None:
    cursor.last_id = position.last_id
    cursor.gaps = {str(k): v.isoformat() for k, v in sorted(position.gaps.items())}
    cursor.save()


def _lock_cursor(name: str) -> ConsumerCursor | None:
    """The consumer's cursor under a row lock, or None when another relay holds it (it will do the work).
    The row is made on first use; after that taking the lock is one query."""
    cursor = _try_lock(name)
    if cursor is None and not ConsumerCursor.objects.filter(name=name).exists():
        ConsumerCursor.objects.get_or_create(name=name)
        cursor = _try_lock(name)
    return cursor


def _try_lock(name: str) -> ConsumerCursor | None:
    if connection.features.has_select_for_update_skip_locked:
        return ConsumerCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()
    return ConsumerCursor.objects.select_for_update().filter(name=name).first()  # SQLite: IMMEDIATE serialises


def run_consumer(consumer: Consumer, *, limit: int = BATCH, now: datetime | None = None) -> int:
    """Hand the consumer its pending events, batch by batch, until none are left → events handled."""
    handled = 0
    while True:
        moved, batch_size = _run_batch(consumer, limit=limit, now=now or timezone.now())
        handled += moved
        if batch_size < limit or moved == 0:
            return handled


def has_news(consumer: Consumer, after_id: int) -> bool:
    """Whether an event the consumer wants was written after `after_id` (one indexed read): a relay woken by
    a commit that brought it nothing skips its pass; its cursor moves on the next timed pass."""
    qs = OutboxEvent.objects.filter(id__gt=after_id)
    if consumer.types is not None:
        qs = qs.filter(type__in=sorted(consumer.types))
    return qs.exists()


def _run_batch(consumer: Consumer, *, limit: int, now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        cursor = _lock_cursor(consumer.name)
        if cursor is None:
            return 0, 0
        position = _load(cursor)
        events = fetch_pending(position, limit)
        if not events:
            if position.gaps:
                position.advance([], now)
                _store(cursor, position)
            return 0, 0
        done = _handle(consumer, cursor, events)
        position.advance([e.pk for e in events[:done]], now)
        _store(cursor, position)
        return done, len(events)


def _handle(consumer: Consumer, cursor: ConsumerCursor, events: list[OutboxEvent]) -> int:
    """Handle the batch; on a failure, go event by event so the ones before the failing one count, and count
    the failure. Returns how many events (from the start of the batch) are done."""
    wanted = [e for e in events if consumer.wants(e)]
    try:
        with transaction.atomic():
            if wanted:
                consumer.handle(wanted)
        return len(events)
    except Exception:
        log.warning("consumer %s failed on a batch of %s events; retrying one by one", consumer.name,
                    len(wanted), exc_info=True)
    for index, event in enumerate(events):
        if not consumer.wants(event):
            continue
        try:
            with transaction.atomic():
                consumer.handle([event])
        except Exception:
            attempts = int((cursor.failures or {}).get(str(event.pk), 0)) + 1
            cursor.failures = {**(cursor.failures or {}), str(event.pk): attempts}
            if attempts < MAX_ATTEMPTS:
                log.warning("consumer %s failed on event %s (%s), attempt %s of %s", consumer.name, event.pk,
                            event.type, attempts, MAX_ATTEMPTS, exc_info=True)
                return index
            log.error("consumer %s gives up event %s (%s) after %s attempts", consumer.name, event.pk, event.type,
                      attempts, exc_info=True)
            cursor.skipped = [*(cursor.skipped or []), event.pk][-1000:]
        cursor.failures = {k: v for k, v in (cursor.failures or {}).items() if k != str(event.pk)}
    return len(events)


def run_all(names: list[str] | None = None) -> dict[str, int]:
    """One pass of every registered consumer (or those named) → events handled per consumer."""
    result = {}
    for name, consumer in consumers().items():
        if names is None or name in names:
            try:
                result[name] = run_consumer(consumer)
            except Exception:
                log.exception("relay pass of consumer %s failed", name)
                result[name] = 0
    return result


def drain(max_rounds: int = 20) -> dict[str, int]:
    """Run every consumer until no consumer has anything left (consumers emit events of their own, e.g. a
    notification announces itself). Tests and `kefu relay --once` use it."""
    total: dict[str, int] = {}
    for _ in range(max_rounds):
        moved = run_all()
        for name, count in moved.items():
            total[name] = total.get(name, 0) + count
        if not any(moved.values()):
            break
    return total


def latest_event_id() -> int:
    return int(OutboxEvent.objects.aggregate(top=Max("id"))["top"] or 0)


def purge(*, older_than: timedelta = timedelta(days=30), now: datetime | None = None) -> int:
    """Delete events older than `older_than` that every consumer has passed → rows deleted."""
    cutoff = (now or timezone.now()) - older_than
    floor = min([c.last_id for c in ConsumerCursor.objects.filter(name__in=list(_CONSUMERS))] or [0])
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=cutoff, id__lte=floor).delete()
    return int(deleted)


# --- the worker's loop ---------------------------------------------------------------------------------


class RelayLoop:
    """Runs the worker consumers whenever woken (after a commit in this process, or a Redis message from
    another) and at least every POLL_SECONDS. Started by `kefu worker` in a thread of its own."""

    def __init__(self, names: list[str] | None = None, poll_seconds: float = POLL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.names = names
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.seen = 0  # the newest event id when the last pass began
        self.last_pass: float | None = None
        self.news = False  # woken by a commit that wrote events this loop wants

    def wake(self, types: frozenset[str] = frozenset()) -> None:
        """Called after a commit with the types of the events it wrote (none known: any may be news). A loop
        whose consumers want none of them sleeps on."""
        consumers = [c for c in self._consumers() if c.woken_by_commits]
        if not consumers:
            return
        if not types:
            self.woken.set()
        elif any(c.types is None or c.types & types for c in consumers):
            self.news = True
            self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()

    def step(self) -> dict[str, int] | None:
        """One turn of the loop → events handled per consumer, or None when the turn was skipped.

        Every commit wakes every loop: a turn passes only if an event this loop wants came since the last pass.
        At least every poll_seconds a full pass runs anyway: it moves the cursors over events of other types
        and finds gaps (ids that committed late, below `seen`)."""
        due = self.last_pass is None or self.clock() - self.last_pass >= self.poll_seconds
        news, self.news = self.news, False
        if not due:
            working = [c for c in self._consumers() if c.woken_by_commits and (c.active is None or c.active())]
            if not working or not (news or any(has_news(c, self.seen) for c in working)):
                return None
        top = latest_event_id()
        self.last_pass = self.clock()
        moved = run_all(self.names)
        self.seen = top
        return moved

    def run(self) -> None:
        from django.db import close_old_connections

        on_wake(self.wake)
        listener = _RedisWakeListener.join(self.wake) if settings.REDIS_URL else None
        try:
            while not self.stopped.is_set():
                self.woken.wait(self.poll_seconds)
                self.woken.clear()
                if self.stopped.is_set():
                    break
                close_old_connections()
                try:
                    self.step()
                except Exception:  # keep relaying: the database may be back next time
                    log.exception("relay pass failed")
        finally:
            if listener is not None:
                listener.leave(self.wake)

    def _consumers(self) -> list[Consumer]:
        return [c for name, c in consumers().items() if self.names is None or name in self.names]

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="kefu-relay", daemon=True)
        thread.start()
        return thread


class _RedisWakeListener:
    """Subscribes to the outbox channel and wakes the loops of this process on every message (from any
    process): one subscription per process however many loops it runs."""

    _shared: _RedisWakeListener | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.wakers: list[Callable[[], None]] = []
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()

    @classmethod
    def join(cls, wake: Callable[[], None]) -> _RedisWakeListener:
        with cls._guard:
            if cls._shared is None or cls._shared.stopped.is_set():
                cls._shared = cls()
                cls._shared.thread = threading.Thread(target=cls._shared._run, name="kefu-relay-wake", daemon=True)
                cls._shared.thread.start()
            cls._shared.wakers.append(wake)
            return cls._shared

    def leave(self, wake: Callable[[], None]) -> None:
        with self._guard:
            if wake in self.wakers:
                self.wakers.remove(wake)
            if not self.wakers:
                self.stopped.set()

    def _run(self) -> None:
        import redis

        while not self.stopped.is_set():
            try:
                client = redis.Redis.from_url(settings.REDIS_URL)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(REDIS_CHANNEL)
                while not self.stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        types = _wake_types(message.get("data"))
                        for wake in list(self.wakers):
                            wake(types)
            except Exception:
                log.warning("outbox wake-up channel lost; polling until it is back", exc_info=True)
                self.stopped.wait(5)


# --- waking relays in other processes ------------------------------------------------------------------


def _wake_types(data: Any) -> frozenset[str]:
    """The event types a wake-up message names ("*" or anything unreadable: unknown, so any may be news)."""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    if not isinstance(data, str) or data in ("", "*", "1"):
        return frozenset()
    return frozenset(t for t in data.split(",") if t)


_redis_client: Any = None


def _publish_wake(types: frozenset[str] = frozenset()) -> None:
    global _redis_client
    if not settings.REDIS_URL:
        return
    import redis

    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    _redis_client.publish(REDIS_CHANNEL, ",".join(sorted(types)).encode() or b"*")


_inline = threading.local()


def _inline_drain(types: frozenset[str] = frozenset()) -> None:
    # Tests (KEFU_OUTBOX_INLINE): handle events right after commit, as Huey's immediate mode runs tasks. The
    # consumers' own commits wake the relay again: the running drain picks their events up.
    if not getattr(settings, "KEFU_OUTBOX_INLINE", False) or getattr(_inline, "running", False):
        return
    _inline.running = True
    try:
        drain()
    finally:
        _inline.running = False


on_wake(_publish_wake)
on_wake(_inline_drain)
