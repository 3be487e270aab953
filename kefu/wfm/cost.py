"""Operating cost of a staffing plan (ICMI step 8) and what service level staff buys: the marginal service
level of each added agent, and the best service level a budget can reach.

Money is in the center's currency; hours are agent-hours; rates and service levels are fractions 0..1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kefu.wfm import queueing
from kefu.wfm.errors import PlanningInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DAYS_PER_MONTH = 365.25 / 12


def _check(value: float, name: str, *, minimum: float = 0.0, maximum: float | None = None,
           strict: bool = False) -> float:
    ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if maximum is not None:
        ok = ok and value <= maximum
    if not ok:
        bound = f"{'above' if strict else 'at least'} {minimum:g}"
        if maximum is not None:
            bound += f" and at most {maximum:g}"
        raise PlanningInputError(f"must be {bound}, got {value!r}", field=name)
    return float(value)


@dataclass(frozen=True)
class CostRates:
    """What things cost. `cost_per_agent_hour` is loaded (wage + benefits) per paid agent-hour; seats, trunks
    and the fixed overhead are per month; `overhead_share` (fraction) is added on top of people, seats and
    trunks; seats = ceil(peak scheduled agents × `seats_per_agent`) (1.0: a seat per concurrent agent; 1.1:
    10 % spare)."""

    cost_per_agent_hour: float
    seat_cost_month: float = 0.0
    trunk_cost_month: float = 0.0
    overhead_share: float = 0.0
    overhead_fixed_month: float = 0.0
    seats_per_agent: float = 1.0

    def __post_init__(self) -> None:
        _check(self.cost_per_agent_hour, "cost_per_hour")
        _check(self.seat_cost_month, "seat_cost_month")
        _check(self.trunk_cost_month, "trunk_cost_month")
        _check(self.overhead_share, "overhead", maximum=10.0)
        _check(self.overhead_fixed_month, "overhead_fixed_month")
        _check(self.seats_per_agent, "seats_per_agent", strict=True)


@dataclass(frozen=True)
class CostBreakdown:
    """Monthly cost by part, and the year (12 months)."""

    agent_hours_month: float
    seats: int
    trunks: int
    people_month: float
    seats_month: float
    trunks_month: float
    overhead_month: float
    total_month: float
    total_year: float


def monthly_cost(*, agent_hours_month: float, peak_agents: float, trunks: int,
                 rates: CostRates) -> CostBreakdown:
    """Month and year cost of `agent_hours_month` paid agent-hours, seats for `peak_agents` scheduled at once
    and `trunks` lines: people + seats + trunks, plus overhead (share of those three, plus the fixed part)."""
    _check(agent_hours_month, "agent_hours_month")
    _check(peak_agents, "peak_agents")
    seats = math.ceil(peak_agents * rates.seats_per_agent - 1e-9)
    people = agent_hours_month * rates.cost_per_agent_hour
    seat_cost = seats * rates.seat_cost_month
    trunk_cost = trunks * rates.trunk_cost_month
    overhead = rates.overhead_share * (people + seat_cost + trunk_cost) + rates.overhead_fixed_month
    total = people + seat_cost + trunk_cost + overhead
    return CostBreakdown(agent_hours_month=agent_hours_month, seats=seats, trunks=int(trunks),
                         people_month=people,
                         seats_month=seat_cost, trunks_month=trunk_cost, overhead_month=overhead,
                         total_month=total, total_year=12 * total)


@dataclass(frozen=True, eq=False)
class Workload:
    """Calls offered per interval (one row per queue and interval) over `days` calendar days.

    `slot[i]` numbers the interval (time of day and date) row i falls in, so rows of different queues in the
    same interval share it: staff is required per row and added up per slot for seats and trunks.
    """

    calls: FloatArray
    aht_seconds: FloatArray
    slot: IntArray
    interval_seconds: float
    days: float

    def __init__(self, *, calls: ArrayLike, aht_seconds: ArrayLike, interval_seconds: float, days: float,
                 slot: ArrayLike | None = None) -> None:
        c = np.atleast_1d(np.asarray(calls, dtype=np.float64))
        a = np.broadcast_to(np.asarray(aht_seconds, dtype=np.float64), c.shape).copy()
        for values, name, strict in ((c, "offered", False), (a, "aht_seconds", True)):
            bad = np.flatnonzero(~np.isfinite(values) | ((values <= 0) if strict else (values < 0)))
            if bad.size:
                raise PlanningInputError(f"must be {'> 0' if strict else '≥ 0'}, got {values[bad[0]]!r}",
                                         field=name, row=int(bad[0]) + 1)
        _check(interval_seconds, "interval_seconds", strict=True)
        _check(days, "days", strict=True)
        s = np.arange(c.size) if slot is None else np.asarray(slot, dtype=np.int64)
        if s.shape != c.shape:
            raise PlanningInputError("needs one slot per row", field="slot")
        object.__setattr__(self, "calls", c)
        object.__setattr__(self, "aht_seconds", a)
        object.__setattr__(self, "slot", s)
        object.__setattr__(self, "interval_seconds", float(interval_seconds))
        object.__setattr__(self, "days", float(days))

    @property
    def month_factor(self) -> float:
        """Months' worth of the plan period: multiply plan totals by 1 / this to get a month."""
        return self.days / DAYS_PER_MONTH

    def scaled(self, factor: float) -> Workload:
        """The same plan with every interval's calls times `factor` (e.g. 0.8 for 20 % self-service)."""
        return Workload(calls=self.calls * factor, aht_seconds=self.aht_seconds,
                        interval_seconds=self.interval_seconds, days=self.days, slot=self.slot)


