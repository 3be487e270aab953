"""The shift scheduler: HiGHS mixed-integer programmes that lay shifts over the required-staff curve and give
them to named agents, minimising under-coverage first and cost second (formulation:
docs/planning/scheduling.md).

Stages, each a HiGHS MILP:
1. *Aggregate*: agents with identical contracts and availability form a class; integer counts per class and
   shift instance (day × template × start × queue), break/meal placement counts, coverage with under-staffing
   slack, and every per-agent rule summed over the class. It is a relaxation of the full problem, so its LP
   and MIP dual bounds are valid lower bounds on the best schedule.
2. *Disaggregate*: give each class's counts to its agents (one shift a day, days off, hours, rest).
3. *Repair/polish*: the full agent-level model with coverage and breaks over a set of free agents (all agents
   when the model is small — then this stage alone is exact and its bound is valid too), warm-started from
   stage 2.
4. *Fairness*: with every shift instance's head-count fixed (so coverage and cost cannot change), swap shifts
   between interchangeable agents to even out weekend and late shifts.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import InfeasibleError, PlanningInputError
from kefu.wfm.schedule.highs import INF, Model, Solution
from kefu.wfm.schedule.model import WEEKDAYS, Agent, Requirements, ShiftTemplate

MINUTES_PER_DAY = 24 * 60
# Under-coverage is penalised in tiers: the agents short in one queue and interval from UNDER_FROM[k] up to
# UNDER_FROM[k + 1] each cost UNDER_STEPS[k] × the weight (the last tier is open-ended). The multipliers rise
# (a convex, piecewise-linear penalty), so the solver spreads a shortfall rather than piling it into one
# interval: one interval two agents short costs 1 + 1.5 = 2.5, two intervals one short each cost 2. Shortfalls
# hurt service more the deeper they are (fewer agents than Erlangs answer almost nobody in time). Tiers are
# one agent wide up to the fourth agent short, then about 40 % deeper each, so the penalty keeps rising
# through deep holes with few columns. (1, 1.1, 1.2 and flat beyond the third agent left 6.5 agents short in
# one half hour of the planning guide's week; these steps, 4 at most. Steeper steps, 1, 2, 3, …, spread no
# better there and made HiGHS slower to prove its bound on some weeks.)
UNDER_FROM: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)
UNDER_STEPS: tuple[float, ...] = tuple(1.0 + 0.5 * k for k in range(len(UNDER_FROM)))


def under_tiers(under: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """`under` (agents short, any shape) split into the tiers of UNDER_FROM: element-wise amounts whose sum is
    `under`."""
    u = np.asarray(under, dtype=float)
    tops = (*UNDER_FROM[1:], math.inf)
    return [np.clip(u - low, 0.0, high - low) for low, high in zip(UNDER_FROM, tops, strict=True)]


def under_penalty(under: NDArray[np.float64], weight: float) -> float:
    """Objective value of under-coverage `under` (agents short per queue and interval): each agent-interval
    short costs `weight` × the multiplier of its tier (UNDER_STEPS), 1 for the first agent short in an
    interval, 1.5 for the second, 2 for the third, …"""
    return weight * float(sum(step * tier.sum() for step, tier in zip(UNDER_STEPS, under_tiers(under),
                                                                       strict=True)))


@dataclass(frozen=True)
class Instance:
    """One shift that can be worked: template `template` starting `start` minutes after midnight of day `day`,
    answering queue `queue` (indices into the inputs). `abs_start` is minutes after the horizon's start."""

    day: int
    template: int
    start: int
    queue: int
    abs_start: int
    length: int
    paid_minutes: int
    cost: float
    weekend: bool
    late: bool


@dataclass(frozen=True)
class Assignment:
    """Agent `agent` works instance `instance`; `break_offsets[k]` is when the template's k-th break or meal
    starts, in minutes after the shift start."""

    agent: int
    instance: int
    break_offsets: tuple[int, ...]


@dataclass(frozen=True)
class StageReport:
    """What one HiGHS solve did (seconds of wall time; objective and bound in objective units)."""

    name: str
    status: str
    seconds: float
    objective: float
    bound: float
    columns: int
    rows: int
    time_limit_hit: bool


@dataclass(frozen=True)
class Schedule:
    """A solved schedule and its quality.

    `coverage[q, t]` is agents on the phone (shift on, not on a break or meal; fractions where a break covers
    part of an interval). The objective is `under_penalty(under, under_weight)` + cost: `under_weight` for
    the first agent short in an interval, 1.5 × for the second, 2 × for the third and so on (see UNDER_FROM).
    `lower_bound` is a valid lower bound on the best possible objective; `mip_gap` = (objective − lower_bound)
    / objective, a fraction. `lp_bound` is the LP relaxation of the aggregate model (also a valid lower bound,
    never above `lower_bound`).
    """

    requirements: Requirements
    templates: tuple[ShiftTemplate, ...]
    agents: tuple[Agent, ...]
    instances: tuple[Instance, ...]
    assignments: tuple[Assignment, ...]
    coverage: NDArray[np.float64]
    under_weight: float
    objective: float
    lower_bound: float
    lp_bound: float
    mip_gap: float
    status: str
    time_limit_hit: bool
    solve_seconds: float
    exact: bool
    hours_shortfall: float
    stages: tuple[StageReport, ...] = field(default=())

    @property
    def under(self) -> NDArray[np.float64]:
        """Agents short per queue and interval."""
        return np.maximum(self.requirements.required - self.coverage, 0.0)

    @property
    def over(self) -> NDArray[np.float64]:
        """Agents beyond the requirement per queue and interval."""
        return np.maximum(self.coverage - self.requirements.required, 0.0)

    @property
    def cost(self) -> float:
        """Total cost of the scheduled shifts (paid hours × cost per hour)."""
        return float(sum(self.instances[a.instance].cost for a in self.assignments))

    @property
    def paid_hours(self) -> float:
        """Paid agent-hours of the schedule (meals unpaid)."""
        return float(sum(self.instances[a.instance].paid_minutes for a in self.assignments)) / 60.0


