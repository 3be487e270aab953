"""Benchmark: Kefu's shift scheduler (HiGHS MILP) against pyworkforce's CP-SAT shift schedulers and the LP
bound.

Same requirement curve and shift set for every solver. pyworkforce schedules head-counts per shift and day
only: no named agents, contracts, rest, days off or breaks, and a shift must lie inside one day. So it is
compared twice: (1) its counts scored as it sees them (break time counted as on the phone) and re-scored with
breaks placed as well as possible in their windows (by our break model with its counts fixed); (2) against
Kefu's own counts-only model (the aggregate model with one unlimited pool of agents), which solves exactly the
problem pyworkforce solves plus breaks. Run: `.venv/bin/python bench/wfm_schedule.py` (writes
bench/results/wfm_schedule.json and .md).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _venv import peer_python  # noqa: E402

from kefu.wfm.schedule import (  # noqa: E402
    Agent,
    milp,
    solve_schedule,
)
from kefu.wfm.schedule.highs import Model  # noqa: E402
from kefu.wfm.schedule.synthetic import week_instance  # noqa: E402

PEER = "pyworkforce-0.5.1"  # 0.5.2+ need Python ≥ 3.12; this environment is Python 3.11
PEER_REQUIREMENTS = ["pyworkforce==0.5.1"]
TIME_LIMIT = 60.0

PEER_SCRIPT = r"""
import json, sys, time
from pyworkforce.scheduling import MinAbsDifference, MinRequiredResources
job = json.load(sys.stdin)
out = {}
for name, cls in (("MinRequiredResources", MinRequiredResources), ("MinAbsDifference", MinAbsDifference)):
    kwargs = dict(num_days=job["days"], periods=job["periods"], shifts_coverage=job["coverage"],
                  required_resources=job["required"], max_period_concurrency=job["max_period"],
                  max_shift_concurrency=job["max_shift"], max_search_time=job["time"], num_search_workers=2)
    if name == "MinRequiredResources":
        kwargs["cost_dict"] = job["cost"]
    began = time.perf_counter()
    try:
        solution = cls(**kwargs).solve()
        out[name] = {"seconds": time.perf_counter() - began, "status": solution["status"],
                     "objective": solution["cost"], "counts": solution["resources_shifts"]}
    except Exception as exc:  # report where the peer fails
        out[name] = {"seconds": time.perf_counter() - began, "status": "error: %s" % exc, "counts": []}
json.dump(out, sys.stdout)
"""


def _options(prob: milp._Problem) -> list[tuple[int, int]]:
    """Distinct (template, start) pairs: pyworkforce's 'shifts'."""
    return sorted({(i.template, i.start) for i in prob.instances})


def run_peer(prob: milp._Problem, agents: int) -> dict[str, Any]:
    req = prob.req
    per_day = 24 * 60 // req.interval_minutes
    coverage = {}
    cost = {}
    for template, start in _options(prob):
        shift = prob.templates[template]
        name = f"{shift.name}@{start // 60:02d}{start % 60:02d}"
        t = np.arange(per_day) * req.interval_minutes
        on = (t >= start) & (t + req.interval_minutes <= start + shift.length_minutes)
        coverage[name] = on.astype(int).tolist()
        cost[name] = round(shift.paid_minutes / 60 * shift.cost_per_hour)
    required = np.ceil(req.required[0].reshape(req.days, per_day)).astype(int).tolist()
    job = {
        "days": req.days,
        "periods": per_day,
        "coverage": coverage,
        "required": required,
        "max_period": agents,
        "max_shift": agents,
        "time": TIME_LIMIT,
        "cost": cost,
    }
    python = peer_python(PEER, PEER_REQUIREMENTS)
    began = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", PEER_SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
        timeout=10 * TIME_LIMIT,
    )
    if done.returncode:
        return {"error": done.stderr[-2000:], "wall_seconds": time.perf_counter() - began}
    result: dict[str, Any] = json.loads(done.stdout)
    names = list(coverage)
    index = {name: k for k, name in enumerate(names)}
    options = _options(prob)
    for method in result.values():
        counts: dict[tuple[int, int, int], int] = {}
        for row in method.get("counts", []):
            if row["day"] >= 0 and row["resources"] > 0:
                template, start = options[index[row["shift"]]]
                counts[(row["day"], template, start)] = int(row["resources"])
        method.update(score_counts(prob, counts))
        del method["counts"]
    return result


