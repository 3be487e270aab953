"""The ACD: contacts wait in queues in order of (priority, time they entered the line) and are offered to one free
agent at a time, who accepts, declines or lets the offer ring out.

Correct with any number of app and worker processes, because the database holds the state and the rules:
- on PostgreSQL a dispatcher reads the line without locking it, chooses, and then decides a batch in one statement
  that locks each contact (still waiting, at the version it read) and each agent (still free and qualified) with
  `FOR UPDATE SKIP LOCKED` and writes only the pairs where both held, so two dispatchers never decide on the same
  contact or agent; SQLite's write transactions (IMMEDIATE) run one at a time, from the read to the commit;
- at most one open offer per contact and per agent is a unique index over the open offers: whatever a bug in the
  ordering, a contact can never be offered to two agents at once;
- every change is one transaction, in one lock order (contact, then offer, then agent state), and what happens at
  a time (an offer ringing out, an overflow, a long wait's extra priority) is found in the rows by `routing_tick`:
  after a crash the next tick carries on from the database, nothing held in memory is lost.
"""

# ruff: noqa: S608 - the dispatcher's statements are put together from table names, constants and placeholders;
# values are bound

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import Conflict, NotFound, ValidationFailed
from kefu.core.inserts import insert_rows
from kefu.core.policy import has_right
from kefu.core.prepared import Prepared
from kefu.routing.choices import (
    Affinity,
    AgentStateKind,
    ContactState,
    OfferOutcome,
    QueueKind,
    StateSource,
)
from kefu.routing.models import AgentState, Offer, Queue, RoutedContact
from kefu.routing.permissions import RoutingRight
from kefu.routing.services import matching
from kefu.routing.services.floor import StateChange, agent_state_set, interval_write

log = logging.getLogger(__name__)

ROUTING = system_actor("routing", gettext_lazy("系统：路由"))
REOFFER_SECONDS = 60  # an agent who declined a contact (or let it ring out) is not offered it again this soon
BATCH = 15  # waiting contacts a dispatcher decides at a time (one statement on PostgreSQL: their latency)


class KindHandler(Protocol):
    """What the app owning a kind of contact (calls, conversations, work orders) does when routing decides."""

    def assigned(self, contact: RoutedContact, agent: Any) -> None:
        """The agent accepted the contact: give it to them (inside routing's transaction)."""


_HANDLERS: dict[str, KindHandler] = {}


def register_kind(kind: str, handler: KindHandler) -> None:
    """Called from an app's ready(): it is told when routing gives one of its contacts to an agent."""
    _HANDLERS[kind] = handler


@dataclass(frozen=True)
class ContactIn:
    """A contact entering a queue. `ref` names it in its own app ("call:1700000000.12", "conversation:42")."""

    ref: str
    queue: Queue
    customer: Any = None
    is_complaint: bool = False
    at: datetime | None = None


@dataclass
class TickResult:
    timed_out: int = 0
    overflowed: int = 0
    boosted: int = 0
    offered: int = 0
    repaired: int = 0
    details: list[str] = field(default_factory=list)


# --- entering and leaving the line -------------------------------------------------------------------------------


def _preferred(queue: Queue, customer: Any, kind: str) -> Any:
    if customer is None or queue.affinity == Affinity.NONE:
        return None
    if queue.affinity == Affinity.DEDICATED:
        dedicated = customer.dedicated_agent if customer.dedicated_agent_id else None
        return dedicated if dedicated is not None and dedicated.is_active else None
    last = (RoutedContact.objects.filter(customer=customer, kind=kind, agent__isnull=False, agent__is_active=True)
            .order_by("-assigned_at").select_related("agent").first())
    return last.agent if last else None


_IN_LINE = Prepared(lambda ref: RoutedContact.objects.filter(ref=ref, state__in=[
    ContactState.WAITING, ContactState.OFFERED, ContactState.ASSIGNED]).order_by("pk")[:1])
_ROUTED = Prepared(lambda queue_id: Queue.objects.filter(pk=queue_id, routed=True, is_active=True).values_list(
    "pk", flat=True)[:1])


@transaction.atomic
def contact_enqueue(*, data: ContactIn) -> RoutedContact:
    """Put a contact in line (idempotent by `ref`: the same call queued again keeps its one place). Its priority
    adds the queue's VIP and complaint points; with the queue's affinity it waits `affinity_seconds` for the
    customer's dedicated or last agent first. Offered to an agent as soon as one is free."""
    ref = str(data.ref or "").strip()
    if not ref or len(ref) > 120:
        raise ValidationFailed(_("联络标识必须是 1–120 个字符"), details={"field": "ref"})
    queue = data.queue
    if not queue.routed or not queue.is_active:
        raise ValidationFailed(_("队列 %(code)s 未启用系统分配") % {"code": queue.code}, details={"field": "queue"})
    existing = _IN_LINE.run(ref)
    if existing:
        return existing[0]
    at = data.at or timezone.now()
    customer = data.customer
    is_vip = bool(customer is not None and getattr(customer, "is_vip", False))
    priority = (queue.vip_priority if is_vip else 0) + (queue.complaint_priority if data.is_complaint else 0)
    preferred = _preferred(queue, customer, queue.kind)
    try:
        with transaction.atomic():
            contact = RoutedContact.objects.create(
                ref=ref, kind=queue.kind, queue=queue, customer=customer, priority=priority, is_vip=is_vip,
                is_complaint=data.is_complaint, enqueued_at=at, queue_entered_at=at, preferred_agent=preferred,
                preferred_until=at + timedelta(seconds=queue.affinity_seconds) if preferred else None)
            # Checked again after the insert: on PostgreSQL the insert's key-share lock on the queue waited for a
            # switch-off in progress (queue_update locks the queue FOR UPDATE and refuses with contacts in line),
            # and this statement sees its commit. The savepoint takes the contact back out.
            if not _ROUTED.run(queue.pk):
                raise ValidationFailed(_("队列 %(code)s 未启用系统分配") % {"code": queue.code},
                                       details={"field": "queue"})
    except IntegrityError:  # the same contact queued at the same moment by another process
        return RoutedContact.objects.get(ref=ref, state__in=[ContactState.WAITING, ContactState.OFFERED,
                                                             ContactState.ASSIGNED])
    _announce_queue(contact)
    dispatch_soon()
    return contact