# ------------------------------------------------------------------------------------------------ geometry


def _spans(begin: int, end: int, step: int, intervals: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Intervals overlapped by minutes [begin, end) and the fraction of each, clipped to the horizon."""
    begin, end = max(begin, 0), min(end, intervals * step)
    if end <= begin:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    t = np.arange(begin // step, -(-end // step), dtype=np.int64)
    overlap = np.minimum(end, (t + 1) * step) - np.maximum(begin, t * step)
    return t, overlap / step


@dataclass
class _BreakOptions:
    offsets: list[int]
    qt: list[NDArray[np.int64]]  # coverage cells each offset takes away
    frac: list[NDArray[np.float64]]


@dataclass
class _Problem:
    req: Requirements
    templates: Sequence[ShiftTemplate]
    agents: Sequence[Agent]
    instances: list[Instance]
    compat: NDArray[np.bool_]  # agents × instances
    duty_qt: list[NDArray[np.int64]]  # per instance: coverage cells (q*T + t) it covers
    duty_frac: list[NDArray[np.float64]]
    breaks: list[list[_BreakOptions]]  # per instance, per template break
    required: NDArray[np.float64]  # flattened Q*T
    weight: float  # objective weight of one agent-interval of under-coverage
    late_after: int

    @property
    def cells(self) -> int:
        return int(self.required.size)

    def inst_array(self, name: str) -> NDArray[np.int64]:
        return np.array([getattr(i, name) for i in self.instances], dtype=np.int64)


def _build_problem(
    req: Requirements, templates: Sequence[ShiftTemplate], agents: Sequence[Agent], late_after: int
) -> _Problem:
    step, intervals = req.interval_minutes, req.intervals
    multi_queue = len(req.queues) > 1
    first_weekday = req.start.weekday()
    instances: list[Instance] = []
    for day in range(req.days):
        weekday = (first_weekday + day) % 7
        for ti, template in enumerate(templates):
            if weekday not in template.weekdays:
                continue
            for start in template.starts:
                for q in range(len(req.queues)):
                    instances.append(
                        Instance(
                            day=day,
                            template=ti,
                            start=start,
                            queue=q,
                            abs_start=day * MINUTES_PER_DAY + start,
                            length=template.length_minutes,
                            paid_minutes=template.paid_minutes,
                            cost=template.paid_minutes / 60.0 * template.cost_per_hour,
                            weekend=weekday >= 5,
                            late=start + template.length_minutes > late_after,
                        )
                    )
    if not instances:
        raise InfeasibleError(
            "no shift template can be worked on any day of the requirements' horizon", field="days"
        )
    inst_day = np.array([i.day for i in instances])
    inst_start = np.array([i.start for i in instances])
    inst_end = inst_start + np.array([i.length for i in instances])
    inst_paid = np.array([i.paid_minutes for i in instances])
    inst_queue = np.array([i.queue for i in instances])
    day_weekday = (first_weekday + np.arange(req.days)) % 7
    compat = np.zeros((len(agents), len(instances)), dtype=bool)
    for a, agent in enumerate(agents):
        day_ok = np.isin(day_weekday, sorted(agent.available_weekdays))
        if multi_queue and agent.skills:
            queue_ok = np.array([q in agent.skills for q in req.queues])
        else:
            queue_ok = np.ones(len(req.queues), dtype=bool)
        compat[a] = (
            day_ok[inst_day]
            & queue_ok[inst_queue]
            & (inst_start >= agent.earliest_start)
            & (inst_end <= agent.latest_end)
            & (inst_paid <= agent.hours_max * 60 + 1e-9)
        )
    if not compat.any():
        raise InfeasibleError(
            "no shift fits any agent: check the agents' available_days, earliest_start, "
            "latest_end, contract_hours_max and skills against the shifts' days, starts and "
            "lengths",
            field="available_days",
        )
    keep = np.flatnonzero(compat.any(axis=0))
    instances = [instances[i] for i in keep]
    compat = compat[:, keep]
    duty_qt, duty_frac, breaks = [], [], []
    for inst in instances:
        t, f = _spans(inst.abs_start, inst.abs_start + inst.length, step, intervals)
        duty_qt.append(t + inst.queue * intervals)
        duty_frac.append(f)
        options = []
        for brk in templates[inst.template].breaks:
            opt = _BreakOptions(offsets=[], qt=[], frac=[])
            for offset in range(brk.earliest, brk.latest + 1, step):
                bt, bf = _spans(
                    inst.abs_start + offset, inst.abs_start + offset + brk.minutes, step, intervals
                )
                opt.offsets.append(offset)
                opt.qt.append(bt + inst.queue * intervals)
                opt.frac.append(bf)
            options.append(opt)
        breaks.append(options)
    max_cost = max(i.cost for i in instances)
    return _Problem(
        req=req,
        templates=templates,
        agents=agents,
        instances=instances,
        compat=compat,
        duty_qt=duty_qt,
        duty_frac=duty_frac,
        breaks=breaks,
        required=req.required.ravel().copy(),
        weight=max(100.0 * max_cost, 1.0),
        late_after=late_after,
    )


def _contract_shortfall_cost(prob: _Problem) -> float:
    """Price of one hour below an agent's contract minimum where the model lets it go soft: ten times the
    coverage that hour could buy even in the deepest tier, so it is only ever a last resort."""
    return prob.weight * max(UNDER_STEPS) * 10.0 * 60.0 / prob.req.interval_minutes


# -------------------------------------------------------------------------------------- per-agent rules


@dataclass(frozen=True)
class _Rules:
    """Agent rules as used in the models; `agents` are the members of a class (all alike)."""

    hours_min: float
    hours_max: float
    max_days: int
    days_off: int
    consecutive: bool
    rest: int


def _rules(agent: Agent) -> _Rules:
    return _Rules(
        agent.hours_min,
        agent.hours_max,
        agent.max_days,
        agent.days_off,
        agent.consecutive_days_off,
        agent.min_rest_minutes,
    )


def _add_agent_rows(
    model: Model,
    prob: _Problem,
    rules: _Rules,
    cols: NDArray[np.int64],
    inst: NDArray[np.int64],
    mult: int,
    *,
    soft_min_cost: float | None = None,
) -> NDArray[np.int64] | None:
    """Add one agent's rules (or a class's, summed over `mult` identical agents) over columns `cols` that
    count how often instance `inst[k]` is worked. Returns the column of the hours shortfall when
    `soft_min_cost`."""
    if cols.size == 0:
        return None
    days = np.array([prob.instances[i].day for i in inst])
    starts = np.array([prob.instances[i].abs_start for i in inst])
    ends = starts + np.array([prob.instances[i].length for i in inst])
    paid = np.array([prob.instances[i].paid_minutes for i in inst]) / 60.0
    by_day = {int(d): np.flatnonzero(days == d) for d in np.unique(days)}
    horizon = prob.req.days
    blocks: dict[int, NDArray[np.int64]] = {}
    if rules.consecutive and horizon == 7 and 0 < rules.days_off < 7:
        k = rules.days_off
        w = model.cols(8 - k, ub=mult, integer=True)
        model.row(w, 1.0, mult, mult)
        blocks = {
            d: np.array([w[p] for p in range(8 - k) if p <= d < p + k], dtype=np.int64) for d in range(7)
        }
    for d, members in by_day.items():
        block = blocks.get(d, np.zeros(0, dtype=np.int64))
        if members.size > 1 or block.size:
            model.row(np.concatenate([cols[members], block]), 1.0, -INF, mult)
    if rules.max_days < len(by_day) and not blocks:
        model.row(cols, 1.0, -INF, mult * rules.max_days)
    shortfall = None
    low, high = mult * rules.hours_min, mult * rules.hours_max
    worst = sum(paid[m].max() for m in by_day.values()) * mult
    if low > 1e-9 or high < worst - 1e-9:
        if soft_min_cost is not None and low > 1e-9:
            shortfall = model.cols(1, ub=low, cost=soft_min_cost)
            model.row(np.concatenate([cols, shortfall]), np.concatenate([paid, [1.0]]), low, max(high, low))
        else:
            model.row(cols, paid, low, high)
    # rest: a shift ending at h conflicts with one starting before h + rest (overlap included, as rest ≥ 0)
    for d, members in by_day.items():
        for d2 in (d + 1, d + 2):
            later = by_day.get(d2)
            if later is None:
                continue
            e, s = ends[members], starts[later]
            previous = 0
            for h in np.unique(e):
                early = later[s < h + rules.rest]
                if early.size and early.size > previous:
                    model.row(np.concatenate([cols[members[e >= h]], cols[early]]), 1.0, -INF, mult)
                previous = early.size
    return shortfall


# ---------------------------------------------------------------------------------- coverage block


def _add_coverage(
    model: Model, prob: _Problem, n_cols: dict[int, int], n_ub: dict[int, float]
) -> tuple[
    dict[tuple[int, int], NDArray[np.int64]],
    NDArray[np.int64],
    list[tuple[NDArray[np.int64], NDArray[np.int64]]],
]:
    """Coverage rows Σ on-duty − breaks + under ≥ required for every cell with a requirement.

    `n_cols[i]` is the column counting agents on instance i. Returns the break-placement columns per
    (instance, break), the cells with a requirement, and per under-coverage tier the positions (into those
    cells) and columns of its slack."""
    cells: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    break_cols: dict[tuple[int, int], NDArray[np.int64]] = {}
    for i, n in n_cols.items():
        cells.append(prob.duty_qt[i])
        cols.append(np.full(prob.duty_qt[i].size, n, dtype=np.int64))
        vals.append(prob.duty_frac[i])
        for k, opt in enumerate(prob.breaks[i]):
            if len(opt.offsets) == 1:  # one place only: it just takes away from the shift's own column
                cells.append(opt.qt[0])
                cols.append(np.full(opt.qt[0].size, n, dtype=np.int64))
                vals.append(-opt.frac[0])
                continue
            b = model.cols(len(opt.offsets), ub=n_ub[i], integer=True)
            model.row(np.concatenate([b, [n]]), np.concatenate([np.ones(b.size), [-1.0]]), 0.0, 0.0)
            break_cols[(i, k)] = b
            for j in range(len(opt.offsets)):
                cells.append(opt.qt[j])
                cols.append(np.full(opt.qt[j].size, b[j], dtype=np.int64))
                vals.append(-opt.frac[j])
    need = np.flatnonzero(prob.required > 1e-9)
    req = prob.required[need]
    # shortage in convex tiers (1st agent short, 2nd, …) so that shortages spread out; a cell gets a column
    # only for the tiers its requirement reaches
    under: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
    for bound, step in zip(under_tiers(req), UNDER_STEPS, strict=True):
        at = np.flatnonzero(bound > 1e-12)
        columns = model.cols(at.size, ub=bound[at], cost=prob.weight * step) if at.size else at
        under.append((at, columns))
    row_of = np.full(prob.cells, -1, dtype=np.int64)
    row_of[need] = np.arange(need.size)
    all_cells = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
    all_cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    all_vals = np.concatenate(vals) if vals else np.zeros(0)
    mask = row_of[all_cells] >= 0
    slack_rows = np.concatenate([at for at, _ in under])
    model.rows(
        np.concatenate([row_of[all_cells[mask]], slack_rows]),
        np.concatenate([all_cols[mask], *(columns for _, columns in under)]),
        np.concatenate([all_vals[mask], np.ones(slack_rows.size)]),
        prob.required[need],
        INF,
    )
    return break_cols, need, under


# ------------------------------------------------------------------------------------------ the solver


@dataclass
class _Classes:
    members: list[list[int]]
    rules: list[_Rules]
    compat: list[NDArray[np.int64]]  # instance indices


def _classes(prob: _Problem) -> _Classes:
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for a, agent in enumerate(prob.agents):
        key = (_rules(agent), np.flatnonzero(prob.compat[a]).tobytes())
        groups[key].append(a)
    members = list(groups.values())
    return _Classes(
        members=members,
        rules=[_rules(prob.agents[m[0]]) for m in members],
        compat=[np.flatnonzero(prob.compat[m[0]]) for m in members],
    )


def _describe(agent: Agent) -> str:
    days = "|".join(WEEKDAYS[d] for d in sorted(agent.available_weekdays)) or "none"
    latest = agent.latest_end % MINUTES_PER_DAY if agent.latest_end < 2 * MINUTES_PER_DAY else None
    window = f"{agent.earliest_start // 60:02d}:{agent.earliest_start % 60:02d}"
    window += f"–{latest // 60:02d}:{latest % 60:02d}" if latest is not None else " onwards"
    return f"available {days}, {window}"


def _check_agents(prob: _Problem, classes: _Classes, deadline: float) -> None:
    """Raise InfeasibleError naming the first agent whose own rules cannot reach contract_hours_min."""
    for members, rules, compat in zip(classes.members, classes.rules, classes.compat, strict=True):
        if rules.hours_min <= 1e-9:
            continue
        agent = prob.agents[members[0]]
        names = ", ".join(f"'{prob.agents[m].agent_id}'" for m in members[:3]) + (
            " …" if len(members) > 3 else ""
        )
        if compat.size == 0:
            raise InfeasibleError(
                f"agent {names} fits no shift ({_describe(agent)}) but needs at least "
                f"{rules.hours_min:g} paid "
                "hours",
                field="contract_hours_min",
                row=agent.row,
            )
        if _certificate(prob, rules, compat):
            continue
        model = Model()
        cols = model.cols(
            compat.size,
            ub=1.0,
            integer=True,
            cost=-np.array([prob.instances[i].paid_minutes for i in compat]) / 60.0,
        )
        _add_agent_rows(
            model,
            prob,
            _Rules(0.0, rules.hours_max, rules.max_days, rules.days_off, rules.consecutive, rules.rest),
            cols,
            compat,
            1,
        )
        sol = model.solve(time_limit=max(deadline - time.perf_counter(), 1.0), mip_gap=0.0)
        best = -sol.objective if sol.values is not None else 0.0
        if sol.values is not None and best >= rules.hours_min - 1e-6:
            continue
        if sol.time_limit_hit:
            continue  # undecided in time: the later stages carry the shortfall as a reported violation
        raise InfeasibleError(
            f"agent {names} cannot reach contract_hours_min {rules.hours_min:g} h: "
            f"at most {best:g} paid hours fit "
            f"their shifts ({_describe(agent)}, {rules.max_days} working days, {rules.rest / 60:g} h rest"
            f"{', consecutive days off' if rules.consecutive else ''}) within contract_hours_max "
            f"{rules.hours_max:g} h",
            field="contract_hours_min",
            row=agent.row,
        )


def _certificate(prob: _Problem, rules: _Rules, compat: NDArray[np.int64]) -> bool:
    """Quick proof of feasibility: one shift on several days (24 h apart: rest is met) reaches the hours."""
    by_option: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    for i in compat:
        inst = prob.instances[i]
        if MINUTES_PER_DAY - inst.length >= rules.rest:
            by_option[(inst.template, inst.start, inst.queue)].add(inst.day)
    for (template, _, _), days in by_option.items():
        paid = prob.templates[template].paid_minutes / 60.0
        usable = len(days)
        if rules.consecutive and prob.req.days == 7 and 0 < rules.days_off < 7:
            usable = max(len(days - set(range(p, p + rules.days_off))) for p in range(8 - rules.days_off))
        usable = min(usable, rules.max_days)
        for count in range(usable + 1):
            if rules.hours_min - 1e-9 <= count * paid <= rules.hours_max + 1e-9:
                return True
    return False


def solve_schedule(
    requirements: Requirements,
    templates: Sequence[ShiftTemplate],
    agents: Sequence[Agent],
    *,
    time_limit: float = 60.0,
    mip_gap: float = 1e-3,
    late_after: int = 20 * 60,
    exact_limit: int = 6000,
) -> Schedule:
    """Schedule `agents` on `templates` to cover `requirements`: least under-coverage (agent-intervals), then
    least cost; then the fairest spread of weekend and late shifts (ending after `late_after` minutes past
    midnight) among interchangeable agents.

    `time_limit` is the wall-clock budget in seconds for all solves; `mip_gap` the relative gap (a fraction)
    at which HiGHS may stop. When the agent-level model has at most `exact_limit` agent × shift-instance pairs
    it is solved whole (exact up to `mip_gap`); larger ones go through the aggregate model and a repair step,
    and the reported gap is measured against the aggregate model's bound. Raises InfeasibleError when an
    agent's own rules cannot be met or no shift fits any agent.
    """
    if time_limit <= 0:
        raise PlanningInputError("must be greater than 0", field="time_limit")
    if not 0 <= mip_gap < 1:
        raise PlanningInputError("must be a fraction from 0 to below 1", field="mip_gap")
    began = time.perf_counter()
    prob = _build_problem(requirements, templates, agents, late_after)
    classes = _classes(prob)
    _check_agents(prob, classes, began + 0.2 * time_limit)
    stages: list[StageReport] = []

    def until(share: float) -> float:
        """Seconds left until `share` of the budget has passed (stages get fixed slices of the budget)."""
        return max(began + share * time_limit - time.perf_counter(), 0.05)

    pairs = int(prob.compat.sum())
    exact = pairs <= exact_limit

    # stage 1: the aggregate model (always: its bound is what makes the reported gap honest)
    agg, x_cols, n_cols1, break_cols1 = _aggregate_model(prob, classes)
    relaxed = agg.solve(time_limit=until(0.1), mip_gap=mip_gap, relax=True)
    stages.append(_report("LP relaxation of the aggregate model", relaxed))
    lp_bound = relaxed.objective if relaxed.values is not None and relaxed.status == "optimal" else -INF
    first = agg.solve(time_limit=until(0.3 if exact else 0.45), mip_gap=mip_gap)
    stages.append(_report("aggregate model", first))
    lower = max(lp_bound, first.bound)

    # stage 2: the class counts to named agents
    plan: dict[int, list[int]] = {}
    kept: dict[int, list[NDArray[np.int64]]] | None = None
    if first.values is not None:
        counts = {key: round(first.values[col]) for key, col in x_cols.items()}
        plan, second = _disaggregate(prob, classes, counts, time_limit=until(0.6), mip_gap=mip_gap)
        stages.append(_report("agents to shifts", second))
        kept = _aggregate_kept(prob, first.values, n_cols1, break_cols1, plan)

    if kept is not None and (first.objective - lower) <= mip_gap * abs(first.objective) + 1e-9:
        # every agent got exactly the aggregate counts, which are within the gap: that schedule (with the
        # aggregate model's break placement) is final
        assignment, breaks = plan, kept
    else:
        # stage 3: coverage, breaks and repairs over free agents (all of them when small enough: exact)
        free = list(range(len(agents))) if exact else _free_agents(prob, classes, plan)
        assignment, breaks, third = _coverage_model(prob, plan, free, time_limit=until(0.85), mip_gap=mip_gap)
        stages.append(_report("coverage and breaks" + (" (whole model)" if exact else " (repair)"), third))
        if exact and third.values is not None:
            lower = max(lower, third.bound)

    # stage 4: fairness with head-counts fixed
    assignment, fourth = _fairness(prob, classes, assignment, time_limit=until(0.95))
    if fourth is not None:
        stages.append(_report("fairness", fourth))

    return _finish(
        prob,
        assignment,
        breaks,
        lower=lower,
        lp_bound=lp_bound,
        stages=stages,
        began=began,
        mip_gap=mip_gap,
        exact=exact,
    )


def _aggregate_kept(
    prob: _Problem,
    values: NDArray[np.float64],
    n_cols: dict[int, int],
    break_cols: dict[tuple[int, int], NDArray[np.int64]],
    plan: dict[int, list[int]],
) -> dict[int, list[NDArray[np.int64]]] | None:
    """The aggregate model's break counts when `plan` works exactly its head-counts and meets every contract,
    else None."""
    worked = np.zeros(len(prob.instances), dtype=np.int64)
    for a, insts in plan.items():
        if sum(prob.instances[i].paid_minutes for i in insts) < prob.agents[a].hours_min * 60 - 1e-6:
            return None
        for i in insts:
            worked[i] += 1
    for a, agent in enumerate(prob.agents):
        if a not in plan and agent.hours_min > 1e-9:
            return None
    breaks: dict[int, list[NDArray[np.int64]]] = {}
    for i, col in n_cols.items():
        if round(values[col]) != worked[i]:
            return None
        if worked[i]:
            breaks[i] = [
                np.rint(values[break_cols[(i, b)]]).astype(np.int64)
                if (i, b) in break_cols
                else np.array([worked[i]], dtype=np.int64)
                for b in range(len(prob.breaks[i]))
            ]
    if worked.sum() != sum(worked[i] for i in n_cols):
        return None
    return breaks


def _report(name: str, sol: Solution) -> StageReport:
    return StageReport(
        name=name,
        status=sol.status,
        seconds=sol.seconds,
        objective=sol.objective,
        bound=sol.bound,
        columns=sol.columns,
        rows=sol.rows,
        time_limit_hit=sol.time_limit_hit,
    )


def _aggregate_model(
    prob: _Problem, classes: _Classes
) -> tuple[Model, dict[tuple[int, int], int], dict[int, int], dict[tuple[int, int], NDArray[np.int64]]]:
    model = Model()
    x_cols: dict[tuple[int, int], int] = {}
    per_instance: dict[int, list[int]] = defaultdict(list)
    for c, (members, rules, compat) in enumerate(
        zip(classes.members, classes.rules, classes.compat, strict=True)
    ):
        if compat.size == 0:
            continue
        cols = model.cols(compat.size, ub=len(members), integer=True)
        for i, col in zip(compat, cols, strict=True):
            x_cols[(c, int(i))] = int(col)
            per_instance[int(i)].append(int(col))
        _add_agent_rows(model, prob, rules, cols, compat, len(members))
    n_cols: dict[int, int] = {}
    n_ub: dict[int, float] = {}
    for i, xs in per_instance.items():
        ub = float(prob.compat[:, i].sum())
        n = int(model.cols(1, ub=ub, cost=prob.instances[i].cost, integer=True)[0])
        model.row(np.array([n, *xs]), np.array([1.0] + [-1.0] * len(xs)), 0.0, 0.0)
        n_cols[i], n_ub[i] = n, ub
    break_cols, _, _ = _add_coverage(model, prob, n_cols, n_ub)
    return model, x_cols, n_cols, break_cols


def _disaggregate(
    prob: _Problem,
    classes: _Classes,
    counts: dict[tuple[int, int], int],
    *,
    time_limit: float,
    mip_gap: float,
) -> tuple[dict[int, list[int]], Solution]:
    """Give each class's shift counts to its agents; shortfalls and extras are allowed at a price."""
    model = Model()
    y: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
    soft = _contract_shortfall_cost(prob)
    for c, (members, rules) in enumerate(zip(classes.members, classes.rules, strict=True)):
        chosen = np.array(sorted(i for (cc, i), k in counts.items() if cc == c and k > 0), dtype=np.int64)
        if chosen.size == 0:
            continue
        per_instance: dict[int, list[int]] = defaultdict(list)
        for a in members:
            cols = model.cols(chosen.size, ub=1.0, integer=True)
            y[a] = (cols, chosen)
            for i, col in zip(chosen, cols, strict=True):
                per_instance[int(i)].append(int(col))
            _add_agent_rows(model, prob, rules, cols, chosen, 1, soft_min_cost=soft)
        for i, cols_i in per_instance.items():
            target = counts[(c, i)]
            extra = model.cols(1, ub=len(members), cost=prob.instances[i].cost + 1e-3)
            short = model.cols(1, ub=target, cost=prob.weight * prob.duty_frac[i].sum())
            model.row(
                np.array([*cols_i, extra[0], short[0]]),
                np.array([1.0] * len(cols_i) + [-1.0, 1.0]),
                target,
                target,
            )
    sol = model.solve(time_limit=time_limit, mip_gap=mip_gap)
    plan: dict[int, list[int]] = {}
    if sol.values is not None:
        for a, (cols, inst) in y.items():
            plan[a] = [int(i) for i in inst[sol.values[cols] > 0.5]]
    return plan, sol


