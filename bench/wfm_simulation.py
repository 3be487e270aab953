"""Benchmark of the discrete-event simulation: speed on the issue's reference runs, and how often its 95 %
confidence intervals contain the exact Erlang C / Erlang A values (they should, about 95 % of the time).

Run: .venv/bin/python bench/wfm_simulation.py  → bench/results/wfm_simulation.json and .md
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kefu.wfm import queueing
from kefu.wfm.simulation import Exponential, SimulationPlan, SkillGroup, simulate
from kefu.wfm.simulation.check import check_steady_state

RESULTS = Path(__file__).resolve().parent / "results"
# coverage runs: half-hours per replication, of which the first are a warm-up from an empty center
INTERVALS, WARMUP = 16, 4


def _timed(run: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _day_profile(peak_calls: float = 450.0) -> np.ndarray:
    """48 half-hours: quiet at night, two daytime humps, about 300 calls an interval over the day."""
    t = np.arange(48) / 2.0
    shape = 0.08 + np.exp(-((t - 10.5) / 2.5) ** 2) + 0.85 * np.exp(-((t - 15.5) / 2.8) ** 2)
    calls: np.ndarray = peak_calls * shape / shape.max()
    return calls * (300.0 / calls.mean())


def speed() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    one = SimulationPlan(interval_seconds=1800, groups=[
        SkillGroup("q", agents=[12], calls=[100], handle=Exponential(180))])
    seconds, r = _timed(lambda: simulate(one, replications=30, seed=1))
    rows.append({"case": "1 interval × 100 calls × 30 replications", "calls_simulated": 30 * 100,
                 "seconds": seconds, "service_level_3": r.overall.service_level_3.mean})

    calls = _day_profile()
    agents = queueing.required_agents(calls=calls, interval_seconds=1800, aht_seconds=240,
                                      service_level=0.8, within_seconds=20)
    day = SimulationPlan(interval_seconds=1800, groups=[
        SkillGroup("q", agents=agents, calls=calls, handle=Exponential(240))])
    seconds, r = _timed(lambda: simulate(day, replications=20, seed=1), repeat=3)
    rows.append({"case": "48 intervals × ~300 calls × 20 replications (Erlang C staffing)",
                 "calls_simulated": int(20 * calls.sum()), "seconds": seconds,
                 "service_level_3": r.overall.service_level_3.mean})

    patient = SimulationPlan(interval_seconds=1800, groups=[
        SkillGroup("q", agents=agents, calls=calls, handle=Exponential(240), patience=Exponential(120))])
    seconds, r = _timed(lambda: simulate(patient, replications=20, seed=1), repeat=3)
    rows.append({"case": "same day, patience 120 s", "calls_simulated": int(20 * calls.sum()),
                 "seconds": seconds, "service_level_3": r.overall.service_level_3.mean})

    seconds, r = _timed(lambda: simulate(patient, replications=20, seed=1, engine="events"), repeat=3)
    rows.append({"case": "same day, patience 120 s, general event loop", "calls_simulated":
                 int(20 * calls.sum()), "seconds": seconds,
                 "service_level_3": r.overall.service_level_3.mean})

    split = np.ceil(agents * 0.6).astype(int), np.ceil(agents * 0.45).astype(int)
    groups = SimulationPlan(interval_seconds=1800, groups=[
        SkillGroup("sales", agents=split[0], calls=0.6 * calls, handle=Exponential(240),
                   patience=Exponential(120), overflow_to=("service",), overflow_after_seconds=20),
        SkillGroup("service", agents=split[1], calls=0.4 * calls, handle=Exponential(240),
                   patience=Exponential(120), overflow_to=("sales",), overflow_after_seconds=20)])
    seconds, r = _timed(lambda: simulate(groups, replications=20, seed=1), repeat=3)
    rows.append({"case": "same day, two groups overflowing to each other after 20 s",
                 "calls_simulated": int(20 * calls.sum()), "seconds": seconds,
                 "service_level_3": r.overall.service_level_3.mean})
    for row in rows:
        row["calls_per_second"] = row["calls_simulated"] / row["seconds"]
    return rows


def coverage(runs: int = 200) -> list[dict[str, Any]]:
    """Share of independent seeds whose 95 % interval contains the analytic value, per KPI."""
    cases = [
        {"calls": 100, "aht": 180, "agents": 12, "patience": None},
        {"calls": 300, "aht": 240, "agents": 38, "patience": 60.0},
    ]
    rows = []
    for case in cases:
        hits: dict[str, int] = {}
        start = time.perf_counter()
        for seed in range(runs):
            _, comparisons = check_steady_state(calls=case["calls"], interval_seconds=1800,
                                                aht_seconds=case["aht"], agents=case["agents"],
                                                patience_seconds=case["patience"], replications=20,
                                                intervals=INTERVALS, warmup_intervals=WARMUP,
                                                seed=1000 + seed)
            for c in comparisons:
                hits[c.kpi] = hits.get(c.kpi, 0) + int(c.agrees)
        model = "Erlang A" if case["patience"] else "Erlang C"
        rows.append({"case": f"{model}: {case['calls']} calls / 30 min, AHT {case['aht']} s, "
                             f"{case['agents']} agents" + (f", patience {case['patience']:g} s"
                                                           if case["patience"] else ""),
                     "runs": runs, "coverage": {k: v / runs for k, v in hits.items()},
                     "seconds": time.perf_counter() - start})
    return rows


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"machine": {"python": platform.python_version(), "processor": platform.processor() or
                          platform.machine(), "numpy": np.__version__},
              "speed": speed(), "coverage": coverage()}
    (RESULTS / "wfm_simulation.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Simulation benchmark", "",
             f"Median wall time of `kefu.wfm.simulation.simulate` (Python {result['machine']['python']}).",
             "",
             "| run | calls simulated | seconds | calls / s | simulated SL (formula 3) |",
             "|---|---:|---:|---:|---:|"]
    for r in result["speed"]:
        lines.append(f"| {r['case']} | {r['calls_simulated']:,} | {r['seconds']:.3f} | "
                     f"{r['calls_per_second']:,.0f} | {r['service_level_3']:.3f} |")
    lines += ["", f"Coverage of the 95 % confidence intervals (20 replications of {INTERVALS} half-hours, "
              f"{WARMUP} discarded): the share of independent seeds whose interval contains the exact "
              "analytic value. About 0.95 is right.",
              "", "| case | runs | service level | ASA | occupancy | abandonment |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in result["coverage"]:
        cov = r["coverage"]
        ab = f"{cov['abandon_rate']:.3f}" if "abandon_rate" in cov else "—"
        lines.append(f"| {r['case']} | {r['runs']} | {cov['service_level_3']:.3f} | "
                     f"{cov['asa_seconds']:.3f} | {cov['occupancy']:.3f} | {ab} |")
    (RESULTS / "wfm_simulation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
