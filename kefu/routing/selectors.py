"""Reads of routing: queues, their interval statistics, agents' states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from kefu.routing.choices import AgentStateKind
from kefu.routing.models import AgentState, IntervalStat, Queue


def queue_by_code(code: str) -> Queue | None:
    return Queue.objects.filter(code=str(code or "").strip().lower()[:40]).select_related("team").first()


def queues_by_code(codes: set[str]) -> dict[str, Queue]:
    return {q.code: q for q in Queue.objects.filter(code__in=codes)}


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
        sums = buckets.setdefault(bucket, dict.fromkeys(
            ("offered", "answered", "abandoned", "short_abandoned", "answered_within_target",
             "abandoned_within_target", "handle_seconds"), 0.0))
        for name in ("offered", "answered", "abandoned", "short_abandoned", "answered_within_target",
                     "abandoned_within_target"):
            sums[name] += getattr(stat, name)
        sums["handle_seconds"] += stat.talk_seconds + stat.hold_seconds + stat.acw_seconds
    return [IntervalRow(start=moment, queue=queue.code, offered=int(s["offered"]), answered=int(s["answered"]),
                        abandoned=int(s["abandoned"]), short_abandoned=int(s["short_abandoned"]),
                        answered_within_target=int(s["answered_within_target"]),
                        abandoned_within_target=int(s["abandoned_within_target"]),
                        handle_seconds=s["handle_seconds"])
            for moment, s in sorted(buckets.items()) if s["offered"]]


def effective_state(state: AgentState | None, now: datetime) -> str:
    """An agent's state as it stands: after-contact work whose time has run out is over (the periodic sweep
    writes it down a little later, with the exact time); never set is offline."""
    if state is None:
        return AgentStateKind.OFFLINE
    if state.state == AgentStateKind.AFTER_CONTACT and state.after_contact_until and state.after_contact_until <= now:
        return AgentStateKind.AVAILABLE
    return state.state


def agent_states(actor: Any, *, team_id: int | None = None) -> list[dict[str, Any]]:
    """Every active front-line agent's state (the wallboard's list), with the time in state."""
    from kefu.accounts.choices import FRONT_LINE
    from kefu.accounts.models import User

    now = timezone.now()
    users = User.objects.filter(is_active=True, role__in=FRONT_LINE).select_related("agent_state", "team")
    if team_id is not None:
        users = users.filter(team_id=team_id)
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
        "queue_id").annotate(offered=Sum("offered"), answered=Sum("answered"), abandoned=Sum("abandoned"),
                             short=Sum("short_abandoned"), a_in=Sum("answered_within_target"),
                             ab_in=Sum("abandoned_within_target"))}
    out = []
    for queue in Queue.objects.filter(is_active=True).order_by("code"):
        row = sums.get(queue.pk, {})
        out.append(QueueToday(queue=queue, offered=int(row.get("offered") or 0),
                              answered=int(row.get("answered") or 0), abandoned=int(row.get("abandoned") or 0),
                              short_abandoned=int(row.get("short") or 0),
                              answered_within_target=int(row.get("a_in") or 0),
                              abandoned_within_target=int(row.get("ab_in") or 0)))
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