@dataclass(frozen=True)
class ServicePolicy:
    """How service is measured and staff turned into paid hours: answer within `within_seconds` (Y), callers'
    mean patience (seconds; None = Erlang C, nobody hangs up), `shrinkage` (fraction of paid time off the
    phones), trunk `blocking` target (fraction) and the part of AHT that is after-call work (`acw_seconds`,
    which holds no trunk)."""

    within_seconds: float = 20.0
    patience_seconds: float | None = None
    shrinkage: float = 0.0
    blocking: float = 0.01
    acw_seconds: float = 0.0

    def __post_init__(self) -> None:
        _check(self.within_seconds, "within_seconds")
        if self.patience_seconds is not None:
            _check(self.patience_seconds, "patience_seconds", strict=True)
        _check(self.shrinkage, "shrinkage", maximum=0.95)
        _check(self.blocking, "blocking", strict=True, maximum=1.0)
        _check(self.acw_seconds, "acw_seconds")


@dataclass(frozen=True)
class StaffingOutcome:
    """What agents on the phones per row achieve and cost. Service level is PRODUCT §2.9 formula 3 weighted by
    calls (with no patience all four formulas agree); ASA is weighted by answered calls; monthly figures
    scale the plan period to a month of 365.25 / 12 days."""

    agents: IntArray
    scheduled: FloatArray
    service_level: float
    asa_seconds: float
    abandon_rate: float | None
    occupancy: float
    offered_calls_month: float
    agent_hours_month: float
    paid_agent_hours_month: float
    peak_agents: int
    peak_scheduled: float
    trunks: int
    cost: CostBreakdown


