"""Benchmark: a manager's home page over 1,000,000 work orders on PostgreSQL (target: p95 ≤ 300 ms).

Renders `/` for the demo manager exactly as the server does (Django's test client in-process: the view, its
queries, the template; no network), on the benchmark database of `bench/helpdesk_compare.py` (`kefu_bench`,
loaded by its first run or by `bench/helpdesk/load_kefu.py`). Two set-ups:

- **cold counters**: the cache is emptied before every request, so the header's counters are recounted each
  time (the worst case: the first page after the 10-second cache runs out);
- **warm counters**: the header's counters come from the cache, as on most pages.

Each query's time is recorded too, so the slowest reads are named. Not a test; no thresholds are checked.

Run: `.venv/bin/python bench/home_page.py [--runs 30]` (writes bench/results/home_page.json and .md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT / "helpdesk"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")
os.environ.setdefault("KEFU_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kefu_bench")
os.environ.setdefault("KEFU_DATA_DIR", str(ROOT / ".work" / "kefu-helpdesk-bench"))
os.environ.setdefault("KEFU_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from kefu.accounts.models import User  # noqa: E402
from kefu.tickets.models import Ticket  # noqa: E402

RESULTS = ROOT / "results"
TARGET_MS = 300


class QueryClock:
    """Times each SQL statement of a request (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.times.append((sql, (time.perf_counter() - started) * 1000))


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def measure(client: Client, runs: int, *, cold: bool) -> dict[str, Any]:
    client.get("/")  # warm-up: connection, templates, plans
    samples: list[float] = []
    per_query: dict[str, list[float]] = defaultdict(list)
    queries = 0
    for _ in range(runs):
        if cold:
            cache.clear()
        else:
            client.get("/counters/")  # the header's counters are in the cache
        clock = QueryClock()
        with connection.execute_wrapper(clock):
            started = time.perf_counter()
            response = client.get("/")
            samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"home page answered {response.status_code}")
        queries = len(clock.times)
        for sql, ms in clock.times:
            per_query[" ".join(sql.split())[:110]].append(ms)
    slowest = sorted(((statistics.median(v), k) for k, v in per_query.items()), reverse=True)[:6]
    return {
        "runs": runs,
        "queries": queries,
        "p50_ms": round(percentile(samples, 0.5), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "max_ms": round(max(samples), 1),
        "slowest_queries": [{"median_ms": round(ms, 1), "sql": sql} for ms, sql in slowest],
    }


def machine_load() -> str:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {one} / {five} / {fifteen} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def report(data: dict[str, Any]) -> str:
    lines = [
        "# A manager's home page at 1,000,000 work orders (PostgreSQL)",
        "",
        f"Run {data['started']} on {data['machine']}, {data['orders']:,} orders ({data['open']:,} open).",
        f"Machine load at the start: {data['load_before']}; at the end: {data['load_after']}.",
        f"Server-side time of `GET /` for the demo manager (view, queries, template; no network), {data['runs']}",
        f"requests after one warm-up. Target: p95 ≤ {TARGET_MS} ms. Made by `.venv/bin/python bench/home_page.py`.",
        "",
        "| set-up | queries | p50 ms | p95 ms | max ms | target met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, meaning in (("cold", "cold counters (cache emptied before each request)"),
                          ("warm", "warm counters (header counters cached)")):
        r = data[name]
        lines.append(f"| {meaning} | {r['queries']} | {r['p50_ms']:,.0f} | {r['p95_ms']:,.0f} | {r['max_ms']:,.0f} "
                     f"| {'yes' if r['p95_ms'] <= TARGET_MS else 'no'} |")
    lines += ["", "Slowest queries (cold counters, median ms):", ""]
    for q in data["cold"]["slowest_queries"]:
        lines.append(f"- {q['median_ms']:,.1f} ms — `{q['sql']}…`")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/home_page.py needs the PostgreSQL benchmark database (KEFU_DATABASE_URL)")
    orders = Ticket.objects.count()
    if orders < 100_000:
        sys.exit(f"kefu_bench holds {orders:,} orders: load it first (bench/helpdesk_compare.py)")
    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    client.force_login(User.objects.get(username="manager"))
    data: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "orders": orders,
        "open": Ticket.objects.exclude(status__in=["resolved", "closed"]).count(),
        "runs": args.runs,
        "load_before": machine_load(),
    }
    data["cold"] = measure(client, args.runs, cold=True)
    print("cold", data["cold"]["p50_ms"], data["cold"]["p95_ms"], flush=True)
    data["warm"] = measure(client, args.runs, cold=False)
    print("warm", data["warm"]["p50_ms"], data["warm"]["p95_ms"], flush=True)
    data["load_after"] = machine_load()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "home_page.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "home_page.md").write_text(report(data), encoding="utf-8")
    print((RESULTS / "home_page.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
