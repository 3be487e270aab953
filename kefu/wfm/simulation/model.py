"""What a simulation run is made of: time distributions, arrival traces, skill groups and the plan.

All durations are in seconds; expected calls are per interval; agents are whole heads per interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kefu.wfm.errors import PlanningInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Distribution(Protocol):
    """A positive random duration in seconds (handle time or patience)."""

    @property
    def mean_seconds(self) -> float: ...

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray: ...


def _positive(value: float, name: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise PlanningInputError(f"must be a positive number of seconds, got {value!r}", field=name)
    return float(value)


@dataclass(frozen=True)
class Exponential:
    """Exponentially distributed duration with the given mean (seconds)."""

    mean_seconds: float
    field_name: str = "aht_seconds"

    def __post_init__(self) -> None:
        _positive(self.mean_seconds, self.field_name)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.exponential(self.mean_seconds, size)


@dataclass(frozen=True)
class Lognormal:
    """Lognormal duration with the given mean (seconds) and coefficient of variation (std / mean)."""

    mean_seconds: float
    cv: float = 1.0
    field_name: str = "aht_seconds"

    def __post_init__(self) -> None:
        _positive(self.mean_seconds, self.field_name)
        if not math.isfinite(self.cv) or self.cv <= 0:
            raise PlanningInputError(f"must be a positive ratio, got {self.cv!r}", field="handle_cv")

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        sigma2 = math.log1p(self.cv * self.cv)
        mu = math.log(self.mean_seconds) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), size)


@dataclass(frozen=True)
class Fixed:
    """The same duration for every call (seconds); for hand-checked examples."""

    value_seconds: float
    field_name: str = "aht_seconds"

    def __post_init__(self) -> None:
        _positive(self.value_seconds, self.field_name)

    @property
    def mean_seconds(self) -> float:
        return self.value_seconds

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.full(size, self.value_seconds)


@dataclass(frozen=True, eq=False)
class Empirical:
    """Durations drawn with replacement from observed samples (seconds), e.g. last month's handle times."""

    samples: FloatArray
    field_name: str = "handle_seconds"

    def __init__(self, samples: ArrayLike, field_name: str = "handle_seconds") -> None:
        values = np.asarray(samples, dtype=np.float64).ravel()
        if values.size == 0:
            raise PlanningInputError("needs at least one sample", field=field_name)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if bad.size:
            raise PlanningInputError(f"must be positive seconds, got {values[bad[0]]!r}",
                                     field=field_name, row=int(bad[0]) + 1)
        object.__setattr__(self, "samples", values)
        object.__setattr__(self, "field_name", field_name)

    @property
    def mean_seconds(self) -> float:
        return float(self.samples.mean())

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return self.samples[rng.integers(0, self.samples.size, size)]


@dataclass(frozen=True, eq=False)
class ArrivalTrace:
    """Given arrival times (seconds from the start of the first interval), optionally with each call's handle
    time.

    The same arrivals are replayed in every replication; handle times not given are drawn from the group's
    distribution, and patience is always drawn.
    """

    arrival_seconds: FloatArray
    handle_seconds: FloatArray | None

    def __init__(self, arrival_seconds: ArrayLike, handle_seconds: ArrayLike | None = None) -> None:
        arrivals = np.asarray(arrival_seconds, dtype=np.float64).ravel()
        bad = np.flatnonzero(~np.isfinite(arrivals) | (arrivals < 0))
        if bad.size:
            raise PlanningInputError(f"must be seconds ≥ 0, got {arrivals[bad[0]]!r}",
                                     field="arrival_seconds", row=int(bad[0]) + 1)
        handles: FloatArray | None = None
        if handle_seconds is not None:
            handles = np.asarray(handle_seconds, dtype=np.float64).ravel()
            if handles.size != arrivals.size:
                raise PlanningInputError(f"has {handles.size} values for {arrivals.size} arrivals",
                                         field="handle_seconds")
            bad = np.flatnonzero(~np.isfinite(handles) | (handles <= 0))
            if bad.size:
                raise PlanningInputError(f"must be positive seconds, got {handles[bad[0]]!r}",
                                         field="handle_seconds", row=int(bad[0]) + 1)
        order = np.argsort(arrivals, kind="stable")
        object.__setattr__(self, "arrival_seconds", arrivals[order])
        object.__setattr__(self, "handle_seconds", None if handles is None else handles[order])