def outcome(workload: Workload, agents: ArrayLike, policy: ServicePolicy,
            rates: CostRates) -> StaffingOutcome:
    """Service, trunks and cost of `agents` on the phones per row of `workload` (rows without calls may
    have 0).

    Paid hours are agents / (1 − shrinkage); seats cover the peak of that per slot, summed over queues.
    """
    n = np.broadcast_to(np.asarray(agents, dtype=np.int64), workload.calls.shape)
    if (n < 0).any():
        raise PlanningInputError("must be ≥ 0", field="agents")
    busy = workload.calls > 0
    sl = np.zeros(n.shape)
    asa = np.zeros(n.shape)
    ab = np.zeros(n.shape)
    occ = np.zeros(n.shape)
    staffed = busy & (n > 0)
    if staffed.any():
        m = queueing.evaluate(agents=n[staffed], calls=workload.calls[staffed],
                              interval_seconds=workload.interval_seconds,
                              aht_seconds=workload.aht_seconds[staffed],
                              within_seconds=policy.within_seconds, patience_seconds=policy.patience_seconds)
        sl[staffed] = m.service_level
        asa[staffed] = m.asa_seconds
        occ[staffed] = m.occupancy
        if m.abandon_rate is not None:
            ab[staffed] = m.abandon_rate
    # calls offered to no agents at all: nobody is answered; with patience they all hang up
    unstaffed = busy & (n == 0)
    asa[unstaffed] = math.inf
    ab[unstaffed] = 1.0
    calls = workload.calls
    total = float(calls.sum())
    answered = calls * (1.0 - ab) if policy.patience_seconds is not None else calls
    with np.errstate(invalid="ignore"):
        weighted_asa = float((answered * np.where(answered > 0, asa, 0.0)).sum() / answered.sum()) \
            if answered.sum() > 0 else 0.0
    hours = workload.interval_seconds / 3600.0
    paid = n / (1.0 - policy.shrinkage)
    per_slot_paid = np.bincount(workload.slot, weights=paid)
    per_slot_agents = np.bincount(workload.slot, weights=n.astype(np.float64))
    month = 1.0 / workload.month_factor
    talk = np.maximum(workload.aht_seconds - policy.acw_seconds, 0.0)
    line_load = queueing.trunk_load(calls=calls, interval_seconds=workload.interval_seconds,
                                    talk_seconds=talk,
                                    asa_seconds=np.where(np.isfinite(asa), asa, 0.0))
    per_slot_load = np.bincount(workload.slot, weights=line_load)
    trunks = int(queueing.trunks_required(per_slot_load.max(initial=0.0), policy.blocking))
    paid_hours_month = float(paid.sum()) * hours * month
    cost = monthly_cost(agent_hours_month=paid_hours_month, peak_agents=float(per_slot_paid.max(initial=0.0)),
                        trunks=trunks, rates=rates)
    carried = (occ * n).sum()
    return StaffingOutcome(
        agents=np.asarray(n, dtype=np.int64).copy(),
        scheduled=paid,
        service_level=float((calls * sl).sum() / total) if total > 0 else 1.0,
        asa_seconds=weighted_asa,
        abandon_rate=float((calls * ab).sum() / total) if policy.patience_seconds is not None and total > 0
        else (0.0 if policy.patience_seconds is not None else None),
        occupancy=float(carried / n.sum()) if n.sum() > 0 else 0.0,
        offered_calls_month=total * month,
        agent_hours_month=float(n.sum()) * hours * month,
        paid_agent_hours_month=paid_hours_month,
        peak_agents=int(per_slot_agents.max(initial=0.0)),
        peak_scheduled=float(per_slot_paid.max(initial=0.0)),
        trunks=trunks,
        cost=cost,
    )


def staff_for_target(workload: Workload, service_level: float, policy: ServicePolicy) -> IntArray:
    """Fewest agents per row meeting `service_level` (fraction) within `policy.within_seconds` (Erlang C, or
    Erlang A with patience); 0 where no calls are offered."""
    _check(service_level, "service_level", maximum=1.0)
    result: IntArray = queueing.required_agents(
        calls=workload.calls, interval_seconds=workload.interval_seconds, aht_seconds=workload.aht_seconds,
        service_level=service_level, within_seconds=policy.within_seconds,
        patience_seconds=policy.patience_seconds)
    return result


# ------------------------------------------------------------------------------------------ marginal curve


@dataclass(frozen=True)
class MarginalCurve:
    """Service level (fraction, formula 3) by agents for one interval, from the smallest stable count up to
    the first agent that adds less than `min_gain`; `gain[i]` = service_level[i] − service_level[i − 1] (0 for
    the first point)."""

    agents: IntArray
    service_level: FloatArray
    gain: FloatArray
    asa_seconds: FloatArray
    occupancy: FloatArray
    abandon_rate: FloatArray | None
    traffic_erlangs: float


