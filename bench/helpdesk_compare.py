"""Helpdesk benchmark: Kefu vs django-helpdesk 2.6 on PostgreSQL with the same data volume (default 1,000,000
work orders, 200,000 customers), 50 concurrent clients over loopback, four operations each: the work-order
list page with a filter, the detail page, the API list and the API create. Not a test.

    .venv/bin/python bench/helpdesk_compare.py            # full volume (first run loads both databases)
    .venv/bin/python bench/helpdesk_compare.py --orders 20000 --customers 4000 --seconds 5   # quick look

Writes bench/results/helpdesk_compare.json and .md. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HELPERS = BENCH / "helpdesk"
RESULTS = BENCH / "results"
sys.path.insert(0, str(HELPERS))
sys.path.insert(0, str(BENCH))

from _common import log  # noqa: E402
from _proc import group_cpu_seconds  # noqa: E402
from _venv import peer_python  # noqa: E402
from loadgen import OpError, PhaseResult, check, run_phase, server_times, summarize  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
PEER_REQUIREMENTS = ["django-helpdesk==2.6.1", "psycopg[binary,pool]", "uvicorn[standard]==0.54.0"]
PASSWORD = "kefu-demo-2026"
OPERATIONS = ["list_page", "detail_page", "api_list", "api_create"]
TARGETS_MS = {"api_create": 50, "api_list": 50, "list_page": 150}
KEFU_OPEN = "&".join(f"status={s}" for s in ("new", "assigned", "in_progress", "waiting_customer",
                                               "waiting_department", "reopened"))


# --- databases --------------------------------------------------------------------------------------------------

def psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(["psql", f"{PG}/{db}", "-tAc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


class System:
    def __init__(self, name: str, python: Path, db: str, port: int, app: str, pythonpath: list[Path],
                 env: dict[str, str]) -> None:
        self.name, self.python, self.db, self.port, self.app = name, python, db, port, app
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), **env}
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, script: str, *args: str) -> str:
        return subprocess.run([str(self.python), str(HELPERS / script), *args], env=self.env, check=True,
                              capture_output=True, text=True, cwd=HELPERS).stdout.strip()

    def counts(self) -> dict[str, int] | None:
        if psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.db}'") != "1":
            return None
        try:
            if self.name == "kefu":
                row = psql("SELECT (SELECT count(*) FROM tickets_ticket), (SELECT count(*) FROM customers_customer)",
                           self.db)
            else:
                row = psql("SELECT (SELECT count(*) FROM helpdesk_ticket), "
                           "(SELECT count(DISTINCT submitter_email) FROM helpdesk_ticket)", self.db)
        except subprocess.CalledProcessError:
            return None
        orders, customers = map(int, row.split("|"))
        return {"orders": orders, "customers": customers}

    def ensure_data(self, orders: int, customers: int, reload: bool) -> dict[str, Any]:
        wanted = {"orders": orders, "customers": customers}
        have = None if reload else self.counts()
        # API-create phases add orders run after run; up to 5 % more is still "the same volume".
        if have is not None and have["customers"] == customers and orders <= have["orders"] <= orders * 1.05:
            log(f"{self.name}: data present {have}")
            return {**have, "loaded_seconds": None}
        log(f"{self.name}: (re)creating {self.db} and loading {wanted}")
        psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql(f"CREATE DATABASE {self.db}")
        started = time.monotonic()
        loader = "load_kefu.py" if self.name == "kefu" else "load_peer.py"
        loaded = json.loads(self.run(loader, str(orders), str(customers)).splitlines()[-1])
        seconds = round(time.monotonic() - started)
        log(f"{self.name}: loaded {loaded} in {seconds} s")
        return {**loaded, "loaded_seconds": seconds}

    def start(self, workers: int) -> None:
        self.stop()
        self.proc = subprocess.Popen(
            [str(self.python), "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
            env=self.env, cwd=HELPERS, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/login/", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            # Queries of requests cut off at the deadline go on in PostgreSQL after their client is gone:
            # end them, or they would slow the next phase (the other system's).
            psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{self.db}' "
                 "AND pid <> pg_backend_pid()")
        self.proc = None


# --- sessions and operations --------------------------------------------------------------------------------

async def login(client: httpx.AsyncClient, username: str) -> str:
    page = await client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    form = {"csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD}
    response = await client.post("/login/", data=form, headers={"Referer": f"{client.base_url}/login/"})
    assert response.status_code in (302, 303), f"login failed: {response.status_code}"
    return client.cookies.get("csrftoken", "")


def kefu_operations(orders: int, customers: int, token: str) -> dict[str, Callable[..., Any]]:
    api = {"Authorization": f"Bearer {token}"}

    async def list_page(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        r = check(await c.get("/tickets/?status=open"), 200)
        if "GD" not in r.text:
            raise OpError("list without rows")
        return server_times(r)

    async def detail_page(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        return server_times(check(await c.get(f"/tickets/{random.randint(1, orders)}/"), 200))

    async def api_list(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        r = check(await c.get(f"/api/v1/tickets?{KEFU_OPEN}", headers=api), 200)
        if len(r.json()["items"]) == 0:
            raise OpError("empty API page")
        return server_times(r)

    async def api_create(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        body = {"subject": f"压测工单 {n}", "description": "客户来电反映卫生间漏水，希望尽快上门。",
                "type": "repair", "priority": "normal", "customer_id": random.randint(1, customers)}
        r = check(await c.post("/api/v1/tickets", json=body,
                               headers={**api, "Idempotency-Key": uuid.uuid4().hex}), 201)
        return server_times(r)

    return {"list_page": list_page, "detail_page": detail_page, "api_list": api_list, "api_create": api_create}


def peer_operations(orders: int, customers: int, csrf: str) -> dict[str, Callable[..., Any]]:
    async def list_page(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        # The page is a shell; its DataTable asks the rows from datatables_ticket_list (server-side mode).
        # A user sees the list after both, so both count: their server times are added.
        page = check(await c.get("/tickets/?status=1&status=2"), 200)
        url = re.search(r'"url": "(/datatables_ticket_list/[^"]+)"', page.text)
        if not url:
            raise OpError("no datatables URL")
        rows = check(await c.get(url.group(1), params={"draw": "1", "start": "0", "length": "25",
                                                       "search[value]": "", "search[regex]": "false"}), 200)
        if not rows.json()["data"]:
            raise OpError("list without rows")
        (s1, t1), (s2, t2) = server_times(page), server_times(rows)
        return s1 + s2, t1 + t2

    async def detail_page(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        return server_times(check(await c.get(f"/tickets/{random.randint(1, orders)}/"), 200))

    async def api_list(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        r = check(await c.get("/api/tickets/?status=1,2"), 200)
        if not r.json()["results"]:
            raise OpError("empty API page")
        return server_times(r)

    async def api_create(c: httpx.AsyncClient, n: int) -> tuple[float, float]:
        body = {"queue": 2, "title": f"压测工单 {n}", "description": "客户来电反映卫生间漏水，希望尽快上门。",
                "submitter_email": f"customer{random.randint(1, customers)}@example.cn", "priority": 3}
        r = check(await c.post("/api/tickets/", json=body, headers={"X-CSRFToken": csrf}), 201)
        return server_times(r)

    return {"list_page": list_page, "detail_page": detail_page, "api_list": api_list, "api_create": api_create}


MODELS = {
    "agents": ("50 busy agents: each client waits an exponential think time (mean 1 s) between actions", 1.0),
    "stress": ("stress: closed loop, no think time (each client sends its next request at once); a capacity "
               "test: the mean latency is at least 50 ÷ throughput (Little's law)", 0.0),
    "single": ("one client, one request at a time: the unloaded latency", 0.0),
}


def machine_busy() -> tuple[int, int]:
    values = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


SETTLE_BUSY_PCT = 15.0  # a phase starts once the machine is at most this busy…
SETTLE_MAX_SECONDS = 60.0  # …or after this long


async def settle() -> tuple[float, float]:
    """Wait for the machine to be quiet (background work of the previous phase, e.g. PostgreSQL cleaning up
    after the other system's cut-off queries) so that each phase starts from the same state. Returns the
    seconds waited and how busy the machine was in the last second of the wait."""
    began = time.monotonic()
    while True:
        before = machine_busy()
        await asyncio.sleep(1.0)
        after = machine_busy()
        busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
        waited = time.monotonic() - began
        if busy <= SETTLE_BUSY_PCT or waited >= SETTLE_MAX_SECONDS:
            return round(waited, 1), round(busy, 1)


async def measure(system: System, ops: dict[str, Callable[..., Any]] | None, args: argparse.Namespace,
                  model: str, op: str) -> dict[str, Any]:
    think = MODELS[model][1]
    clients = 1 if model == "single" else args.clients
    settled = await settle()
    system.start(args.workers)  # a fresh server per phase: work cut off in one never slows the next
    assert system.proc is not None
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    timeout = httpx.Timeout(args.seconds + args.grace + 5)
    async with httpx.AsyncClient(base_url=system.base, limits=limits, timeout=timeout) as client:
        csrf = await login(client, "admin")
        operations = ops if ops is not None else peer_operations(args.orders, args.customers, csrf)
        fn = operations[op]
        await run_phase(client, fn, clients=clients, seconds=args.warmup, grace=args.grace, think=think)
        cpu0, busy0, gen0 = group_cpu_seconds(system.proc.pid), machine_busy(), time.process_time()
        phase: PhaseResult = await run_phase(client, fn, clients=clients, seconds=args.seconds,
                                             grace=args.grace, think=think)
        cpu1, busy1, gen1 = group_cpu_seconds(system.proc.pid), machine_busy(), time.process_time()
    system.stop()
    s = summarize(phase)
    server_cpu = cpu1 - cpu0
    s["server_cpu_ms_per_request"] = round(server_cpu * 1000 / len(phase.samples), 1) if phase.samples else None
    s["machine_busy_pct"] = round(100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1)
    # Whatever else ran on the machine (other jobs, PostgreSQL, this load generator) in cores, for context.
    s["cpu_cores_used"] = {"server": round(server_cpu / phase.seconds, 2), "load_generator":
                           round((gen1 - gen0) / phase.seconds, 2)}
    s["loadavg_1min"] = float(Path("/proc/loadavg").read_text().split()[0])
    s["settle"] = {"waited_seconds": settled[0], "busy_pct_at_start": settled[1]}
    log(f"{system.name} {model} {op}: {s['requests']} ok, errors {s['errors']}, cut {s['cut_at_deadline']}, "
        f"server p50/p95 {s['server']['p50']}/{s['server']['p95']} ms, client p95 {s['client']['p95']} ms, "
        f"{s['throughput_rps']} req/s, server CPU {s['server_cpu_ms_per_request']} ms/req, "
        f"machine busy {s['machine_busy_pct']} %, load {s['loadavg_1min']}")
    return s


# --- report ---------------------------------------------------------------------------------------------------

LABELS = {"list_page": "Work-order list page, filter \"open\"", "detail_page": "Work-order detail page",
          "api_list": "API list, filter \"open\"", "api_create": "API create"}


def ratio(peer: float | None, kefu: float | None) -> float | None:
    if peer is None or kefu is None or kefu <= 0:
        return None
    return round(peer / kefu, 1)


def fmt(value: Any) -> str:
    return "—" if value is None else f"{value:,.1f}" if isinstance(value, float) else str(value)


def summary_rows(data: dict[str, Any], model: str) -> list[dict[str, Any]]:
    rows = []
    for op in OPERATIONS:
        k = data["kefu"]["results"].get(model, {}).get(op)
        p = data["peer"]["results"].get(model, {}).get(op)
        if not k or not p:
            continue
        k95, p95 = k["server"]["p95"], p["server"]["p95"]
        kefu_ok = k["requests"] > 0 and not k["errors"] and not k["cut_at_deadline"]
        # The peer answering nothing within the phase (all cut off) counts as behind.
        ahead = kefu_ok and (p["requests"] == 0 or (k95 is not None and p95 is not None and k95 < p95))
        # The targets are for 50 agents at work. In the closed loop (no think time) Little's law bounds the mean
        # latency below by 50 ÷ throughput, e.g. 50 ms would need 1,000 answers a second: a capacity test.
        target = TARGETS_MS.get(op) if model == "agents" else None
        rows.append({"operation": op, "kefu_p50": k["server"]["p50"], "kefu_p95": k95,
                     "peer_p50": p["server"]["p50"], "peer_p95": p95, "ratio_p95": ratio(p95, k95),
                     "kefu_rps": k["throughput_rps"], "peer_rps": p["throughput_rps"],
                     "kefu_cpu_ms": k.get("server_cpu_ms_per_request"),
                     "peer_cpu_ms": p.get("server_cpu_ms_per_request"),
                     "peer_failed": sum(p["errors"].values()) + p["cut_at_deadline"],
                     "target_p95_ms": target, "meets_target": None if target is None else (
                         kefu_ok and k95 is not None and k95 <= target), "ahead_of_peer": ahead})
    return rows


def build_report(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    c = data["config"]
    lines = [
        "# Kefu vs django-helpdesk 2.6 — helpdesk benchmark",
        "",
        "Runs: " + "; ".join(f"{r['started']} ({', '.join(r['models'])}"
                             + (f": {', '.join(r['operations'])}" if set(r.get("operations", OPERATIONS))
                                != set(OPERATIONS) else "") + ")" for r in data.get("runs", []))
        + f" on {c['machine']} ({c['cpus']} cores, shared with other work: see \"machine busy\"), "
        f"PostgreSQL {c['postgres']} on loopback.",
        f"Data per system: {data['kefu']['data']['orders']:,} work orders / "
        f"{data['kefu']['data']['customers']:,} customers (Kefu) and "
        f"{data['peer']['data']['orders']:,} tickets / {data['peer']['data']['customers']:,} distinct submitters "
        f"(django-helpdesk). {c['clients']} concurrent clients over loopback, {c['seconds']:.0f} s per operation "
        f"after {c['warmup']:.0f} s warm-up, a fresh server for each; both under uvicorn with {c['workers']} "
        f"worker processes, Django's ASGI handler (Kefu from the 2026-12-06 run on: its subclass running "
        f"middleware and view in one switch into the sync thread, kefu.core.asgi_http), DEBUG off, "
        f"CONN_MAX_AGE={c['conn_max_age']}"
        + (", Django's psycopg connection pool in each worker (max 10)." if c.get("db_pool") else ", no pool."),
        "",
        "Latency is **server-side** (ASGI server hands the request to the application → response start), in ms; "
        "ratio = django-helpdesk p95 ÷ Kefu p95.",
    ]
    data["summary"] = {}
    present = {m for name in ("kefu", "peer") for m in data[name]["results"]}
    c["models"] = [m for m in MODELS if m in present]
    for model in c["models"]:
        rows = summary_rows(data, model)
        data["summary"][model] = rows
        lines += ["", f"## {MODELS[model][0]}", "",
                  "| Operation | Kefu p50 | Kefu p95 | django-helpdesk p50 | django-helpdesk p95 | Ratio | "
                  "Kefu req/s | django-helpdesk req/s | CPU ms/req Kefu / peer | Target p95 | Met | Ahead |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in rows:
            peer95 = fmt(r["peer_p95"]) if r["peer_p95"] is not None else "none answered"
            if r["peer_failed"]:
                peer95 += f" ({r['peer_failed']} failed/cut)"
            lines.append(
                f"| {LABELS[r['operation']]} | {fmt(r['kefu_p50'])} | {fmt(r['kefu_p95'])} | {fmt(r['peer_p50'])} | "
                f"{peer95} | {fmt(r['ratio_p95']) + '×' if r['ratio_p95'] else '—'} | {fmt(r['kefu_rps'])} | "
                f"{fmt(r['peer_rps'])} | {fmt(r['kefu_cpu_ms'])} / {fmt(r['peer_cpu_ms'])} | "
                f"{'≤ ' + str(r['target_p95_ms']) if r['target_p95_ms'] else '—'} | "
                f"{'—' if r['meets_target'] is None else ('yes' if r['meets_target'] else 'NO')} | "
                f"{'yes' if r['ahead_of_peer'] else 'NO'} |")
    lines += ["", "## All measures", "",
              "p50 / p95 / p99 in ms. service = inside Django (outermost middleware: request handled → response "
              "ready); server = ASGI receipt → response start; client = over loopback, end to end. The peer's "
              "list page is two requests (the page and its DataTables JSON call), summed.", "",
              "| Load | System | Operation | ok | errors | cut | service | server | client | server CPU ms/req | "
              "machine busy % |",
              "|---|---|---|---:|---|---:|---|---|---|---:|---:|"]
    for model in c["models"]:
        for name in ("kefu", "peer"):
            for op, s in data[name]["results"].get(model, {}).items():
                lines.append(
                    f"| {model} | {'Kefu' if name == 'kefu' else 'django-helpdesk'} | {op} | {s['requests']} | "
                    f"{s['errors'] or ''} | {s['cut_at_deadline']} | "
                    + " | ".join(f"{s[m]['p50']} / {s[m]['p95']} / {s[m]['p99']}"
                                 for m in ("service", "server", "client"))
                    + f" | {fmt(s.get('server_cpu_ms_per_request'))} | {fmt(s.get('machine_busy_pct'))} |")
    lines += ["", "\"cut\": client loops whose request was still unanswered when the phase's grace period ended "
              f"({c['grace']:.0f} s after its end); they are not in the percentiles.", "",
              "How it is measured and what each operation does: docs/benchmarks.md."]
    return data, "\n".join(lines) + "\n"


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--reload", action="store_true", help="drop and reload both databases")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--grace", type=float, default=30, help="how long to wait for late answers")
    parser.add_argument("--operations", nargs="+", default=OPERATIONS, choices=OPERATIONS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        help="load models to run (the others keep their figures from the previous results)")
    parser.add_argument("--systems", nargs="+", default=["kefu", "peer"], choices=["kefu", "peer"])
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json")
    parser.add_argument("--out", default=str(RESULTS / "helpdesk_compare"))
    args = parser.parse_args()

    conn_max_age = os.environ.get("BENCH_CONN_MAX_AGE", "0")
    db_pool = os.environ.get("BENCH_DB_POOL", "1")
    common = {"BENCH_CONN_MAX_AGE": conn_max_age, "BENCH_DB_POOL": db_pool}
    data_dir = BENCH / ".work" / "kefu-helpdesk-bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    kefu = System("kefu", Path(sys.executable), "kefu_bench", 8101, "kefu_asgi:application", [HELPERS, ROOT],
                  {**common, "KEFU_DATABASE_URL": f"{PG}/kefu_bench", "KEFU_DATA_DIR": str(data_dir),
                   "DJANGO_SETTINGS_MODULE": "kefu_settings", "KEFU_LOG_LEVEL": "WARNING"})
    # the peer's environment is built only when it runs (`--systems kefu` measures Kefu alone)
    peer_py = peer_python("django-helpdesk", PEER_REQUIREMENTS) if "peer" in args.systems else Path(sys.executable)
    peer = System("peer", peer_py, "helpdesk_bench", 8102, "peer.asgi:application", [HELPERS],
                  {**common, "PEER_DATABASE_URL": f"{PG}/helpdesk_bench", "DJANGO_SETTINGS_MODULE": "peer.settings"})

    data: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "config": {"orders": args.orders, "customers": args.customers, "clients": args.clients,
                   "workers": args.workers, "seconds": args.seconds, "warmup": args.warmup, "grace": args.grace,
                   "operations": args.operations, "models": args.models, "conn_max_age": int(conn_max_age),
                   "db_pool": db_pool == "1",
                   "machine": platform.platform(), "cpus": os.cpu_count(),
                   "postgres": psql("SHOW server_version"), "peer": "django-helpdesk 2.6.1"},
    }
    previous = json.loads(Path(args.out + ".json").read_text()) if Path(args.out + ".json").exists() else {}
    if args.report_only:
        data, markdown = build_report(previous)
        Path(args.out + ".md").write_text(markdown)
        print(markdown)
        return
    # a previous run stays listed while some of its rows (model × operation) are still in the results
    covered = {(m, o) for m in args.models for o in args.operations}
    data["runs"] = [r for r in previous.get("runs", [])
                    if {(m, o) for m in r["models"] for o in r.get("operations", OPERATIONS)} - covered] + [
        {"started": data["started"], "models": args.models, "operations": args.operations}]
    try:
        for system in (kefu, peer):
            if system.name in args.systems:
                loaded = system.ensure_data(args.orders, args.customers, args.reload)
            else:
                loaded = previous.get(system.name, {}).get("data", {})
            data[system.name] = {"data": loaded, "results": previous.get(system.name, {}).get("results", {})}
        ops = {"kefu": kefu_operations(args.orders, args.customers, kefu.run("kefu_token.py")), "peer": None}
        # Interleaved (Kefu, then the peer, operation by operation) so both meet the same background load.
        for model in args.models:
            for op in args.operations:
                for system in (kefu, peer):
                    if system.name in args.systems:
                        data[system.name]["results"].setdefault(model, {})[op] = asyncio.run(
                            measure(system, ops[system.name], args, model, op))
    finally:
        kefu.stop()
        peer.stop()
    if not all(data[name]["data"] for name in ("kefu", "peer")):  # one system alone, no earlier run of the other
        Path(args.out + ".json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        log(f"only {', '.join(args.systems)} measured: {args.out}.json written, no side-by-side report")
        return
    data, markdown = build_report(data)
    Path(args.out + ".json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    Path(args.out + ".md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
