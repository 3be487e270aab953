"""Work-order SLA: choose an order's policy and run its targets (first response, next response, on site,
resolution) as business-time clocks of the clock engine (kefu.clocks), following the order's lifecycle: pause
while waiting on the customer, stop on reply / on-site report / resolution, re-target when the order or its
policy changes. Hooks run inside the ticket services' transaction.

The engine's sweep announces warnings and breaches as events; escalation (逐级汇报) consumes them
(kefu.tickets.handlers). See docs/sla.md for the rules in operators' words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.clocks.models import Clock
from kefu.clocks.services import (
    Calendars,
    clock_cancel,
    clock_new,
    clock_pause,
    clock_resume,
    clock_retarget,
    clock_stop,
    clocks_create,
    clocks_of,
    clocks_save,
    open_clocks,
    standing,
    whole_second,
)
from kefu.core.calendar_specs import _SPECS, spec_from_model  # noqa: F401  (re-exported: tests, admin)
from kefu.core.calendars import business_seconds_between
from kefu.core.events import emit
from kefu.core.models import BusinessCalendar
from kefu.core.prepared import Prepared
from kefu.tickets.choices import OPEN_STATUSES, DispatchStatus, SlaMetric, SlaStanding, Status
from kefu.tickets.models import SlaPolicy, Ticket
from kefu.tickets.permissions import TicketRight

log = logging.getLogger(__name__)

TARGET_FIELDS: dict[str, str] = {
    SlaMetric.FIRST_RESPONSE: "first_response_seconds",
    SlaMetric.NEXT_RESPONSE: "next_response_seconds",
    SlaMetric.ONSITE: "onsite_seconds",
    SlaMetric.RESOLUTION: "resolution_seconds",
}
SLA_METRICS = tuple(TARGET_FIELDS)
# Clocks started with the order; next-response clocks start on each customer message instead.
STARTED_ON_ATTACH = (SlaMetric.FIRST_RESPONSE, SlaMetric.ONSITE, SlaMetric.RESOLUTION)
RESPONSE_METRICS = (SlaMetric.FIRST_RESPONSE, SlaMetric.NEXT_RESPONSE)
TEAM_LEAD_LEVEL, MANAGER_LEVEL = 1, 2
ORIGIN_PREFIX = "sla_policy:"


def origin_of(policy: SlaPolicy) -> str:
    """What an SLA clock records as its origin: the policy that set its target."""
    return f"{ORIGIN_PREFIX}{policy.pk}"


def policy_id_of(clock: Clock) -> int | None:
    if clock.origin.startswith(ORIGIN_PREFIX):
        try:
            return int(clock.origin[len(ORIGIN_PREFIX):])
        except ValueError:
            return None
    return None


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
    """The policy an order gets now: its category's default policy, else its type's (set by administrators,
    kefu.tickets.catalog), else the most specific matching rule (one query, filtered in the database)."""
    from kefu.tickets.catalog import defaults_for

    _department, chosen = defaults_for(ticket_type=ticket.ticket_type, category_id=ticket.category_id)
    if chosen is not None:
        return chosen
    facts = TicketFacts.of(ticket)
    candidates = _CANDIDATES.run(str(facts.ticket_type), str(facts.priority), str(facts.tier), str(facts.channel),
                                 vip=bool(facts.vip))
    return choose_policy(candidates, facts)


def _candidates(ticket_type: str, priority: str, tier: str, channel: str, *, vip: bool) -> QuerySet[SlaPolicy]:
    """The active policies that could match an order with these facts (the rule is chosen in Python)."""
    candidates = SlaPolicy.objects.filter(
        is_active=True, ticket_type__in=["", ticket_type], priority__in=["", priority],
        customer_tier__in=["", tier], channel__in=["", channel],
    ).select_related("calendar")
    return candidates if vip else candidates.filter(vip_only=False)


_CANDIDATES = Prepared(_candidates)  # every new order asks: compiled once per VIP or not


# ---------------------------------------------------------------------------------------------- clocks


def _target(policy: SlaPolicy | None, metric: str) -> int | None:
    return getattr(policy, TARGET_FIELDS[metric]) if policy is not None else None


def _new_clock(*, ticket: Ticket, policy: SlaPolicy, metric: str, at: datetime, calendars: Calendars,
               elapsed: int = 0, running: bool | None = None) -> Clock:
    """A clock from `at`, paused when the order waits on the customer (unless `running` says otherwise)."""
    return clock_new(subject=ticket, metric=metric, target_seconds=_target(policy, metric) or 0,
                     calendar=policy.calendar, at=at, warning_fraction=policy.warning_fraction,
                     origin=origin_of(policy), elapsed_seconds=elapsed, calendars=calendars,
                     running=running if running is not None else ticket.status != Status.WAITING_CUSTOMER)


def _sla_clocks(ticket: Ticket, metrics: Iterable[str] | None = None) -> list[Clock]:
    return open_clocks(ticket, metrics if metrics is not None else SLA_METRICS)


# ---------------------------------------------------------------------------------------------- standing


def compute_standing(clocks: Iterable[Clock], now: datetime) -> tuple[str, datetime | None]:
    """(standing, earliest due time of a running clock) from an order's clocks (see kefu.clocks.standing)."""
    return standing(clocks, now)


