"""Matching waiting contacts to free agents, for the ACD's dispatch.

Each queue's best eligible agents are read once per dispatch pass (one statement per queue, prepared on
PostgreSQL so it is planned once per connection), the contacts of each batch take them in line order in memory,
and the chosen agents are then locked together with one `SELECT … FOR UPDATE SKIP LOCKED` that checks them again.
An agent that another dispatcher locked (or that left "available", or no longer qualifies) meanwhile is passed
over, and its contact tries the next one."""

# ruff: noqa: S608 - the statements are put together from table names, constants and placeholders; values are bound

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from kefu.accounts.models import AgentSkill
from kefu.core.policy import rights
from kefu.routing.choices import AgentStateKind, OfferOutcome, QueueKind, RoutingStrategy
from kefu.routing.models import AgentState, Offer, Queue, QueueSkill, RoutedContact
from kefu.routing.permissions import RoutingRight

_STATE, _OFFER = AgentState._meta.db_table, Offer._meta.db_table
_SKILL, _USER = AgentSkill._meta.db_table, get_user_model()._meta.db_table
_QUEUE, _NEED = Queue._meta.db_table, QueueSkill._meta.db_table


def _candidates_sql(*, strategy: str, skills: int, team: bool, chat: bool, preferred: bool, roles: int) -> str:
    """The statement that lists a queue's eligible free agents, best first. Its text depends only on the queue's
    shape (strategy, number of skills, team or not, kind), never on values, so one prepared statement serves
    every queue of that shape."""
    where = [  # constants written out, not bound: a generic plan still knows them (and the open-offer index)
        f"a.state = '{AgentStateKind.AVAILABLE.value}'", "u.is_active", f"u.role IN ({', '.join(['%s'] * roles)})",
        # the open offers are read once into a hash (at most one per agent), whatever the planner's statistics
        f"a.user_id NOT IN (SELECT o.agent_id FROM {_OFFER} o WHERE o.outcome = '{OfferOutcome.OPEN.value}')",
    ]
    if chat:
        where.append("a.chats < a.chat_capacity")
    if team:
        where.append("u.team_id = %s")
    if preferred:
        where.append("a.user_id = %s")
    where += [f"EXISTS (SELECT 1 FROM {_SKILL} s WHERE s.user_id = a.user_id AND s.skill_id = %s "
              "AND s.proficiency >= %s)"] * skills
    order = ["a.idle_since ASC NULLS FIRST", "a.since ASC", "a.user_id ASC"]
    if strategy == RoutingStrategy.LEAST_OCCUPIED:
        order.insert(0, "a.chats ASC")
    elif strategy == RoutingStrategy.PROFICIENCY and skills:
        order.insert(0, f"(SELECT COALESCE(SUM(t.proficiency), 0) FROM {_SKILL} t WHERE t.user_id = a.user_id "
                        f"AND t.skill_id IN ({', '.join(['%s'] * skills)})) DESC")
    return (f"SELECT a.user_id FROM {_STATE} a INNER JOIN {_USER} u ON u.id = a.user_id "
            f"WHERE {' AND '.join(where)} ORDER BY {', '.join(order)} LIMIT %s")


def _prepared() -> bool:
    """Keep the candidates statement prepared on the connection (planned once, not at each batch: planning costs
    several times what running it does). Only with Kefu's own connection pool on: with KEFU_DB_POOL=0 the database
    may be behind a transaction-mode pooler, where a statement prepared on one server connection is unknown on
    the next."""
    options = connection.settings_dict.get("OPTIONS") or {}
    return connection.vendor == "postgresql" and bool(options.get("pool")) and not options.get("server_side_binding")


def _rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    if _prepared():
        import psycopg

        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:  # Django turns automatic preparing off; its own cursors never prepare
            raw.prepare_threshold = 5
        with psycopg.Cursor(raw) as cursor:  # server-side binding, prepared at once
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class _Candidates:
    agents: list[int]
    complete: bool  # fewer than asked for: every eligible free agent is in the list
    limit: int
    batch: int  # the batch of the pass that read it


def _lock_sql(pairs: int, roles: int) -> str:
    """Lock the chosen agents, each checked again against its contact's queue in the same statement: available,
    no open offer, active with a front-line role, in the queue's team, every skill of the queue at its minimum
    proficiency (what the candidates list said a moment ago is only trusted for its order)."""
    sql = (f"WITH p (agent, queue) AS (VALUES {', '.join(['(%s, %s)'] * pairs)}) "
           f"SELECT a.user_id, a.chats, a.chat_capacity FROM {_STATE} a "
           f"INNER JOIN p ON p.agent = a.user_id INNER JOIN {_USER} u ON u.id = a.user_id "
           f"INNER JOIN {_QUEUE} q ON q.id = p.queue "
           f"WHERE a.state = '{AgentStateKind.AVAILABLE.value}' AND u.is_active "
           f"AND u.role IN ({', '.join(['%s'] * roles)}) AND (q.team_id IS NULL OR u.team_id = q.team_id) "
           f"AND a.user_id NOT IN (SELECT o.agent_id FROM {_OFFER} o "
           f"WHERE o.outcome = '{OfferOutcome.OPEN.value}') "
           f"AND NOT EXISTS (SELECT 1 FROM {_NEED} n WHERE n.queue_id = p.queue AND NOT EXISTS ("
           f"SELECT 1 FROM {_SKILL} s WHERE s.user_id = a.user_id AND s.skill_id = n.skill_id "
           f"AND s.proficiency >= n.min_proficiency))")
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF a SKIP LOCKED"
    return sql


