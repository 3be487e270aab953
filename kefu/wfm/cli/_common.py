"""Shared CLI helpers: argument types that reject bad values with the option's name, and output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

from kefu.wfm.errors import PlanningInputError


class ArgumentValueError(PlanningInputError, argparse.ArgumentTypeError):
    """A bad option value. argparse prefixes the option's name, so the text is the reason alone."""

    def __str__(self) -> str:
        return self.message


def number(name: str, *, minimum: float | None = None, maximum: float | None = None,
           strict_minimum: bool = False, integer: bool = False) -> Callable[[str], float]:
    """An argparse `type=` that parses a finite number and checks its range, naming `name` on failure."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ArgumentValueError(f"'{text}' is not a number", field=name) from None
        if not math.isfinite(value):
            raise ArgumentValueError(f"'{text}' is not a finite number", field=name)
        if integer and value != int(value):
            raise ArgumentValueError(f"'{text}' must be a whole number", field=name)
        if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
            bound = "greater than" if strict_minimum else "at least"
            raise ArgumentValueError(f"must be {bound} {minimum:g}, got {text}", field=name)
        if maximum is not None and value > maximum:
            raise ArgumentValueError(f"must be at most {maximum:g}, got {text}", field=name)
        return int(value) if integer else value

    return parse


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def emit(result: Mapping[str, Any], *, as_json: bool, labels: Mapping[str, str] | None = None) -> None:
    """Print a flat result: JSON with the exact field names, or aligned `label: value` lines."""
    if as_json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2, default=_jsonable)
        sys.stdout.write("\n")
        return
    labels = labels or {}
    width = max((len(labels.get(k, k)) for k in result), default=0)
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{labels.get(key, key):<{width}}  {shown}")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
