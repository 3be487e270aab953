"""Matching waiting contacts to free agents, for the ACD's dispatch.

Each queue's eligible free agents, best first, are listed once per dispatch pass and serve every batch of it. A
batch that needs the lists of several queues at once reads every free agent with their skills in one statement
(the pass's snapshot) and lists each queue's from it in memory; a batch that needs one or two lists reads each with
one statement per queue (prepared on PostgreSQL so it is planned once per connection), which costs less than the
snapshot when few queues are in play. The contacts of each batch take the agents in line order in memory, and the
chosen agents are then locked together with `FOR UPDATE SKIP LOCKED` and checked again (`agent_check`; on
PostgreSQL in the statement that writes the offers, elsewhere with `Matcher.lock`): an agent that another
dispatcher locked (or that left "available", or no longer qualifies) meanwhile is passed over, and its contact
tries the next one. Both ways of listing give the same agents in the same order (a test compares them)."""

# ruff: noqa: S608 - the statements are put together from table names, constants and placeholders; values are bound

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from kefu.accounts.models import AgentSkill
from kefu.core.policy import rights
from kefu.core.prepared import Prepared
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


def rows_of(sql: str, params: Sequence[Any], *, binary: bool = False) -> list[tuple[Any, ...]]:
    """Run a statement of the dispatcher's and fetch its rows: on PostgreSQL with the pool, prepared on the
    connection and with binary results (a timestamp is read without parsing its text). `binary` sends the
    parameters in binary too (an array of JSON is then not escaped character by character)."""
    if _prepared():
        import psycopg

        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:  # Django turns automatic preparing off; its own cursors never prepare
            raw.prepare_threshold = 5
        if not getattr(raw, "_kefu_generic_plans", False):
            # Planned once, run with any values: PostgreSQL would otherwise keep planning these statements for each
            # run (their generic plans look dearer than the custom ones), and planning cost several times what
            # running them does. Django's own statements bind their values client-side: no parameters, one plan.
            with raw.cursor() as cursor:
                cursor.execute("SET plan_cache_mode = force_generic_plan")
            raw._kefu_generic_plans = True  # type: ignore[attr-defined]
        with psycopg.Cursor(raw) as cursor:  # server-side binding, prepared at once
            cursor.execute(sql.replace("%s", "%b") if binary else sql, params, prepare=True, binary=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class _Candidates:
    agents: list[int]
    complete: bool  # fewer than asked for: every eligible free agent is in the list (or in `rest`)
    limit: int
    rest: Iterator[int] | None = None  # the snapshot's list of the queue, read on only as far as picks need

    def each(self) -> Iterator[int]:
        """The candidates best first, reading on into `rest` as the caller goes past the end of `agents`."""
        index = 0
        while True:
            if index < len(self.agents):
                yield self.agents[index]
                index += 1
                continue
            if self.rest is None:
                return
            following = next(self.rest, None)
            if following is None:
                self.rest = None
                return
            self.agents.append(following)


SNAPSHOT_QUEUES = 3  # a batch needing this many queues' lists reads every free agent at once
FEW = 2  # up to this many queues are read one by one with prepared reads; more with one statement
_QUEUE_READ = Prepared(lambda queue_id: Queue.objects.filter(pk=queue_id))
_NEEDS_READ = Prepared(lambda queue_id: QueueSkill.objects.filter(queue_id=queue_id).order_by("pk"))


@dataclass
class _Free:
    """A free agent as the pass's snapshot saw them."""

    user_id: int
    idle_since: datetime | None
    since: datetime
    chats: int
    capacity: int
    team_id: int | None
    skills: dict[int, int]  # skill id → proficiency


def _snapshot_sql(roles: int) -> str:
    """Every free agent who may take a contact (available, active, a front-line role, no open offer) with each of
    their skills: one row per skill (one with NULLs for an agent without any)."""
    return (f"SELECT a.user_id, a.idle_since, a.since, a.chats, a.chat_capacity, u.team_id, s.skill_id, "
            f"s.proficiency FROM {_STATE} a INNER JOIN {_USER} u ON u.id = a.user_id "
            f"LEFT JOIN {_SKILL} s ON s.user_id = a.user_id "
            f"WHERE a.state = '{AgentStateKind.AVAILABLE.value}' AND u.is_active "
            f"AND u.role IN ({', '.join(['%s'] * roles)}) "
            f"AND a.user_id NOT IN (SELECT o.agent_id FROM {_OFFER} o WHERE o.outcome = '{OfferOutcome.OPEN.value}')")


def _idle_key(agent: _Free) -> tuple[Any, ...]:
    """The candidates statement's ORDER BY for longest idle: never idle first of all, then the longest idle, then
    the longest in the state, then the lowest id (a total order)."""
    return (agent.idle_since is not None, agent.idle_since or agent.since, agent.since, agent.user_id)


def _order_key(strategy: str, needs: list[QueueSkill]) -> Any:
    """The candidates statement's ORDER BY, in memory, for agents already in longest-idle order (`rank`: their
    place in it): least occupied puts fewer chats first; proficiency puts the highest sum of the queue's skills
    first; longest idle keeps the order (None: no sort)."""
    wanted = [need.skill_id for need in needs]
    if strategy == RoutingStrategy.LEAST_OCCUPIED:
        return lambda pair: (pair[1].chats, pair[0])
    if strategy == RoutingStrategy.PROFICIENCY and wanted:
        return lambda pair: (-sum(pair[1].skills.get(skill, 0) for skill in wanted), pair[0])
    return None


def agent_check(roles: int) -> str:
    """The condition an agent `a` (user `u`) must meet, checked as they are locked, to take a contact of queue `q`
    (whose id is `p.queue`): available, no open offer, a free place for a chat, active with a front-line role
    (`roles` placeholders), in the queue's team, every skill of the queue at its minimum proficiency (what the
    candidates list said a moment ago is only trusted for its order)."""
    return (f"a.state = '{AgentStateKind.AVAILABLE.value}' AND u.is_active "
            f"AND (q.kind = '{QueueKind.PHONE.value}' OR a.chats < a.chat_capacity) "
            f"AND u.role IN ({', '.join(['%s'] * roles)}) AND (q.team_id IS NULL OR u.team_id = q.team_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {_OFFER} o WHERE o.agent_id = a.user_id "
            f"AND o.outcome = '{OfferOutcome.OPEN.value}') "
            f"AND NOT EXISTS (SELECT 1 FROM {_NEED} n WHERE n.queue_id = p.queue AND NOT EXISTS ("
            f"SELECT 1 FROM {_SKILL} s WHERE s.user_id = a.user_id AND s.skill_id = n.skill_id "
            f"AND s.proficiency >= n.min_proficiency))")


def _lock_sql(pairs: int, roles: int) -> str:
    """Lock the chosen agents, each checked again against its contact's queue in the same statement
    (`agent_check`): the form for SQLite, where the batch's write transaction holds the line. PostgreSQL locks
    and checks them in the statement that writes the offers (acd's `_claim_sql`)."""
    sql = (f"WITH p (agent, queue) AS (VALUES {', '.join(['(%s, %s)'] * pairs)}) "
           f"SELECT a.user_id FROM {_STATE} a INNER JOIN p ON p.agent = a.user_id "
           f"INNER JOIN {_USER} u ON u.id = a.user_id INNER JOIN {_QUEUE} q ON q.id = p.queue "
           f"WHERE {agent_check(roles)}")
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF a SKIP LOCKED"
    return sql


class Matcher:
    """One dispatch pass's matching. Each queue's candidates (its eligible free agents, best first) are read once
    per pass and serve every batch of it; a partial list is read again, longer, when it runs out, and a complete
    one stands for the pass (an agent freed meanwhile starts a pass of their own, and the routing tick runs every
    second). Each chosen agent is checked again as it is locked, so a list read a moment ago may be stale in its
    order, never in who may take a contact."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.roles = sorted(rights().get(RoutingRight.CONTACT_TAKE.value, ()))
        self.skills: dict[int, list[QueueSkill]] = {}
        self.declined: dict[int, set[int]] = {}  # contact id → agents who declined it (or let it ring out) lately
        self.taken: set[int] = set()  # offered a contact in this pass
        self.lost: set[int] = set()  # locked by another dispatcher, no longer free, or refused by the index
        self.lists: dict[int, _Candidates] = {}
        self.queues: dict[int, Queue] = {}  # read once per pass, as the skills
        self.free: list[_Free] | None = None  # the pass's snapshot, once a batch needed it
        self.by_skill: dict[int, list[_Free]] = {}

    def load_queues(self, queue_ids: set[int]) -> None:
        """Read the queues not met yet in this pass (whether they are still routed and active is checked as their
        contacts are locked): one or two by a prepared read each (a contact entering the line starts a pass for
        its queue), more at once."""
        new = queue_ids - self.queues.keys()
        if len(new) > FEW:
            self.queues.update(Queue.objects.in_bulk(new))
        else:
            for queue_id in new:
                self.queues.update((queue.pk, queue) for queue in _QUEUE_READ.run(queue_id))

    def queue(self, queue_id: int) -> Queue:
        """The queue, read once per pass."""
        if queue_id not in self.queues:
            self.load_queues({queue_id})
        return self.queues[queue_id]

    def anyone_free(self) -> bool:
        """Whether the pass's snapshot holds an agent not offered a contact or lost in this pass."""
        return any(agent.user_id not in self.taken and agent.user_id not in self.lost for agent in self.free or ())

    def foresee(self, queue_ids: list[int]) -> None:
        """Before the pass's first batch: when the contacts first in line come from several queues, read every
        routed queue, its skills and every free agent now, and list the candidates of those queues, before the
        first batch reads its contacts (its decisions would otherwise wait for all of it)."""
        if len(set(queue_ids)) < SNAPSHOT_QUEUES:
            return
        self.queues.update({queue.pk: queue for queue in Queue.objects.filter(routed=True, is_active=True)})
        self._load_skills(set(self.queues))
        self._snapshot()
        for queue_id in set(queue_ids) & self.queues.keys():  # and the lists the first batch will need
            self.lists[queue_id] = self._listed(self.queues[queue_id])

    def _load_skills(self, queue_ids: set[int]) -> None:
        new = queue_ids - self.skills.keys()
        for queue_id in new:
            self.skills[queue_id] = _NEEDS_READ.run(queue_id) if len(new) <= FEW else []
        if len(new) > FEW:
            for need in QueueSkill.objects.filter(queue_id__in=new):
                self.skills[need.queue_id].append(need)

    def begin(self, batch: list[RoutedContact], declined: dict[int, set[int]]) -> None:
        """A new batch of the pass: its contacts' recent declines, and the skills of queues not met before."""
        self.declined = declined
        self._load_skills({contact.queue_id for contact in batch})

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
        agents = [row[0] for row in rows_of(sql, params)]
        return _Candidates(agents, len(agents) < limit, limit)

    def _snapshot(self) -> list[_Free]:
        """Every free agent with their skills, read once per pass (agents freed later start their own pass)."""
        if self.free is None:
            free: dict[int, _Free] = {}
            for user_id, idle_since, since, chats, capacity, team_id, skill_id, proficiency in rows_of(
                    _snapshot_sql(len(self.roles)), self.roles):
                agent = free.get(user_id)
                if agent is None:
                    agent = free[user_id] = _Free(user_id, idle_since, since, chats, capacity, team_id, {})
                if skill_id is not None:
                    agent.skills[skill_id] = proficiency
            self.free = sorted(free.values(), key=_idle_key)  # each skill's list below is in this order too
            for agent in self.free:
                for skill_id in agent.skills:
                    self.by_skill.setdefault(skill_id, []).append(agent)
        return self.free

    def _listed(self, queue: Queue) -> _Candidates:
        """The queue's candidates from the snapshot: what the candidates statement would read, every one of them,
        found one by one as picks go down the list (a batch's first contacts of a queue seldom need more than its
        first few agents, and the snapshot's order is longest idle already: only the other strategies sort)."""
        needs = self.skills.get(queue.pk, [])
        pool: list[_Free] = (min((self.by_skill.get(need.skill_id, []) for need in needs), key=len) if needs
                             else self._snapshot())
        key = _order_key(queue.strategy, needs)
        if key is not None:
            pool = [agent for _rank, agent in sorted(enumerate(pool), key=key)]
        return _Candidates([], True, len(pool) + 1, rest=self._eligible(queue, needs, pool))

    @staticmethod
    def _eligible(queue: Queue, needs: list[QueueSkill], pool: list[_Free]) -> Iterator[int]:
        chat, team = queue.kind != QueueKind.PHONE, queue.team_id
        wanted = [(need.skill_id, need.min_proficiency) for need in needs]
        for agent in pool:
            if ((not chat or agent.chats < agent.capacity) and (not team or agent.team_id == team)
                    and all(agent.skills.get(skill, -1) >= level for skill, level in wanted)):
                yield agent.user_id

    def prepare(self, contacts: list[RoutedContact]) -> None:
        """Before picking: when the contacts need the lists of several queues not listed yet in this pass, list
        them all from the snapshot (one statement instead of one per queue)."""
        missing = {contact.queue_id: contact.queue for contact in contacts
                   if contact.queue_id not in self.lists and not self._prefers(contact)}
        if missing and (self.free is not None or len(missing) >= SNAPSHOT_QUEUES):
            self._snapshot()
            for queue_id, queue in missing.items():
                self.lists[queue_id] = self._listed(queue)

    def _prefers(self, contact: RoutedContact) -> bool:
        return bool(contact.preferred_agent_id and contact.preferred_until and contact.preferred_until > self.now)

    def _usable(self, agent_id: int, contact: RoutedContact) -> bool:
        return (agent_id not in self.taken and agent_id not in self.lost
                and agent_id not in self.declined.get(contact.pk, ()))

    def pick(self, contact: RoutedContact, waiting: int) -> int | None:
        """The best usable agent for the contact. `waiting`: the contacts of its queue still to match in this
        batch (how many candidates to read at once)."""
        if self._prefers(contact):
            found = self._fetch(contact, 1, preferred=contact.preferred_agent_id).agents
            return found[0] if found and self._usable(found[0], contact) else None
        candidates = self.lists.get(contact.queue_id)
        while True:
            if candidates is not None:
                for agent_id in candidates.each():
                    if self._usable(agent_id, contact):
                        return agent_id
                if candidates.complete:
                    return None
            # agents taken by other contacts may come back in the list: read enough to get past them
            limit = waiting + len(self.taken) + len(self.lost) + len(self.declined.get(contact.pk, ()))
            if candidates is not None and not candidates.complete:
                limit = max(limit, 2 * candidates.limit)
            candidates = self.lists[contact.queue_id] = (
                self._listed(contact.queue) if self.free is not None else self._fetch(contact, limit))

    def lock(self, chosen: list[tuple[RoutedContact, int]]) -> list[tuple[RoutedContact, int]]:
        """Lock the chosen agents with SKIP LOCKED (one statement) and check they may still take the contact;
        → the pairs that hold. The others' agents are lost for this pass."""
        params = [value for contact, agent_id in chosen for value in (agent_id, contact.queue_id)]
        locked = {row[0] for row in rows_of(_lock_sql(len(chosen), len(self.roles)), [*params, *self.roles])}
        held = []
        for contact, agent_id in chosen:
            if agent_id in locked:
                held.append((contact, agent_id))
            else:
                self.refused(contact, agent_id)
        return held

    def refused(self, contact: RoutedContact, agent_id: int) -> None:
        """The agent chosen for the contact could not take it (locked by another process, no longer free, or
        offered a contact meanwhile): lost for this pass."""
        self.taken.discard(agent_id)
        self.lost.add(agent_id)
        # most often another dispatcher's offer: the queue's list is read again, without the agents offered
        # meanwhile, rather than discovered one failed lock at a time
        self.lists.pop(contact.queue_id, None)


def choose(matcher: Matcher, contacts: list[RoutedContact]) -> list[tuple[RoutedContact, int]]:
    """The best usable agent of each contact, in line order, without locking anyone: → (contact, agent id)
    pairs; a contact that finds nobody is left out."""
    waiting: dict[int, int] = {}
    for contact in contacts:
        waiting[contact.queue_id] = waiting.get(contact.queue_id, 0) + 1
    matcher.prepare(contacts)
    chosen = []
    for contact in contacts:
        agent_id = matcher.pick(contact, waiting[contact.queue_id])
        waiting[contact.queue_id] -= 1
        if agent_id is not None:
            matcher.taken.add(agent_id)
            chosen.append((contact, agent_id))
    return chosen


def match(matcher: Matcher, contacts: list[RoutedContact]) -> list[tuple[RoutedContact, int]]:
    """Match the contacts (in line order) to agents and lock them: → (contact, agent id) pairs, locked. A contact
    whose agent was lost tries again with the next one; one that finds nobody is left out."""
    pending, held = contacts, []
    while pending:
        chosen = choose(matcher, pending)
        if not chosen:
            break
        kept = matcher.lock(chosen)
        held += kept
        if len(kept) == len(chosen):
            break
        kept_ids = {contact.pk for contact, _agent in kept}
        pending = [contact for contact, _agent in chosen if contact.pk not in kept_ids]
    return held