class Matcher:
    """One dispatch pass's matching. Each queue's candidates (its eligible free agents, best first) are read once
    per pass and serve every batch of it, read again only when they run out; each chosen agent is checked again
    as it is locked, so a list read a moment ago may be stale in its order, never in who may take a contact."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.roles = sorted(rights().get(RoutingRight.CONTACT_TAKE.value, ()))
        self.skills: dict[int, list[QueueSkill]] = {}
        self.declined: dict[int, set[int]] = {}  # contact id → agents who declined it (or let it ring out) lately
        self.taken: set[int] = set()  # offered a contact in this pass
        self.lost: set[int] = set()  # locked by another dispatcher, no longer free, or refused by the index
        self.lists: dict[int, _Candidates] = {}
        self.batch = 0

    def begin(self, batch: list[RoutedContact], declined: dict[int, set[int]]) -> None:
        """A new batch of the pass: its contacts' recent declines, and the skills of queues not met before."""
        self.batch += 1
        self.declined = declined
        new = {contact.queue_id for contact in batch} - self.skills.keys()
        if new:
            for queue_id in new:
                self.skills[queue_id] = []
            for need in QueueSkill.objects.filter(queue_id__in=new):
                self.skills[need.queue_id].append(need)

    def _fetch(self, contact: RoutedContact, limit: int, preferred: int | None = None) -> _Candidates:
        queue = contact.queue
        needs = self.skills.get(queue.pk, [])
        chat = queue.kind != QueueKind.PHONE
        sql = _candidates_sql(strategy=queue.strategy, skills=len(needs), team=bool(queue.team_id), chat=chat,
                              preferred=preferred is not None, roles=len(self.roles))
        params: list[Any] = list(self.roles)
        if queue.team_id:
            params.append(queue.team_id)
        if preferred is not None:
            params.append(preferred)
        for need in needs:
            params += [need.skill_id, need.min_proficiency]
        if queue.strategy == RoutingStrategy.PROFICIENCY and needs:
            params += [need.skill_id for need in needs]
        params.append(limit)
        agents = [row[0] for row in _rows(sql, params)]
        return _Candidates(agents, len(agents) < limit, limit, self.batch)

    def _usable(self, agent_id: int, contact: RoutedContact) -> bool:
        return (agent_id not in self.taken and agent_id not in self.lost
                and agent_id not in self.declined.get(contact.pk, ()))

    def pick(self, contact: RoutedContact, waiting: int) -> int | None:
        """The best usable agent for the contact. `waiting`: the contacts of its queue still to match in this
        batch (how many candidates to read at once)."""
        if contact.preferred_agent_id and contact.preferred_until and contact.preferred_until > self.now:
            found = self._fetch(contact, 1, preferred=contact.preferred_agent_id).agents
            return found[0] if found and self._usable(found[0], contact) else None
        candidates = self.lists.get(contact.queue_id)
        while True:
            if candidates is not None:
                for agent_id in candidates.agents:
                    if self._usable(agent_id, contact):
                        return agent_id
                if candidates.complete and candidates.batch == self.batch:
                    return None
            # agents taken by other contacts may come back in the list: read enough to get past them
            limit = waiting + len(self.taken) + len(self.lost) + len(self.declined.get(contact.pk, ()))
            if candidates is not None and not candidates.complete:
                limit = max(limit, 2 * candidates.limit)
            candidates = self.lists[contact.queue_id] = self._fetch(contact, limit)

    def lock(self, chosen: list[tuple[RoutedContact, int]]) -> list[tuple[RoutedContact, int]]:
        """Lock the chosen agents with SKIP LOCKED (one statement) and check they may still take the contact;
        → the pairs that hold. The others' agents are lost for this pass."""
        params: list[Any] = [value for contact, agent_id in chosen for value in (agent_id, contact.queue_id)]
        with connection.cursor() as cursor:
            cursor.execute(_lock_sql(len(chosen), len(self.roles)), [*params, *self.roles])
            rows = {user_id: (chats, capacity) for user_id, chats, capacity in cursor.fetchall()}
        held = []
        for contact, agent_id in chosen:
            found = rows.get(agent_id)
            if found is not None and (contact.kind == QueueKind.PHONE or found[0] < found[1]):
                held.append((contact, agent_id))
            else:
                self.taken.discard(agent_id)
                self.lost.add(agent_id)
                # most often another dispatcher's offer: its queue's list is read again, without the agents
                # offered meanwhile, rather than discovered one failed lock at a time
                self.lists.pop(contact.queue_id, None)
        return held


def match(matcher: Matcher, contacts: list[RoutedContact]) -> list[tuple[RoutedContact, int]]:
    """Match the contacts (in line order) to agents and lock them: → (contact, agent id) pairs, locked. A contact
    whose agent was lost tries again with the next one; one that finds nobody is left out."""
    pending, held = contacts, []
    while pending:
        waiting: dict[int, int] = {}
        for contact in pending:
            waiting[contact.queue_id] = waiting.get(contact.queue_id, 0) + 1
        chosen = []
        for contact in pending:
            agent_id = matcher.pick(contact, waiting[contact.queue_id])
            waiting[contact.queue_id] -= 1
            if agent_id is not None:
                matcher.taken.add(agent_id)
                chosen.append((contact, agent_id))
        if not chosen:
            break
        kept = matcher.lock(chosen)
        held += kept
        if len(kept) == len(chosen):
            break
        kept_ids = {contact.pk for contact, _agent in kept}
        pending = [contact for contact, _agent in chosen if contact.pk not in kept_ids]
    return held
