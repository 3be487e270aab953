"""Synthetic but realistic scheduling inputs (a contact center's week) for tests, benchmarks and the guide."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from kefu.wfm.schedule.model import Agent, Break, Requirements, ShiftTemplate

MONDAY = datetime(2024, 3, 4)  # noqa: DTZ001 - planning times are local wall-clock times
_DAY_FACTOR = np.array([1.1, 1.0, 0.95, 0.95, 1.0, 0.7, 0.55])


def demand_curve(days: int, interval_minutes: int, peak: float, *, rng: np.random.Generator) -> np.ndarray:
    """Agents required per interval: a morning and an afternoon peak, open 07:00–22:00, a weekday factor."""
    per_day = 24 * 60 // interval_minutes
    hours = (np.arange(per_day) + 0.5) * interval_minutes / 60.0
    shape = 0.75 * np.exp(-0.5 * ((hours - 10.5) / 1.8) ** 2) + 0.6 * np.exp(
        -0.5 * ((hours - 15.0) / 2.2) ** 2
    )
    shape += 0.25 * np.exp(-0.5 * ((hours - 19.5) / 1.5) ** 2)
    shape[(hours < 7) | (hours > 22)] = 0.0
    shape /= shape.max()
    curve = np.concatenate([shape * _DAY_FACTOR[d % 7] for d in range(days)])
    noisy = curve * peak * rng.uniform(0.92, 1.08, curve.size)
    return np.round(noisy)


def standard_shifts() -> list[ShiftTemplate]:
    """An early, a late and a part-time template with breaks and an unpaid meal."""
    every_day = frozenset(range(7))
    return [
        ShiftTemplate(
            "early",
            tuple(range(6 * 60, 10 * 60 + 1, 30)),
            510,
            every_day,
            (Break("break", 15, 90, 150), Break("meal", 30, 210, 300), Break("break", 15, 360, 420)),
            20.0,
        ),
        ShiftTemplate(
            "late",
            tuple(range(11 * 60, 14 * 60 + 1, 30)),
            510,
            every_day,
            (Break("break", 15, 90, 150), Break("meal", 30, 210, 300), Break("break", 15, 360, 420)),
            22.0,
        ),
        ShiftTemplate(
            "part",
            tuple(range(8 * 60, 18 * 60 + 1, 60)),
            240,
            every_day,
            (Break("break", 15, 90, 150),),
            18.0,
        ),
    ]


def week_instance(
    agents: int, *, days: int = 7, interval_minutes: int = 30, seed: int = 0, load: float = 0.85
) -> tuple[Requirements, list[ShiftTemplate], list[Agent]]:
    """A week (or `days` days) with `agents` agents: 70 % full-time (32–40 h, two consecutive days off), 30 %
    part-time (16–24 h); some work weekdays only or end by 18:00. The curve asks for about `load` of the
    agents' maximum hours."""
    rng = np.random.default_rng(seed)
    people: list[Agent] = []
    for k in range(agents):
        full = rng.random() < 0.7
        weekdays_only = rng.random() < 0.15
        early_leaver = rng.random() < 0.2
        scale = min(days, 7) / 7
        people.append(
            Agent(
                agent_id=f"A{k + 1:03d}",
                name=f"Agent {k + 1}",
                hours_min=math.floor((32.0 if full else 16.0) * scale / 8) * 8,
                hours_max=math.ceil((40.0 if full else 24.0) * scale / 8) * 8,
                max_days=min(5 if full else 4, days),
                days_off=2 if full else 3,
                consecutive_days_off=full and days == 7,
                available_weekdays=frozenset(range(5)) if weekdays_only else frozenset(range(7)),
                earliest_start=6 * 60,
                latest_end=18 * 60 if early_leaver else 23 * 60,
                min_rest_minutes=11 * 60,
            )
        )
    capacity = sum(a.hours_max for a in people) * min(days, 7) / 7
    curve = demand_curve(days, interval_minutes, 1.0, rng=rng)
    per_unit = curve.sum() * interval_minutes / 60.0
    # on-phone hours are about 8/8.5 of paid hours once breaks are taken
    curve = np.round(curve * load * capacity * 0.9 / per_unit)
    req = Requirements(
        start=MONDAY,
        interval_minutes=interval_minutes,
        days=days,
        queues=("",),
        required=curve.reshape(1, -1).astype(float),
        staff_column="required",
    )
    return req, standard_shifts(), people
