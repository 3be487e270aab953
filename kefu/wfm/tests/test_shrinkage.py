"""Shrinkage: categories add as fractions of paid time; scheduled staff = required / (1 − shrinkage), up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.wfm.errors import PlanningInputError
from kefu.wfm.shrinkage import read_shrinkage_file, scheduled_staff, total_shrinkage


def test_categories_add_as_fractions_of_paid_time() -> None:
    categories = {
        "breaks": 0.0625,
        "meals": 0.0,
        "meetings": 0.02,
        "training": 0.03,
        "leave": 0.09,
        "absence": 0.04,
        "off_phone_work": 0.0575,
    }
    assert total_shrinkage(categories) == pytest.approx(0.30)


def test_scheduled_staff_rounds_up_without_float_noise() -> None:
    # 21 on the phones at 30 % shrinkage: 21 / 0.7 = 30 exactly, though a float gives 30.000000000000004
    assert int(scheduled_staff(21, 0.30)) == 30
    assert int(scheduled_staff(14, 0.30)) == 20
    assert int(scheduled_staff(7, 0.30)) == 10
    assert int(scheduled_staff(15, 0.30)) == 22
    assert scheduled_staff(np.array([0, 1, 10]), 0.0).tolist() == [0, 1, 10]


@settings(max_examples=200, deadline=None)
@given(required=st.integers(0, 100_000), shrinkage=st.floats(0.0, 0.95))
def test_scheduled_staff_is_the_fewest_that_cover(required: int, shrinkage: float) -> None:
    staff = int(scheduled_staff(required, shrinkage))
    assert staff * (1 - shrinkage) >= required - 1e-6 * max(required, 1)
    assert staff == 0 or (staff - 1) * (1 - shrinkage) < required


@pytest.mark.parametrize(
    "categories",
    [{"breaks": -0.1}, {"breaks": 1.0}, {"breaks": "x"}, {"breaks": 0.6, "leave": 0.5}, {"": 0.1}],
)
def test_bad_shrinkage_is_refused(categories: dict[str, object]) -> None:
    with pytest.raises(PlanningInputError):
        total_shrinkage(categories)  # type: ignore[arg-type]


def test_scheduled_staff_refuses_total_of_one() -> None:
    with pytest.raises(PlanningInputError, match="shrinkage"):
        scheduled_staff(10, 1.0)


def test_read_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("category,fraction\nbreaks,0.0625\ntraining,0.03\nabsence,0.05\n")
    assert read_shrinkage_file(csv_file) == {"breaks": 0.0625, "training": 0.03, "absence": 0.05}
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps({"categories": {"breaks": 0.1, "leave": 0.08}}))
    assert total_shrinkage(read_shrinkage_file(json_file)) == pytest.approx(0.18)


def test_bad_files_name_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("category,fraction\nbreaks,0.1\nbreaks,0.2\n")
    with pytest.raises(PlanningInputError, match="row 3"):
        read_shrinkage_file(bad)
    bad.write_text("category,fraction\nbreaks,ten\n")
    with pytest.raises(PlanningInputError, match="row 2"):
        read_shrinkage_file(bad)
    bad.write_text("name,value\nbreaks,0.1\n")
    with pytest.raises(PlanningInputError, match="category"):
        read_shrinkage_file(bad)
    over = tmp_path / "over.json"
    over.write_text('{"breaks": 0.7, "leave": 0.4}')
    with pytest.raises(PlanningInputError, match="below 1"):
        read_shrinkage_file(over)
