"""Discrete-event simulation of a contact-center plan: Poisson or traced arrivals, handle times, patience and
abandonment, agents per interval, skill groups with overflow — every PRODUCT §2.9 KPI with confidence
intervals.

Use it to check a plan the Erlang formulas cannot describe exactly (abandonment, overflow, changing staff).
"""

from kefu.wfm.simulation.kpis import KPI_NAMES, Estimate, Kpis
from kefu.wfm.simulation.model import (
    ArrivalTrace,
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    SimulationPlan,
    SkillGroup,
)
from kefu.wfm.simulation.run import SimulationResult, draw_calls, simulate

__all__ = [
    "KPI_NAMES",
    "ArrivalTrace",
    "Distribution",
    "Empirical",
    "Estimate",
    "Exponential",
    "Fixed",
    "Kpis",
    "Lognormal",
    "SimulationPlan",
    "SimulationResult",
    "SkillGroup",
    "draw_calls",
    "simulate",
]
