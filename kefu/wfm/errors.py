"""Errors the planning maths raises for bad input; the CLI turns them into one message and exit status 2."""

from __future__ import annotations


class PlanningInputError(ValueError):
    """Bad input to a planning function, naming the field (and row, for files) at fault."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        self.field = field
        self.row = row
        self.message = message
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if row_text := (f"row {self.row}" if self.row is not None else ""):
            where.append(row_text)
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InfeasibleError(PlanningInputError):
    """The problem as given has no solution (e.g. a schedule that no shift pattern can satisfy)."""