def _open_contact(ref: str) -> RoutedContact | None:
    """The contact in line by its ref, locked (the first lock of every change: contact, offer, agent)."""
    return (RoutedContact.objects.select_for_update(of=("self",)).select_related("queue")
            .filter(ref=ref, state__in=[ContactState.WAITING, ContactState.OFFERED, ContactState.ASSIGNED]).first())


def _withdraw_offer(contact_id: int, at: datetime) -> Offer | None:
    """Close the contact's open offer, if any (the contact is locked already)."""
    offer = Offer.objects.select_for_update().filter(contact_id=contact_id, outcome=OfferOutcome.OPEN).first()
    if offer is not None:
        offer.outcome, offer.decided_at = OfferOutcome.WITHDRAWN, at
        offer.save(update_fields=["outcome", "decided_at"])
        _announce_offer_closed(offer)
    return offer


def _free_agent(contact: RoutedContact, at: datetime) -> None:
    """The contact's agent has one contact fewer: a chat frees a place, and the agent is idle from now."""
    if contact.agent_id is None:
        return
    state = AgentState.objects.select_for_update().filter(user_id=contact.agent_id).first()
    if state is None:
        return
    if contact.kind != QueueKind.PHONE and state.chats:
        state.chats -= 1
    state.idle_since = at
    state.save(update_fields=["chats", "idle_since"])


@transaction.atomic
def contact_taken(*, ref: str, agent: Any, at: datetime | None = None) -> RoutedContact | None:
    """The contact was taken outside routing (an agent picked the chat up, the PBX put the call through to an
    agent): it leaves the line, and an open offer of it is withdrawn. None when it was not in line."""
    at = at or timezone.now()
    contact = _open_contact(ref)
    if contact is None:
        return None
    _withdraw_offer(contact.pk, at)
    if contact.state == ContactState.ASSIGNED and contact.agent_id == agent.pk:
        return contact
    if contact.state == ContactState.ASSIGNED:
        _free_agent(contact, at)
    contact.state, contact.agent, contact.assigned_at = ContactState.ASSIGNED, agent, at
    contact.version += 1
    contact.save(update_fields=["state", "agent", "assigned_at", "version"])
    _take_place(agent, contact)
    _announce_queue(contact)
    return contact


def _take_place(agent: Any, contact: RoutedContact) -> None:
    state, _created = AgentState.objects.get_or_create(user=agent, defaults={"since": timezone.now()})
    if contact.kind != QueueKind.PHONE:
        AgentState.objects.filter(pk=state.pk).update(chats=F("chats") + 1)


@transaction.atomic
def contact_end(*, ref: str, at: datetime | None = None) -> RoutedContact | None:
    """The contact is over: a waiting or offered one was abandoned (the caller hung up, the visitor left) unless a
    callback was asked for — then it keeps its place; an assigned one is finished and frees its agent. Its
    interval figures are rewritten (chat and work-order queues: a phone queue counts its calls). None when it was
    not in line."""
    at = at or timezone.now()
    contact = _open_contact(ref)
    if contact is None:
        return None
    if contact.state != ContactState.ASSIGNED and contact.callback_number:
        return contact  # the caller hung up after asking to be called back: the place in line is kept
    _withdraw_offer(contact.pk, at)
    if contact.state == ContactState.ASSIGNED:
        contact.state = ContactState.FINISHED
        _free_agent(contact, at)
        dispatch_soon()
    else:
        contact.state = ContactState.ABANDONED
    contact.ended_at = at
    contact.version += 1
    contact.save(update_fields=["state", "ended_at", "version"])
    _count(contact)
    _announce_queue(contact)
    return contact


