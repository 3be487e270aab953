"""Reads of routing: queues, their interval statistics, agents' states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from kefu.routing.choices import AgentStateKind, ContactState
from kefu.routing.models import AgentState, IntervalStat, Queue, QueueSkill


def queue_by_code(code: str) -> Queue | None:
    return Queue.objects.filter(code=str(code or "").strip().lower()[:40]).select_related("team").first()


def queues_by_code(codes: set[str]) -> dict[str, Queue]:
    return {q.code: q for q in Queue.objects.filter(code__in=codes)}


def queues_with_line() -> QuerySet[Queue]:
    """Every queue with its team, overflow target, required skills and `in_line`: its contacts waiting or being
    offered now (the settings pages; active queues first)."""
    return (Queue.objects.select_related("team", "overflow_to")
            .prefetch_related(Prefetch("skills", queryset=QueueSkill.objects.select_related("skill")
                                       .order_by("skill__code")))
            .annotate(in_line=Count("contacts", filter=Q(contacts__state__in=[ContactState.WAITING,
                                                                              ContactState.OFFERED])))
            .order_by("-is_active", "code"))


# the counted columns of an interval row, summed alike over intervals (history files) and over a day (wallboard)
COUNTED = ("offered", "answered", "abandoned", "short_abandoned", "answered_within_target", "abandoned_within_target")


@dataclass(frozen=True)
class IntervalRow:
    """One interval of a queue's history, in the shape planning reads (`kefu wfm forecast --history`)."""

    start: datetime
    queue: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within_target: int
    abandoned_within_target: int
    handle_seconds: float  # talk + hold + after-contact work, total

    @property
    def aht_seconds(self) -> float | None:
        return self.handle_seconds / self.answered if self.answered else None


def interval_rows(queue: Queue, start: datetime, end: datetime, minutes: int = 15) -> list[IntervalRow]:
    """The queue's intervals of `minutes` (15, 30 or 60: sums of the 15-minute rows) from `start` to `end`,
    those with contacts only (an interval missing from a day with contacts had none; a day without is closed)."""
    if minutes % 15 or not 15 <= minutes <= 60 or 60 % minutes:
        raise ValueError("minutes must be 15, 30 or 60")
    buckets: dict[datetime, dict[str, float]] = {}
    for stat in IntervalStat.objects.filter(queue=queue, start__gte=start, start__lt=end).order_by("start"):
        local = timezone.localtime(stat.start)
        bucket = local.replace(minute=local.minute - local.minute % minutes)
        sums = buckets.setdefault(bucket, dict.fromkeys((*COUNTED, "handle_seconds"), 0.0))
        for name in COUNTED:
            sums[name] += getattr(stat, name)
        sums["handle_seconds"] += stat.talk_seconds + stat.hold_seconds + stat.acw_seconds
    return [IntervalRow(start=moment, queue=queue.code, handle_seconds=s["handle_seconds"],
                        **{name: int(s[name]) for name in COUNTED})
            for moment, s in sorted(buckets.items()) if s["offered"]]


def effective_state(state: AgentState | None, now: datetime) -> str:
    """An agent's state as it stands: after-contact work whose time has run out is over (the periodic sweep
    writes it down a little later, with the exact time); never set is offline."""
    if state is None:
        return AgentStateKind.OFFLINE
    if state.state == AgentStateKind.AFTER_CONTACT and state.after_contact_until and state.after_contact_until <= now:
        return AgentStateKind.AVAILABLE
    return state.state


def agent_states(actor: Any, *, team_id: int | None = None, user_id: int | None = None) -> list[dict[str, Any]]:
    """Every active front-line agent's state (the wallboard's list), with the time in state; `team_id`: one
    team's; `user_id`: that one agent's row only (an empty list for someone who is not a front-line agent)."""
    from kefu.accounts.choices import FRONT_LINE
    from kefu.accounts.models import User

    now = timezone.now()
    users = User.objects.filter(is_active=True, role__in=FRONT_LINE).select_related("agent_state", "team")
    if team_id is not None:
        users = users.filter(team_id=team_id)
    if user_id is not None:
        users = users.filter(pk=user_id)
    rows = []
    for user in users.order_by("team__name", "display_name", "username"):
        state = getattr(user, "agent_state", None)
        current = effective_state(state, now)
        since = state.after_contact_until if state and current != state.state else (state.since if state else None)
        rows.append({"user_id": user.pk, "name": str(user), "team_id": user.team_id, "state": current,
                     "since": since, "seconds_in_state": (now - since).total_seconds() if since else None,
                     "source": state.source if state else "", "note": state.note if state else ""})
    return rows