def _free_agents(
    prob: _Problem, classes: _Classes, plan: dict[int, list[int]], budget: int = 6000
) -> list[int]:
    """Agents the repair stage may re-plan: those short of contract hours, then those with spare hours."""
    hours = {
        a: sum(prob.instances[i].paid_minutes for i in plan.get(a, [])) / 60.0
        for a in range(len(prob.agents))
    }
    short = [a for a, agent in enumerate(prob.agents) if hours[a] < agent.hours_min - 1e-6]
    spare = sorted(
        (
            a
            for a, agent in enumerate(prob.agents)
            if a not in short and hours[a] < agent.hours_max - 1e-6 and prob.compat[a].any()
        ),
        key=lambda a: hours[a] - prob.agents[a].hours_max,
    )
    chosen: list[int] = []
    used = 0
    for a in short + spare:
        size = int(prob.compat[a].sum())
        if used + size > budget and a not in short:
            continue
        chosen.append(a)
        used += size
    return chosen


def _coverage_model(
    prob: _Problem, plan: dict[int, list[int]], free: list[int], *, time_limit: float, mip_gap: float
) -> tuple[dict[int, list[int]], dict[int, list[NDArray[np.int64]]], Solution]:
    """The agent-level model with coverage and breaks: `free` agents choose anew (warm start: `plan`), the
    rest keep their `plan` shifts. Returns the assignment, break counts per instance and break, and the solve.
    """
    model = Model()
    free_set = set(free)
    fixed = np.zeros(len(prob.instances))
    for a, insts in plan.items():
        if a not in free_set:
            for i in insts:
                fixed[i] += 1
    soft = _contract_shortfall_cost(prob)
    y: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
    per_instance: dict[int, list[int]] = defaultdict(list)
    shortfalls: list[int] = []
    for a in free:
        compat = np.flatnonzero(prob.compat[a])
        if compat.size == 0:
            continue
        cols = model.cols(compat.size, ub=1.0, integer=True)
        y[a] = (cols, compat)
        for j, col in zip(compat, cols, strict=True):
            per_instance[int(j)].append(int(col))
        s = _add_agent_rows(model, prob, _rules(prob.agents[a]), cols, compat, 1, soft_min_cost=soft)
        if s is not None:
            shortfalls.append(int(s[0]))
    n_cols: dict[int, int] = {}
    n_ub: dict[int, float] = {}
    for i in range(len(prob.instances)):
        ys = per_instance.get(i, [])
        if not ys and fixed[i] == 0:
            continue
        ub = fixed[i] + len(ys)
        n = int(model.cols(1, lb=fixed[i], ub=ub, cost=prob.instances[i].cost, integer=True)[0])
        model.row(np.array([n, *ys]), np.array([1.0] + [-1.0] * len(ys)), fixed[i], fixed[i])
        n_cols[i], n_ub[i] = n, ub
    break_cols, need, under = _add_coverage(model, prob, n_cols, n_ub)

    start = _warm_start(prob, model, plan, y, n_cols, break_cols, need, under, shortfalls, fixed)
    sol = model.solve(time_limit=time_limit, mip_gap=mip_gap, start=start)
    values = sol.values if sol.values is not None else start
    assignment = {a: list(v) for a, v in plan.items() if a not in free_set}
    for a, (cols, inst) in y.items():
        assignment[a] = [int(i) for i in inst[values[cols] > 0.5]]
    breaks: dict[int, list[NDArray[np.int64]]] = {}
    for i in n_cols:
        per_break = []
        for b in range(len(prob.breaks[i])):
            if (i, b) in break_cols:
                per_break.append(np.rint(values[break_cols[(i, b)]]).astype(np.int64))
            else:
                per_break.append(np.array([round(values[n_cols[i]])], dtype=np.int64))
        breaks[i] = per_break
    return assignment, breaks, sol