@transaction.atomic
def contact_callback(*, ref: str, number: str, at: datetime | None = None) -> RoutedContact:
    """The caller asks to be called back instead of waiting: the contact keeps its place in line, and the agent
    it reaches calls `number` back."""
    number = str(number or "").strip()
    if not number or len(number) > 40 or not all(c.isdigit() or c in "+-*# " for c in number):
        raise ValidationFailed(_("回拨号码格式不正确"), details={"field": "number"})
    contact = _open_contact(ref)
    if contact is None:
        raise NotFound(_("该联络不在排队中"))
    if not contact.queue.callback_allowed:
        raise ValidationFailed(_("队列 %(code)s 不提供预约回拨") % {"code": contact.queue.code},
                               details={"field": "queue"})
    if contact.state == ContactState.ASSIGNED:
        raise Conflict(_("该联络已有坐席接待"), code="already_assigned")
    contact.callback_number, contact.callback_requested_at = number, at or timezone.now()
    contact.version += 1
    contact.save(update_fields=["callback_number", "callback_requested_at", "version"])
    _announce_queue(contact)
    return contact


# --- offers ------------------------------------------------------------------------------------------------------


def _lock_own_offer(actor: Any, offer_id: int) -> Offer:
    """The agent's offer, locked after its contact (the lock order)."""
    contact_id = (Offer.objects.filter(pk=offer_id, agent_id=getattr(actor, "pk", None))
                  .values_list("contact_id", flat=True).first())
    if contact_id is None:
        raise NotFound(_("分配不存在"))
    RoutedContact.objects.select_for_update().filter(pk=contact_id).first()
    offer = Offer.objects.select_for_update(of=("self",)).select_related("contact__queue").get(pk=offer_id)
    if offer.outcome:
        raise Conflict(_("该分配已结束（%(outcome)s）") % {"outcome": OfferOutcome(offer.outcome).label},
                       code=f"offer_{offer.outcome}")
    return offer


@transaction.atomic
def offer_accept(*, actor: Any, offer_id: int, now: datetime | None = None) -> RoutedContact:
    """The agent takes the contact offered to them: it is theirs (its app is told), the agent is on contact (a
    call) or has one more chat in hand. An offer that has rung out is refused."""
    now = now or timezone.now()
    if not has_right(actor, RoutingRight.CONTACT_TAKE):
        raise NotFound(_("分配不存在"))
    offer = _lock_own_offer(actor, offer_id)
    if offer.expires_at <= now:
        raise Conflict(_("该分配已超时"), code="offer_timeout")
    offer.outcome, offer.decided_at = OfferOutcome.ACCEPTED, now
    offer.save(update_fields=["outcome", "decided_at"])
    contact = RoutedContact.objects.get(pk=offer.contact_id)  # locked by _lock_own_offer
    if contact.state != ContactState.OFFERED:  # cannot be while its offer is open; refuse rather than guess
        raise Conflict(_("该联络已不在排队中"), code="contact_closed")
    contact.state, contact.agent, contact.assigned_at = ContactState.ASSIGNED, actor, now
    contact.version += 1
    contact.save(update_fields=["state", "agent", "assigned_at", "version"])
    if contact.kind == QueueKind.PHONE:
        agent_state_set(actor=ROUTING, user=actor, change=StateChange(
            state=AgentStateKind.ON_CONTACT, source=StateSource.ROUTING, at=now))
    else:
        AgentState.objects.filter(user_id=actor.pk).update(chats=F("chats") + 1)
    handler = _HANDLERS.get(contact.kind)
    if handler is not None:
        handler.assigned(contact, actor)
    _announce_offer_closed(offer)
    _announce_queue(contact)
    return contact


@transaction.atomic
def offer_decline(*, actor: Any, offer_id: int, now: datetime | None = None) -> RoutedContact:
    """The agent turns the offer down: the contact goes back to its place in line and is offered to another agent
    (not to this one again for a minute)."""
    now = now or timezone.now()
    if not has_right(actor, RoutingRight.CONTACT_TAKE):
        raise NotFound(_("分配不存在"))
    offer = _lock_own_offer(actor, offer_id)
    offer.outcome, offer.decided_at = OfferOutcome.DECLINED, now
    offer.save(update_fields=["outcome", "decided_at"])
    contact = _back_in_line(offer.contact_id)
    _announce_offer_closed(offer)
    dispatch_soon()
    return contact


def _back_in_line(contact_id: int) -> RoutedContact:
    contact = RoutedContact.objects.select_for_update().get(pk=contact_id)  # locked already: no wait
    if contact.state == ContactState.OFFERED:
        contact.state = ContactState.WAITING
        contact.version += 1
        contact.save(update_fields=["state", "version"])
        _announce_queue(contact)
    return contact


def offers_withdraw_for(*, user: Any, at: datetime) -> int:
    """The agent left "available" (a break, offline): their open offer goes back to the line. Called by the
    agent-state service before it locks the agent's state (the lock order)."""
    withdrawn = 0
    for contact_id in list(Offer.objects.filter(agent_id=user.pk, outcome=OfferOutcome.OPEN)
                           .values_list("contact_id", flat=True)):
        RoutedContact.objects.select_for_update().filter(pk=contact_id).first()
        offer = Offer.objects.select_for_update().filter(contact_id=contact_id, agent_id=user.pk,
                                                         outcome=OfferOutcome.OPEN).first()
        if offer is None:  # accepted or closed meanwhile
            continue
        offer.outcome, offer.decided_at = OfferOutcome.WITHDRAWN, at
        offer.save(update_fields=["outcome", "decided_at"])
        _back_in_line(offer.contact_id)
        _announce_offer_closed(offer)
        withdrawn += 1
    if withdrawn:
        dispatch_soon()
    return withdrawn


