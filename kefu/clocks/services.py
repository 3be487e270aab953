"""The clock engine: start, pause, resume, stop, re-target and sweep business-time clocks on any object.

The engine knows no domain. An app registers each kind of object its clocks run on (`register_subject`): the
model (so the sweep can lock the row), who hears of its clocks (`audience`), and what to recompute when one of
its clocks changes (`on_change`, e.g. a work order's SLA standing). Warnings and breaches are announced as
outbox events (`clock.warned`, `clock.breached`); escalation, overdue alerts and notifications consume them.

Calls other than the sweep run inside the caller's transaction, with the subject row already locked by it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q

from kefu.clocks.choices import OPEN_STATES, ClockState, Standing
from kefu.clocks.events import CLOCK_BREACHED, CLOCK_WARNED
from kefu.clocks.models import Clock
from kefu.core.calendar_specs import WALL_CLOCK, spec_from_model
from kefu.core.calendars import CalendarSpec, add_business_seconds, business_seconds_between
from kefu.core.events import Audience, emit

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


# --- subjects ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectKind:
    """An object clocks run on. `audience(subject)` names who hears of its clocks' events; `on_change(subject,
    at)` runs (in the same transaction) after the sweep changed one of its clocks."""

    model: type[models.Model]
    audience: Callable[[Any], list[Audience]]
    on_change: Callable[[Any, datetime], None] | None = None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


_SUBJECTS: dict[str, SubjectKind] = {}


def register_subject(kind: SubjectKind) -> None:
    _SUBJECTS[kind.label] = kind


def subject_label(subject: models.Model) -> str:
    return subject._meta.label_lower


# --- the arithmetic (no queries but the calendar's, cached) ---------------------------------------------


class Calendars:
    """Calendar specs met during one operation (each calendar read once)."""

    def __init__(self) -> None:
        self._specs: dict[int | None, CalendarSpec] = {None: WALL_CLOCK}

    def of(self, clock: Clock) -> CalendarSpec:
        key = clock.calendar_id
        if key not in self._specs:
            self._specs[key] = spec_from_model(clock.calendar)
        return self._specs[key]


def whole_second(at: datetime) -> datetime:
    """Clocks keep whole seconds so that elapsed business time is exact."""
    return at.replace(microsecond=0)


def _add(spec: CalendarSpec, start: datetime, seconds: int) -> datetime:
    try:
        return add_business_seconds(spec, start, seconds)
    except ValueError as exc:  # a calendar with no working time left: better a wall-clock due time than none
        log.error("clock due time on the wall clock: %s", exc)
        return start + timedelta(seconds=seconds)


def elapsed(clock: Clock, spec: CalendarSpec, at: datetime) -> int:
    """Business seconds the clock has run by `at`."""
    if clock.state == ClockState.PAUSED or clock.resumed_at is None:
        return clock.elapsed_before_pause
    return clock.elapsed_before_pause + business_seconds_between(spec, clock.resumed_at, at)


def _run_from(clock: Clock, spec: CalendarSpec, at: datetime) -> None:
    """(Re)start the clock at `at` with `elapsed_before_pause` already used; derive due and warning times."""
    clock.state = ClockState.RUNNING
    clock.resumed_at = at
    clock.paused_at = None
    used = clock.elapsed_before_pause
    clock.due_at = _add(spec, at, max(0, clock.target_seconds - used))
    fraction = clock.warning_fraction
    if clock.warned_at is None and 0 < fraction < 1:
        clock.warn_at = _add(spec, at, max(0, int(clock.target_seconds * fraction) - used))
    else:
        clock.warn_at = None


def standing(clocks: Iterable[Clock], now: datetime) -> tuple[str, datetime | None]:
    """(standing, earliest due time of a running clock) of one object's clocks.

    breached: a clock was breached (it stays so: the breach is part of the record) or a running one is past
    due › warning: a running clock is past its warning time › ok: clocks running, paused or met › none."""
    clocks = list(clocks)
    running = [c for c in clocks if c.state == ClockState.RUNNING]
    due = min((c.due_at for c in running if c.due_at is not None), default=None)
    if any(c.state == ClockState.BREACHED for c in clocks) or (due is not None and due < now):
        return Standing.BREACHED, due
    if any(c.warn_at is not None and c.warn_at <= now for c in running):
        return Standing.WARNING, due
    if any(c.state in (ClockState.RUNNING, ClockState.PAUSED, ClockState.MET) for c in clocks):
        return Standing.OK, due
    return Standing.NONE, due


# --- operations on clocks (inside the caller's transaction) ---------------------------------------------


def clock_new(*, subject: models.Model, metric: str, target_seconds: int, calendar: Any, at: datetime,
              warning_fraction: float = 0.0, origin: str = "", elapsed_seconds: int = 0, running: bool = True,
              started_at: datetime | None = None, calendars: Calendars | None = None) -> Clock:
    """A clock from `at` (not saved: `clocks_create` saves several in one query), running or paused, with
    `elapsed_seconds` already used (business seconds)."""
    at = whole_second(at)
    clock = Clock(subject_type=subject_label(subject), subject_id=subject.pk, metric=metric, calendar=calendar,
                  origin=origin, target_seconds=max(0, int(target_seconds)), warning_fraction=warning_fraction,
                  started_at=whole_second(started_at) if started_at else at, elapsed_before_pause=elapsed_seconds)
    if running:
        _run_from(clock, (calendars or Calendars()).of(clock), at)
    else:
        clock.state, clock.paused_at = ClockState.PAUSED, at
    return clock


def clocks_create(clocks: list[Clock]) -> list[Clock]:
    return Clock.objects.bulk_create(clocks) if clocks else []


_SAVED_FIELDS = ["calendar", "origin", "target_seconds", "warning_fraction", "state", "due_at", "warn_at",
                 "paused_at", "resumed_at", "elapsed_before_pause", "stopped_at", "breached_at"]


def clocks_save(clocks: Iterable[Clock]) -> None:
    changed = list(clocks)
    if len(changed) == 1:  # the usual case (one response target stopped): a plain UPDATE, not a CASE per field
        changed[0].save(update_fields=_SAVED_FIELDS)
    elif changed:
        Clock.objects.bulk_update(changed, _SAVED_FIELDS)


def open_clocks(subject: models.Model, metrics: Iterable[str] | None = None) -> list[Clock]:
    """The subject's clocks still open (running, paused, or breached and not yet stopped), oldest first."""
    qs = Clock.objects.filter(subject_type=subject_label(subject), subject_id=subject.pk, stopped_at__isnull=True,
                              state__in=list(OPEN_STATES)).select_related("calendar")
    if metrics is not None:
        qs = qs.filter(metric__in=list(metrics))
    return list(qs.order_by("id"))


def clocks_of(subject: models.Model) -> Any:
    return Clock.objects.filter(subject_type=subject_label(subject), subject_id=subject.pk)


def clock_pause(clock: Clock, at: datetime, calendars: Calendars | None = None) -> bool:
    """Pause a running clock (business time stops counting) → whether it changed."""
    if clock.state != ClockState.RUNNING:
        return False
    at = whole_second(at)
    clock.elapsed_before_pause = elapsed(clock, (calendars or Calendars()).of(clock), at)
    clock.state, clock.paused_at, clock.resumed_at = ClockState.PAUSED, at, None
    clock.due_at = clock.warn_at = None
    return True


def clock_resume(clock: Clock, at: datetime, calendars: Calendars | None = None) -> bool:
    """Resume a paused clock → whether it changed."""
    if clock.state != ClockState.PAUSED:
        return False
    _run_from(clock, (calendars or Calendars()).of(clock), whole_second(at))
    return True


def clock_stop(clock: Clock, at: datetime, *, subject: models.Model,
               calendars: Calendars | None = None) -> bool:
    """Stop an open clock: met when its business time is within target (the due moment itself counts),
    breached otherwise. A breach the sweep had not seen yet is recorded and announced now (`detected`
    "on_stop"). → whether the clock was found breached now."""
    at = whole_second(at)
    clock.stopped_at = at
    clock.warn_at = None
    if clock.state == ClockState.BREACHED:
        return False
    used = elapsed(clock, (calendars or Calendars()).of(clock), at)
    clock.elapsed_before_pause = used
    if used <= clock.target_seconds:
        clock.state = ClockState.MET
        return False
    clock.state = ClockState.BREACHED
    clock.breached_at = clock.due_at or at
    _announce(CLOCK_BREACHED, clock, subject, used, detected="on_stop")
    return True


def clock_cancel(clock: Clock, at: datetime, calendars: Calendars | None = None) -> None:
    """Withdraw a target that no longer applies (a recorded breach stays breached, only stopped)."""
    at = whole_second(at)
    if clock.state == ClockState.BREACHED:
        clock.stopped_at = at
        return
    clock.elapsed_before_pause = elapsed(clock, (calendars or Calendars()).of(clock), at)
    clock.state, clock.stopped_at, clock.warn_at = ClockState.CANCELLED, at, None


def clock_retarget(clock: Clock, *, target_seconds: int, calendar: Any, warning_fraction: float, origin: str,
                   at: datetime, calendars: Calendars | None = None) -> bool:
    """Move an open clock to a new target and calendar, keeping the business time already used (measured on
    its old calendar up to `at`) → whether anything changed. A breached clock keeps its breach."""
    calendars = calendars or Calendars()
    at = whole_second(at)
    if clock.state == ClockState.BREACHED:
        return False
    same = (clock.target_seconds == target_seconds and clock.calendar_id == getattr(calendar, "pk", None)
            and clock.warning_fraction == warning_fraction and clock.origin == origin)
    if same:
        return False
    used = elapsed(clock, calendars.of(clock), at)
    clock.calendar, clock.target_seconds = calendar, target_seconds
    clock.warning_fraction, clock.origin, clock.elapsed_before_pause = warning_fraction, origin, used
    if clock.state == ClockState.RUNNING:
        _run_from(clock, calendars.of(clock), at)
    return True


# --- announcing ------------------------------------------------------------------------------------------


def _announce(event: Any, clock: Clock, subject: models.Model, used: int, *, detected: str) -> None:
    kind = _SUBJECTS.get(clock.subject_type)
    audience = kind.audience(subject) if kind is not None else []
    emit(event, obj=clock if clock.pk else None, object_type="clocks.clock", object_id=clock.pk or "",
         audience=audience, payload={
             "clock": {"id": clock.pk or 0, "subject_type": clock.subject_type, "subject_id": clock.subject_id,
                       "metric": clock.metric, "origin": clock.origin, "target_seconds": clock.target_seconds,
                       "calendar_id": clock.calendar_id, "started_at": clock.started_at, "due_at": clock.due_at,
                       "warn_at": clock.warn_at},
             "elapsed_seconds": used, "detected": detected})


# --- the sweep -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    warned: int = 0
    breached: int = 0
    skipped: int = 0  # objects locked by another worker or a service; the next sweep takes them


def _due(now: datetime) -> Q:
    return Q(due_at__lt=now) | Q(warned_at__isnull=True, warn_at__lte=now)


def clock_sweep(*, now: datetime) -> SweepResult:
    """Announce running clocks past their warning time and breach those past due.

    Safe with several workers at once: each object is handled in its own transaction under a row lock taken
    with SKIP LOCKED on PostgreSQL (another worker or a service holding it → skipped, taken next sweep; on
    SQLite the IMMEDIATE transaction serialises writers), and every warning and breach is claimed with a
    conditional UPDATE, so none is announced twice."""
    warned = breached = skipped = 0
    after = 0
    while True:
        rows = list(Clock.objects.filter(_due(now), state=ClockState.RUNNING, id__gt=after)
                    .order_by("id").values_list("id", "subject_type", "subject_id")[:SWEEP_BATCH])
        if not rows:
            break
        after = rows[-1][0]
        subjects: dict[tuple[str, int], None] = {}
        for _id, subject_type, subject_id in rows:
            subjects.setdefault((subject_type, subject_id), None)
        for subject_type, subject_id in subjects:
            outcome = _sweep_subject(subject_type, subject_id, now)
            if outcome is None:
                skipped += 1
                continue
            warned += outcome[0]
            breached += outcome[1]
    return SweepResult(warned=warned, breached=breached, skipped=skipped)


@transaction.atomic
def _sweep_subject(subject_type: str, subject_id: int, now: datetime) -> tuple[int, int] | None:
    kind = _SUBJECTS.get(subject_type)
    if kind is None:
        log.error("clocks on %s:%s, a kind of object no app registered; left running", subject_type, subject_id)
        return 0, 0
    subject = kind.model._default_manager.select_for_update(skip_locked=True).filter(pk=subject_id).first()
    if subject is None:
        exists = kind.model._default_manager.filter(pk=subject_id).exists()
        if not exists:  # the object is gone: its clocks stop here
            Clock.objects.filter(subject_type=subject_type, subject_id=subject_id,
                                 stopped_at__isnull=True).update(state=ClockState.CANCELLED, stopped_at=now)
            return 0, 0
        return None
    clocks = list(Clock.objects.select_for_update(skip_locked=True, of=("self",))
                  .filter(_due(now), subject_type=subject_type, subject_id=subject_id, state=ClockState.RUNNING)
                  .select_related("calendar").order_by("id"))
    warned = breached = 0
    calendars = Calendars()
    for clock in clocks:
        if clock.due_at is not None and clock.due_at < now:
            claimed = Clock.objects.filter(pk=clock.pk, state=ClockState.RUNNING,
                                           breached_at__isnull=True).update(state=ClockState.BREACHED,
                                                                            breached_at=clock.due_at)
            if claimed:
                breached += 1
                clock.state, clock.breached_at = ClockState.BREACHED, clock.due_at
                _announce(CLOCK_BREACHED, clock, subject, elapsed(clock, calendars.of(clock), now),
                          detected="sweep")
        else:
            claimed = Clock.objects.filter(pk=clock.pk, state=ClockState.RUNNING,
                                           warned_at__isnull=True).update(warned_at=now)
            if claimed:
                warned += 1
                clock.warned_at = now
                _announce(CLOCK_WARNED, clock, subject, elapsed(clock, calendars.of(clock), now),
                          detected="sweep")
    if (warned or breached) and kind.on_change is not None:
        kind.on_change(subject, now)
    return warned, breached


def open_clock_counts(subject_type: str, subject_ids: Iterable[int]) -> dict[int, int]:
    """How many open clocks each object has (for pages listing many objects)."""
    counts: dict[int, int] = defaultdict(int)
    for subject_id in Clock.objects.filter(subject_type=subject_type, subject_id__in=list(subject_ids),
                                           stopped_at__isnull=True).values_list("subject_id", flat=True):
        counts[subject_id] += 1
    return dict(counts)


def clocks_recalendar(*, calendar_id: int, at: datetime) -> int:
    """After a calendar's hours or days changed: every clock running on it keeps the business time it has used
    and gets its due and warning times again from `at` on the calendar as it is now. One transaction per object
    (its row locked first, as services do) → clocks moved."""
    at = whole_second(at)
    subjects = list(Clock.objects.filter(calendar_id=calendar_id, state=ClockState.RUNNING).order_by()
                    .values_list("subject_type", "subject_id").distinct())
    moved = 0
    for subject_type, subject_id in subjects:
        kind = _SUBJECTS.get(subject_type)
        with transaction.atomic():
            subject = None
            if kind is not None:
                subject = kind.model._default_manager.select_for_update().filter(pk=subject_id).first()
            clocks = list(Clock.objects.select_for_update(of=("self",)).select_related("calendar").filter(
                calendar_id=calendar_id, state=ClockState.RUNNING, subject_type=subject_type,
                subject_id=subject_id))
            calendars = Calendars()
            for clock in clocks:
                since = max(at, clock.resumed_at or at)  # never before the clock's own run began
                clock.elapsed_before_pause = elapsed(clock, calendars.of(clock), since)
                _run_from(clock, calendars.of(clock), since)
            Clock.objects.bulk_update(clocks, ["elapsed_before_pause", "resumed_at", "due_at", "warn_at"])
            moved += len(clocks)
            if subject is not None and kind is not None and kind.on_change is not None:
                kind.on_change(subject, at)
    return moved
