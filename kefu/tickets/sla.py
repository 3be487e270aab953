"""SLA engine: choose a work order's policy, run its clocks on business time, warn before a breach and
escalate after (逐级汇报). Hooks run inside the ticket services' transaction; `sla_sweep` runs every minute.

A clock's business time elapsed is `elapsed_before_pause` plus the business seconds since `resumed_at` (on
the calendar of the clock's policy); `due_at` and `warn_at` are derived from it whenever the clock (re)starts.
See docs/sla.md for the rules in operators' words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.calendars import CalendarSpec, add_business_seconds, build_spec, business_seconds_between
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.tickets.choices import (
    OPEN_STATUSES,
    DispatchStatus,
    EventKind,
    SlaClockState,
    SlaMetric,
    SlaStanding,
    Status,
)
from kefu.tickets.events import publish_ticket_change, ticket_event_record
from kefu.tickets.models import SlaClock, SlaPolicy, Ticket
from kefu.tickets.permissions import TicketRight

log = logging.getLogger(__name__)

TARGET_FIELDS: dict[str, str] = {
    SlaMetric.FIRST_RESPONSE: "first_response_seconds",
    SlaMetric.NEXT_RESPONSE: "next_response_seconds",
    SlaMetric.ONSITE: "onsite_seconds",
    SlaMetric.RESOLUTION: "resolution_seconds",
}
# Clocks started with the order; next-response clocks start on each customer message instead.
STARTED_ON_ATTACH = (SlaMetric.FIRST_RESPONSE, SlaMetric.ONSITE, SlaMetric.RESOLUTION)
RESPONSE_METRICS = (SlaMetric.FIRST_RESPONSE, SlaMetric.NEXT_RESPONSE)
OPEN_CLOCK = Q(stopped_at__isnull=True, state__in=[SlaClockState.RUNNING, SlaClockState.PAUSED,
                                                   SlaClockState.BREACHED])
TEAM_LEAD_LEVEL, MANAGER_LEVEL = 1, 2
SWEEP_BATCH = 200
WALL_CLOCK = CalendarSpec(time_zone="UTC", always_open=True)


@dataclass(frozen=True)
class SweepResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0
    skipped: int = 0  # orders locked by another worker or a service; the next sweep takes them


# ---------------------------------------------------------------------------------------------- calendars


def spec_from_model(calendar: BusinessCalendar | None) -> CalendarSpec:
    """The CalendarSpec of a BusinessCalendar and its CalendarDay rows (one query for the days, once per version
    of the calendar in each process).

    A calendar whose stored hours cannot be read falls back to the wall clock, logged, rather than
    failing every work order that uses it.
    """
    if calendar is None:
        return WALL_CLOCK
    version = (calendar.pk, calendar.updated_at, calendar.time_zone, calendar.always_open, repr(calendar.week))
    spec = _SPECS.get(version)
    if spec is None:
        if len(_SPECS) > 256:
            _SPECS.clear()
        spec = _SPECS[version] = _load_spec(calendar)
    return spec


# Specs by calendar id and version (updated_at and the calendar's own fields): a calendar changes rarely and
# every SLA hook reads one, so each process builds it once per version. Saving a calendar or one of its days
# stamps a new updated_at; a bulk write to the days must save the calendar too.
_SPECS: dict[tuple[Any, ...], CalendarSpec] = {}


def _load_spec(calendar: BusinessCalendar) -> CalendarSpec:
    holidays: list[Any] = []
    workdays: dict[Any, Any] = {}
    for day in CalendarDay.objects.filter(calendar=calendar).only("date", "kind", "periods"):
        if day.kind == CalendarDay.Kind.HOLIDAY:
            holidays.append(day.date)
        else:
            workdays[day.date] = day.periods
    try:
        return build_spec(time_zone=calendar.time_zone, always_open=calendar.always_open, week=calendar.week,
                          holidays=holidays, workdays=workdays)
    except ValueError as exc:
        log.error("business calendar %s (%s) is invalid: %s; its SLA clocks run on the wall clock",
                  calendar.pk, calendar.name, exc)
        return CalendarSpec(time_zone="UTC", always_open=True)


class _Calendars:
    """Calendar specs of the policies met during one hook call or sweep (each calendar read once)."""

    def __init__(self) -> None:
        self._by_calendar: dict[int, CalendarSpec] = {}

    def of(self, policy: SlaPolicy | None) -> CalendarSpec:
        if policy is None:
            return WALL_CLOCK
        if policy.calendar_id not in self._by_calendar:
            self._by_calendar[policy.calendar_id] = spec_from_model(policy.calendar)
        return self._by_calendar[policy.calendar_id]


def _add(spec: CalendarSpec, start: datetime, seconds: int) -> datetime:
    try:
        return add_business_seconds(spec, start, seconds)
    except ValueError as exc:  # a calendar with no working time left: better a wall-clock due time than none
        log.error("SLA due time on the wall clock: %s", exc)
        return start + timedelta(seconds=seconds)


def _whole_second(at: datetime) -> datetime:
    # Clocks keep whole seconds so that elapsed business time is exact.
    return at.replace(microsecond=0)


# ---------------------------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class TicketFacts:
    """What a policy matches on."""

    ticket_type: str
    priority: str
    channel: str
    tier: str
    vip: bool

    @classmethod
    def of(cls, ticket: Ticket) -> TicketFacts:
        customer = ticket.customer if ticket.customer_id else None
        return cls(ticket_type=ticket.ticket_type, priority=ticket.priority, channel=ticket.channel,
                   tier=customer.tier if customer else "", vip=bool(customer and customer.is_vip))


def policy_score(policy: SlaPolicy, facts: TicketFacts) -> int | None:
    """How many of the policy's matching fields the order meets; None when one of them does not match.

    Blank fields match anything and do not count.
    """
    score = 0
    for wanted, actual in ((policy.ticket_type, facts.ticket_type), (policy.priority, facts.priority),
                           (policy.customer_tier, facts.tier), (policy.channel, facts.channel)):
        if wanted:
            if wanted != actual:
                return None
            score += 1
    if policy.vip_only:
        if not facts.vip:
            return None
        score += 1
    return score


def choose_policy(policies: Iterable[SlaPolicy], facts: TicketFacts) -> SlaPolicy | None:
    """The most specific matching active policy; equally specific ones are ordered by name."""
    ranked = [(-score, policy.name, policy) for policy in policies
              if policy.is_active and (score := policy_score(policy, facts)) is not None]
    return min(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


def sla_policy_for(*, ticket: Ticket) -> SlaPolicy | None:
    """The policy an order gets now (one query, filtered in the database)."""
    facts = TicketFacts.of(ticket)
    candidates = SlaPolicy.objects.filter(
        is_active=True, ticket_type__in=["", facts.ticket_type], priority__in=["", facts.priority],
        customer_tier__in=["", facts.tier], channel__in=["", facts.channel],
    ).select_related("calendar")
    if not facts.vip:
        candidates = candidates.filter(vip_only=False)
    return choose_policy(candidates, facts)


# ---------------------------------------------------------------------------------------------- clocks


def _target(policy: SlaPolicy | None, metric: str) -> int | None:
    return getattr(policy, TARGET_FIELDS[metric]) if policy is not None else None


def clock_elapsed(clock: SlaClock, spec: CalendarSpec, at: datetime) -> int:
    """Business seconds the clock has run by `at`."""
    if clock.state == SlaClockState.PAUSED or clock.resumed_at is None:
        return clock.elapsed_before_pause
    return clock.elapsed_before_pause + business_seconds_between(spec, clock.resumed_at, at)


def _run_from(clock: SlaClock, spec: CalendarSpec, fraction: float, at: datetime) -> None:
    """(Re)start the clock at `at` with `elapsed_before_pause` already used; derive due and warning times."""
    clock.state = SlaClockState.RUNNING
    clock.resumed_at = at
    clock.paused_at = None
    used = clock.elapsed_before_pause
    clock.due_at = _add(spec, at, max(0, clock.target_seconds - used))
    if clock.warned_at is None and 0 < fraction < 1:
        clock.warn_at = _add(spec, at, max(0, int(clock.target_seconds * fraction) - used))
    else:
        clock.warn_at = None


def _new_clock(*, ticket: Ticket, policy: SlaPolicy, metric: str, at: datetime, calendars: _Calendars,
               elapsed: int = 0, running: bool | None = None) -> SlaClock:
    """A clock from `at`, paused when the order waits on the customer (unless `running` says otherwise)."""
    clock = SlaClock(ticket=ticket, metric=metric, policy=policy, target_seconds=_target(policy, metric) or 0,
                     started_at=at, elapsed_before_pause=elapsed)
    if not (running if running is not None else ticket.status != Status.WAITING_CUSTOMER):
        clock.state, clock.paused_at = SlaClockState.PAUSED, at
    else:
        _run_from(clock, calendars.of(policy), policy.warning_fraction, at)
    return clock


def _open_clocks(ticket: Ticket, metrics: Iterable[str] | None = None) -> list[SlaClock]:
    qs = SlaClock.objects.filter(OPEN_CLOCK, ticket=ticket).select_related("policy__calendar")
    if metrics is not None:
        qs = qs.filter(metric__in=list(metrics))
    return list(qs.order_by("id"))


def _pause(clock: SlaClock, spec: CalendarSpec, at: datetime) -> None:
    clock.elapsed_before_pause = clock_elapsed(clock, spec, at)
    clock.state = SlaClockState.PAUSED
    clock.paused_at = at
    clock.resumed_at = None
    clock.due_at = None
    clock.warn_at = None


def _stop(clock: SlaClock, spec: CalendarSpec, at: datetime, ticket: Ticket) -> None:
    """Stop an open clock: met when its business time is within target (the due moment itself counts),
    breached otherwise. A breach the sweep had not seen yet is recorded now, without escalation."""
    clock.stopped_at = at
    clock.warn_at = None
    if clock.state == SlaClockState.BREACHED:
        return
    elapsed = clock_elapsed(clock, spec, at)
    clock.elapsed_before_pause = elapsed
    if elapsed <= clock.target_seconds:
        clock.state = SlaClockState.MET
        return
    clock.state = SlaClockState.BREACHED
    clock.breached_at = clock.due_at or at
    ticket_event_record(ticket=ticket, kind=EventKind.SLA_BREACHED,
                        data={"metric": clock.metric, "target_seconds": clock.target_seconds,
                              "elapsed_seconds": elapsed, "detected": "on_stop"})


_CLOCK_FIELDS = ["policy", "target_seconds", "state", "due_at", "warn_at", "paused_at", "resumed_at",
                 "elapsed_before_pause", "stopped_at", "breached_at"]


def _save(clocks: Iterable[SlaClock]) -> None:
    changed = list(clocks)
    if changed:
        SlaClock.objects.bulk_update(changed, _CLOCK_FIELDS)


# ---------------------------------------------------------------------------------------------- standing


def compute_standing(clocks: Iterable[SlaClock], now: datetime) -> tuple[str, datetime | None]:
    """(standing, earliest due time of a running clock) from an order's clocks.

    breached: a clock was breached (it stays so: the breach is part of the order's record) or a running one is
    past due › warning: a running clock is past its warning time › ok: clocks running, paused or met ›
    none: no clock (or only cancelled ones).
    """
    clocks = list(clocks)
    running = [c for c in clocks if c.state == SlaClockState.RUNNING]
    due = min((c.due_at for c in running if c.due_at is not None), default=None)
    if any(c.state == SlaClockState.BREACHED for c in clocks) or (due is not None and due < now):
        return SlaStanding.BREACHED, due
    if any(c.warn_at is not None and c.warn_at <= now for c in running):
        return SlaStanding.WARNING, due
    if any(c.state in (SlaClockState.RUNNING, SlaClockState.PAUSED, SlaClockState.MET) for c in clocks):
        return SlaStanding.OK, due
    return SlaStanding.NONE, due


def sla_refresh_standing(*, ticket: Ticket, now: datetime) -> Ticket:
    """Recompute `ticket.sla_standing` and `sla_due_at` from its clocks; written only when they change.

    A derived field: the order's `version` is not bumped, so an agent's edit never conflicts with the sweep.
    """
    standing, due = compute_standing(
        SlaClock.objects.filter(ticket=ticket).only("state", "due_at", "warn_at", "stopped_at"), now)
    if ticket.sla_standing != standing or ticket.sla_due_at != due:
        Ticket.objects.filter(pk=ticket.pk).update(sla_standing=standing, sla_due_at=due)
        ticket.sla_standing, ticket.sla_due_at = standing, due
    return ticket


def _set_policy(ticket: Ticket, policy: SlaPolicy | None) -> None:
    if ticket.sla_policy_id != (policy.pk if policy else None):
        Ticket.objects.filter(pk=ticket.pk).update(sla_policy=policy)
        ticket.sla_policy = policy


# ---------------------------------------------------------------------------------------------- hooks


def sla_attach(*, ticket: Ticket, at: datetime, new: bool = False) -> None:
    """Choose the order's policy and start its first-response, on-site and resolution clocks.

    `new`: the order was just created in this transaction, so it has no clocks yet. Its policy, standing and
    due time are then only set on the instance, and the caller saves them with the rest of the new order
    (one UPDATE instead of three)."""
    at = _whole_second(at)
    if not new and SlaClock.objects.filter(ticket=ticket).exists():
        sla_reevaluate(ticket=ticket, at=at)  # attached before: only re-target
        return
    policy = sla_policy_for(ticket=ticket)
    clocks: list[SlaClock] = []
    if policy is not None:
        calendars = _Calendars()
        clocks = SlaClock.objects.bulk_create([
            _new_clock(ticket=ticket, policy=policy, metric=metric, at=at, calendars=calendars)
            for metric in STARTED_ON_ATTACH if _target(policy, metric) is not None
        ])
    if new:
        ticket.sla_policy = policy
        ticket.sla_standing, ticket.sla_due_at = compute_standing(clocks, at)
        return
    _set_policy(ticket, policy)
    sla_refresh_standing(ticket=ticket, now=at)


def sla_on_status(*, ticket: Ticket, old: str, new: str, at: datetime) -> None:
    """Pause on WAITING_CUSTOMER, resume on leaving it, stop every clock on RESOLVED/CLOSED and start a new
    resolution clock on REOPENED."""
    at = _whole_second(at)
    if old == new:
        return
    calendars = _Calendars()
    changed: list[SlaClock] = []
    for clock in _open_clocks(ticket):
        spec = calendars.of(clock.policy)
        if new in (Status.RESOLVED, Status.CLOSED):
            _stop(clock, spec, at, ticket)
        elif new == Status.WAITING_CUSTOMER and clock.state == SlaClockState.RUNNING:
            _pause(clock, spec, at)
        elif old == Status.WAITING_CUSTOMER and clock.state == SlaClockState.PAUSED:
            _run_from(clock, spec, clock.policy.warning_fraction if clock.policy else 0, at)
        else:
            continue
        changed.append(clock)
    _save(changed)
    if new == Status.REOPENED:
        policy = ticket.sla_policy
        open_resolution = any(c.metric == SlaMetric.RESOLUTION for c in _open_clocks(ticket))
        if policy is not None and policy.resolution_seconds is not None and not open_resolution:
            _new_clock(ticket=ticket, policy=policy, metric=SlaMetric.RESOLUTION, at=at,
                       calendars=calendars).save()
    sla_refresh_standing(ticket=ticket, now=at)


def _stop_metrics(ticket: Ticket, metrics: Iterable[str], at: datetime) -> None:
    at = _whole_second(at)
    calendars = _Calendars()
    clocks = _open_clocks(ticket, metrics)
    for clock in clocks:
        _stop(clock, calendars.of(clock.policy), at, ticket)
    _save(clocks)
    sla_refresh_standing(ticket=ticket, now=at)


def sla_on_reply(*, ticket: Ticket, at: datetime) -> None:
    """A public reply answers the customer: stop the first-response and next-response clocks."""
    _stop_metrics(ticket, RESPONSE_METRICS, at)


def sla_on_dispatch_complete(*, ticket: Ticket, at: datetime) -> None:
    """The department reported back from site: stop the on-site clock."""
    _stop_metrics(ticket, (SlaMetric.ONSITE,), at)


def sla_on_customer_message(*, ticket: Ticket, at: datetime) -> None:
    """Start a next-response clock, unless a response clock is already waiting for the agent's reply."""
    at = _whole_second(at)
    policy = ticket.sla_policy
    if policy is None or policy.next_response_seconds is None or _open_clocks(ticket, RESPONSE_METRICS):
        return
    # Running even on a waiting order: the customer has answered, so we are no longer waiting on them.
    _new_clock(ticket=ticket, policy=policy, metric=SlaMetric.NEXT_RESPONSE, at=at, calendars=_Calendars(),
               running=True).save()
    sla_refresh_standing(ticket=ticket, now=at)


def sla_reevaluate(*, ticket: Ticket, at: datetime) -> None:
    """Type, priority, customer or channel changed: choose the policy again and re-target the running clocks,
    keeping the business time already elapsed."""
    _retarget(ticket, sla_policy_for(ticket=ticket), _whole_second(at), _Calendars())


def _retarget(ticket: Ticket, policy: SlaPolicy | None, at: datetime, calendars: _Calendars,
              previous: dict[int, CalendarSpec] | None = None) -> None:
    """Move the order's open clocks to `policy`: elapsed time is measured on the clock's old calendar up to
    `at` (`previous` maps a policy id to the calendar it had before an edit), the rest runs on the new one.
    A target the new policy lacks cancels its clock; a recorded breach stays."""
    changed: list[SlaClock] = []
    seen_metrics = set(SlaClock.objects.filter(ticket=ticket).values_list("metric", flat=True))
    for clock in _open_clocks(ticket):
        target = _target(policy, clock.metric)
        if clock.state == SlaClockState.BREACHED:
            if target is None:
                clock.stopped_at = at
                changed.append(clock)
            continue
        old_spec = (previous or {}).get(clock.policy_id or 0) or calendars.of(clock.policy)
        elapsed = clock_elapsed(clock, old_spec, at)
        if target is None:
            clock.state, clock.stopped_at = SlaClockState.CANCELLED, at
            clock.elapsed_before_pause, clock.warn_at = elapsed, None
            changed.append(clock)
            continue
        assert policy is not None
        unchanged = (clock.policy_id == policy.pk and clock.target_seconds == target
                     and old_spec == calendars.of(policy))
        if unchanged and clock.state == SlaClockState.PAUSED:
            continue
        clock.policy, clock.target_seconds, clock.elapsed_before_pause = policy, target, elapsed
        if clock.state == SlaClockState.RUNNING:
            _run_from(clock, calendars.of(policy), policy.warning_fraction, at)
        changed.append(clock)
    _save(changed)
    if policy is not None:
        # Targets new to this order (e.g. on-site after a change to 报修) count from the order's creation.
        new_clocks = []
        for metric in STARTED_ON_ATTACH:
            if metric in seen_metrics or _target(policy, metric) is None:
                continue
            if not _still_applies(ticket, metric):
                continue
            created = min(ticket.created_at, at)
            elapsed = business_seconds_between(calendars.of(policy), created, at)
            clock = _new_clock(ticket=ticket, policy=policy, metric=metric, at=at, calendars=calendars,
                               elapsed=elapsed)
            clock.started_at = created
            new_clocks.append(clock)
        SlaClock.objects.bulk_create(new_clocks)
    _set_policy(ticket, policy)
    sla_refresh_standing(ticket=ticket, now=at)


def _still_applies(ticket: Ticket, metric: str) -> bool:
    if ticket.status not in OPEN_STATUSES:
        return False
    if metric == SlaMetric.FIRST_RESPONSE:
        return ticket.first_responded_at is None
    if metric == SlaMetric.ONSITE:
        return not ticket.dispatches.filter(status=DispatchStatus.DONE).exists()
    return True


def sla_policy_changed(*, policy: SlaPolicy, at: datetime,
                       previous_calendar: BusinessCalendar | None = None) -> int:
    """After an edit of `policy` (targets, calendar, matching fields, active flag): every open order on it
    chooses its policy again and its running clocks are re-targeted, keeping the business time elapsed.

    Pass `previous_calendar` when the calendar changed, so elapsed time is measured on the old one.
    One transaction per order. Returns the number of orders re-targeted.
    """
    at = _whole_second(at)
    previous = {policy.pk: spec_from_model(previous_calendar)} if previous_calendar is not None else {}
    on_policy = Q(sla_policy=policy) | Q(sla_clocks__policy=policy, sla_clocks__stopped_at=None)
    ticket_ids = list(Ticket.objects.filter(on_policy, status__in=list(OPEN_STATUSES)).order_by("pk")
                      .values_list("pk", flat=True).distinct())
    for ticket_id in ticket_ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
            if ticket is not None:
                _retarget(ticket, sla_policy_for(ticket=ticket), at, _Calendars(), previous)
    return len(ticket_ids)


# ---------------------------------------------------------------------------------------------- the sweep


def escalation_level_after(*, level: int, breached_metrics: Iterable[str]) -> int:
    """逐级汇报: each breach raises the order one level (1 = team lead, then 2 = manager); a breached
    resolution target goes straight to the manager."""
    metrics = list(breached_metrics)
    if not metrics:
        return level
    target = level + len(metrics)
    if SlaMetric.RESOLUTION in metrics:
        target = MANAGER_LEVEL
    return max(level, min(MANAGER_LEVEL, target))


def _due(now: datetime) -> Q:
    return Q(due_at__lt=now) | Q(warned_at__isnull=True, warn_at__lte=now)


def sla_sweep(*, now: datetime) -> SweepResult:
    """Warn about running clocks past their warning time, breach those past due and escalate (逐级汇报).

    Safe with several workers at once: each order is handled in its own transaction under a row lock taken
    with SKIP LOCKED on PostgreSQL (another worker or a service holding it → skipped, taken next minute;
    on SQLite the IMMEDIATE transaction serialises writers), and every warning and breach is claimed with a
    conditional UPDATE, so none is sent twice.
    """
    warned = breached = escalated = skipped = 0
    after = 0
    while True:
        ticket_ids = list(SlaClock.objects.filter(_due(now), state=SlaClockState.RUNNING, ticket_id__gt=after)
                          .order_by("ticket_id").values_list("ticket_id", flat=True).distinct()[:SWEEP_BATCH])
        if not ticket_ids:
            break
        after = ticket_ids[-1]
        for ticket_id in ticket_ids:
            outcome = _sweep_ticket(ticket_id, now)
            if outcome is None:
                skipped += 1
                continue
            warned += outcome[0]
            breached += outcome[1]
            escalated += outcome[2]
    return SweepResult(warned=warned, breached=breached, escalated=escalated, skipped=skipped)


@transaction.atomic
def _sweep_ticket(ticket_id: int, now: datetime) -> tuple[int, int, int] | None:
    ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
    if ticket is None:
        return None
    clocks = list(SlaClock.objects.select_for_update(skip_locked=True, of=("self",))
                  .filter(_due(now), ticket_id=ticket_id, state=SlaClockState.RUNNING)
                  .select_related("policy").order_by("id"))
    return _claim_and_announce(ticket, clocks, now)


def _claim_and_announce(ticket: Ticket, clocks: list[SlaClock], now: datetime) -> tuple[int, int, int]:
    """Claim each warning and breach with a conditional UPDATE (only the first claimant writes its history
    row and announces it), escalate the breaches, refresh the standing → (warned, breached, escalations)."""
    warned_metrics: list[str] = []
    breached_clocks: list[SlaClock] = []
    for clock in clocks:
        if clock.due_at is not None and clock.due_at < now:
            claimed = SlaClock.objects.filter(pk=clock.pk, state=SlaClockState.RUNNING,
                                              breached_at__isnull=True).update(
                state=SlaClockState.BREACHED, breached_at=clock.due_at)
            if claimed:
                breached_clocks.append(clock)
                ticket_event_record(ticket=ticket, kind=EventKind.SLA_BREACHED,
                                    data={"metric": clock.metric, "target_seconds": clock.target_seconds,
                                          "due_at": clock.due_at.isoformat(),
                                          "policy": clock.policy.name if clock.policy else ""})
        else:
            claimed = SlaClock.objects.filter(pk=clock.pk, state=SlaClockState.RUNNING,
                                              warned_at__isnull=True).update(warned_at=now)
            if claimed:
                warned_metrics.append(clock.metric)
                ticket_event_record(ticket=ticket, kind=EventKind.SLA_WARNING,
                                    data={"metric": clock.metric, "target_seconds": clock.target_seconds,
                                          "due_at": clock.due_at.isoformat() if clock.due_at else None,
                                          "policy": clock.policy.name if clock.policy else ""})
    escalations = 0
    if breached_clocks:
        ticket, escalations = _escalate(ticket, [c.metric for c in breached_clocks])
        SlaClock.objects.filter(pk__in=[c.pk for c in breached_clocks]).update(escalated_at=now)
        publish_ticket_change(ticket, "ticket.sla_breached", {"metrics": [c.metric for c in breached_clocks]})
    if warned_metrics:
        publish_ticket_change(ticket, "ticket.sla_warning", {"metrics": warned_metrics})
    sla_refresh_standing(ticket=ticket, now=now)
    return len(warned_metrics), len(breached_clocks), escalations


def _escalate(ticket: Ticket, metrics: list[str]) -> tuple[Ticket, int]:
    """Raise the order to the level the rule asks for, one step (and one history row) at a time."""
    from kefu.tickets.services import ticket_escalate  # services import this module

    target = escalation_level_after(level=ticket.escalation_level, breached_metrics=metrics)
    steps = 0
    while ticket.escalation_level < target:
        ticket = ticket_escalate(actor=None, ticket=ticket, system=True, breached_metrics=metrics)
        steps += 1
    return ticket, steps


# ---------------------------------------------------------------------------------------------- policy edits


@dataclass(frozen=True)
class SlaPolicyData:
    """Every field of an SLA policy as an edit form sends it (a full replacement, no "unchanged" markers).

    Targets are business seconds on `calendar`; None means no target for that metric.
    """

    name: str
    calendar: BusinessCalendar
    ticket_type: str = ""
    priority: str = ""
    customer_tier: str = ""
    channel: str = ""
    vip_only: bool = False
    first_response_seconds: int | None = None
    next_response_seconds: int | None = None
    onsite_seconds: int | None = None
    resolution_seconds: int | None = None
    warning_fraction: float = 0.8
    is_active: bool = True


_MAX_TARGET = 2**31 - 1


def _clean_policy_data(data: SlaPolicyData, *, instance_pk: int | None) -> dict[str, Any]:
    from kefu.core.errors import ValidationFailed
    from kefu.customers.choices import Tier
    from kefu.tickets.choices import Channel, Priority, TicketType

    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("策略名称不能为空，且不超过 100 个字符"), details={"field": "name"})
    if SlaPolicy.objects.filter(name=name).exclude(pk=instance_pk).exists():
        raise ValidationFailed(_("已有名为“%(name)s”的策略") % {"name": name}, details={"field": "name"})
    for field, value, choices in (("ticket_type", data.ticket_type, TicketType),
                                  ("priority", data.priority, Priority),
                                  ("customer_tier", data.customer_tier, Tier),
                                  ("channel", data.channel, Channel)):
        if value and value not in choices.values:
            raise ValidationFailed(_("“%(value)s”不是有效的选项") % {"value": value},
                                   details={"field": field, "allowed": list(choices.values)})
    targets = {field: getattr(data, field) for field in TARGET_FIELDS.values()}
    for field, value in targets.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= _MAX_TARGET):
            raise ValidationFailed(_("时限必须是 1 到 %(max)s 之间的整数秒") % {"max": _MAX_TARGET},
                                   details={"field": field})
    if all(value is None for value in targets.values()):
        raise ValidationFailed(_("至少设置一项时限"), details={"field": "first_response_seconds"})
    fraction = data.warning_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise ValidationFailed(_("预警比例必须大于 0 且小于 1（例如 0.8 表示用掉 80% 时预警）"),
                               details={"field": "warning_fraction"})
    if data.calendar is None or data.calendar.pk is None:
        raise ValidationFailed(_("请选择工作日历"), details={"field": "calendar"})
    return {"name": name, "calendar": data.calendar, "ticket_type": data.ticket_type or "",
            "priority": data.priority or "", "customer_tier": data.customer_tier or "",
            "channel": data.channel or "", "vip_only": bool(data.vip_only), **targets,
            "warning_fraction": float(fraction), "is_active": bool(data.is_active)}