# --- dispatching -------------------------------------------------------------------------------------------------


def _declined(batch: list[RoutedContact], now: datetime) -> dict[int, set[int]]:
    """Who declined (or let ring out) each contact of the batch in the last minute: not offered it again yet."""
    offered = [contact.pk for contact in batch if contact.offers]
    declined: dict[int, set[int]] = {}
    if offered:
        for contact_id, agent_id in Offer.objects.filter(
                contact_id__in=offered, outcome__in=[OfferOutcome.DECLINED, OfferOutcome.TIMEOUT],
                decided_at__gt=now - timedelta(seconds=REOFFER_SECONDS)).values_list("contact_id", "agent_id"):
            declined.setdefault(contact_id, set()).add(agent_id)
    return declined


def _match(matcher: matching.Matcher, contacts: list[RoutedContact]) -> list[tuple[RoutedContact, int]]:
    """The contacts' agents, in line order: on PostgreSQL only chosen (the statement that writes the offers locks
    and checks them), elsewhere chosen and locked."""
    if connection.vendor == "postgresql":
        return matching.choose(matcher, contacts)
    return matching.match(matcher, contacts)


def _new_offers(pairs: list[tuple[RoutedContact, int]], now: datetime) -> list[Offer]:
    return [Offer(contact=contact, agent_id=agent_id, offered_at=now,
                  expires_at=now + timedelta(seconds=contact.queue.offer_seconds)) for contact, agent_id in pairs]


def _made(offers: list[Offer]) -> None:
    for offer in offers:
        contact = offer.contact
        contact.state, contact.offers, contact.version = ContactState.OFFERED, contact.offers + 1, contact.version + 1


def _write_offers(matcher: matching.Matcher, pairs: list[tuple[RoutedContact, int]], now: datetime,
                  ) -> tuple[list[Offer], list[tuple[RoutedContact, int]]]:
    """In the batch's transaction, contacts and agents locked: write the offers, mark their contacts offered and
    announce them. The check that the agents hold no open offer read a snapshot: another dispatcher may have just
    committed an offer to one of them. The unique indexes over open offers then refuse it (`ON CONFLICT DO
    NOTHING`): its contact is neither marked nor announced, and its agent is lost for the pass. → (the offers
    written, the refused pairs, to choose again)."""
    offers = _new_offers(pairs, now)
    made = insert_rows(offers, _OFFER_FIELDS, ignore_conflicts=True, key="contact_id")
    _mark_offered([offer.contact for offer in made])
    _announce_offers_made([(offer, offer.contact) for offer in made])
    _made(made)
    written = {offer.contact_id for offer in made}
    refused = [pair for pair in pairs if pair[0].pk not in written]
    for contact, agent_id in refused:
        matcher.refused(contact, agent_id)
    return made, refused


@functools.cache
def _claim_sql(roles: int) -> str:
    """PostgreSQL: the one statement that decides a batch. For each chosen pair it locks the contact (still
    waiting, unchanged since it was read: same version) and the agent (`matching.agent_check`), both with SKIP
    LOCKED; where both hold it inserts the offer (skipping those the open-offer
    indexes refuse), marks the contact offered and inserts the event, whose payload gets the offer's id. → per
    pair: the contact, whether it held, the offer's and the event's ids (NULL when not written)."""
    from kefu.core.events import OUTBOX_FIELDS
    from kefu.core.models import OutboxEvent

    outbox = OutboxEvent._meta.db_table
    columns = ", ".join(OutboxEvent._meta.get_field(name).column for name in OUTBOX_FIELDS)
    return (
        "WITH p (contact, version, agent, queue, expires, uid, payload, audience) AS (SELECT * FROM unnest("
        "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::uuid[], %s::jsonb[], "
        "%s::jsonb[])), "
        f"held AS (SELECT l.id FROM p CROSS JOIN LATERAL (SELECT c.id FROM {_CONTACT} c WHERE c.id = p.contact "
        f"AND c.version = p.version AND c.state = '{ContactState.WAITING.value}' FOR UPDATE OF c SKIP LOCKED) l), "
        f"free AS (SELECT l.user_id FROM p CROSS JOIN LATERAL (SELECT a.user_id FROM {AgentState._meta.db_table} a "
        f"INNER JOIN {get_user_model()._meta.db_table} u ON u.id = a.user_id INNER JOIN {_QUEUE} q ON q.id = p.queue "
        f"WHERE a.user_id = p.agent AND {matching.agent_check(roles)} FOR UPDATE OF a SKIP LOCKED) l), "
        f"o AS (INSERT INTO {Offer._meta.db_table} (contact_id, agent_id, offered_at, expires_at, outcome) "
        f"SELECT p.contact, p.agent, %s, p.expires, '{OfferOutcome.OPEN.value}' FROM p "
        "WHERE p.contact IN (SELECT id FROM held) AND p.agent IN (SELECT user_id FROM free) "
        "ON CONFLICT DO NOTHING RETURNING id, contact_id), "
        f"c AS (UPDATE {_CONTACT} SET state = '{ContactState.OFFERED.value}', offers = offers + 1, "
        # the contacts by their ids (an index lookup whatever the plan), then only those whose offer was written
        "version = version + 1 WHERE id = ANY(%s::bigint[]) AND id IN (SELECT contact_id FROM o)), "
        f"e AS (INSERT INTO {outbox} ({columns}) "
        "SELECT p.uid, %s, %s, %s, o.id::text, jsonb_set(p.payload, '{id}', to_jsonb(o.id)), p.audience, NULL, "
        "%s, %s FROM o INNER JOIN p ON p.contact = o.contact_id RETURNING id, object_id) "
        "SELECT p.contact, p.contact IN (SELECT id FROM held), o.id, e.id FROM p "
        "LEFT JOIN o ON o.contact_id = p.contact LEFT JOIN e ON e.object_id = o.id::text")