def _warm_start(
    prob: _Problem,
    model: Model,
    plan: dict[int, list[int]],
    y: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]],
    n_cols: dict[int, int],
    break_cols: dict[tuple[int, int], NDArray[np.int64]],
    need: NDArray[np.int64],
    under: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    shortfalls: list[int],
    fixed: NDArray[np.float64],
) -> NDArray[np.float64]:
    """A feasible start from `plan`: breaks spread over their windows, under-coverage as it falls out."""
    start = np.zeros(model.ncol)
    counts = fixed.copy()
    for a, (cols, inst) in y.items():
        chosen = set(plan.get(a, []))
        for col, i in zip(cols, inst, strict=True):
            if int(i) in chosen:
                start[col] = 1.0
                counts[i] += 1
    coverage = np.zeros(prob.cells)
    for i, n in n_cols.items():
        start[n] = counts[i]
        np.add.at(coverage, prob.duty_qt[i], counts[i] * prob.duty_frac[i])
        for k, opt in enumerate(prob.breaks[i]):
            spread = np.zeros(len(opt.offsets))
            for j in range(int(counts[i])):
                spread[j % len(opt.offsets)] += 1
            if (i, k) in break_cols:
                start[break_cols[(i, k)]] = spread
            for j in range(len(opt.offsets)):
                np.add.at(coverage, opt.qt[j], -spread[j] * opt.frac[j])
    short = np.maximum(prob.required[need] - coverage[need], 0.0)
    for (at, cols), amount in zip(under, under_tiers(short), strict=True):
        start[cols] = amount[at]
    del shortfalls  # HiGHS completes the hours-shortfall columns from the start's other values
    return start


