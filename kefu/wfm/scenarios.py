"""High / medium / low budget scenarios (ICMI step 9), each with the service level it buys, and the staff a
self-service channel saves by deflecting contacts (step 8).

A scenario fixes one of: a service-level target, a monthly budget of paid agent-hours, or a monthly budget of
money; it may also scale the forecast volume (a high or low forecast) and deflect a share of contacts. Every
interval with calls keeps a minimum staffing (one agent by default): a contact center never leaves an open
line to nobody, so a budget is spread only over what is left once that minimum is paid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kefu.wfm import queueing
from kefu.wfm.cost import (
    BudgetBelowMinimumError,
    CostRates,
    ServicePolicy,
    StaffingOutcome,
    Workload,
    best_service_for_budget,
    minimum_staffing,
    outcome,
    staff_for_target,
)
from kefu.wfm.errors import PlanningInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_MIN_AGENTS = 1

_KEYS = ("sl", "within", "volume", "deflection", "budget_hours", "budget")


@dataclass(frozen=True)
class Scenario:
    """One scenario: exactly one of `service_level` (target, fraction), `budget_agent_hours_month` (paid
    agent-hours per month) or `budget_month` (money per month, everything included); optionally its own
    answer time Y (`within_seconds`), a forecast multiplier `volume_factor` and a self-service `deflection`
    (fraction of contacts that never reach an agent)."""

    name: str
    service_level: float | None = None
    budget_agent_hours_month: float | None = None
    budget_month: float | None = None
    within_seconds: float | None = None
    volume_factor: float = 1.0
    deflection: float = 0.0

    def __post_init__(self) -> None:
        given = (self.service_level, self.budget_agent_hours_month, self.budget_month)
        if sum(v is not None for v in given) != 1:
            raise PlanningInputError(f"scenario '{self.name}' needs exactly one of a service-level target, "
                                     "an agent-hour budget or a money budget", field="scenario")
        if self.service_level is not None and not 0 <= self.service_level <= 1:
            raise PlanningInputError(f"scenario '{self.name}': service level must be a fraction 0..1, "
                                     f"got {self.service_level:g}", field="scenario")
        for value, what in ((self.budget_agent_hours_month, "agent-hour budget"),
                            (self.budget_month, "budget"),
                            (self.within_seconds, "answer time")):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise PlanningInputError(f"scenario '{self.name}': {what} must be ≥ 0, got {value:g}",
                                         field="scenario")
        if not (math.isfinite(self.volume_factor) and self.volume_factor >= 0):
            raise PlanningInputError(f"scenario '{self.name}': volume factor must be ≥ 0", field="scenario")
        if not 0 <= self.deflection < 1:
            raise PlanningInputError(f"scenario '{self.name}': deflection must be a fraction below 1, "
                                     f"got {self.deflection:g}", field="scenario")


def parse_scenario(text: str) -> Scenario:
    """Parse `NAME:0.8` (service-level target) or `NAME:key=value,...` with keys sl, within (seconds), volume
    (forecast multiplier), deflection (fraction), budget_hours (paid agent-hours a month), budget (money a
    month).
    """
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise PlanningInputError(f"'{text}' is not NAME:TARGET or NAME:key=value,…", field="scenario")
    values: dict[str, float] = {}
    parts = [rest] if "=" not in rest else rest.split(",")
    for part in parts:
        key, eq, raw = part.partition("=")
        if not eq:
            key, raw = "sl", key
        key = key.strip()
        if key not in _KEYS:
            raise PlanningInputError(f"scenario '{name}': unknown key '{key}' (use {', '.join(_KEYS)})",
                                     field="scenario")
        try:
            values[key] = float(raw)
        except ValueError:
            raise PlanningInputError(f"scenario '{name}': '{raw.strip()}' is not a number for {key}",
                                     field="scenario") from None
        if not math.isfinite(values[key]):
            raise PlanningInputError(f"scenario '{name}': {key} must be finite", field="scenario")
    return Scenario(name=name, service_level=values.get("sl"), within_seconds=values.get("within"),
                    volume_factor=values.get("volume", 1.0), deflection=values.get("deflection", 0.0),
                    budget_agent_hours_month=values.get("budget_hours"), budget_month=values.get("budget"))


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """A scenario's staffing and what it buys, in total (`outcome`) and per row of the workload: `calls` after
    the scenario's volume factor and deflection, and the service level (fraction, PRODUCT §2.9 formula 3) of
    `outcome.agents[i]` agents, NaN where no calls are offered. Every row with calls has at least
    `min_agents` agents."""

    scenario: Scenario
    policy: ServicePolicy
    outcome: StaffingOutcome
    calls: FloatArray
    service_levels: FloatArray
    min_agents: int

    @property
    def lowest_service_level(self) -> float | None:
        """The worst service level (fraction) of any row with calls; None when no calls are offered."""
        busy = self.calls > 0
        return float(self.service_levels[busy].min()) if busy.any() else None

    def as_dict(self) -> dict[str, Any]:
        """Flat snake_case fields for JSON and tables."""
        s, o, c = self.scenario, self.outcome, self.outcome.cost
        return {
            "name": s.name,
            "target_service_level": s.service_level,
            "budget_agent_hours_month": s.budget_agent_hours_month,
            "budget_month": s.budget_month,
            "within_seconds": self.policy.within_seconds,
            "volume_factor": s.volume_factor,
            "deflection": s.deflection,
            "min_agents": self.min_agents,
            "offered_calls_month": o.offered_calls_month,
            "agent_hours_month": o.agent_hours_month,
            "paid_agent_hours_month": o.paid_agent_hours_month,
            "peak_agents": o.peak_agents,
            "peak_seats": c.seats,
            "trunks": c.trunks,
            "people_cost_month": c.people_month,
            "seat_cost_month": c.seats_month,
            "trunk_cost_month": c.trunks_month,
            "overhead_month": c.overhead_month,
            "cost_month": c.total_month,
            "cost_year": c.total_year,
            "service_level": o.service_level,
            "lowest_interval_service_level": self.lowest_service_level,
            "asa_seconds": o.asa_seconds,
            "abandon_rate": o.abandon_rate,
            "occupancy": o.occupancy,
        }


def interval_service_levels(workload: Workload, agents: IntArray, policy: ServicePolicy) -> FloatArray:
    """Service level (fraction, formula 3) of `agents` per row of `workload`: 0 for calls offered to nobody,
    NaN for rows without calls."""
    result = np.full(workload.calls.shape, np.nan)
    busy = workload.calls > 0
    result[busy] = 0.0
    staffed = busy & (agents > 0)
    if staffed.any():
        result[staffed] = queueing.evaluate(
            agents=agents[staffed], calls=workload.calls[staffed], interval_seconds=workload.interval_seconds,
            aht_seconds=workload.aht_seconds[staffed], within_seconds=policy.within_seconds,
            patience_seconds=policy.patience_seconds).service_level
    return result


def run_scenario(workload: Workload, scenario: Scenario, policy: ServicePolicy, rates: CostRates, *,
                 min_agents: int = DEFAULT_MIN_AGENTS) -> ScenarioResult:
    """Staff, cost and service level of one scenario over `workload` (see `Scenario`), with at least
    `min_agents` agents in every interval that has calls."""
    if scenario.within_seconds is not None:
        policy = ServicePolicy(within_seconds=scenario.within_seconds,
                               patience_seconds=policy.patience_seconds, shrinkage=policy.shrinkage,
                               blocking=policy.blocking, acw_seconds=policy.acw_seconds)
    load = workload.scaled(scenario.volume_factor * (1.0 - scenario.deflection))
    minimum = minimum_staffing(load, min_agents)
    if scenario.service_level is not None:
        agents = np.maximum(staff_for_target(load, scenario.service_level, policy), minimum)
        result = outcome(load, agents, policy, rates)
    else:
        try:
            result = best_service_for_budget(load, policy, rates, minimum=minimum,
                                             agent_hours_month=scenario.budget_agent_hours_month,
                                             budget_month=scenario.budget_month).outcome
        except BudgetBelowMinimumError as exc:
            raise PlanningInputError(f"scenario '{scenario.name}': {exc.message}; raise the budget or lower "
                                     "--min-agents", field="scenario") from None
    return ScenarioResult(scenario, policy, result, load.calls,
                          interval_service_levels(load, result.agents, policy), int(min_agents))


def run_scenarios(workload: Workload, scenarios: list[Scenario], policy: ServicePolicy, rates: CostRates, *,
                  min_agents: int = DEFAULT_MIN_AGENTS) -> list[ScenarioResult]:
    """Every scenario over the same workload, in the order given; names must be unique."""
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise PlanningInputError("scenario names must be unique", field="scenario")
    return [run_scenario(workload, s, policy, rates, min_agents=min_agents) for s in scenarios]


@dataclass(frozen=True)
class DeflectionEffect:
    """A scenario without and with self-service taking `deflection` (fraction) of contacts."""

    deflection: float
    before: ScenarioResult
    after: ScenarioResult

    def as_dict(self) -> dict[str, Any]:
        b, a = self.before.outcome, self.after.outcome
        return {
            "name": self.before.scenario.name,
            "deflection": self.deflection,
            "peak_agents_saved": b.peak_agents - a.peak_agents,
            "agent_hours_month_saved": b.agent_hours_month - a.agent_hours_month,
            "paid_agent_hours_month_saved": b.paid_agent_hours_month - a.paid_agent_hours_month,
            "cost_month_saved": b.cost.total_month - a.cost.total_month,
            "cost_year_saved": b.cost.total_year - a.cost.total_year,
            "service_level_before": b.service_level,
            "service_level_after": a.service_level,
        }


def deflection_effect(workload: Workload, scenario: Scenario, deflection: float, policy: ServicePolicy,
                      rates: CostRates, *, min_agents: int = DEFAULT_MIN_AGENTS) -> DeflectionEffect:
    """What self-service deflecting `deflection` (fraction) of contacts saves in a scenario: staff, hours and
    money at the same target (or, for a budget scenario, the service level the same money now buys)."""
    if not 0 <= deflection < 1:
        raise PlanningInputError(f"must be a fraction below 1, got {deflection:g}", field="deflection")
    base = Scenario(**{**scenario.__dict__, "deflection": 0.0})
    with_self_service = Scenario(**{**scenario.__dict__, "deflection": deflection})
    return DeflectionEffect(deflection, run_scenario(workload, base, policy, rates, min_agents=min_agents),
                            run_scenario(workload, with_self_service, policy, rates, min_agents=min_agents))