def _claim_offers(matcher: matching.Matcher, pairs: list[tuple[RoutedContact, int]], now: datetime,
                  ) -> tuple[list[Offer], list[tuple[RoutedContact, int]]]:
    """PostgreSQL: decide the chosen pairs in one statement (`_claim_sql`), its own transaction unless the
    caller holds one. A pair whose contact changed or is held by another process meanwhile is dropped (its agent
    stays free; the contact's next pass finds it); one whose agent no longer could take it loses the agent for
    the pass. → (the offers written, the pairs to choose again: a contact that held, its agent refused)."""
    from kefu.core.events import OUTBOX_FIELDS, emitted, event_rows
    from kefu.core.models import OutboxEvent
    from kefu.routing.events import OFFER_MADE, offer_items

    offers = _new_offers(pairs, now)
    for offer in offers:
        offer.pk = 0  # the id each event's payload is given in the statement
    rows = event_rows(OFFER_MADE, offer_items([(offer, offer.contact) for offer in offers]))
    fields = {name: OutboxEvent._meta.get_field(name) for name in OUTBOX_FIELDS}
    first = rows[0]
    same = ("type", "version", "object_type", "actor_system")
    assert all(getattr(row, name) == getattr(first, name) for row in rows for name in same)
    for row in rows:
        row.created_at = first.created_at  # one time for the batch's events, as the statement writes it
    payload, audience = fields["payload"], fields["audience"]
    contacts = [offer.contact_id for offer in offers]
    params = [
        contacts, [offer.contact.version for offer in offers], [offer.agent_id for offer in offers],
        [offer.contact.queue_id for offer in offers], [offer.expires_at for offer in offers],
        [row.uid for row in rows], [payload.get_db_prep_save(row.payload, connection) for row in rows],
        [audience.get_db_prep_save(row.audience, connection) for row in rows],
        *matcher.roles, now, contacts,
        first.type, first.version, first.object_type, first.actor_system, first.created_at]
    decided = {contact_id: (held, offer_id, event_id) for contact_id, held, offer_id, event_id
               in matching.rows_of(_claim_sql(len(matcher.roles)), params, binary=True)}
    made, announced, again = [], [], []
    for (contact, agent_id), offer, row in zip(pairs, offers, rows, strict=True):
        held, offer_id, event_id = decided[contact.pk]
        if offer_id is None:
            if held:
                matcher.refused(contact, agent_id)
                again.append((contact, agent_id))
            else:
                matcher.taken.discard(agent_id)
            continue
        offer.pk, offer._state.adding, offer._state.db = offer_id, False, connection.alias
        row.pk, row._state.adding, row._state.db = event_id, False, connection.alias
        row.object_id, row.payload["id"] = str(offer_id), offer_id
        made.append(offer)
        announced.append(row)
    emitted(OFFER_MADE, announced)
    _made(made)
    return made, again


_OFFER_FIELDS = ("contact_id", "agent_id", "offered_at", "expires_at", "outcome", "decided_at")
_CONTACT, _QUEUE = RoutedContact._meta.db_table, Queue._meta.db_table
# what dispatch reads of a waiting contact (and the customer's name, for the offer's event)
_WAITING_FIELDS = ("id", "ref", "kind", "queue_id", "customer_id", "state", "priority", "is_vip", "enqueued_at",
                   "preferred_agent_id", "preferred_until", "callback_number", "offers", "version")
_DATETIMES = [i for i, name in enumerate(_WAITING_FIELDS) if name in ("enqueued_at", "preferred_until")]


def _waiting_sql(*, queues: int, after: bool, peek: bool = False) -> str:
    """The next waiting contacts in line order: on PostgreSQL read without locking (the statement that writes
    their offers locks them), elsewhere locked in the batch's transaction; with `peek`, only their queues. Its text
    depends only on the number of queues asked for and whether it continues after a place, so it is prepared
    once."""
    from kefu.customers.models import Customer

    if peek:
        columns = "c.queue_id"
    else:
        columns = ", ".join(f"c.{RoutedContact._meta.get_field(name).column}" for name in _WAITING_FIELDS)
    where = [f"c.state = '{ContactState.WAITING.value}'", "q.routed", "q.is_active"]
    if queues:
        where.append(f"c.queue_id IN ({', '.join(['%s'] * queues)})")
    if after:
        where.append("(c.priority < %s OR (c.priority = %s AND (c.enqueued_at > %s "
                     "OR (c.enqueued_at = %s AND c.id > %s))))")
    if peek:  # and only while some agent is free (read once, whatever the length of the line)
        where.append(f"EXISTS (SELECT 1 FROM {AgentState._meta.db_table} a "
                     f"WHERE a.state = '{AgentStateKind.AVAILABLE.value}' AND NOT EXISTS (SELECT 1 FROM "
                     f"{Offer._meta.db_table} o WHERE o.agent_id = a.user_id "
                     f"AND o.outcome = '{OfferOutcome.OPEN.value}'))")
    customer = "" if peek else f"LEFT JOIN {Customer._meta.db_table} cu ON cu.id = c.customer_id "
    sql = (f"SELECT {columns}{'' if peek else ', cu.name'} FROM {_CONTACT} c "
           f"INNER JOIN {_QUEUE} q ON q.id = c.queue_id {customer}WHERE {' AND '.join(where)} "
           "ORDER BY c.priority DESC, c.enqueued_at ASC, c.id ASC LIMIT %s")
    if connection.vendor != "postgresql" and connection.features.has_select_for_update_skip_locked and not peek:
        sql += " FOR UPDATE OF c SKIP LOCKED"
    return sql


