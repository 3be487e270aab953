"""Durable events with audiences: the catalogue of event types and `emit`, which writes an event into the outbox
inside the caller's transaction.

    TICKET_ASSIGNED = event_type("ticket.assigned", version=1, schema=TicketEventPayload,
                                 description="A work order was assigned or handed over.")
    emit(TICKET_ASSIGNED, obj=ticket, actor=actor, payload={...},
         audience=[Audience.user(7), Audience.team(3)])

Nothing is announced before commit: the relay (kefu.core.relay) reads committed events and hands them to the
consumers. Event types are nouns with a past-tense verb; each has a versioned payload schema (pydantic) that
`emit` enforces, and the catalogue is documentation for webhook users (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from pydantic import BaseModel, ValidationError

from kefu.core.actors import actor_key, person
from kefu.core.inserts import insert_rows


@dataclass(frozen=True, order=True)
class Audience:
    """Who should hear of an event: a user, a team, a department, a queue or everyone holding a role.
    `group` is the websocket group name a browser of that audience joins."""

    kind: str
    key: str

    USER = "user"
    TEAM = "team"
    DEPARTMENT = "department"
    QUEUE = "queue"
    ROLE = "role"
    KINDS = (USER, TEAM, DEPARTMENT, QUEUE, ROLE)

    @classmethod
    def user(cls, user_id: int) -> Audience:
        return cls(cls.USER, str(int(user_id)))

    @classmethod
    def team(cls, team_id: int) -> Audience:
        return cls(cls.TEAM, str(int(team_id)))

    @classmethod
    def department(cls, department_id: int) -> Audience:
        return cls(cls.DEPARTMENT, str(int(department_id)))

    @classmethod
    def queue(cls, code: str) -> Audience:
        return cls(cls.QUEUE, str(code))

    @classmethod
    def role(cls, role: str) -> Audience:
        return cls(cls.ROLE, str(role))

    @property
    def group(self) -> str:
        return f"{self.kind}.{self.key}"

    @classmethod
    def parse(cls, group: str) -> Audience:
        kind, _sep, key = group.partition(".")
        if kind not in cls.KINDS or not key:
            raise ValueError(f"not an audience group: {group!r}")
        return cls(kind, key)


@dataclass(frozen=True)
class EventType:
    """One entry of the catalogue: the type's name, its payload version and schema, what it means."""

    name: str
    version: int
    schema: type[BaseModel]
    description: str
    object_type: str = ""

    def __str__(self) -> str:
        return self.name


_CATALOGUE: dict[str, EventType] = {}


def event_type(name: str, *, version: int, schema: type[BaseModel], description: str,
               object_type: str = "") -> EventType:
    """Declare an event type (at import of the app's events module). Declaring a name twice is an error."""
    if name in _CATALOGUE and _CATALOGUE[name] != EventType(name, version, schema, description, object_type):
        raise ValueError(f"event type {name!r} declared twice")
    declared = _CATALOGUE[name] = EventType(name, version, schema, description, object_type)
    return declared


def catalogue() -> dict[str, EventType]:
    """Every declared event type, by name."""
    return dict(sorted(_CATALOGUE.items()))


class EventPayloadInvalid(Exception):
    """A service tried to emit a payload its event type's schema refuses: a programming error."""


def emit(event: EventType, *, payload: dict[str, Any] | BaseModel, audience: Iterable[Audience],
         obj: Any = None, object_type: str = "", object_id: Any = "", actor: Any = None) -> Any:
    """Write one event into the outbox, in the current transaction (required), and have the relay woken
    after commit. Returns the OutboxEvent row."""
    _require_transaction("emit")
    row = _event_row(event, payload, audience, obj=obj, object_type=object_type, object_id=object_id, actor=actor)
    insert_rows([row], OUTBOX_FIELDS)
    _wake_after_commit(event.name, [row])
    return row


def emit_many(event: EventType, items: Iterable[tuple[dict[str, Any] | BaseModel, Iterable[Audience], Any]],
              *, actor: Any = None) -> list[Any]:
    """Write several events of one type at once (one insert): `items` are (payload, audience, obj). Checked and
    woken as `emit`; returns the OutboxEvent rows in order."""

    _require_transaction("emit_many")
    rows = event_rows(event, items, actor=actor)
    if not rows:
        return []
    made = insert_rows(rows, OUTBOX_FIELDS)
    _wake_after_commit(event.name, made)
    return made