def _require_sla_manage(actor: Any) -> None:
    from kefu.core.errors import PermissionDenied
    from kefu.core.policy import has_right

    if not has_right(actor, TicketRight.SLA_MANAGE):
        raise PermissionDenied(_("您没有权限管理 SLA 策略"), details={"action": TicketRight.SLA_MANAGE.value})


@transaction.atomic
def sla_policy_create(*, actor: Any, data: SlaPolicyData) -> SlaPolicy:
    """Add a policy (managers and administrators). It applies to new orders and to orders re-evaluated later
    (a change of type, priority, customer or channel)."""
    from kefu.core.audit import audit_record

    _require_sla_manage(actor)
    policy = SlaPolicy.objects.create(**_clean_policy_data(data, instance_pk=None))
    audit_record(actor=actor, action="sla_policy.create", obj=policy, summary=policy.name,
                 data={"policy": _policy_snapshot(policy)})
    return policy


@transaction.atomic
def sla_policy_update(*, actor: Any, policy: SlaPolicy, data: SlaPolicyData,
                      expected_version: int | None = None) -> SlaPolicy:
    """Edit a policy. After commit the open orders on it are re-targeted by the worker (`sla_policy_changed`),
    keeping the business time their clocks have already used. A stale `expected_version` is a Conflict."""
    from kefu.core.audit import audit_record
    from kefu.core.errors import Conflict, NotFound

    _require_sla_manage(actor)
    locked = SlaPolicy.objects.select_for_update().filter(pk=policy.pk).first()
    if locked is None:
        raise NotFound(_("SLA 策略不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("策略已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    before = _policy_snapshot(locked)
    previous_calendar_id = locked.calendar_id
    for field, value in _clean_policy_data(data, instance_pk=locked.pk).items():
        setattr(locked, field, value)
    after = _policy_snapshot(locked)
    if after == before:
        return locked
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="sla_policy.update", obj=locked, summary=locked.name,
                 data={"before": before, "after": after})
    policy_id, changed_at = locked.pk, timezone.now()
    calendar_id = previous_calendar_id if previous_calendar_id != locked.calendar_id else None

    def _retarget_later() -> None:
        from kefu.tickets.tasks import sla_policy_changed_task

        sla_policy_changed_task(policy_id, changed_at.isoformat(), calendar_id)

    transaction.on_commit(_retarget_later)
    return locked


def _policy_snapshot(policy: SlaPolicy) -> dict[str, Any]:
    return {"name": policy.name, "calendar": policy.calendar_id, "ticket_type": policy.ticket_type,
            "priority": policy.priority, "customer_tier": policy.customer_tier, "channel": policy.channel,
            "vip_only": policy.vip_only, **{f: getattr(policy, f) for f in TARGET_FIELDS.values()},
            "warning_fraction": policy.warning_fraction, "is_active": policy.is_active}


def sla_customer_changed(*, customer: Any, at: datetime) -> int:
    """A customer's tier or VIP flag changed: re-evaluate the policy of their open orders → how many."""
    ticket_ids = list(Ticket.objects.filter(customer=customer, status__in=list(OPEN_STATUSES))
                      .order_by("pk").values_list("pk", flat=True))
    for ticket_id in ticket_ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
            if ticket is not None:
                sla_reevaluate(ticket=ticket, at=at)
    return len(ticket_ids)