def _line_ahead(queue_ids: list[int] | None) -> list[int]:
    """The queues of the first BATCH contacts in line, read without locking them, or none when no agent is free:
    whether the pass has anything to do, and whether to read every free agent before the first batch locks its
    contacts."""
    params: list[Any] = [*(queue_ids or []), BATCH]
    return [row[0] for row in matching.rows_of(_waiting_sql(queues=len(queue_ids or []), after=False, peek=True),
                                               params)]


def _read_waiting(matcher: matching.Matcher, queue_ids: list[int] | None,
                  after: tuple[int, datetime, int] | None) -> list[RoutedContact]:
    """The next BATCH waiting contacts after `after` (see `_waiting_sql`): → them, with their queue (the pass's)
    and customer."""
    from kefu.customers.models import Customer

    params: list[Any] = list(queue_ids or [])
    if after is not None:
        priority, enqueued_at, pk = after
        at = connection.ops.adapt_datetimefield_value(enqueued_at)
        params += [priority, priority, at, at, pk]
    params.append(BATCH)
    rows = matching.rows_of(_waiting_sql(queues=len(queue_ids or []), after=after is not None), params)
    matcher.load_queues({row[_WAITING_FIELDS.index("queue_id")] for row in rows})
    contacts = []
    alias = connection.alias
    for row in rows:
        values = list(row[:-1])
        for index in _DATETIMES:
            value = values[index]
            if value is not None and timezone.is_naive(value):  # SQLite's raw rows: UTC without its zone
                values[index] = value.replace(tzinfo=UTC)
        contact = RoutedContact.from_db(alias, _WAITING_FIELDS, values)
        contact._state.fields_cache["queue"] = matcher.queue(contact.queue_id)
        contact._state.fields_cache["customer"] = (
            Customer.from_db(alias, ["id", "name"], [contact.customer_id, row[-1]]) if contact.customer_id else None)
        contacts.append(contact)
    return contacts


def _dispatch_batch(now: datetime, queue_ids: Iterable[int] | None, after: tuple[int, datetime, int] | None,
                    matcher: matching.Matcher | None = None) -> tuple[int, tuple[int, datetime, int] | None]:
    """Decide up to BATCH waiting contacts after `after`, in line order, each matched to the best free agent of
    its queue (the pass's candidate lists): → (offers made, the last contact's place, None at the end of the
    line). A contact whose agent could not take it after all tries the next one.

    On PostgreSQL the contacts are read without locking and every decision of the batch is one statement that
    locks the contacts and agents, checks them and writes the offers, contacts and events (`_claim_sql`): one
    round trip and one commit. Elsewhere one transaction locks the contacts, then the agents, then writes."""
    matcher = matcher or matching.Matcher(now)
    ids = None if queue_ids is None else list(queue_ids)
    made = 0
    with transaction.atomic() if connection.vendor != "postgresql" else nullcontext():
        batch = _read_waiting(matcher, ids, after)
        if batch:
            matcher.begin(batch, _declined(batch, now))
            decide = _claim_offers if connection.vendor == "postgresql" else _write_offers
            pending = batch
            while pending:
                chosen = _match(matcher, pending)
                if not chosen:
                    break
                offers, again = decide(matcher, chosen, now)
                made += len(offers)
                pending = [contact for contact, _agent_id in again]
    if len(batch) < BATCH:
        return made, None
    last = batch[-1]
    return made, (last.priority, last.enqueued_at, last.pk)


def _mark_offered(contacts: list[RoutedContact]) -> None:
    if not contacts:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_CONTACT} SET state = %s, offers = offers + 1, version = version + 1 "
                       f"WHERE id IN ({', '.join(['%s'] * len(contacts))})",
                       [ContactState.OFFERED.value, *[contact.pk for contact in contacts]])


_ANYONE_FREE = Prepared(lambda: AgentState.objects.filter(state=AgentStateKind.AVAILABLE).exclude(
    Exists(Offer.objects.filter(agent_id=OuterRef("user_id"), outcome=OfferOutcome.OPEN))).values_list(
    "pk", flat=True)[:1])


def _anyone_free() -> bool:
    return bool(_ANYONE_FREE.run())