@dataclass(frozen=True)
class QueueToday:
    """One queue's figures since local midnight, each with its definition (PRODUCT §2.9)."""

    queue: Queue
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within_target: int
    abandoned_within_target: int

    @property
    def service_level(self) -> float | None:
        """Under the queue's formula (1–4); None before any contact counts."""
        a, ab, a_in, ab_in = self.answered, self.abandoned, self.answered_within_target, self.abandoned_within_target
        formula = self.queue.formula
        if formula == 1:
            num, den = a_in + ab_in, a + ab
        elif formula == 2:
            num, den = a_in, a
        elif formula == 3:
            num, den = a_in, a + ab
        else:
            num, den = a_in, a + (ab - ab_in)
        return num / den if den else None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def abandon_rate(self) -> float | None:
        """Abandons (short ones left out) over contacts offered less the short abandons."""
        counted = self.offered - self.short_abandoned
        return self.abandoned / counted if counted > 0 else None


def queues_today(now: datetime) -> list[QueueToday]:
    """Every active queue's figures since local midnight (one query over the interval rows)."""
    from django.db.models import Sum

    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    sums = {r["queue_id"]: r for r in IntervalStat.objects.filter(start__gte=midnight, start__lt=now).values(
        "queue_id").annotate(**{f"sum_{name}": Sum(name) for name in COUNTED})}
    out = []
    for queue in Queue.objects.filter(is_active=True).order_by("code"):
        row = sums.get(queue.pk, {})
        out.append(QueueToday(queue=queue, **{name: int(row.get(f"sum_{name}") or 0) for name in COUNTED}))
    return out


def open_offers(actor: Any) -> list[dict[str, Any]]:
    """The offers open to `actor` now (at most one: the database allows one open offer per agent)."""
    from kefu.routing.models import Offer

    rows = []
    for offer in (Offer.objects.filter(agent_id=getattr(actor, "pk", None), outcome="")
                  .select_related("contact__queue", "contact__customer").order_by("offered_at")):
        contact = offer.contact
        rows.append({"id": offer.pk, "ref": contact.ref, "kind": contact.kind, "queue": contact.queue.code,
                     "queue_name": contact.queue.name, "customer_id": contact.customer_id,
                     "customer_name": contact.customer.name if contact.customer_id else "",
                     "is_vip": contact.is_vip, "callback_number": contact.callback_number,
                     "offered_at": offer.offered_at, "expires_at": offer.expires_at})
    return rows


# --- the agent's desktop (我的工作台): one agent's own state, day, offer, contacts and queues -------------------


def local_midnight(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def state_seconds_between(user_id: int, start: datetime, end: datetime) -> dict[str, float]:
    """Seconds the agent spent in each state between `start` and `end`, from the state history (spans cut to
    the window; the open one runs to `end`). One query."""
    from django.db.models import Q

    from kefu.routing.models import AgentStateSpan

    totals: dict[str, float] = {}
    spans = (AgentStateSpan.objects.filter(user_id=user_id, started_at__lt=end)
             .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start)).values_list("state", "started_at", "ended_at"))
    for state, started, ended in spans:
        seconds = (min(ended or end, end) - max(started, start)).total_seconds()
        if seconds > 0:
            totals[state] = totals.get(state, 0.0) + seconds
    return totals


def routed_handled_between(user_id: int, start: datetime, end: datetime) -> tuple[int, float]:
    """Routed chats and work orders (not calls: those are counted from the calls) the agent finished between
    `start` and `end`: (how many, total seconds from acceptance to the end)."""
    from kefu.routing.choices import ContactState, QueueKind
    from kefu.routing.models import RoutedContact

    count, seconds = 0, 0.0
    for assigned, ended in (RoutedContact.objects.filter(agent_id=user_id, state=ContactState.FINISHED,
                                                         ended_at__gte=start, ended_at__lt=end)
                            .exclude(kind=QueueKind.PHONE).values_list("assigned_at", "ended_at")):
        count += 1
        if assigned and ended:
            seconds += max(0.0, (ended - assigned).total_seconds())
    return count, seconds