def _fairness(
    prob: _Problem, classes: _Classes, assignment: dict[int, list[int]], *, time_limit: float
) -> tuple[dict[int, list[int]], Solution | None]:
    """Swap shifts among agents of one class (same head-count per instance) to even out weekend and late
    shifts."""
    model = Model()
    y: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
    start_parts: list[tuple[NDArray[np.int64], NDArray[np.float64]]] = []
    any_fair = False
    for members, rules in zip(classes.members, classes.rules, strict=True):
        used = sorted({i for a in members for i in assignment.get(a, [])})
        if len(members) < 2 or not used:
            continue
        inst = np.array(used, dtype=np.int64)
        weekend = np.array([prob.instances[i].weekend for i in inst])
        late = np.array([prob.instances[i].late for i in inst])
        per_instance: dict[int, list[int]] = defaultdict(list)
        member_cols = []
        for a in members:
            cols = model.cols(inst.size, ub=1.0, integer=True)
            y[a] = (cols, inst)
            member_cols.append(cols)
            mine = set(assignment.get(a, []))
            start_parts.append((cols, np.array([1.0 if int(i) in mine else 0.0 for i in inst])))
            for i, col in zip(inst, cols, strict=True):
                per_instance[int(i)].append(int(col))
            _add_agent_rows(model, prob, rules, cols, inst, 1)
        for i, cols_i in per_instance.items():
            count = sum(1 for a in members if i in assignment.get(a, []))
            model.row(np.array(cols_i), 1.0, count, count)
        for flags in (weekend, late):
            total = sum(sum(1 for i in assignment.get(a, []) if flags[inst.searchsorted(i)]) for a in members)
            if total == 0 or total == len(members) * flags.sum():
                continue
            any_fair = True
            low, high = math.floor(total / len(members)), math.ceil(total / len(members))
            for cols in member_cols:
                dev = model.cols(2, cost=1.0)
                model.row(
                    np.concatenate([cols[flags], [dev[0]]]),
                    np.concatenate([np.ones(flags.sum()), [-1.0]]),
                    -INF,
                    high,
                )
                model.row(
                    np.concatenate([cols[flags], [dev[1]]]),
                    np.concatenate([np.ones(flags.sum()), [1.0]]),
                    low,
                    INF,
                )
                start_parts.append((dev, np.zeros(2)))
    if not any_fair:
        return assignment, None
    start = np.zeros(model.ncol)
    for cols, vals in start_parts:
        start[cols] = vals
    sol = model.solve(time_limit=time_limit, mip_gap=0.0, start=start)
    if sol.values is None:
        return assignment, sol
    result = dict(assignment)
    for a, (cols, inst) in y.items():
        result[a] = [int(i) for i in inst[sol.values[cols] > 0.5]]
    return result, sol