def routing_dispatch(*, now: datetime | None = None, queue_ids: Iterable[int] | None = None) -> int:
    """Offer waiting contacts to free agents, in line order, each to the best agent of its queue's strategy.
    Safe to run in many processes at once. → the number of offers made (by this call).

    On PostgreSQL one dispatcher at a time goes through the whole line: dispatchers that ran at once chose the same
    best agents and lost them to each other at the lock (four processes made less than one). A call while another
    dispatcher is at work only leaves its request (a number from a sequence) and returns: that dispatcher, when its
    pass is over, sees the request and makes another pass (up to TURN_PASSES, then the routing tick takes over).
    The turn is a session advisory lock, so a process that dies gives it up with its connection."""
    if queue_ids is not None or connection.vendor != "postgresql":
        return _dispatch_pass(now, queue_ids)
    with connection.cursor() as cursor:  # the request, and the turn if nobody has it
        cursor.execute(f"SELECT nextval('{REQUESTS}'), pg_try_advisory_lock(%s)", [TURN_LOCK])
        seen, taken = cursor.fetchone()
    made = 0
    for _turn in range(TURN_PASSES):
        if not taken:
            return made  # the dispatcher at work sees this request when its pass is over
        try:
            made += _dispatch_pass(now, None)  # every request numbered up to `seen` came before it began
        finally:
            _turn_end()
        with connection.cursor() as cursor:  # asked again meanwhile? (read after the turn is given up)
            cursor.execute(f"SELECT last_value FROM {REQUESTS}")
            if cursor.fetchone()[0] == seen:
                return made
            cursor.execute(f"SELECT last_value, pg_try_advisory_lock(%s) FROM {REQUESTS}", [TURN_LOCK])
            seen, taken = cursor.fetchone()
    return made


REQUESTS = "routing_dispatch_requests"  # a sequence (migration routing/0006): each pass asked for takes a number
TURN_LOCK = 0x6B656675_726F7574  # the session advisory lock of the dispatcher at work ("kefurout")
TURN_PASSES = 20  # passes one dispatcher makes in a row for others' requests before leaving them to the tick


