"""A thin, typed wrapper over HiGHS (`highspy`): build a sparse (mixed-integer) linear programme column by
column and solve it with a time limit, returning values, objective, dual bound and status."""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

INF = float("inf")
_banner_shown = False


def _new_highs() -> Any:
    """A silent HiGHS instance (its one-time banner goes to stdout: the first is built with it closed)."""
    global _banner_shown
    if _banner_shown:
        solver = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships no annotation here
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                solver = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships no annotation here
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    solver.setOptionValue("output_flag", False)
    return solver


@dataclass(frozen=True)
class Solution:
    """Outcome of one solve. `objective` and `bound` are in the model's objective units; `values` is None when
    HiGHS found no feasible point. `bound` is a valid lower bound on the model's optimum (−inf if none)."""

    status: str
    values: NDArray[np.float64] | None
    objective: float
    bound: float
    gap: float
    seconds: float
    time_limit_hit: bool
    columns: int
    rows: int


class Model:
    """Columns and rows of a minimisation problem, collected as NumPy blocks (COO triplets for the matrix)."""

    def __init__(self) -> None:
        self.ncol = 0
        self._lb: list[NDArray[np.float64]] = []
        self._ub: list[NDArray[np.float64]] = []
        self._cost: list[NDArray[np.float64]] = []
        self._int: list[NDArray[np.bool_]] = []
        self._r: list[NDArray[np.int64]] = []
        self._c: list[NDArray[np.int64]] = []
        self._v: list[NDArray[np.float64]] = []
        self._rlo: list[NDArray[np.float64]] = []
        self._rhi: list[NDArray[np.float64]] = []
        self.nrow = 0

    def cols(
        self,
        n: int,
        *,
        lb: ArrayLike = 0.0,
        ub: ArrayLike = INF,
        cost: ArrayLike = 0.0,
        integer: bool = False,
    ) -> NDArray[np.int64]:
        """Add `n` columns; returns their indices."""
        idx = np.arange(self.ncol, self.ncol + n, dtype=np.int64)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self._int.append(np.full(n, integer))
        self.ncol += n
        return idx

    def row(self, cols: ArrayLike, vals: ArrayLike, lo: float = -INF, hi: float = INF) -> int:
        """Add one row lo ≤ Σ vals·x[cols] ≤ hi; returns its index."""
        c = np.asarray(cols, dtype=np.int64).ravel()
        v = np.broadcast_to(np.asarray(vals, dtype=float), c.shape)
        self._r.append(np.full(c.size, self.nrow, dtype=np.int64))
        self._c.append(c)
        self._v.append(v.copy())
        self._rlo.append(np.array([lo]))
        self._rhi.append(np.array([hi]))
        self.nrow += 1
        return self.nrow - 1

    def rows(
        self, local_rows: ArrayLike, cols: ArrayLike, vals: ArrayLike, lo: ArrayLike, hi: ArrayLike
    ) -> None:
        """Add a block of rows at once: entry k sits in new row `local_rows[k]` (0-based within the block)."""
        lo_a = np.atleast_1d(np.asarray(lo, dtype=float))
        hi_a = np.broadcast_to(np.asarray(hi, dtype=float), lo_a.shape)
        c = np.asarray(cols, dtype=np.int64).ravel()
        self._r.append(np.asarray(local_rows, dtype=np.int64).ravel() + self.nrow)
        self._c.append(c)
        self._v.append(np.broadcast_to(np.asarray(vals, dtype=float), c.shape).copy())
        self._rlo.append(lo_a.copy())
        self._rhi.append(hi_a.copy())
        self.nrow += lo_a.size

    @property
    def cost(self) -> NDArray[np.float64]:
        return np.concatenate(self._cost) if self._cost else np.zeros(0)

    def solve(
        self,
        *,
        time_limit: float,
        mip_gap: float,
        relax: bool = False,
        start: NDArray[np.float64] | None = None,
    ) -> Solution:
        """Minimise with HiGHS within `time_limit` seconds and relative gap `mip_gap` (a fraction)."""
        began = time.perf_counter()
        empty_f = np.zeros(0)
        empty_i = np.zeros(0, dtype=np.int64)
        rows = np.concatenate(self._r) if self._r else empty_i
        cols = np.concatenate(self._c) if self._c else empty_i
        vals = np.concatenate(self._v) if self._v else empty_f
        matrix = sp.csc_matrix((vals, (rows, cols)), shape=(self.nrow, self.ncol))
        matrix.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_ = self.ncol
        lp.num_row_ = self.nrow
        lp.col_cost_ = self.cost
        lp.col_lower_ = np.concatenate(self._lb) if self._lb else empty_f
        lp.col_upper_ = np.concatenate(self._ub) if self._ub else empty_f
        lp.row_lower_ = np.concatenate(self._rlo) if self._rlo else empty_f
        lp.row_upper_ = np.concatenate(self._rhi) if self._rhi else empty_f
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data
        integer = np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool)
        is_mip = bool(integer.any()) and not relax
        if is_mip:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer
            ]
        lower_b = np.asarray(lp.col_lower_)
        upper_b = np.asarray(lp.col_upper_)
        row_lo, row_hi = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
        run = functools.partial(self._run, lp, matrix, is_mip, integer, lower_b, upper_b, row_lo, row_hi,
                                mip_gap=mip_gap, began=began)
        result = run(time_limit=time_limit, start=start)
        if result.values is None and start is not None and not result.time_limit_hit:
            # a start HiGHS mishandled (see _run): solve again without it in the time that is left
            left = time_limit - (time.perf_counter() - began)
            result = run(time_limit=max(left, 0.05), start=None)
        return result

    def _run(
        self,
        lp: Any,
        matrix: sp.csc_matrix,
        is_mip: bool,
        integer: NDArray[np.bool_],
        lower_b: NDArray[np.float64],
        upper_b: NDArray[np.float64],
        row_lo: NDArray[np.float64],
        row_hi: NDArray[np.float64],
        *,
        time_limit: float,
        mip_gap: float,
        start: NDArray[np.float64] | None,
        began: float,
    ) -> Solution:
        solver = _new_highs()
        solver.setOptionValue("time_limit", max(float(time_limit), 0.05))
        solver.setOptionValue("mip_rel_gap", float(mip_gap))
        solver.setOptionValue("random_seed", 7)
        solver.passModel(lp)
        if start is not None and is_mip:
            guess = highspy.HighsSolution()
            guess.col_value = list(np.asarray(start, dtype=float))
            solver.setSolution(guess)
        solver.run()
        status = solver.getModelStatus()
        info = solver.getInfo()
        text = solver.modelStatusToString(status).lower()
        has_point = info.primal_solution_status == 2
        values = np.asarray(solver.getSolution().col_value, dtype=float) if has_point else None
        objective = float(info.objective_function_value) if has_point else INF
        if values is not None and not self._valid(
            values, objective, matrix, is_mip, integer, lower_b, upper_b, row_lo, row_hi
        ):
            # HiGHS 1.16 can return a point that is not the one it reports (seen with a MIP start and
            # presolve): never use a point we cannot verify
            values, objective, text = None, INF, "unverified solution"
        if values is None and text == "unverified solution":
            bound, gap = -INF, INF
        elif is_mip:
            bound = float(info.mip_dual_bound)
            gap = float(info.mip_gap) if has_point else INF
        else:
            optimal = status == highspy.HighsModelStatus.kOptimal
            bound = objective if optimal else -INF
            gap = 0.0 if optimal else INF
        if not np.isfinite(bound):
            bound = -INF
        return Solution(
            status=text,
            values=values,
            objective=objective,
            bound=bound,
            gap=gap,
            seconds=time.perf_counter() - began,
            time_limit_hit=status == highspy.HighsModelStatus.kTimeLimit,
            columns=self.ncol,
            rows=self.nrow,
        )

    def _valid(
        self,
        x: NDArray[np.float64],
        objective: float,
        matrix: sp.csc_matrix,
        is_mip: bool,
        integer: NDArray[np.bool_],
        lower_b: NDArray[np.float64],
        upper_b: NDArray[np.float64],
        row_lo: NDArray[np.float64],
        row_hi: NDArray[np.float64],
    ) -> bool:
        """Check a returned point: bounds, rows, integrality and the reported objective, to 1e-6 relative."""
        if x.shape != (self.ncol,) or not np.all(np.isfinite(x)):
            return False
        tol = 1e-6
        activity = matrix @ x
        scale = 1.0 + np.abs(activity)
        if np.any(x < lower_b - tol * (1 + np.abs(lower_b))) or np.any(
            x > upper_b + tol * (1 + np.abs(upper_b))
        ):
            return False
        if np.any(activity < row_lo - tol * scale) or np.any(activity > row_hi + tol * scale):
            return False
        if is_mip and np.any(np.abs(x[integer] - np.rint(x[integer])) > 1e-5):
            return False
        value = float(self.cost @ x)
        return abs(value - objective) <= 1e-6 * (1.0 + abs(value))
