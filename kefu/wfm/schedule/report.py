"""What a schedule delivers: the per-agent schedule rows, per-interval coverage with over/under staffing and
the expected service level, and the summary figures (under-coverage, cost, solver gap)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.schedule.milp import Schedule, under_penalty

SCHEDULE_COLUMNS = (
    "agent_id",
    "name",
    "date",
    "shift",
    "queue",
    "start",
    "end",
    "break_start",
    "break_end",
    "meal_start",
    "meal_end",
)


def _stamp(schedule: Schedule, minutes: int) -> str:
    return (schedule.requirements.start + timedelta(minutes=minutes)).isoformat(timespec="minutes")


def schedule_rows(schedule: Schedule) -> list[dict[str, str]]:
    """One row per agent and worked shift; several breaks (or meals) in one shift are joined with `|`."""
    rows = []
    multi_queue = len(schedule.requirements.queues) > 1
    for assignment in schedule.assignments:
        inst = schedule.instances[assignment.instance]
        agent = schedule.agents[assignment.agent]
        template = schedule.templates[inst.template]
        times: dict[str, list[str]] = {"break_start": [], "break_end": [], "meal_start": [], "meal_end": []}
        for brk, offset in zip(template.breaks, assignment.break_offsets, strict=True):
            begin = inst.abs_start + offset
            times[f"{brk.kind}_start"].append(_stamp(schedule, begin))
            times[f"{brk.kind}_end"].append(_stamp(schedule, begin + brk.minutes))
        row = {
            "agent_id": agent.agent_id,
            "name": agent.name,
            "date": (schedule.requirements.start + timedelta(days=inst.day)).date().isoformat(),
            "shift": template.name,
            "queue": schedule.requirements.queues[inst.queue] if multi_queue else "",
            "start": _stamp(schedule, inst.abs_start),
            "end": _stamp(schedule, inst.abs_start + inst.length),
        }
        row.update({key: "|".join(value) for key, value in times.items()})
        rows.append(row)
    return rows


def expected_service_level(
    schedule: Schedule, *, within_seconds: float = 20.0, shrinkage: float = 0.0
) -> NDArray[np.float64] | None:
    """Expected service level (fraction answered within the target, Erlang C) per queue and interval for the
    agents on the phone, or None when the requirements carry no `calls` and `aht_seconds`.

    Agents on the phone = scheduled coverage × (1 − `shrinkage`), rounded down (part-interval breaks count
    against the interval). `within_seconds` applies where the file has no `within_seconds` column. Intervals
    without calls are NaN.
    """
    req = schedule.requirements
    if req.calls is None or req.aht_seconds is None:
        return None
    if not 0 <= shrinkage < 1:
        raise PlanningInputError("must be a fraction from 0 to below 1", field="shrinkage")
    from kefu.wfm.queueing import evaluate  # the queueing maths is only needed for this figure

    within = (
        req.within_seconds if req.within_seconds is not None else np.full(req.required.shape, within_seconds)
    )
    within = np.where(np.isnan(within), within_seconds, within)
    on_phone = np.floor(schedule.coverage * (1.0 - shrinkage) + 1e-9).astype(np.int64)
    result = np.full(req.required.shape, np.nan)
    busy = req.calls > 0
    if busy.any():
        metrics = evaluate(
            agents=on_phone[busy],
            calls=req.calls[busy],
            interval_seconds=req.interval_minutes * 60,
            aht_seconds=req.aht_seconds[busy],
            within_seconds=within[busy],
        )
        result[busy] = np.asarray(metrics.service_level, dtype=float)
    return result


def coverage_rows(
    schedule: Schedule, service_level: NDArray[np.float64] | None = None
) -> list[dict[str, Any]]:
    """One row per queue and interval: required, scheduled (on the phone), over, under, and service level when
    known (blank for intervals without calls)."""
    req = schedule.requirements
    multi_queue = len(req.queues) > 1
    under, over = schedule.under, schedule.over
    rows: list[dict[str, Any]] = []
    for q, queue in enumerate(req.queues):
        for t in range(req.intervals):
            row: dict[str, Any] = {"interval_start": req.interval_start(t).isoformat(timespec="minutes")}
            if multi_queue:
                row["queue"] = queue
            row.update(
                required=_num(req.required[q, t]),
                scheduled=_num(schedule.coverage[q, t]),
                over=_num(over[q, t]),
                under=_num(under[q, t]),
            )
            if service_level is not None:
                value = service_level[q, t]
                row["service_level"] = "" if np.isnan(value) else round(float(value), 4)
            rows.append(row)
    return rows


def _num(value: float) -> float | int:
    rounded = round(float(value), 4)
    return int(rounded) if rounded == int(rounded) else rounded


def summary(schedule: Schedule, service_level: NDArray[np.float64] | None = None) -> dict[str, Any]:
    """The headline figures: agent-intervals short (plain, and weighted by the escalating tiers the objective
    uses) and over, the most agents short in one interval, paid agent-hours, cost, solver status and gap."""
    req = schedule.requirements
    result: dict[str, Any] = {
        "under_coverage_agent_intervals": round(float(schedule.under.sum()), 4),
        "under_coverage_weighted": round(under_penalty(schedule.under, 1.0), 4),
        "deepest_shortfall_agents": round(float(schedule.under.max(initial=0.0)), 4),
        "over_coverage_agent_intervals": round(float(schedule.over.sum()), 4),
        "required_agent_intervals": round(float(req.required.sum()), 4),
        "paid_agent_hours": round(schedule.paid_hours, 4),
        "cost": round(schedule.cost, 4),
        "shifts": len(schedule.assignments),
        "agents": len(schedule.agents),
        "agents_scheduled": len({a.agent for a in schedule.assignments}),
        "interval_minutes": req.interval_minutes,
        "staff_column": req.staff_column,
        "status": schedule.status,
        "objective": round(schedule.objective, 4),
        "lower_bound": round(schedule.lower_bound, 4),
        "lp_bound": round(schedule.lp_bound, 4),
        "mip_gap": float(f"{schedule.mip_gap:.6g}"),
        "under_weight": schedule.under_weight,
        "exact_model": schedule.exact,
        "time_limit_hit": schedule.time_limit_hit,
        "contract_hours_shortfall": round(schedule.hours_shortfall, 4),
        "solve_seconds": round(schedule.solve_seconds, 3),
    }
    if service_level is not None and req.calls is not None:
        busy = ~np.isnan(service_level)
        calls = req.calls[busy]
        if calls.sum() > 0:
            result["expected_service_level"] = round(
                float((service_level[busy] * calls).sum() / calls.sum()), 4
            )
            result["intervals_below_required"] = int((schedule.under > 1e-9).sum())
    return result


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write `rows` with the given column order (UTF-8, header first)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