def _finish(
    prob: _Problem,
    assignment: dict[int, list[int]],
    breaks: dict[int, list[NDArray[np.int64]]],
    *,
    lower: float,
    lp_bound: float,
    stages: list[StageReport],
    began: float,
    mip_gap: float,
    exact: bool,
) -> Schedule:
    """Hand out break times to the agents on each instance and measure the schedule from scratch."""
    by_instance: dict[int, list[int]] = defaultdict(list)
    for a in sorted(assignment):
        for i in assignment[a]:
            by_instance[i].append(a)
    rows: list[Assignment] = []
    coverage = np.zeros(prob.cells)
    for i in sorted(by_instance):
        people = by_instance[i]
        offsets_per_break: list[list[int]] = []
        for k, opt in enumerate(prob.breaks[i]):
            counts = breaks.get(i, [np.zeros(len(opt.offsets), dtype=np.int64)] * len(prob.breaks[i]))[k]
            slots = [opt.offsets[j] for j in range(len(opt.offsets)) for _ in range(int(counts[j]))]
            # head-counts can only differ from the break counts if a stage stopped early: fill from the window
            while len(slots) < len(people):
                slots.append(opt.offsets[len(slots) % len(opt.offsets)])
            offsets_per_break.append(slots[: len(people)])
        for p, a in enumerate(people):
            offsets = tuple(slots[p] for slots in offsets_per_break)
            rows.append(Assignment(agent=a, instance=i, break_offsets=offsets))
            np.add.at(coverage, prob.duty_qt[i], prob.duty_frac[i])
            for k, opt in enumerate(prob.breaks[i]):
                j = opt.offsets.index(offsets[k])
                np.add.at(coverage, opt.qt[j], -opt.frac[j])
    rows.sort(key=lambda r: (r.agent, prob.instances[r.instance].abs_start))
    cost = sum(prob.instances[r.instance].cost for r in rows)
    objective = under_penalty(np.maximum(prob.required - coverage, 0.0), prob.weight) + cost
    lower = min(lower, objective)  # float noise only: a valid bound cannot exceed a feasible objective
    gap = (objective - lower) / abs(objective) if abs(objective) > 1e-9 else 0.0
    gap = max(gap, 0.0)
    hours: dict[int, float] = defaultdict(float)
    for r in rows:
        hours[r.agent] += prob.instances[r.instance].paid_minutes / 60.0
    shortfall = sum(max(agent.hours_min - hours[a], 0.0) for a, agent in enumerate(prob.agents))
    limit_hit = any(s.time_limit_hit for s in stages)
    if shortfall > 1e-6:
        status = "contract hours not met"
    elif gap <= mip_gap + 1e-9:
        status = "optimal"
    elif limit_hit:
        status = "time limit"
    else:
        status = "feasible"
    return Schedule(
        requirements=prob.req,
        templates=tuple(prob.templates),
        agents=tuple(prob.agents),
        instances=tuple(prob.instances),
        assignments=tuple(rows),
        coverage=coverage.reshape(prob.req.required.shape),
        under_weight=prob.weight,
        objective=float(objective),
        lower_bound=float(lower),
        lp_bound=float(lp_bound),
        mip_gap=float(gap),
        status=status,
        time_limit_hit=limit_hit,
        solve_seconds=time.perf_counter() - began,
        exact=exact,
        hours_shortfall=float(shortfall),
        stages=tuple(stages),
    )
