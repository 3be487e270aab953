"""Closed-loop load generator: C clients over loopback, each sending its next request as soon as the previous
one is answered, for a fixed duration after a warm-up. Records client latency and the two server-side
measures the timing harness returns (X-Bench-Service, Server-Timing total)."""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TOTAL = re.compile(r"total;dur=([0-9.]+)")


@dataclass
class Sample:
    client_ms: float
    service_ms: float
    server_ms: float


@dataclass
class PhaseResult:
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    seconds: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def server_times(response: httpx.Response) -> tuple[float, float]:
    service = float(response.headers.get("x-bench-service", "nan"))
    match = TOTAL.search(response.headers.get("server-timing", ""))
    return service, float(match.group(1)) if match else float("nan")


# An operation sends one user action (one or more requests) and returns (service_ms, server_ms) summed over
# its requests, or raises OpError.
Operation = Callable[[httpx.AsyncClient, int], Awaitable[tuple[float, float]]]


class OpError(Exception):
    pass


def check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise OpError(f"HTTP {response.status_code}")
    return response


async def run_phase(client: httpx.AsyncClient, op: Operation, *, clients: int, seconds: float,
                    grace: float, think: float = 0.0) -> PhaseResult:
    """Run `op` from `clients` concurrent loops for `seconds`; requests still open `grace` s later are cut.
    With `think` > 0 each client waits an exponential think time of that mean (seconds) between actions."""
    result = PhaseResult()
    rng = random.Random(7)
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def loop() -> None:
        if think:
            await asyncio.sleep(rng.uniform(0, think))  # spread the first actions
        while time.perf_counter() < deadline:
            n = next(counter)
            started = time.perf_counter()
            try:
                service, server = await op(client, n)
            except (OpError, httpx.HTTPError) as exc:
                result.error(str(exc)[:60] or type(exc).__name__)
                continue
            result.samples.append(Sample((time.perf_counter() - started) * 1000, service, server))
            if think:
                await asyncio.sleep(min(rng.expovariate(1 / think), 10 * think))

    started = time.perf_counter()
    tasks = [asyncio.create_task(loop()) for _ in range(clients)]
    _done, pending = await asyncio.wait(tasks, timeout=seconds + grace)
    for task in pending:
        task.cancel()
    result.timeouts = len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    result.seconds = min(time.perf_counter() - started, seconds + grace)
    return result


def pct(values: list[float], p: float) -> float | None:
    values = sorted(v for v in values if v == v)
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 2)


def summarize(result: PhaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": len(result.samples), "errors": result.errors,
                           "cut_at_deadline": result.timeouts, "seconds": round(result.seconds, 1),
                           "throughput_rps": round(len(result.samples) / result.seconds, 1) if result.seconds else 0}
    for name, attr in (("service", "service_ms"), ("server", "server_ms"), ("client", "client_ms")):
        values = [getattr(s, attr) for s in result.samples]
        out[name] = {f"p{p}": pct(values, p) for p in (50, 95, 99)}
        out[name]["mean"] = round(statistics.fmean(values), 2) if values else None
    return out
