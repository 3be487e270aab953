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
        gaps older than GAP_TIMEOUT are forgotten."""
        if not seen:
            self._expire(now)
            return
        seen_set = set(seen)
        for event_id in seen_set:
            self.gaps.pop(event_id, None)
        top = max(seen_set)
        if top > self.last_id:
            for missing in range(self.last_id + 1, top):
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
    """The consumer's cursor under a row lock, or None when another relay holds it (it will do the work)."""
    ConsumerCursor.objects.get_or_create(name=name)
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

    def __init__(self, names: list[str] | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        self.names = names
        self.poll_seconds = poll_seconds
        self.woken = threading.Event()
        self.stopped = threading.Event()

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()

    def run(self) -> None:
        from django.db import close_old_connections

        on_wake(self.wake)
        listener = _RedisWakeListener(self.wake) if settings.REDIS_URL else None
        if listener is not None:
            listener.start()
        try:
            while not self.stopped.is_set():
                self.woken.wait(self.poll_seconds)
                self.woken.clear()
                if self.stopped.is_set():
                    break
                close_old_connections()
                try:
                    run_all(self.names)
                except Exception:  # keep relaying: the database may be back next time
                    log.exception("relay pass failed")
        finally:
            if listener is not None:
                listener.stop()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="kefu-relay", daemon=True)
        thread.start()
        return thread


class _RedisWakeListener:
    """Subscribes to the outbox channel and wakes the loop on every message (from any process)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.thread: threading.Thread | None = None
        self.pubsub: Any = None
        self.stopped = threading.Event()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="kefu-relay-wake", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        import redis

        while not self.stopped.is_set():
            try:
                client = redis.Redis.from_url(settings.REDIS_URL)
                self.pubsub = client.pubsub(ignore_subscribe_messages=True)
                self.pubsub.subscribe(REDIS_CHANNEL)
                while not self.stopped.is_set():
                    if self.pubsub.get_message(timeout=1.0) is not None:
                        self.wake()
            except Exception:
                log.warning("outbox wake-up channel lost; polling until it is back", exc_info=True)
                self.stopped.wait(5)


# --- waking relays in other processes ------------------------------------------------------------------

_redis_client: Any = None


def _publish_wake() -> None:
    global _redis_client
    if not settings.REDIS_URL:
        return
    import redis

    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    _redis_client.publish(REDIS_CHANNEL, b"1")


_inline = threading.local()


def _inline_drain() -> None:
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