def event_rows(event: EventType, items: Iterable[tuple[dict[str, Any] | BaseModel, Iterable[Audience], Any]],
               *, actor: Any = None) -> list[Any]:
    """The unsaved, checked OutboxEvent rows of `emit_many`, for a hot path that writes them in its own statement
    together with the rows they announce (the routing dispatcher writes its offers, marks its contacts and
    inserts their events in one statement). It must then call `emitted` with the rows it wrote."""
    return [_event_row(event, payload, audience, obj=obj, actor=actor) for payload, audience, obj in items]


def emitted(event: EventType, rows: list[Any]) -> None:
    """The rows of `event_rows` that the caller inserted (their primary keys set): in the current transaction,
    the relay is woken after its commit as for `emit_many`; outside any (one statement wrote them with what they
    announce, and has committed), it is woken now."""
    if not rows:
        return
    if transaction.get_connection().in_atomic_block:
        _wake_after_commit(event.name, rows)
        return
    wake = _Wake()
    wake.types.add(event.name)
    wake.rows += rows
    wake()


OUTBOX_FIELDS = ("uid", "type", "version", "object_type", "object_id", "payload", "audience", "actor_id",
                 "actor_system", "created_at")


def _require_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name}() must run inside the service's transaction")


def _event_row(event: EventType, payload: dict[str, Any] | BaseModel, audience: Iterable[Audience], *,
               obj: Any = None, object_type: str = "", object_id: Any = "", actor: Any = None) -> Any:
    """The unsaved OutboxEvent of one event, its payload checked against the type's schema."""
    from kefu.core.models import OutboxEvent

    try:
        data = (payload if isinstance(payload, BaseModel) else event.schema.model_validate(payload)).model_dump(
            mode="json")
    except ValidationError as exc:
        raise EventPayloadInvalid(f"{event.name}: {exc}") from exc
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return OutboxEvent(
        type=event.name, version=event.version, object_type=object_type or event.object_type,
        object_id=str(object_id), payload=data, audience=sorted({a.group for a in audience}),
        actor=person(actor), actor_system=actor_key(actor))


# --- waking the relay -----------------------------------------------------------------------------------
# After a transaction that emitted events commits, the relays are told once, with the event types it wrote:
# relays in this process directly, relays in other processes through Redis when it is configured
# (kefu.core.relay); a relay whose consumers want none of the types sleeps on. Waking is an optimisation:
# relays also poll, so a lost wake-up only delays an event. It never fails the request.

Waker = Callable[[frozenset[str]], None]
_WAKERS: list[Waker] = []
Listener = Callable[[list[Any]], None]
_LISTENERS: list[Listener] = []


def on_wake(waker: Waker) -> None:
    """Register a function called after each commit that emitted events, with their types (kefu.core.relay
    does)."""
    if waker not in _WAKERS:
        _WAKERS.append(waker)


def on_committed(listener: Listener) -> None:
    """Register a function called after each commit that emitted events, with the committed rows, before the
    relays are woken (kefu.web.live pushes them to live pages at once). Like waking, an optimisation: what a
    listener misses, the relay's durable consumers still see."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


class _Wake:
    """The one after-commit wake-up of a transaction, gathering the events it emits and their types."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.rows: list[Any] = []

    def __call__(self) -> None:
        import logging

        for listener in list(_LISTENERS):
            try:
                listener(self.rows)
            except Exception:  # a listener must never fail a committed request
                logging.getLogger(__name__).warning("after-commit event listener failed", exc_info=True)
        types = frozenset(self.types)
        for waker in list(_WAKERS):
            try:
                waker(types)
            except Exception:  # a wake-up must never fail a committed request
                logging.getLogger(__name__).warning("relay wake-up failed", exc_info=True)


def _wake_after_commit(event_type: str, rows: list[Any]) -> None:
    connection = transaction.get_connection()
    # the wake-up already registered in this transaction at this savepoint depth, if any (a nested block has
    # its own: a rolled-back savepoint drops the callbacks registered inside it)
    here = set(connection.savepoint_ids)
    wake = next((func for sids, func, _robust in connection.run_on_commit
                 if isinstance(func, _Wake) and sids == here), None)
    if wake is None:
        wake = _Wake()
        transaction.on_commit(wake, robust=True)
    wake.types.add(event_type)
    wake.rows += rows