@dataclass(frozen=True, eq=False)
class SkillGroup:
    """One queue with its own agents.

    `agents[k]` heads are logged in during interval k (when the count drops, agents who would be free first
    sign off, busy ones after finishing their call). Calls arrive as Poisson with `calls[k]` expected in
    interval k, or from `trace`. A waiting call may also be answered by the groups in `overflow_to` once it
    has waited `overflow_after_seconds`; it then goes to whichever eligible agent is free first (first come,
    first served by arrival time within each group).
    """

    name: str
    agents: IntArray
    handle: Distribution
    calls: FloatArray | None = None
    trace: ArrivalTrace | None = None
    patience: Distribution | None = None
    overflow_to: tuple[str, ...] = ()
    overflow_after_seconds: float = math.inf

    def __init__(self, name: str, *, agents: Sequence[int] | ArrayLike, handle: Distribution,
                 calls: Sequence[float] | ArrayLike | None = None, trace: ArrivalTrace | None = None,
                 patience: Distribution | None = None, overflow_to: Sequence[str] = (),
                 overflow_after_seconds: float = math.inf) -> None:
        heads = np.atleast_1d(np.asarray(agents, dtype=np.float64))
        bad = np.flatnonzero(~np.isfinite(heads) | (heads < 0) | (heads != np.round(heads)))
        if bad.size:
            raise PlanningInputError(f"must be whole numbers ≥ 0, got {heads[bad[0]]!r}",
                                     field="agents", row=int(bad[0]) + 1)
        if (calls is None) == (trace is None):
            raise PlanningInputError(f"group '{name}' needs either expected calls or an arrival trace",
                                     field="calls")
        volume: FloatArray | None = None
        if calls is not None:
            volume = np.atleast_1d(np.asarray(calls, dtype=np.float64))
            bad = np.flatnonzero(~np.isfinite(volume) | (volume < 0))
            if bad.size:
                raise PlanningInputError(f"must be ≥ 0, got {volume[bad[0]]!r}", field="calls",
                                         row=int(bad[0]) + 1)
        if overflow_to and not (overflow_after_seconds >= 0):
            raise PlanningInputError("must be seconds ≥ 0", field="overflow_after_seconds")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "agents", heads.astype(np.int64))
        object.__setattr__(self, "handle", handle)
        object.__setattr__(self, "calls", volume)
        object.__setattr__(self, "trace", trace)
        object.__setattr__(self, "patience", patience)
        object.__setattr__(self, "overflow_to", tuple(overflow_to))
        object.__setattr__(self, "overflow_after_seconds",
                           float(overflow_after_seconds) if overflow_to else math.inf)


@dataclass(frozen=True, eq=False)
class SimulationPlan:
    """Skill groups over `intervals` consecutive intervals of `interval_seconds` each.

    Per-interval sequences of length 1 are repeated over all intervals. After the last interval no new calls
    arrive and the last interval's agents stay until every waiting call is answered or abandoned.
    """

    interval_seconds: float
    groups: tuple[SkillGroup, ...]
    intervals: int
    agents: IntArray = field(repr=False)   # (groups, intervals)
    calls: FloatArray = field(repr=False)  # (groups, intervals); zeros for trace-driven groups

    def __init__(self, *, interval_seconds: float, groups: Sequence[SkillGroup],
                 intervals: int | None = None) -> None:
        _positive(interval_seconds, "interval_seconds")
        if not groups:
            raise PlanningInputError("needs at least one skill group", field="groups")
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise PlanningInputError("group names must be unique", field="groups")
        for g in groups:
            for target in g.overflow_to:
                if target not in names or target == g.name:
                    raise PlanningInputError(f"group '{g.name}' overflows to unknown group '{target}'",
                                             field="overflow_to")
        lengths = {len(g.agents) for g in groups} | {len(g.calls) for g in groups if g.calls is not None}
        lengths.discard(1)
        if len(lengths) > 1:
            raise PlanningInputError(f"per-interval values disagree on the number of intervals: "
                                     f"{sorted(lengths)}", field="intervals")
        if intervals is None:
            intervals = lengths.pop() if lengths else 0
            for g in groups:
                if g.trace is not None and g.trace.arrival_seconds.size:
                    last = float(g.trace.arrival_seconds[-1])
                    intervals = max(intervals, math.floor(last / interval_seconds) + 1)
            intervals = max(intervals, 1)
        elif lengths and lengths != {intervals}:
            raise PlanningInputError(f"per-interval values have {lengths.pop()} entries for {intervals} "
                                     "intervals", field="intervals")
        if intervals < 1:
            raise PlanningInputError("must be at least 1", field="intervals")
        horizon = intervals * interval_seconds
        for g in groups:
            last = g.trace.arrival_seconds.max(initial=-1.0) if g.trace is not None else -1.0
            if last >= horizon:
                raise PlanningInputError(f"arrival at {last:g} s is after the last "
                                         f"interval ends ({horizon:g} s)", field="arrival_seconds")
        agents = np.stack([np.broadcast_to(g.agents, (intervals,)) for g in groups]).astype(np.int64)
        calls = np.stack([np.broadcast_to(g.calls if g.calls is not None else np.zeros(1), (intervals,))
                          for g in groups]).astype(np.float64)
        object.__setattr__(self, "interval_seconds", float(interval_seconds))
        object.__setattr__(self, "groups", tuple(groups))
        object.__setattr__(self, "intervals", int(intervals))
        object.__setattr__(self, "agents", agents)
        object.__setattr__(self, "calls", calls)

    @property
    def horizon_seconds(self) -> float:
        return self.intervals * self.interval_seconds
