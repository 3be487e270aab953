"""The plan step: from a forecast (calls and AHT per interval) and the service targets to the agents required
on the phones and the staff to schedule after shrinkage, interval by interval (ICMI steps 4–6).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.forecast.calendar import ALLOWED_INTERVAL_MINUTES, infer_interval_minutes
from kefu.wfm.forecast.io import parse_number, parse_timestamp, read_table
from kefu.wfm.queueing import staff_intervals, trunk_load, trunks_required
from kefu.wfm.shrinkage import scheduled_staff

DEFAULT_QUEUE = "default"
# Service level is still reported (at this answer time) when the only targets are ASA or abandonment.
DEFAULT_WITHIN_SECONDS = 20.0


@dataclass(frozen=True)
class StaffingTargets:
    """What each interval must achieve; every target given must hold.

    `service_level` is a fraction (0.8 = 80 %) answered within `within_seconds` (seconds) — of all calls
    offered, so with `patience_seconds` a caller who abandons counts as missed (PRODUCT §2.9 formula 3).
    `asa_seconds`: mean wait of answered calls (seconds). `abandon_rate`: abandoned / offered (fraction; needs
    `patience_seconds`, the callers' mean patience in seconds, which switches the model from Erlang C to
    Erlang A). `max_occupancy`: cap on the agents' busy share (fraction).
    """

    service_level: float | None = None
    within_seconds: float | None = None
    asa_seconds: float | None = None
    abandon_rate: float | None = None
    patience_seconds: float | None = None
    max_occupancy: float | None = None

    def __post_init__(self) -> None:
        if (self.service_level is None and self.asa_seconds is None and self.abandon_rate is None
                and self.max_occupancy is None):
            raise PlanningInputError(
                "give a target: service level (with its answer time), ASA or abandon rate",
                field="service_level")
        if self.service_level is not None and self.within_seconds is None:
            raise PlanningInputError("a service-level target needs its answer time in seconds",
                                     field="within_seconds")
        if self.abandon_rate is not None and self.patience_seconds is None:
            raise PlanningInputError("an abandonment target needs the callers' mean patience in seconds",
                                     field="patience_seconds")

    @property
    def report_within_seconds(self) -> float:
        """Answer time Y (seconds) at which the service level is reported."""
        return self.within_seconds if self.within_seconds is not None else DEFAULT_WITHIN_SECONDS


@dataclass(frozen=True)
class Forecast:
    """Calls offered per interval and AHT (seconds; NaN where the file gives none) per queue and interval."""

    interval_start: list[str]
    queue: list[str]
    offered: NDArray[np.float64]
    aht_seconds: NDArray[np.float64]
    rows: NDArray[np.int64]  # row numbers in the file (header = row 1)
    interval_minutes: int
    has_aht_column: bool


@dataclass(frozen=True)
class StaffPlan:
    """Required agents on the phones and scheduled staff per interval, with what that staffing achieves."""

    forecast: Forecast
    targets: StaffingTargets
    shrinkage: float
    aht_seconds: NDArray[np.float64]
    traffic_erlangs: NDArray[np.float64]
    required_agents: NDArray[np.int64]
    scheduled_agents: NDArray[np.int64]
    service_level: NDArray[np.float64]
    asa_seconds: NDArray[np.float64]
    occupancy: NDArray[np.float64]
    prob_wait: NDArray[np.float64]
    abandon_rate: NDArray[np.float64] | None
    trunk_load_erlangs: NDArray[np.float64] | None = None
    trunks: NDArray[np.int64] | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        """Totals over the plan: intervals, agent-hours required and scheduled (hours), the peak interval, and
        the call-weighted service level, ASA (seconds) and occupancy (fractions)."""
        hours = self.forecast.interval_minutes / 60.0
        calls = self.forecast.offered
        total_calls = float(calls.sum())
        peak = int(np.argmax(self.required_agents)) if self.required_agents.size else 0

        def weighted(values: NDArray[np.float64]) -> float:
            return float((values * calls).sum() / total_calls) if total_calls > 0 else 0.0

        result: dict[str, float | int | str] = {
            "intervals": int(calls.size),
            "interval_minutes": self.forecast.interval_minutes,
            "offered": round(total_calls, 3),
            "required_agent_hours": round(float(self.required_agents.sum()) * hours, 2),
            "scheduled_agent_hours": round(float(self.scheduled_agents.sum()) * hours, 2),
            "peak_required_agents": int(self.required_agents[peak]) if calls.size else 0,
            "peak_interval_start": self.forecast.interval_start[peak] if calls.size else "",
            "peak_scheduled_agents": int(self.scheduled_agents.max()) if calls.size else 0,
            "shrinkage": self.shrinkage,
            "service_level": round(weighted(self.service_level), 4),
            "asa_seconds": round(weighted(self.asa_seconds), 2),
            "occupancy": round(weighted(self.occupancy), 4),
        }
        if self.abandon_rate is not None:
            result["abandon_rate"] = round(weighted(self.abandon_rate), 4)
        if self.trunks is not None:
            result["peak_trunks"] = int(self.trunks.max()) if calls.size else 0
        return result


def read_forecast(path: str | Path, *, interval_minutes: int | None = None) -> Forecast:
    """Read a forecast file (CSV or .xlsx) with columns `interval_start` (ISO 8601, local time), `offered`
    (calls per interval), optional `queue` and `aht_seconds` (seconds).

    The interval length (minutes) is inferred from the starts (5, 6, 10, 15, 30 or 60) unless given.
    Duplicate or overlapping intervals of one queue, negative volumes and unparseable cells raise
    PlanningInputError naming the row (the header is row 1).
    """
    table = read_table(path)
    for needed in ("interval_start", "offered"):
        if not table.has(needed):
            present = ", ".join(sorted(table.columns)) or "none"
            raise PlanningInputError(f"missing column '{needed}' (the file has: {present})", field=needed)
    rows = np.asarray(table.rows, dtype=np.int64)
    if rows.size == 0:
        raise PlanningInputError("the forecast has no intervals", field="interval_start")
    starts = np.asarray([parse_timestamp(v, field="interval_start", row=int(r))
                         for v, r in zip(table.columns["interval_start"], rows, strict=True)], dtype=np.int64)
    offered = np.asarray([parse_number(v, field="offered", row=int(r))
                          for v, r in zip(table.columns["offered"], rows, strict=True)], dtype=np.float64)
    has_aht = table.has("aht_seconds")
    if has_aht:
        aht = np.asarray([parse_number(v, field="aht_seconds", row=int(r), required=False)
                          for v, r in zip(table.columns["aht_seconds"], rows, strict=True)], dtype=np.float64)
    else:
        aht = np.full(rows.size, np.nan)
    if table.has("queue"):
        queues = [DEFAULT_QUEUE if v is None or not str(v).strip() else str(v).strip()
                  for v in table.columns["queue"]]
    else:
        queues = [DEFAULT_QUEUE] * rows.size
    texts = [_start_text(v) for v in table.columns["interval_start"]]

    names = sorted(set(queues))
    queue_index = np.asarray([names.index(q) for q in queues], dtype=np.int64)
    order = np.lexsort((starts, queue_index))
    if interval_minutes is None:
        minutes = infer_interval_minutes(starts[order], queue_index[order], rows[order])
    else:
        if interval_minutes not in ALLOWED_INTERVAL_MINUTES:
            raise PlanningInputError(
                f"must be one of {', '.join(map(str, ALLOWED_INTERVAL_MINUTES))} minutes, "
                f"got {interval_minutes}", field="interval_minutes")
        minutes = interval_minutes
    _check_overlaps(starts[order], queue_index[order], rows[order], minutes)
    return Forecast(interval_start=texts, queue=queues, offered=offered, aht_seconds=aht, rows=rows,
                    interval_minutes=minutes, has_aht_column=has_aht)


def _start_text(value: object) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="minutes"))  # a workbook's datetime cell
    return str(value).strip()


def _check_overlaps(starts: NDArray[np.int64], queue_index: NDArray[np.int64], rows: NDArray[np.int64],
                    minutes: int) -> None:
    """Within one queue two intervals may not share a start or overlap (also across midnight)."""
    same = queue_index[1:] == queue_index[:-1]
    gaps = np.diff(starts)
    clash = same & (gaps < minutes)
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        kind = "duplicates" if gaps[i] == 0 else f"overlaps (the intervals are {minutes} minutes long)"
        raise PlanningInputError(f"this interval {kind} the one in row {int(rows[i])}",
                                 field="interval_start", row=int(rows[i + 1]))


def plan_staff(forecast: Forecast, targets: StaffingTargets, *, shrinkage: float = 0.0,
               aht_seconds: float | None = None, trunk_blocking: float | None = None,
               acw_seconds: float = 0.0) -> StaffPlan:
    """Required agents (Erlang C, or Erlang A with patience) and scheduled staff per forecast interval.

    `shrinkage` is the total fraction of paid time off the phones (0 ≤ s < 1); `aht_seconds` fills intervals
    the forecast gives no AHT for. With `trunk_blocking` (fraction) the trunks per interval are sized with
    Erlang B on calls × (talk + ASA) / interval, where talk = AHT − `acw_seconds` (seconds).
    """
    offered = forecast.offered
    aht = forecast.aht_seconds.copy()
    missing = np.isnan(aht) & (offered > 0.0)  # an interval without calls needs no handle time
    aht[np.isnan(aht)] = 0.0
    if missing.any():
        if aht_seconds is None:
            if not forecast.has_aht_column:
                raise PlanningInputError(
                    "the forecast has no aht_seconds column: give the handle time (--aht)",
                    field="aht_seconds")
            i = int(np.flatnonzero(missing)[0])
            raise PlanningInputError("is empty; fill it or give a default handle time (--aht)",
                                     field="aht_seconds", row=int(forecast.rows[i]))
        aht[missing] = aht_seconds
    zero = (aht <= 0.0) & (offered > 0.0)
    if zero.any():
        i = int(np.flatnonzero(zero)[0])
        raise PlanningInputError("must be greater than 0 seconds where calls are offered",
                                 field="aht_seconds", row=int(forecast.rows[i]))
    aht = np.where(aht > 0.0, aht, 1.0)  # intervals without calls need no handle time
    if acw_seconds < 0.0:
        raise PlanningInputError("must not be negative", field="acw_seconds")
    short = (aht < acw_seconds) & (offered > 0.0)
    if trunk_blocking is not None and short.any():
        i = int(np.flatnonzero(short)[0])
        raise PlanningInputError(f"AHT is below the after-call work of {acw_seconds:g} seconds",
                                 field="aht_seconds", row=int(forecast.rows[i]))

    interval_seconds = forecast.interval_minutes * 60.0
    # One pass: the solver's answer and its metrics (service level reported at Y, which is the target's Y
    # whenever a service-level target is set).
    metrics = staff_intervals(
        calls=offered, interval_seconds=interval_seconds, aht_seconds=aht,
        service_level=targets.service_level, within_seconds=targets.report_within_seconds,
        asa_seconds=targets.asa_seconds, abandon_rate=targets.abandon_rate,
        patience_seconds=targets.patience_seconds, max_occupancy=targets.max_occupancy,
    )
    agents = metrics.agents
    trunk_erlangs = trunks = None
    if trunk_blocking is not None:
        trunk_erlangs = trunk_load(calls=offered, interval_seconds=interval_seconds,
                                   talk_seconds=np.maximum(aht - acw_seconds, 0.0),
                                   asa_seconds=metrics.asa_seconds)
        trunks = trunks_required(trunk_erlangs, trunk_blocking)
    notes = []
    if missing.any() and aht_seconds is not None:
        notes.append(f"{int(missing.sum())} intervals without an AHT used {aht_seconds:g} s")
    return StaffPlan(
        forecast=forecast, targets=targets, shrinkage=shrinkage, aht_seconds=aht,
        traffic_erlangs=metrics.traffic_erlangs, required_agents=agents,
        scheduled_agents=scheduled_staff(agents, shrinkage), service_level=metrics.service_level,
        asa_seconds=metrics.asa_seconds, occupancy=metrics.occupancy, prob_wait=metrics.prob_wait,
        abandon_rate=metrics.abandon_rate, trunk_load_erlangs=trunk_erlangs, trunks=trunks, notes=notes,
    )


def plan_columns(plan: StaffPlan) -> list[str]:
    """Column names of the plan file, in order."""
    columns = ["interval_start", "queue", "offered", "aht_seconds", "traffic_erlangs", "required_agents",
               "scheduled_agents", "service_level", "asa_seconds", "occupancy", "prob_wait"]
    if plan.abandon_rate is not None:
        columns.append("abandon_rate")
    if plan.trunks is not None:
        columns += ["trunk_load_erlangs", "trunks"]
    return columns


def write_plan(target: str | Path | TextIO, plan: StaffPlan) -> None:
    """Write the plan as CSV (to a path or an open text stream), one row per forecast interval in order."""
    columns = plan_columns(plan)
    values: dict[str, list[object]] = {
        "interval_start": list(plan.forecast.interval_start),
        "queue": list(plan.forecast.queue),
        "offered": [_num(v, 3) for v in plan.forecast.offered],
        "aht_seconds": [_num(v, 1) if c > 0 else "" for v, c in zip(plan.aht_seconds, plan.forecast.offered,
                                                                      strict=True)],
        "traffic_erlangs": [_num(v, 4) for v in plan.traffic_erlangs],
        "required_agents": [int(v) for v in plan.required_agents],
        "scheduled_agents": [int(v) for v in plan.scheduled_agents],
        "service_level": [_num(v, 4) for v in plan.service_level],
        "asa_seconds": [_num(v, 2) for v in plan.asa_seconds],
        "occupancy": [_num(v, 4) for v in plan.occupancy],
        "prob_wait": [_num(v, 4) for v in plan.prob_wait],
    }
    if plan.abandon_rate is not None:
        values["abandon_rate"] = [_num(v, 4) for v in plan.abandon_rate]
    if plan.trunks is not None and plan.trunk_load_erlangs is not None:
        values["trunk_load_erlangs"] = [_num(v, 4) for v in plan.trunk_load_erlangs]
        values["trunks"] = [int(v) for v in plan.trunks]
    table = zip(*(values[c] for c in columns), strict=True)
    if isinstance(target, str | Path):
        with Path(target).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(table)
        return
    writer = csv.writer(target)
    writer.writerow(columns)
    writer.writerows(table)


def _num(value: float, digits: int) -> float | str:
    number = float(value)
    if not math.isfinite(number):
        return ""
    rounded = round(number, digits)
    return int(rounded) if rounded == int(rounded) else rounded