def _turn_take() -> bool:
    """Take the turn if nobody has it (tests: another process's view)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [TURN_LOCK])
        return bool(cursor.fetchone()[0])


def _turn_end() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [TURN_LOCK])
    except Exception:
        # a lock kept by a pooled connection would stop every other dispatcher: drop the connection instead
        log.exception("routing: could not give the dispatcher's turn back; closing the connection")
        if connection.connection is not None:
            connection.connection.close()
        connection.close()
        raise


def _dispatch_pass(now: datetime | None, queue_ids: Iterable[int] | None) -> int:
    """One pass through the line (see `routing_dispatch`)."""
    now = now or timezone.now()
    ids = None if queue_ids is None else list(queue_ids)
    ahead = _line_ahead(ids)
    if not ahead:
        return 0
    matcher = matching.Matcher(now)  # the queues' candidates, read once for the whole pass
    # a long line across several queues: every free agent is read now, before any contact is locked
    matcher.foresee(ahead)
    made = 0
    after: tuple[int, datetime, int] | None = None
    while True:
        count, after = _dispatch_batch(now, ids, after, matcher)
        made += count
        if after is None:
            return made
        # a batch that found everyone an agent needs no asking; the pass's snapshot, once read, answers for it
        if count < BATCH and not (matcher.anyone_free() if matcher.free is not None else _anyone_free()):
            return made


def dispatch_soon() -> None:
    """Dispatch once the current transaction has committed (the contact or agent it freed is then visible)."""
    transaction.on_commit(_dispatch_after_commit)


def _dispatch_after_commit() -> None:
    try:
        routing_dispatch()
    except Exception:  # the tick will offer it a second later; the change that called us has committed
        log.exception("routing dispatch failed")


# --- what happens at a time --------------------------------------------------------------------------------------


def _timeouts(now: datetime, result: TickResult) -> None:
    for offer_id, contact_id in list(Offer.objects.filter(outcome=OfferOutcome.OPEN, expires_at__lte=now)
                                     .order_by("expires_at").values_list("pk", "contact_id")[:1000]):
        _time_out(offer_id, contact_id, now, result)


def _time_out(offer_id: int, contact_id: int, now: datetime, result: TickResult) -> None:
    with transaction.atomic():
        if RoutedContact.objects.select_for_update(skip_locked=True).filter(pk=contact_id).first() is None:
            return  # another process is on it
        offer = (Offer.objects.select_for_update(of=("self",)).select_related("agent")
                 .filter(pk=offer_id, outcome=OfferOutcome.OPEN, expires_at__lte=now).first())
        if offer is None:
            return
        offer.outcome, offer.decided_at = OfferOutcome.TIMEOUT, offer.expires_at
        offer.save(update_fields=["outcome", "decided_at"])
        _back_in_line(offer.contact_id)
        _announce_offer_closed(offer)
        # the agent did not answer: offer them nothing more until they say they are back
        agent_state_set(actor=ROUTING, user=offer.agent, change=StateChange(
            state=AgentStateKind.MISSED, source=StateSource.ROUTING, at=offer.expires_at,
            note=str(_("分配超时未应答"))))
        result.timed_out += 1


def _overflows(now: datetime, result: TickResult) -> None:
    due = (RoutedContact.objects.filter(state=ContactState.WAITING, queue__overflow_to__isnull=False,
                                        queue__overflow_after_seconds__isnull=False)
           .select_related("queue", "queue__overflow_to"))
    for contact in due.order_by("enqueued_at")[:1000]:
        limit = contact.queue_entered_at + timedelta(seconds=contact.queue.overflow_after_seconds or 0)
        target = contact.queue.overflow_to
        if limit > now or target is None or not target.is_active or not target.routed:
            continue
        with transaction.atomic():
            moved = RoutedContact.objects.filter(pk=contact.pk, state=ContactState.WAITING,
                                                 queue_id=contact.queue_id).update(
                queue_id=target.pk, overflowed_from_id=contact.queue_id, queue_entered_at=limit,
                version=F("version") + 1)
            if moved:
                contact.refresh_from_db()
                _announce_queue(contact)
                result.overflowed += 1


def _boosts(now: datetime, result: TickResult) -> None:
    for queue in Queue.objects.filter(routed=True, long_wait_seconds__isnull=False):
        result.boosted += RoutedContact.objects.filter(
            queue=queue, state__in=[ContactState.WAITING, ContactState.OFFERED], long_wait_boosted=False,
            enqueued_at__lte=now - timedelta(seconds=queue.long_wait_seconds or 0)).update(
            priority=F("priority") + queue.long_wait_priority, long_wait_boosted=True, version=F("version") + 1)


def routing_tick(*, now: datetime | None = None) -> TickResult:
    """What is due by `now`: offers that rang out, overflows to the next queue, extra priority after a long wait;
    then a dispatch (an affinity that expired lets others take the contact). Safe in parallel and after a
    crash: everything it needs is in the rows."""
    now = now or timezone.now()
    result = TickResult()
    _timeouts(now, result)
    _overflows(now, result)
    _boosts(now, result)
    result.offered = routing_dispatch(now=now)
    return result


@transaction.atomic
def routing_repair() -> int:
    """Recount every agent's chats in hand from the contacts (they are kept in the same transactions, so this
    only mends rows edited by hand). → agents corrected."""
    in_hand: dict[int, int] = {}
    for agent_id in RoutedContact.objects.filter(state=ContactState.ASSIGNED).exclude(
            kind=QueueKind.PHONE).values_list("agent_id", flat=True):
        if agent_id:
            in_hand[agent_id] = in_hand.get(agent_id, 0) + 1
    corrected = 0
    for state in AgentState.objects.select_for_update():
        if state.chats != in_hand.get(state.user_id, 0):
            state.chats = in_hand.get(state.user_id, 0)
            state.save(update_fields=["chats"])
            corrected += 1
    return corrected


# --- statistics of routed chat and work-order queues ------------------------------------------------------------


def contact_figures(queue: Any, start: datetime, end: datetime) -> dict[str, float]:
    """A chat or work-order queue's interval figures from its contacts that entered the line in the interval and
    have ended: like a phone queue's from its calls (answered within the target, short abandons apart, waits and
    handling time in seconds)."""
    figures: dict[str, float] = {}
    ended = RoutedContact.objects.filter(queue=queue, enqueued_at__gte=start, enqueued_at__lt=end,
                                         state__in=[ContactState.FINISHED, ContactState.ABANDONED])
    # in a fixed order: the seconds are float sums, and the row order changes with the table's history
    for contact in ended.only("state", "enqueued_at", "assigned_at", "ended_at").order_by("pk"):
        figures["offered"] = figures.get("offered", 0) + 1
        if contact.assigned_at is not None:
            wait = (contact.assigned_at - contact.enqueued_at).total_seconds()
            figures["answered"] = figures.get("answered", 0) + 1
            figures["wait_seconds"] = figures.get("wait_seconds", 0) + wait
            figures["talk_seconds"] = figures.get("talk_seconds", 0) + max(
                0.0, ((contact.ended_at or contact.assigned_at) - contact.assigned_at).total_seconds())
            if wait <= queue.target_seconds:
                figures["answered_within_target"] = figures.get("answered_within_target", 0) + 1
            continue
        wait = ((contact.ended_at or contact.enqueued_at) - contact.enqueued_at).total_seconds()
        if wait < queue.short_abandon_seconds:
            figures["short_abandoned"] = figures.get("short_abandoned", 0) + 1
            continue
        figures["abandoned"] = figures.get("abandoned", 0) + 1
        if wait <= queue.target_seconds:
            figures["abandoned_within_target"] = figures.get("abandoned_within_target", 0) + 1
    return figures


def _count(contact: RoutedContact) -> None:
    if contact.kind != QueueKind.PHONE:  # a phone queue's figures come from its calls
        interval_write(queue_id=contact.queue_id, start=contact.enqueued_at, count=contact_figures)


# --- announcements -----------------------------------------------------------------------------------------------


def _announce_offers_made(made: list[tuple[Offer, RoutedContact]]) -> None:
    from kefu.routing import events

    events.announce_offers(made)


def _announce_offer_closed(offer: Offer) -> None:
    from kefu.routing import events

    events.announce_offer_closed(offer)


def _announce_queue(contact: RoutedContact) -> None:
    from kefu.routing import events

    events.announce_contact(contact)
