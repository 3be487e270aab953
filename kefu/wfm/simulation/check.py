"""Simulation beside the Erlang formulas for one steady interval: does the plan's maths hold up?

Erlang C and Erlang A describe a queue that has run long enough to forget how it started; the simulation of
a steady plan (the same calls and agents every interval) with a warm-up measures the same thing, so each
analytic value should fall inside the simulated confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from kefu.wfm import queueing
from kefu.wfm.simulation.kpis import Estimate
from kefu.wfm.simulation.model import Distribution, Exponential, SimulationPlan, SkillGroup
from kefu.wfm.simulation.run import SimulationResult, simulate


@dataclass(frozen=True)
class Comparison:
    """One KPI: the simulated estimate, the analytic value and whether the interval contains it."""

    kpi: str
    simulated: Estimate
    analytic: float

    @property
    def agrees(self) -> bool:
        return self.simulated.contains(self.analytic)


# Which simulated KPI each analytic value is. Erlang A's service level is PRODUCT formula 3 (answered within Y
# over answered + abandoned); without abandonment all four formulas coincide, and formula 3 is still exact.
ANALYTIC_KPIS = {
    "service_level": "service_level_3",
    "asa_seconds": "asa_seconds",
    "occupancy": "occupancy",
    "abandon_rate": "abandon_rate",
}


def analytic_values(*, calls: float, interval_seconds: float, aht_seconds: float, agents: int,
                    within_seconds: float, patience_seconds: float | None) -> dict[str, float]:
    """Erlang C (no patience) or Erlang A values keyed by the simulated KPI they correspond to."""
    m = queueing.evaluate(agents=agents, calls=calls, interval_seconds=interval_seconds,
                          aht_seconds=aht_seconds, within_seconds=within_seconds,
                          patience_seconds=patience_seconds)
    values = {
        "service_level_3": float(m.service_level),
        "asa_seconds": float(m.asa_seconds),
        "occupancy": float(m.occupancy),
    }
    if m.abandon_rate is not None:
        values["abandon_rate"] = float(m.abandon_rate)
    return values


def steady_plan(*, calls: float, interval_seconds: float, agents: int, handle: Distribution,
                patience_seconds: float | None, intervals: int) -> SimulationPlan:
    """The same calls (per interval) and agents over `intervals` intervals, exponential patience if given."""
    patience = (Exponential(patience_seconds, field_name="patience_seconds")
                if patience_seconds is not None else None)
    group = SkillGroup("queue", agents=[agents], calls=[calls], handle=handle, patience=patience)
    return SimulationPlan(interval_seconds=interval_seconds, groups=[group], intervals=intervals)


def check_steady_state(*, calls: float, interval_seconds: float, aht_seconds: float, agents: int,
                       within_seconds: float = 20.0, patience_seconds: float | None = None,
                       intervals: int = 20, warmup_intervals: int = 2, replications: int = 30,
                       seed: int = 1, confidence: float = 0.95) -> tuple[SimulationResult, list[Comparison]]:
    """Simulate a steady interval (exponential handle times, Poisson arrivals; seconds, fractions) and compare
    service level, ASA, occupancy and (with patience) abandonment with Erlang C / Erlang A.

    Each replication runs `intervals` identical intervals and discards the first `warmup_intervals`.
    """
    plan = steady_plan(calls=calls, interval_seconds=interval_seconds, agents=agents,
                       handle=Exponential(aht_seconds), patience_seconds=patience_seconds,
                       intervals=intervals)
    result = simulate(plan, within_seconds=within_seconds, replications=replications, seed=seed,
                      warmup_seconds=warmup_intervals * interval_seconds, confidence=confidence)
    analytic = analytic_values(calls=calls, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
                               agents=agents, within_seconds=within_seconds,
                               patience_seconds=patience_seconds)
    comparisons = [Comparison(kpi, getattr(result.overall, kpi), value) for kpi, value in analytic.items()]
    return result, comparisons