def score_counts(prob: milp._Problem, counts: dict[tuple[int, int, int], int]) -> dict[str, Any]:
    """Coverage of given head-counts: with break time counted as on duty (the peer's view), and with breaks
    placed as well as possible in their windows (an exact MILP over break placement only)."""
    by_instance = {}
    for k, inst in enumerate(prob.instances):
        n = counts.get((inst.day, inst.template, inst.start), 0)
        if n:
            by_instance[k] = n
    naive = np.zeros(prob.cells)
    for k, n in by_instance.items():
        np.add.at(naive, prob.duty_qt[k], n * prob.duty_frac[k])
    model = Model()
    n_cols = {}
    for k, n in by_instance.items():
        n_cols[k] = int(model.cols(1, lb=n, ub=n, cost=prob.instances[k].cost, integer=True)[0])
    if n_cols:
        _, _, under = milp._add_coverage(model, prob, n_cols, {k: float(n) for k, n in by_instance.items()})
        sol = model.solve(time_limit=TIME_LIMIT, mip_gap=0.0)
        # agents short, summed over the penalty's tiers (each tier has its own under-coverage columns)
        under_with_breaks = (float(sum(sol.values[columns].sum() for _, columns in under))
                             if sol.values is not None else float("nan"))
    else:
        under_with_breaks = float(prob.required.sum())
    paid = sum(prob.instances[k].paid_minutes * n for k, n in by_instance.items()) / 60
    cost = sum(prob.instances[k].cost * n for k, n in by_instance.items())
    return {
        "shifts": int(sum(by_instance.values())),
        "paid_agent_hours": round(paid, 2),
        "cost": round(cost, 2),
        "under_ignoring_breaks": round(float(np.maximum(prob.required - naive, 0).sum()), 2),
        "over_ignoring_breaks": round(float(np.maximum(naive - prob.required, 0).sum()), 2),
        "under_with_breaks": round(under_with_breaks, 2),
    }


def kefu_counts_only(prob_req: Any, shifts: Any, pool: int, score_with: Any = None) -> dict[str, Any]:
    """Kefu's aggregate model with one unlimited pool of `pool` agents (no contracts): pyworkforce's problem,
    plus break placement."""
    free = [
        Agent(
            f"P{k}", f"P{k}", 0.0, 24.0 * 7, 7, 0, False, frozenset(range(7)), 0, 48 * 60, min_rest_minutes=0
        )
        for k in range(pool)
    ]
    prob = milp._build_problem(prob_req, shifts, free, 20 * 60)
    classes = milp._classes(prob)
    model, x_cols, _, _ = milp._aggregate_model(prob, classes)
    relaxed = model.solve(time_limit=TIME_LIMIT, mip_gap=1e-3, relax=True)
    sol = model.solve(time_limit=TIME_LIMIT, mip_gap=1e-3)
    counts: dict[tuple[int, int, int], int] = {}
    if sol.values is not None:
        for (_, k), col in x_cols.items():
            n = round(sol.values[col])
            if n:
                inst = prob.instances[k]
                counts[(inst.day, inst.template, inst.start)] = (
                    counts.get((inst.day, inst.template, inst.start), 0) + n
                )
    scored = score_counts(
        milp._build_problem(prob_req, score_with, free, 20 * 60) if score_with else prob, counts
    )
    scored.update(
        seconds=round(relaxed.seconds + sol.seconds, 3),
        status=sol.status,
        mip_gap=sol.gap,
        lp_bound=round(relaxed.objective, 2),
        bound=round(sol.bound, 2),
        objective=round(sol.objective, 2),
        under_weight=prob.weight,
    )
    return scored


def kefu_full(req: Any, shifts: Any, agents: list[Agent]) -> dict[str, Any]:
    began = time.perf_counter()
    schedule = solve_schedule(req, shifts, agents, time_limit=TIME_LIMIT)
    return {
        "seconds": round(time.perf_counter() - began, 3),
        "status": schedule.status,
        "shifts": len(schedule.assignments),
        "paid_agent_hours": round(schedule.paid_hours, 2),
        "cost": round(schedule.cost, 2),
        "under_with_breaks": round(float(schedule.under.sum()), 2),
        "over_with_breaks": round(float(schedule.over.sum()), 2),
        "objective": round(schedule.objective, 2),
        "lower_bound": round(schedule.lower_bound, 2),
        "lp_bound": round(schedule.lp_bound, 2),
        "mip_gap": schedule.mip_gap,
        "under_weight": schedule.under_weight,
        "time_limit_hit": schedule.time_limit_hit,
        "stages": [
            {"name": s.name, "seconds": round(s.seconds, 3), "status": s.status} for s in schedule.stages
        ],
    }