def live_contacts(actor: Any) -> list[Any]:
    """The routed contacts in the agent's hands now (assigned to them, not finished), oldest first."""
    from kefu.routing.choices import ContactState
    from kefu.routing.models import RoutedContact

    return list(RoutedContact.objects.filter(agent_id=getattr(actor, "pk", None), state=ContactState.ASSIGNED)
                .select_related("queue", "customer").order_by("assigned_at", "pk"))


def open_offer_for(actor: Any) -> Any:
    """The offer open to `actor` now with its contact, queue and customer (None when there is none)."""
    from kefu.routing.models import Offer

    return (Offer.objects.filter(agent_id=getattr(actor, "pk", None), outcome="")
            .select_related("contact__queue", "contact__customer").order_by("offered_at").first())


def queues_of_agent(actor: Any) -> list[Queue]:
    """The active queues whose contacts may reach the agent: the queue's team is theirs (or it names none) and,
    for a routed queue, they hold every skill it requires at its level."""
    from django.db.models import Q

    from kefu.accounts.models import AgentSkill
    from kefu.routing.models import QueueSkill

    team_id = getattr(actor, "team_id", None)
    queues = list(Queue.objects.filter(is_active=True).filter(Q(team__isnull=True) | Q(team_id=team_id))
                  .order_by("code"))
    held = dict(AgentSkill.objects.filter(user_id=getattr(actor, "pk", None)).values_list("skill_id", "proficiency"))
    needs: dict[int, list[tuple[int, int]]] = {}
    for queue_id, skill_id, level in QueueSkill.objects.filter(queue__in=queues).values_list(
            "queue_id", "skill_id", "min_proficiency"):
        needs.setdefault(queue_id, []).append((skill_id, level))
    return [q for q in queues if all(held.get(skill, 0) >= level for skill, level in needs.get(q.pk, []))]


def routed_waiting_by_queue(queue_ids: list[int], now: datetime) -> dict[int, tuple[int, float]]:
    """Per routed queue id: contacts in line now (waiting or being offered) and the longest wait in seconds,
    counted from when each entered the line. One query."""
    from django.db.models import Count, Min

    from kefu.routing.choices import ContactState
    from kefu.routing.models import RoutedContact

    rows = (RoutedContact.objects.filter(queue_id__in=queue_ids, state__in=[ContactState.WAITING,
                                                                            ContactState.OFFERED])
            .values("queue_id").annotate(n=Count("pk"), first=Min("enqueued_at")))
    return {r["queue_id"]: (int(r["n"]), max(0.0, (now - r["first"]).total_seconds())) for r in rows}


def contact_in_line(ref: str) -> Any:
    """The open routed contact (waiting, offered or assigned) of `ref` ("conversation:42"), with its queue, or
    None when it is not in routing."""
    from kefu.routing.choices import OPEN_CONTACT_STATES
    from kefu.routing.models import RoutedContact

    return (RoutedContact.objects.filter(ref=ref, state__in=list(OPEN_CONTACT_STATES)).select_related("queue")
            .first())


def routed_chat_queues() -> Any:
    """The active queues Kefu routes whose contacts are chats: what a channel may name as its queue."""
    from kefu.routing.choices import QueueKind

    return Queue.objects.filter(routed=True, is_active=True, kind=QueueKind.CHAT).order_by("code")


def conversations_in_line(conversation_ids: list[int]) -> dict[int, str]:
    """Of these conversations, those waiting in a routed queue (in line or being offered) → the queue's name.
    One query."""
    from kefu.routing.choices import ContactState
    from kefu.routing.models import RoutedContact

    refs = {f"conversation:{pk}": pk for pk in conversation_ids}
    if not refs:
        return {}
    rows = (RoutedContact.objects.filter(ref__in=list(refs), state__in=[ContactState.WAITING, ContactState.OFFERED])
            .values_list("ref", "queue__name"))
    return {refs[ref]: name for ref, name in rows}