def sla_refresh_standing(*, ticket: Ticket, now: datetime) -> Ticket:
    """Recompute `ticket.sla_standing` and `sla_due_at` from its SLA clocks; written only when they change.

    A derived field: the order's `version` is not bumped, so an agent's edit never conflicts with the sweep.
    """
    found, due = compute_standing(
        clocks_of(ticket).filter(metric__in=SLA_METRICS).only("state", "due_at", "warn_at", "stopped_at"), now)
    if ticket.sla_standing != found or ticket.sla_due_at != due:
        Ticket.objects.filter(pk=ticket.pk).update(sla_standing=found, sla_due_at=due)
        ticket.sla_standing, ticket.sla_due_at = found, due
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
    at = whole_second(at)
    if not new and clocks_of(ticket).filter(metric__in=SLA_METRICS).exists():
        sla_reevaluate(ticket=ticket, at=at)  # attached before: only re-target
        return
    policy = sla_policy_for(ticket=ticket)
    clocks: list[Clock] = []
    if policy is not None:
        calendars = Calendars()
        clocks = clocks_create([
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
    at = whole_second(at)
    if old == new:
        return
    calendars = Calendars()
    changed: list[Clock] = []
    for clock in _sla_clocks(ticket):
        if new in (Status.RESOLVED, Status.CLOSED):
            clock_stop(clock, at, subject=ticket, calendars=calendars)
        elif new == Status.WAITING_CUSTOMER:
            if not clock_pause(clock, at, calendars):
                continue
        elif old == Status.WAITING_CUSTOMER:
            if not clock_resume(clock, at, calendars):
                continue
        else:
            continue
        changed.append(clock)
    clocks_save(changed)
    if new == Status.REOPENED:
        policy = ticket.sla_policy
        open_resolution = bool(_sla_clocks(ticket, (SlaMetric.RESOLUTION,)))
        if policy is not None and policy.resolution_seconds is not None and not open_resolution:
            clocks_create([_new_clock(ticket=ticket, policy=policy, metric=SlaMetric.RESOLUTION, at=at,
                                      calendars=calendars)])
    sla_refresh_standing(ticket=ticket, now=at)


def _stop_metrics(ticket: Ticket, metrics: Iterable[str], at: datetime) -> None:
    at = whole_second(at)
    calendars = Calendars()
    clocks = _sla_clocks(ticket, metrics)
    for clock in clocks:
        clock_stop(clock, at, subject=ticket, calendars=calendars)
    clocks_save(clocks)
    sla_refresh_standing(ticket=ticket, now=at)


def sla_on_reply(*, ticket: Ticket, at: datetime) -> None:
    """A public reply answers the customer: stop the first-response and next-response clocks."""
    _stop_metrics(ticket, RESPONSE_METRICS, at)


def sla_on_dispatch_complete(*, ticket: Ticket, at: datetime) -> None:
    """The department reported back from site: stop the on-site clock."""
    _stop_metrics(ticket, (SlaMetric.ONSITE,), at)


def sla_on_customer_message(*, ticket: Ticket, at: datetime) -> None:
    """Start a next-response clock, unless a response clock is already waiting for the agent's reply."""
    at = whole_second(at)
    policy = ticket.sla_policy
    if policy is None or policy.next_response_seconds is None or _sla_clocks(ticket, RESPONSE_METRICS):
        return
    # Running even on a waiting order: the customer has answered, so we are no longer waiting on them.
    clocks_create([_new_clock(ticket=ticket, policy=policy, metric=SlaMetric.NEXT_RESPONSE, at=at,
                              calendars=Calendars(), running=True)])
    sla_refresh_standing(ticket=ticket, now=at)


def sla_reevaluate(*, ticket: Ticket, at: datetime) -> None:
    """Type, priority, customer or channel changed: choose the policy again and re-target the running clocks,
    keeping the business time already elapsed."""
    _retarget(ticket, sla_policy_for(ticket=ticket), whole_second(at), Calendars())


def _retarget(ticket: Ticket, policy: SlaPolicy | None, at: datetime, calendars: Calendars) -> None:
    """Move the order's open clocks to `policy`: elapsed time is measured on each clock's own (old) calendar up
    to `at`, the rest runs on the new one. A target the new policy lacks cancels its clock; a recorded breach
    stays."""
    changed: list[Clock] = []
    seen_metrics = set(clocks_of(ticket).filter(metric__in=SLA_METRICS).values_list("metric", flat=True))
    for clock in _sla_clocks(ticket):
        target = _target(policy, clock.metric)
        if target is None:
            clock_cancel(clock, at, calendars)
            changed.append(clock)
            continue
        assert policy is not None
        if clock_retarget(clock, target_seconds=target, calendar=policy.calendar,
                          warning_fraction=policy.warning_fraction, origin=origin_of(policy), at=at,
                          calendars=calendars):
            changed.append(clock)
    clocks_save(changed)
    if policy is not None:
        # Targets new to this order (e.g. on-site after a change to 报修) count from the order's creation.
        new_clocks = []
        for metric in STARTED_ON_ATTACH:
            if metric in seen_metrics or _target(policy, metric) is None:
                continue
            if not _still_applies(ticket, metric):
                continue
            created = min(ticket.created_at, at)
            used = business_seconds_between(spec_from_model(policy.calendar), created, at)
            clock = _new_clock(ticket=ticket, policy=policy, metric=metric, at=at, calendars=calendars,
                               elapsed=used)
            clock.started_at = whole_second(created)
            new_clocks.append(clock)
        clocks_create(new_clocks)
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


def sla_policy_changed(*, policy: SlaPolicy, at: datetime) -> int:
    """After an edit of `policy` (targets, calendar, matching fields, active flag): every open order on it
    chooses its policy again and its running clocks are re-targeted, keeping the business time elapsed (each
    clock measures what it used on the calendar it ran on). One transaction per order → orders re-targeted.
    """
    at = whole_second(at)
    on_clock = Clock.objects.filter(subject_type="tickets.ticket", origin=origin_of(policy),
                                    stopped_at__isnull=True).values("subject_id")
    on_policy = Q(sla_policy=policy) | Q(pk__in=on_clock)
    ticket_ids = list(Ticket.objects.filter(on_policy, status__in=list(OPEN_STATUSES)).order_by("pk")
                      .values_list("pk", flat=True).distinct())
    for ticket_id in ticket_ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
            if ticket is not None:
                _retarget(ticket, sla_policy_for(ticket=ticket), at, Calendars())
    return len(ticket_ids)


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


def sla_standing_of(ticket: Ticket) -> SlaStanding:
    return SlaStanding(ticket.sla_standing)


@dataclass(frozen=True)
class SweepResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0  # escalation steps recorded while this call ran (by anyone, when workers run at once)
    skipped: int = 0  # orders locked by another worker or a service; the next sweep takes them


def sla_sweep(*, now: datetime) -> SweepResult:
    """One sweep of every clock, then the reactions to what it found (history, escalation), at once: what the
    worker does every minute, for `kefu sla_sweep` and the demo."""
    from kefu.clocks.services import clock_sweep
    from kefu.core.relay import consumers, run_consumer
    from kefu.tickets.models import TicketEvent

    before = TicketEvent.objects.filter(kind="escalated").count()
    result = clock_sweep(now=now)
    run_consumer(consumers()["tickets.reactions"])
    escalated = TicketEvent.objects.filter(kind="escalated").count() - before
    return SweepResult(warned=result.warned, breached=result.breached, escalated=escalated,
                       skipped=result.skipped)


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
    for field, value in _clean_policy_data(data, instance_pk=locked.pk).items():
        setattr(locked, field, value)
    after = _policy_snapshot(locked)
    if after == before:
        return locked
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="sla_policy.update", obj=locked, summary=locked.name,
                 data={"before": before, "after": after})
    # The open orders on it are re-targeted by the worker, durably: the event is part of this transaction.
    from kefu.tickets.events import SLA_POLICY_CHANGED, supervisors_audience

    emit(SLA_POLICY_CHANGED, obj=locked, actor=actor, audience=supervisors_audience(),
         payload={"policy_id": locked.pk, "version": locked.version, "changed_at": timezone.now(),
                  "changes": sorted(k for k in after if after[k] != before[k])})
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