def main() -> None:
    sizes = [("one day, 20 agents", 20, 1), ("week, 50 agents", 50, 7), ("week, 300 agents", 300, 7)]
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": 2, "time_limit_seconds": TIME_LIMIT},
        "peer": PEER_REQUIREMENTS[0],
        "cases": [],
    }
    for label, agents_n, days in sizes:
        req, shifts, agents = week_instance(agents_n, days=days, seed=11)
        prob = milp._build_problem(req, shifts, agents, 20 * 60)
        case: dict[str, Any] = {
            "case": label,
            "agents": agents_n,
            "days": days,
            "intervals": req.intervals,
            "required_agent_intervals": float(req.required.sum()),
            "shift_options_per_day": len(_options(prob)) // 1,
        }
        print(f"[{label}] kefu full …", flush=True)
        case["kefu_full"] = kefu_full(req, shifts, agents)
        print(f"[{label}] kefu counts-only …", flush=True)
        # a pool three times the roster: head-counts are then limited by nothing but cost, as in pyworkforce
        case["kefu_counts_only"] = kefu_counts_only(req, shifts, 3 * agents_n)
        print(f"[{label}] kefu counts-only without breaks …", flush=True)
        # same shifts without breaks, priced per shift as before (pyworkforce is given the same shift costs)
        no_breaks = [
            replace(s, breaks=(), cost_per_hour=s.cost_per_hour * s.paid_minutes / s.length_minutes)
            for s in shifts
        ]
        case["kefu_counts_only_no_breaks"] = kefu_counts_only(req, no_breaks, 3 * agents_n, score_with=shifts)
        print(f"[{label}] pyworkforce …", flush=True)
        case["pyworkforce"] = run_peer(prob, agents_n)
        results["cases"].append(case)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "wfm_schedule.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (out / "wfm_schedule.md").write_text(render(results))
    print(render(results))


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Shift scheduling: Kefu (HiGHS MILP) vs pyworkforce 0.5.1 (OR-Tools CP-SAT)",
        "",
        f"Same curve and shift set per case; {results['machine']['cpus']} cores; time limit "
        f"{results['machine']['time_limit_seconds']:g} s per solver. Under/over in agent-intervals (30 min). "
        "'with breaks' places every break and meal in its window (for pyworkforce: its head-counts with "
        "breaks placed optimally afterwards); 'ignoring breaks' counts break time as on the phone, as "
        "pyworkforce does. Kefu full schedules named agents with contracts, days off and 11 h rest; the "
        "others schedule head-counts from an unlimited pool.",
        "",
        "| case | solver | seconds | status | under (with breaks) | under (ignoring breaks) "
        "| paid agent-hours "
        "| cost | gap / bound |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for case in results["cases"]:
        full = case["kefu_full"]
        lines.append(
            f"| {case['case']} | Kefu, named agents | {full['seconds']:.1f} | {full['status']} | "
            f"{full['under_with_breaks']:g} | – | {full['paid_agent_hours']:g} | {full['cost']:g} | "
            f"gap {full['mip_gap']:.2%} (LP bound {full['lp_bound']:g}, bound {full['lower_bound']:g}, "
            f"objective {full['objective']:g}) |"
        )
        counts = case["kefu_counts_only"]
        lines.append(
            f"| {case['case']} | Kefu, counts only | {counts['seconds']:.1f} | {counts['status']} | "
            f"{counts['under_with_breaks']:g} | {counts['under_ignoring_breaks']:g} | "
            f"{counts['paid_agent_hours']:g} | {counts['cost']:g} | gap {counts['mip_gap']:.2%} |"
        )
        bare = case["kefu_counts_only_no_breaks"]
        lines.append(
            f"| {case['case']} | Kefu, counts only, shifts without breaks | {bare['seconds']:.1f} "
            f"| {bare['status']} "
            f"| – | {bare['under_ignoring_breaks']:g} | {bare['paid_agent_hours']:g} | {bare['cost']:g} | "
            f"gap {bare['mip_gap']:.2%} |"
        )
        peer = case["pyworkforce"]
        if "error" in peer:
            lines.append(f"| {case['case']} | pyworkforce | – | failed: {peer['error'][:80]} | | | | | |")
            continue
        for method, res in peer.items():
            if "paid_agent_hours" not in res:
                lines.append(
                    f"| {case['case']} | pyworkforce {method} | {res['seconds']:.1f} | {res['status']} "
                    "| | | | | |"
                )
                continue
            lines.append(
                f"| {case['case']} | pyworkforce {method} | {res['seconds']:.1f} | {res['status']} | "
                f"{res['under_with_breaks']:g} | {res['under_ignoring_breaks']:g} | "
                f"{res['paid_agent_hours']:g} | "
                f"{res['cost']:g} | – |"
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