def marginal_curve(*, calls: float, interval_seconds: float, aht_seconds: float, within_seconds: float,
                   patience_seconds: float | None = None, min_gain: float = 0.001) -> MarginalCurve:
    """The diminishing-returns curve: what each added agent adds to the service level of one interval.

    Starts at floor(load) + 1 agents (the fewest with which, without abandonment, the queue is stable) and
    ends at the first agent whose gain is below `min_gain` (fraction; 0.001 = 0.1 percentage point).
    Calls per interval, seconds, fractions.
    """
    _check(calls, "calls", strict=True)
    _check(interval_seconds, "interval_seconds", strict=True)
    _check(aht_seconds, "aht_seconds", strict=True)
    _check(within_seconds, "within_seconds")
    _check(min_gain, "min_gain", strict=True, maximum=1.0)
    load = calls * aht_seconds / interval_seconds
    start = math.floor(load) + 1
    span = int(4 * math.sqrt(load)) + 16
    while True:
        n = np.arange(start, start + span, dtype=np.int64)
        m = queueing.evaluate(agents=n, calls=calls, interval_seconds=interval_seconds,
                              aht_seconds=aht_seconds,
                              within_seconds=within_seconds, patience_seconds=patience_seconds)
        gain = np.diff(m.service_level, prepend=m.service_level[0])
        below = np.flatnonzero(gain[1:] < min_gain)
        if below.size or span > 100_000:
            stop = int(below[0]) + 2 if below.size else n.size
            break
        span *= 2
    return MarginalCurve(
        agents=n[:stop], service_level=m.service_level[:stop], gain=gain[:stop],
        asa_seconds=m.asa_seconds[:stop],
        occupancy=m.occupancy[:stop],
        abandon_rate=None if m.abandon_rate is None else m.abandon_rate[:stop], traffic_erlangs=load)


# ------------------------------------------------------------------------------------- budget → service level


class BudgetBelowMinimumError(PlanningInputError):
    """A budget that does not even pay for the minimum staffing; the message names both figures."""


def minimum_staffing(workload: Workload, minimum: IntArray | int) -> IntArray:
    """`minimum` agents (a whole number, or one per row) in every row with calls, none elsewhere."""
    given = np.asarray(minimum, dtype=np.float64)
    if given.ndim and given.shape != workload.calls.shape:
        raise PlanningInputError(f"needs one number per row ({workload.calls.size}), got {given.size}",
                                 field="min_agents")
    bad = np.flatnonzero(~np.isfinite(given) | (given < 0) | (given != np.floor(given)))
    if bad.size:
        value = minimum if given.ndim == 0 else float(given.flat[bad[0]])
        raise PlanningInputError(f"must be a whole number ≥ 0, got {value!r}", field="min_agents",
                                 row=None if given.ndim == 0 else int(bad[0]) + 1)
    return np.where(workload.calls > 0, given, 0).astype(np.int64)


def _upper_hull(y: FloatArray) -> list[int]:
    """Indices of the upper concave hull of the points (i, y[i]), left to right."""
    hull: list[int] = []
    for i in range(y.size):
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            # drop k if it lies on or below the line from j to i
            if (y[k] - y[j]) * (i - j) <= (y[i] - y[j]) * (k - j):
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def allocation_order(workload: Workload, policy: ServicePolicy, *, minimum: IntArray | int = 0,
                     ceiling: float = 0.999, max_extra: int = 0) -> IntArray:
    """Rows in the order a greedy planner adds agents on top of `minimum` (agents every row with calls
    already has, see `minimum_staffing`), one agent per entry, most answered-within-Y calls gained per agent
    first.

    Each row's curve calls × SL(n) from n = minimum is replaced by its upper concave hull, so a stretch where
    SL first grows slowly (an unstable queue) is taken as one block; along the hull the gains fall, and taking
    the largest gains first is optimal for any budget that ends on a hull vertex (see docs/planning/cost.md).
    Curves stop where SL reaches `ceiling` (fraction) or `max_extra` agents past it.
    """
    start = minimum_staffing(workload, minimum)
    top = queueing.required_agents(calls=workload.calls, interval_seconds=workload.interval_seconds,
                                   aht_seconds=workload.aht_seconds, service_level=ceiling,
                                   within_seconds=policy.within_seconds,
                                   patience_seconds=policy.patience_seconds) + max_extra
    rows = np.flatnonzero((workload.calls > 0) & (top > start))
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = start[rows], top[rows]
    row_of = np.repeat(rows, last - first + 1)
    n_of = np.concatenate([np.arange(a, b + 1) for a, b in zip(first.tolist(), last.tolist(), strict=True)])
    sl = np.zeros(n_of.size)
    staffed = n_of > 0  # no agents, no service
    sl[staffed] = queueing.evaluate(
        agents=n_of[staffed], calls=workload.calls[row_of[staffed]], interval_seconds=workload.interval_seconds,
        aht_seconds=workload.aht_seconds[row_of[staffed]], within_seconds=policy.within_seconds,
        patience_seconds=policy.patience_seconds).service_level
    slopes: list[FloatArray] = []
    owners: list[IntArray] = []
    offset = 0
    for row, a, b in zip(rows.tolist(), first.tolist(), last.tolist(), strict=True):
        values = workload.calls[row] * sl[offset:offset + b - a + 1]
        offset += b - a + 1
        for j, k in itertools.pairwise(_upper_hull(values)):
            slopes.append(np.full(k - j, (values[k] - values[j]) / (k - j)))
            owners.append(np.full(k - j, row, dtype=np.int64))
    # a stable sort keeps each row's agents in order within a block of equal slope
    order: IntArray = np.concatenate(owners)[np.argsort(-np.concatenate(slopes), kind="stable")]
    return order


