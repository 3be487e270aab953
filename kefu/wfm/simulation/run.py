"""Independent replications of a plan: draw each run's calls, play them through an engine, summarise KPIs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.simulation.engine import CallLog, run_event_loop, run_single_group
from kefu.wfm.simulation.kpis import Kpis, replication_values, summarise
from kefu.wfm.simulation.model import FloatArray, IntArray, SimulationPlan


@dataclass(frozen=True)
class SimulationResult:
    """KPIs with confidence intervals for all calls (`overall`) and per skill group (`groups`, by name).

    `values[kpi]` holds the per-replication values, shape (replications, groups + 1), last column overall.
    """

    overall: Kpis
    groups: dict[str, Kpis]
    values: dict[str, FloatArray]
    replications: int
    confidence: float
    within_seconds: float
    warmup_seconds: float
    seed: int


@dataclass(frozen=True)
class DrawnCalls:
    """One replication's calls, sorted by arrival: primary group, arrival, handle and patience seconds."""

    group: IntArray
    arrival: FloatArray
    handle: FloatArray
    patience: FloatArray


def draw_calls(plan: SimulationPlan, seed: np.random.SeedSequence) -> DrawnCalls:
    """Draw arrivals (Poisson per interval, or the trace), handle times and patience for one replication.

    Arrivals, handle times and patience come from separate streams, so two plans that differ only in
    staffing or patience see the same callers (common random numbers make comparisons sharper).
    """
    arrivals_rng, handle_rng, patience_rng = (np.random.default_rng(s) for s in seed.spawn(3))
    width = plan.interval_seconds
    starts = np.arange(plan.intervals) * width
    groups, arrivals, handles, patiences = [], [], [], []
    for g, spec in enumerate(plan.groups):
        if spec.trace is not None:
            arrival = spec.trace.arrival_seconds
        else:
            counts = arrivals_rng.poisson(plan.calls[g])
            arrival = np.repeat(starts, counts) + arrivals_rng.random(int(counts.sum())) * width
        n = arrival.size
        if spec.trace is not None and spec.trace.handle_seconds is not None:
            handle = spec.trace.handle_seconds
        else:
            handle = spec.handle.sample(handle_rng, n)
        patience = (spec.patience.sample(patience_rng, n) if spec.patience is not None
                    else np.full(n, math.inf))
        groups.append(np.full(n, g, dtype=np.int64))
        arrivals.append(arrival)
        handles.append(handle)
        patiences.append(patience)
    arrival = np.concatenate(arrivals)
    order = np.argsort(arrival, kind="stable")
    return DrawnCalls(group=np.concatenate(groups)[order], arrival=arrival[order],
                      handle=np.concatenate(handles)[order], patience=np.concatenate(patiences)[order])


def play(plan: SimulationPlan, calls: DrawnCalls, window: tuple[float, float],
         engine: Literal["auto", "events"] = "auto") -> CallLog:
    """Run one replication's calls through the single-group recursion or the general event loop."""
    names = [g.name for g in plan.groups]
    single = len(plan.groups) == 1 and not plan.groups[0].overflow_to
    if single and engine == "auto":
        return run_single_group(calls.arrival, calls.handle, calls.patience, plan.agents[0],
                                plan.interval_seconds, window)
    return run_event_loop(calls.group, calls.arrival, calls.handle, calls.patience, plan.agents,
                          plan.interval_seconds, window,
                          overflow_to=[[names.index(n) for n in g.overflow_to] for g in plan.groups],
                          overflow_after=[g.overflow_after_seconds for g in plan.groups])


def simulate(plan: SimulationPlan, *, within_seconds: float = 20.0, replications: int = 30, seed: int = 1,
             warmup_seconds: float = 0.0, confidence: float = 0.95,
             engine: Literal["auto", "events"] = "auto") -> SimulationResult:
    """Simulate `replications` independent runs of `plan` and report every KPI with a t confidence interval.

    `within_seconds` is the service-level threshold Y (seconds); calls arriving before `warmup_seconds` are
    not counted (use it to measure steady state, since each run starts with idle agents and no queue);
    `confidence` is a fraction (0.95 → 95 % intervals). The same `seed` gives the same numbers. `engine`
    "events" forces the general event loop even for one group (it must give the same answers). A group that
    receives calls needs an agent in the last interval (or somewhere to overflow to).
    """
    if not (math.isfinite(within_seconds) and within_seconds >= 0):
        raise PlanningInputError(f"must be seconds ≥ 0, got {within_seconds!r}", field="within_seconds")
    if replications < 1 or replications != int(replications):
        raise PlanningInputError(f"must be a whole number ≥ 1, got {replications!r}", field="replications")
    if not 0 < confidence < 1:
        raise PlanningInputError(f"must be a fraction between 0 and 1, got {confidence!r}",
                                 field="confidence")
    horizon = plan.horizon_seconds
    if not (math.isfinite(warmup_seconds) and 0 <= warmup_seconds < horizon):
        raise PlanningInputError(f"must be seconds from 0 to below the {horizon:g} s simulated, "
                                 f"got {warmup_seconds!r}", field="warmup_seconds")
    if seed < 0:
        raise PlanningInputError(f"must be ≥ 0, got {seed!r}", field="seed")
    for g, heads, volume in zip(plan.groups, plan.agents, plan.calls, strict=True):
        has_calls = bool(volume.sum() > 0) or (g.trace is not None and g.trace.arrival_seconds.size > 0)
        if has_calls and heads[-1] == 0 and not g.overflow_to:
            # the last interval's agents answer whoever still waits; with none, those calls never end and
            # would drop out of every KPI unseen
            raise PlanningInputError(f"group '{g.name}' has no agent in the last interval: calls still "
                                     "waiting at the end would never be answered", field="agents")
    window = (float(warmup_seconds), horizon)
    logs = [play(plan, draw_calls(plan, s), window, engine)
            for s in np.random.SeedSequence(seed).spawn(int(replications))]
    starts = np.arange(plan.intervals) * plan.interval_seconds
    overlap = np.clip(np.minimum(starts + plan.interval_seconds, window[1]) - np.maximum(starts, window[0]),
                      0.0, None)
    logged_in = (plan.agents * overlap[None, :]).sum(axis=1)
    values = replication_values(logs, n_groups=len(plan.groups), within_seconds=within_seconds,
                                window=window, logged_in=logged_in)
    return SimulationResult(
        overall=summarise(values, len(plan.groups), confidence),
        groups={g.name: summarise(values, i, confidence) for i, g in enumerate(plan.groups)},
        values=values, replications=int(replications), confidence=confidence,
        within_seconds=float(within_seconds), warmup_seconds=float(warmup_seconds), seed=int(seed),
    )
