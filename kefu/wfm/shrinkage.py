"""Shrinkage: the share of paid time agents are not available for calls (breaks, meetings, leave, …), and the
scheduled staff it takes to keep the required number of agents on the phones.

Convention (the industry's): every category is a fraction of *paid* time, so categories add up; the total must
stay below 1. Scheduled staff = required agents / (1 − total shrinkage), rounded up.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kefu.wfm.errors import PlanningInputError

# The usual categories; a center may add its own names (any category counts towards the total).
CATEGORIES = ("breaks", "meals", "meetings", "training", "leave", "absence", "off_phone_work")

# Guards the rounding up against float noise: 21 / (1 − 0.3) is 30.000000000000004, which is 30 agents.
_ROUNDING_SLACK = 1e-9


def total_shrinkage(categories: Mapping[str, float]) -> float:
    """Total shrinkage (fraction of paid time, 0 ≤ total < 1) as the sum of the category fractions.

    Each value is a fraction of paid time (0.05 = 5 %). Raises PlanningInputError naming the category when a
    value is negative, not a number or 1 and above, and when the sum reaches 1 (nobody would ever be on the
    phones).
    """
    total = 0.0
    for name, value in categories.items():
        if not str(name).strip():
            raise PlanningInputError("a shrinkage category needs a name", field="category")
        try:
            fraction = float(value)
        except (TypeError, ValueError):
            raise PlanningInputError(f"'{value}' is not a number", field=f"shrinkage.{name}") from None
        if not math.isfinite(fraction) or fraction < 0.0 or fraction >= 1.0:
            raise PlanningInputError(
                "must be a fraction of paid time from 0 up to (not including) 1, e.g. 0.05 for 5 %, "
                f"got {value}",
                field=f"shrinkage.{name}",
            )
        total += fraction
    if total >= 1.0:
        raise PlanningInputError(
            f"the categories add up to {total:.4g} of paid time; the total must stay below 1",
            field="shrinkage")
    return total


def scheduled_staff(required: ArrayLike, shrinkage: float) -> NDArray[np.int64]:
    """Agents to schedule (count) so `required` agents (count) remain after `shrinkage` (fraction 0..1)."""
    if not math.isfinite(shrinkage) or shrinkage < 0.0 or shrinkage >= 1.0:
        raise PlanningInputError(f"must be a fraction from 0 up to (not including) 1, got {shrinkage}",
                                 field="shrinkage")
    need = np.asarray(required, dtype=np.float64)
    if (~np.isfinite(need) | (need < 0)).any():
        raise PlanningInputError("required agents must be finite and not negative", field="required_agents")
    return np.ceil(need / (1.0 - shrinkage) - _ROUNDING_SLACK).astype(np.int64)


def read_shrinkage_file(path: str | Path) -> dict[str, float]:
    """Read shrinkage categories from CSV (columns `category`, `fraction`) or JSON (`{"breaks": 0.08, …}`,
    optionally under a `"categories"` key). Values are fractions of paid time."""
    file = Path(path)
    text = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanningInputError(f"not valid JSON ({exc.msg}, line {exc.lineno})",
                                     field=str(file)) from None
        if isinstance(data, dict) and isinstance(data.get("categories"), dict):
            data = data["categories"]
        if not isinstance(data, dict) or not data:
            raise PlanningInputError('expected an object such as {"breaks": 0.08, "training": 0.03}',
                                     field=str(file))
        categories = {str(k): v for k, v in data.items()}
    else:
        reader = csv.DictReader(text.splitlines())
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        for needed in ("category", "fraction"):
            if needed not in columns:
                raise PlanningInputError(f"missing column '{needed}' (columns: category, fraction)",
                                         field=needed)
        categories = {}
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            name = row["category"]
            if not name:
                raise PlanningInputError("empty category name", field="category", row=line)
            if name in categories:
                raise PlanningInputError(f"category '{name}' appears twice", field="category", row=line)
            try:
                categories[name] = float(row["fraction"])
            except ValueError:
                raise PlanningInputError(f"'{row['fraction']}' is not a number", field="fraction",
                                         row=line) from None
        if not categories:
            raise PlanningInputError("no shrinkage categories in the file", field=str(file))
    total_shrinkage(categories)  # validates each value and the total
    return {name: float(value) for name, value in categories.items()}
