"""Calendar arithmetic for interval history: interval-length inference, weekdays, months and opening hours.

Days are counted from 1970-01-01 and interval starts in minutes from 1970-01-01 00:00 (local wall time).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from kefu.wfm.errors import PlanningInputError

MINUTES_PER_DAY = 1440
ALLOWED_INTERVAL_MINUTES = (5, 6, 10, 15, 30, 60)
_EPOCH = date(1970, 1, 1)
# A day counts as "on a coarser grid" only with this many rows, so sparse exports are not mistaken for it.
_MIXED_MIN_ROWS = 12


def epoch_day(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH).days


def to_date(day: int) -> date:
    """The calendar date of a day number (days since 1970-01-01)."""
    return _EPOCH + timedelta(days=int(day))


def format_day(day: int) -> str:
    """ISO date (YYYY-MM-DD) of a day number."""
    return to_date(day).isoformat()


def format_minute(minute: int) -> str:
    """ISO 8601 local time (YYYY-MM-DDTHH:MM) of minutes since 1970-01-01."""
    day, rest = divmod(int(minute), MINUTES_PER_DAY)
    return f"{format_day(day)}T{rest // 60:02d}:{rest % 60:02d}"


def weekday(days: NDArray[np.int64] | int) -> NDArray[np.int64]:
    """Weekday of day numbers, Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday)."""
    return (np.asarray(days, dtype=np.int64) + 3) % 7


def month(days: NDArray[np.int64]) -> NDArray[np.int64]:
    """Calendar month (1–12) of day numbers."""
    stamps = np.asarray(days, dtype="datetime64[D]")
    return (stamps.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64)


def month_start(days: NDArray[np.int64]) -> NDArray[np.int64]:
    """Day number of the first day of the month of each day number."""
    stamps = np.asarray(days, dtype="datetime64[D]")
    return stamps.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def days_in_month(days: NDArray[np.int64]) -> NDArray[np.int64]:
    """Number of days in the calendar month of each day number."""
    months = np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]")
    lengths = (months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")
    return np.asarray(lengths.astype(np.int64), dtype=np.int64)


def infer_interval_minutes(
    starts: NDArray[np.int64],
    queue_index: NDArray[np.int64],
    rows: NDArray[np.int64],
    *,
    flag: str = "--interval-minutes",
) -> int:
    """Infer the interval length (minutes) from interval starts sorted by queue then time.

    The length is the most common positive gap between consecutive starts of one queue on one day, so a few
    intervals left out (no calls) do not change it, even in a file of three rows. When two gaps are equally
    common, when the most common one is not 5, 6, 10, 15, 30 or 60 minutes, when no day has two intervals,
    or when starts lie off that grid or days are laid on a coarser one (mixed lengths), PlanningInputError
    names the rows as numbered in the file and says to state the length with `flag`.
    """
    day = starts // MINUTES_PER_DAY
    same = (queue_index[1:] == queue_index[:-1]) & (day[1:] == day[:-1])
    _reject_duplicates(starts, same, rows)
    gaps = np.diff(starts)[same]
    state = f"state the interval length with {flag}"
    if gaps.size == 0:
        raise PlanningInputError(
            f"cannot infer the interval length: no day has two intervals of the same queue; {state}",
            field="interval_start",
        )
    values, counts = np.unique(gaps, return_counts=True)
    tied = values[counts == counts.max()]
    if tied.size > 1:
        listed = ", ".join(str(int(v)) for v in tied[:-1]) + f" and {int(tied[-1])}"
        times = "once each" if counts.max() == 1 else f"{int(counts.max())} times each"
        raise PlanningInputError(
            f"cannot infer the interval length: consecutive intervals are {listed} minutes apart, "
            f"{times}, so the file does not say which is its length; {state}",
            field="interval_start",
        )
    length = int(tied[0])
    if length not in ALLOWED_INTERVAL_MINUTES:
        i = int(np.flatnonzero(same & (np.diff(starts) == length))[0])
        raise PlanningInputError(
            f"intervals are {length} minutes apart (rows {int(rows[i])} and {int(rows[i + 1])}); "
            f"supported lengths are {', '.join(map(str, ALLOWED_INTERVAL_MINUTES))} minutes; if some "
            f"intervals were left out, {state}",
            field="interval_start",
            row=int(rows[i + 1]),
        )
    check_interval_grid(starts, queue_index, rows, length, inferred=True, flag=flag)
    _check_mixed_lengths(starts, queue_index, rows, length)
    return length


def check_interval_grid(
    starts: NDArray[np.int64],
    queue_index: NDArray[np.int64],
    rows: NDArray[np.int64],
    length: int,
    *,
    inferred: bool = False,
    flag: str = "--interval-minutes",
) -> None:
    """Check that starts (sorted by queue then time) are distinct and on the `length`-minute grid from
    midnight, one of the supported lengths; PlanningInputError names the first row that is not."""
    if length not in ALLOWED_INTERVAL_MINUTES:
        raise PlanningInputError(
            f"must be one of {', '.join(map(str, ALLOWED_INTERVAL_MINUTES))} minutes, got {length}",
            field="interval_minutes",
        )
    day = starts // MINUTES_PER_DAY
    same = (queue_index[1:] == queue_index[:-1]) & (day[1:] == day[:-1])
    _reject_duplicates(starts, same, rows)
    off_grid = (starts % MINUTES_PER_DAY) % length != 0
    if not off_grid.any():
        return
    i = int(np.flatnonzero(off_grid)[0])
    start = int(starts[i])
    source = "this file" if inferred else f"{length}-minute intervals"
    message = f"{format_minute(start)} is not on the {length}-minute grid of {source}"
    if i > 0 and same[i - 1] and start - int(starts[i - 1]) < length:
        before = int(starts[i - 1])
        message += (
            f": it overlaps the interval {format_minute(before)}–"
            f"{format_minute(before + length)[-5:]} (row {int(rows[i - 1])})"
        )
    elif inferred:
        message += "; are interval lengths mixed?"
    if inferred:
        message += (f" If the intervals are shorter than {length} minutes and some were left out, state the "
                    f"length with {flag}.")
    raise PlanningInputError(message, field="interval_start", row=int(rows[i]))


def _reject_duplicates(starts: NDArray[np.int64], same: NDArray[np.bool_], rows: NDArray[np.int64]) -> None:
    duplicate = same & (np.diff(starts) == 0)
    if duplicate.any():
        i = int(np.flatnonzero(duplicate)[0])
        first, second = sorted((int(rows[i]), int(rows[i + 1])))
        raise PlanningInputError(
            f"duplicate interval {format_minute(int(starts[i]))}: rows {first} and {second} give the same "
            "interval of the same queue",
            field="interval_start",
            row=second,
        )


def _check_mixed_lengths(
    starts: NDArray[np.int64], queue_index: NDArray[np.int64], rows: NDArray[np.int64], length: int
) -> None:
    """Reject files where some days are laid out every 2×, 3×… the inferred length (mixed exports)."""
    key = queue_index * 10**7 + starts // MINUTES_PER_DAY
    boundaries = np.flatnonzero(np.diff(key)) + 1
    slots = (starts % MINUTES_PER_DAY) // length
    fine_example: tuple[int, int] | None = None
    coarse: tuple[int, int, int] | None = None
    for group in np.split(np.arange(starts.size), boundaries):
        if group.size < 2:
            continue
        steps = np.diff(slots[group])
        if (steps == 1).any() and fine_example is None:
            i = int(group[int(np.flatnonzero(steps == 1)[0])])
            fine_example = (int(rows[i]), int(rows[i + 1]))
        if group.size >= _MIXED_MIN_ROWS and coarse is None:
            factor = int(np.gcd.reduce(steps))
            if factor >= 2:
                coarse = (int(rows[group[0]]), int(rows[group[-1]]), factor * length)
    if coarse is not None and fine_example is not None:
        first, last, coarse_minutes = coarse
        raise PlanningInputError(
            f"mixed interval lengths: rows {first}–{last} are every {coarse_minutes} minutes while rows "
            f"{fine_example[0]} and {fine_example[1]} are {length} minutes apart; export one interval length",
            field="interval_start",
            row=first,
        )


def recent_same_weekdays(last_day: int, first_day: int, weekday_index: int, count: int) -> NDArray[np.int64]:
    """Up to `count` most recent day numbers ≤ `last_day` (and ≥ `first_day`) falling on `weekday_index`."""
    newest = last_day - int((weekday(last_day) - weekday_index) % 7)
    days = newest - 7 * np.arange(count, dtype=np.int64)
    return days[days >= first_day]


def weekday_open(
    open_day: NDArray[np.bool_], first_day: int, *, lookback_weeks: int = 8
) -> NDArray[np.bool_]:
    """Which weekdays (Monday = 0) are open: at least half of their recent occurrences had rows."""
    last = first_day + open_day.size - 1
    result = np.zeros(7, dtype=bool)
    for w in range(7):
        days = recent_same_weekdays(last, first_day, w, lookback_weeks)
        if days.size:
            result[w] = open_day[days - first_day].mean() >= 0.5
    return result


def opening_pattern(
    offered: NDArray[np.float64],
    open_day: NDArray[np.bool_],
    first_day: int,
    *,
    lookback_weeks: int = 8,
    share: float = 0.5,
) -> NDArray[np.bool_]:
    """Open intervals per weekday, shape (7, intervals_per_day), learnt from recent same weekdays.

    On each recent open day of a weekday the span from its first to its last interval with traffic is
    taken; the weekday's opening hours run from the median first to the median last such interval. An
    interval outside that span is open too when it had traffic on at least `share` (0..1) of those days.
    Weekdays that are closed (see `weekday_open`) have no open interval.
    """
    per_day = offered.shape[1]
    last = first_day + open_day.size - 1
    is_open = weekday_open(open_day, first_day, lookback_weeks=lookback_weeks)
    pattern = np.zeros((7, per_day), dtype=bool)
    for w in np.flatnonzero(is_open):
        days = recent_same_weekdays(last, first_day, int(w), lookback_weeks)
        days = days[open_day[days - first_day]]
        block = offered[days - first_day] > 0
        busy = block.any(axis=1)
        if not busy.any():
            continue
        block = block[busy]
        first_busy = np.argmax(block, axis=1)
        last_busy = per_day - 1 - np.argmax(block[:, ::-1], axis=1)
        start = int(np.floor(np.median(first_busy)))
        end = int(np.ceil(np.median(last_busy)))
        pattern[w, start : end + 1] = True
        pattern[w] |= block.mean(axis=0) >= share
    return pattern
