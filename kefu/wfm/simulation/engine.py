"""The two event engines behind `simulate`: a first-come-first-served recursion for one group, a heap of
events for several groups with overflow. Both return, per call, how long it waited and how the wait ended.

Times are seconds from the start of the first interval. Outcome codes: 0 answered, 1 abandoned, 2 never
answered (no agents left and no patience limit).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from kefu.wfm.simulation.model import FloatArray, IntArray

ANSWERED, ABANDONED, UNSERVED = 0, 1, 2


@dataclass(frozen=True)
class CallLog:
    """Per call (sorted by arrival): primary group, arrival, handle, wait (to answer or to abandon), outcome,
    serving group (-1 if not answered); per group: agent-seconds of overtime inside the measured window."""

    group: IntArray
    arrival: FloatArray
    handle: FloatArray
    wait: FloatArray
    outcome: IntArray
    served_by: IntArray
    overtime: FloatArray


def _overlap(start: float, end: float, window: tuple[float, float]) -> float:
    return max(0.0, min(end, window[1]) - max(start, window[0]))


def run_single_group(arrival: FloatArray, handle: FloatArray, patience: FloatArray, agents: IntArray,
                     interval_seconds: float, window: tuple[float, float]) -> CallLog:
    """One group, FCFS: keep each agent's next free time in a heap; a call starts when the earliest agent is
    free (calls that abandon never hold an agent), so one heap step per call replaces the event loop.

    Staffing changes are applied lazily at interval boundaries, before the first call that is still waiting
    at that boundary: added agents are free at the boundary; removed agents are those free first (busy ones
    finish their call, which counts as overtime for occupancy).
    """
    arr = arrival.tolist()
    hdl = handle.tolist()
    pat = patience.tolist()
    heads = agents.tolist()
    n_int = len(heads)
    free: list[float] = [0.0] * heads[0]
    wait = [0.0] * len(arr)
    outcome = [ANSWERED] * len(arr)
    overtime = 0.0
    k = 1
    next_boundary = interval_seconds if n_int > 1 else math.inf
    inf = math.inf
    heappop, heappush, heapreplace = heapq.heappop, heapq.heappush, heapq.heapreplace

    def restaff(k: int, free: list[float]) -> float:
        t = k * interval_seconds
        target = heads[k]
        extra = 0.0
        if target > len(free):
            for _ in range(target - len(free)):
                heappush(free, t)
        else:
            for _ in range(len(free) - target):
                f = heappop(free)
                if f > t:
                    extra += _overlap(t, f, window)
        return extra

    for i in range(len(arr)):
        a = arr[i]
        while a >= next_boundary:
            overtime += restaff(k, free)
            k += 1
            next_boundary = k * interval_seconds if k < n_int else inf
        f = free[0] if free else inf
        # still waiting at the next boundary → that interval's staffing decides when it is answered
        while f > next_boundary:
            overtime += restaff(k, free)
            k += 1
            next_boundary = k * interval_seconds if k < n_int else inf
            f = free[0] if free else inf
        start = a if a > f else f
        w = start - a
        p = pat[i]
        if w > p:
            wait[i] = p
            outcome[i] = ABANDONED
        elif f == inf:
            wait[i] = inf
            outcome[i] = UNSERVED
        else:
            wait[i] = w
            heapreplace(free, start + hdl[i])
    while k < n_int:
        overtime += restaff(k, free)
        k += 1
    out = np.asarray(outcome, dtype=np.int64)
    return CallLog(group=np.zeros(len(arr), dtype=np.int64), arrival=arrival, handle=handle,
                   wait=np.asarray(wait, dtype=np.float64), outcome=out,
                   served_by=np.where(out == ANSWERED, 0, -1).astype(np.int64),
                   overtime=np.array([overtime]))


# event kinds, in the order they are handled when they fall at the same instant
_RESTAFF, _DONE, _ARRIVE, _OVERFLOW, _ABANDON = 0, 1, 2, 3, 4


def run_event_loop(group: IntArray, arrival: FloatArray, handle: FloatArray, patience: FloatArray,
                   agents: IntArray, interval_seconds: float, window: tuple[float, float],
                   overflow_to: list[list[int]], overflow_after: list[float]) -> CallLog:
    """Several groups with overflow: a heap of timed events (arrival, overflow, abandonment, call end,
    staffing change) and per group a heap of waiting calls ordered by arrival (first come, first served).

    `agents` has shape (groups, intervals); a call of group g may be answered by `overflow_to[g]` once it
    has waited `overflow_after[g]` seconds.
    """
    n_groups, n_int = agents.shape
    arr = arrival.tolist()
    grp = group.tolist()
    hdl = handle.tolist()
    pat = patience.tolist()
    heads = agents.tolist()
    n_calls = len(arr)
    wait = [0.0] * n_calls
    outcome = [UNSERVED] * n_calls
    served_by = [-1] * n_calls
    waiting_flag = [False] * n_calls
    free = [heads[g][0] for g in range(n_groups)]
    # busy agents by (call end, event seq); an agent told to sign off is in `leaving` (seq → when told)
    busy: list[list[tuple[float, int]]] = [[] for _ in range(n_groups)]
    leaving: list[dict[int, float]] = [{} for _ in range(n_groups)]
    queues: list[list[tuple[float, int]]] = [[] for _ in range(n_groups)]
    overtime = [0.0] * n_groups
    events: list[tuple[float, int, int, int]] = [(k * interval_seconds, _RESTAFF, k, k)
                                                 for k in range(1, n_int)]
    heapq.heapify(events)
    heappop, heappush = heapq.heappop, heapq.heappush
    seq = n_int  # tie-breaker so equal (time, kind) events keep a stable order

    def answer(c: int, g: int, t: float) -> None:
        nonlocal seq
        free[g] -= 1
        waiting_flag[c] = False
        outcome[c] = ANSWERED
        served_by[c] = g
        wait[c] = t - arr[c]
        seq += 1
        heappush(events, (t + hdl[c], _DONE, seq, g))
        heappush(busy[g], (t + hdl[c], seq))

    def next_waiting(g: int) -> int:
        q = queues[g]
        while q:
            _, c = heappop(q)
            if waiting_flag[c]:
                return c
        return -1

    i = 0
    inf = math.inf
    while True:
        t_next_arrival = arr[i] if i < n_calls else inf
        if events and events[0][0] <= t_next_arrival and not (
                events[0][0] == t_next_arrival and events[0][1] > _ARRIVE):
            t, kind, event_seq, data = heappop(events)
        elif i < n_calls:
            t, kind, data = t_next_arrival, _ARRIVE, i
            i += 1
        else:
            break
        if kind == _ARRIVE:
            c, g = data, grp[data]
            if free[g] > 0:
                answer(c, g, t)
                continue
            waiting_flag[c] = True
            heappush(queues[g], (t, c))
            if pat[c] < inf:
                seq += 1
                heappush(events, (t + pat[c], _ABANDON, seq, c))
            if overflow_to[g] and overflow_after[g] < pat[c]:
                seq += 1
                heappush(events, (t + overflow_after[g], _OVERFLOW, seq, c))
        elif kind == _DONE:
            g = data
            heappop(busy[g])  # the same (end, seq) entry: both heaps order a group's call ends alike
            told = leaving[g].pop(event_seq, None)
            if told is not None:
                overtime[g] += _overlap(told, t, window)
                continue
            free[g] += 1
            c = next_waiting(g)
            if c >= 0:
                answer(c, g, t)
        elif kind == _OVERFLOW:
            c = data
            if not waiting_flag[c]:
                continue
            for h in overflow_to[grp[c]]:
                if free[h] > 0:
                    answer(c, h, t)
                    break
            else:
                for h in overflow_to[grp[c]]:
                    heappush(queues[h], (arr[c], c))
        elif kind == _ABANDON:
            c = data
            if waiting_flag[c]:
                waiting_flag[c] = False
                outcome[c] = ABANDONED
                wait[c] = pat[c]
        else:  # staffing change at the start of interval `data`
            for g in range(n_groups):
                target = heads[g][data]
                present = free[g] + len(busy[g]) - len(leaving[g])
                if target > present:
                    free[g] += target - present
                    while free[g] > 0:
                        c = next_waiting(g)
                        if c < 0:
                            break
                        answer(c, g, t)
                elif target < present:
                    idle_leave = min(present - target, free[g])
                    free[g] -= idle_leave
                    # busy agents who finish first sign off after their call
                    staying = sorted(e for e in busy[g] if e[1] not in leaving[g])
                    for _, s in staying[:present - target - idle_leave]:
                        leaving[g][s] = t
    for c in range(n_calls):
        if outcome[c] == UNSERVED:
            wait[c] = inf
    return CallLog(group=group, arrival=arrival, handle=handle, wait=np.asarray(wait, dtype=np.float64),
                   outcome=np.asarray(outcome, dtype=np.int64),
                   served_by=np.asarray(served_by, dtype=np.int64), overtime=np.asarray(overtime))