@dataclass(frozen=True)
class BudgetAllocation:
    """The staffing a budget buys (greedy by service-level gain per agent) and its outcome."""

    budget_agent_hours_month: float | None
    budget_month: float | None
    outcome: StaffingOutcome


def _describe_minimum(floor: IntArray) -> str:
    rows = int(np.count_nonzero(floor))
    most = int(floor.max(initial=0))
    if (floor[floor > 0] == most).all():
        return f"the minimum staffing ({most} agent(s) in each of the {rows} intervals with calls)"
    return f"the minimum staffing ({int(floor.sum())} agent-intervals over the {rows} intervals with calls)"


def best_service_for_budget(workload: Workload, policy: ServicePolicy, rates: CostRates, *,
                            agent_hours_month: float | None = None, budget_month: float | None = None,
                            minimum: IntArray | int = 0) -> BudgetAllocation:
    """Highest call-weighted service level reachable with a monthly budget of paid agent-hours, or of money
    (total monthly cost, including seats, trunks and overhead), keeping at least `minimum` agents (a whole
    number, or one per row) in every row with calls.

    The budget pays for the minimum first; the rest goes where agents add the most answered-within-Y calls
    (all agent-intervals cost the same, so gain per agent is gain per cost). A money budget is met by
    bisection on how far along the greedy order to go. A budget below the minimum's own cost raises
    BudgetBelowMinimumError naming both figures (with no minimum that cost is the trunks and fixed overhead).
    """
    if (agent_hours_month is None) == (budget_month is None):
        raise PlanningInputError("give exactly one budget: agent-hours or money per month", field="budget")
    if agent_hours_month is not None:
        _check(agent_hours_month, "budget_agent_hours")
    if budget_month is not None:
        _check(budget_month, "budget_month")
    floor = minimum_staffing(workload, minimum)
    base = outcome(workload, floor, policy, rates)
    if agent_hours_month is not None and agent_hours_month + 1e-9 < base.paid_agent_hours_month:
        raise BudgetBelowMinimumError(
            f"a budget of {agent_hours_month:,.1f} paid agent-hours a month does not cover "
            f"{_describe_minimum(floor)}, which takes {base.paid_agent_hours_month:,.1f}", field="budget")
    if budget_month is not None and budget_month + 1e-9 < base.cost.total_month:
        raise BudgetBelowMinimumError(
            f"a budget of {budget_month:,.0f} a month does not cover {_describe_minimum(floor)}, which costs "
            f"{base.cost.total_month:,.0f} a month", field="budget")
    order = allocation_order(workload, policy, minimum=floor)

    def staffing(units: int) -> IntArray:
        return floor + np.bincount(order[:units], minlength=workload.calls.size).astype(np.int64)

    if agent_hours_month is not None:
        hours_per_agent = workload.interval_seconds / 3600.0 / (1.0 - policy.shrinkage) / workload.month_factor
        spare = agent_hours_month - base.paid_agent_hours_month
        units = min(order.size, math.floor(spare / hours_per_agent + 1e-9))
        return BudgetAllocation(agent_hours_month, None, outcome(workload, staffing(units), policy, rates))
    assert budget_month is not None
    lo, hi = 0, order.size
    if outcome(workload, staffing(hi), policy, rates).cost.total_month <= budget_month:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if outcome(workload, staffing(mid), policy, rates).cost.total_month <= budget_month:
            lo = mid
        else:
            hi = mid
    return BudgetAllocation(None, budget_month, outcome(workload, staffing(lo), policy, rates))
