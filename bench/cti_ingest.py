"""CTI event ingestion: how many PBX events per second `POST /api/v1/cti/events` records on the served app, with
realistic event sequences for many concurrent calls and the PBX's retries, beside two floors measured in the
same run: a bare HTTP handler (the same uvicorn, the same clients, no Django) and a bare INSERT loop (one
transaction per event into a table with the same unique key, on the same database). Not a test.

    .venv/bin/python bench/cti_ingest.py                       # SQLite, one app process (the default setup)
    .venv/bin/python bench/cti_ingest.py --postgres            # PostgreSQL + Redis, 2 app processes and the worker
    .venv/bin/python bench/cti_ingest.py --lanes 16 --seconds 5 --out /tmp/ci   # quick look

Writes bench/results/cti_ingest.json and .md (one section per configuration; --append adds a run).

The organisation: 4 phone queues, each with a team of 25 agents, and the PBX's token (an administrator's, the
telephony scope alone). The PBX: `--lanes` concurrent calls (64), each lane posting one call's events in order
as fast as the answers come, then the next call: offered, queued, ringing an agent, then answered (12 % with a
hold and resume) and ended — or abandoned (15 %), or a voicemail and its end (2 %). Times are the wall clock
(the agents' states follow their calls, as live). A post is retried (the same event again, as after a lost
answer) with probability `--retries` (3 %): the answer must say `duplicate`. Latency is the client's, from
sending a post to its answer, over the measured seconds after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import django_run, earlier_runs, free_port, log, percentile, save_runs
from _proc import group_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG = "postgres://postgres@127.0.0.1:5432"
PG_DB = "kefu_hc"
REDIS_DB = "9"
QUEUES, AGENTS_PER_QUEUE = 4, 25


# The organisation, made through the product's own services (run in a Django process of its own).
SETUP = r'''
import json, sys
from importlib import import_module
from django.conf import settings
from django.contrib.auth import login
from django.test import RequestFactory
from kefu.accounts.choices import Role, TokenScope
from kefu.accounts.models import Department, Team, User
from kefu.accounts.services import api_token_create
from kefu.routing.services import QueueData, queue_create

queues, per_queue, supervisors = map(int, sys.argv[1:4])
centre = Department.objects.create(name="客服中心", code="service", is_service_center=True)
admin = User.objects.create(username="pbxadmin", role=Role.ADMIN, department=centre, is_staff=True)

engine = import_module(settings.SESSION_ENGINE)
factory = RequestFactory()

def signed_in(user):
    """A session as the sign-in page leaves it (Django's login(): the second-factor state, the session index)."""
    request = factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_USER_AGENT="kefu screen_pop bench")
    request.session = engine.SessionStore()
    login(request, user, backend="kefu.accounts.backends.AccountBackend")
    request.session.save()
    return request.session.session_key

out = {"queues": [], "agents": [], "supervisors": []}
for q in range(queues):
    team = Team.objects.create(name=f"热线{q + 1}组", department=centre)
    queue_create(actor=admin, data=QueueData(code=f"line{q}", name=f"热线{q + 1}", team=team))
    out["queues"].append(f"line{q}")
    for a in range(per_queue):
        user = User.objects.create(username=f"q{q}a{a}", display_name=f"坐席{q}-{a}", role=Role.AGENT, team=team,
                                   department=centre)
        out["agents"].append({"username": user.username, "id": user.pk, "queue": f"line{q}",
                              "session": signed_in(user)})
for s in range(supervisors):
    user = User.objects.create(username=f"sup{s}", role=Role.SHIFT_LEAD, department=centre)
    out["supervisors"].append({"username": user.username, "id": user.pk, "session": signed_in(user)})
out["token"] = api_token_create(actor=admin, name="PBX", scopes=[TokenScope.TELEPHONY]).key
print(json.dumps(out))
'''


def environment(postgres: bool, data: Path) -> dict[str, str]:
    """A fresh data directory and database (SQLite, or PostgreSQL `kefu_hc` + Redis db 9), migrated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(DJANGO_SETTINGS_MODULE="kefu.config.settings.base", KEFU_DATA_DIR=str(data),
               KEFU_SECRET_KEY="cti-bench-" + "x" * 40, KEFU_LOG_LEVEL="WARNING", KEFU_DEBUG="0",
               KEFU_ALLOWED_HOSTS="127.0.0.1", PYTHONPATH=str(ROOT))
    if postgres:
        for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
            subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)
        env["KEFU_DATABASE_URL"] = f"{PG}/{PG_DB}"
        env["KEFU_REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
        subprocess.run(["redis-cli", "-n", REDIS_DB, "flushdb"], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "kefu.cli", "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    return env


class Served:
    """`kefu serve` (and with Redis `kefu worker`) in process groups of their own, stopped whole."""

    def __init__(self, env: dict[str, str], workers: int, app: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if app is None:
            command = [sys.executable, "-m", "kefu.cli", "serve", "--no-static", "--port", str(self.port),
                       "--workers", str(workers), "--log-level", "warning"]
        else:  # the floor: a bare ASGI app under the same uvicorn
            command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(ROOT / "bench"), "--port",
                       str(self.port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        self.procs = [subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        if app is None and env.get("KEFU_REDIS_URL"):
            self.procs.append(subprocess.Popen([sys.executable, "-m", "kefu.cli", "worker"], env=env, cwd=ROOT,
                                               start_new_session=True, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 90
        path = "/healthz" if app is None else "/"
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base + path, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("the server did not start")

    def cpu(self) -> list[float]:
        return [group_cpu_seconds(p.pid) for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)


def call_script(rng: random.Random, queue: str, agents: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """One call's events in the order the PBX sends them (without times: each is stamped when it is posted)."""
    caller = f"1{rng.randint(3000000000, 9999999999)}"
    agent = rng.choice(agents)
    base = {"caller": caller, "called": "4008001234"}
    script: list[tuple[str, dict[str, Any]]] = [("offered", {}), ("queued", {"queue": queue})]
    roll = rng.random()
    if roll < 0.15:
        script.append(("abandoned", {}))
    elif roll < 0.17:
        script += [("voicemail", {}), ("ended", {})]
    else:
        script += [("ringing", {"queue": queue, "agent": agent}), ("answered", {"agent": agent})]
        if rng.random() < 0.12:
            script += [("held", {}), ("resumed", {})]
        script.append(("ended", {}))
    return [(name, {**base, **extra}) for name, extra in script]


class Pbx:
    """The load: lanes of calls posted event by event; answers and latencies recorded after `measure_from`."""

    def __init__(self, base: str, token: str, queues: list[str], agents: dict[str, list[str]], retries: float,
                 path: str = "/api/v1/cti/events") -> None:
        self.base, self.path, self.retries = base, path, retries
        self.headers = {"Authorization": f"Bearer {token}"}
        self.queues, self.agents = queues, agents
        self.latencies: list[float] = []
        self.counts: Counter[str] = Counter()
        self.measure_from = self.until = 0.0
        self.calls = 0

    async def lane(self, client: httpx.AsyncClient, number: int, rng: random.Random) -> None:
        while time.monotonic() < self.until:
            queue = rng.choice(self.queues)
            call_id = f"bench-{number}-{self.calls}-{rng.getrandbits(32):08x}"
            self.calls += 1
            for name, extra in call_script(rng, queue, self.agents[queue]):
                body = {"call_id": call_id, "event": name, "at": datetime.now(UTC).isoformat(),
                        "caller": extra.get("caller", ""), "called": extra.get("called", ""), **extra}
                await self.post(client, body, retry=False)
                if rng.random() < self.retries:
                    await self.post(client, body, retry=True)
                if time.monotonic() >= self.until:
                    return

    async def post(self, client: httpx.AsyncClient, body: dict[str, Any], retry: bool) -> None:
        started = time.monotonic()
        try:
            answer = await client.post(self.path, json=body)
            status = answer.status_code
            duplicate = status == 200 and answer.json().get("duplicate", False)
        except httpx.HTTPError:
            status, duplicate = 0, False
        ended = time.monotonic()
        if started < self.measure_from:
            return
        self.latencies.append((ended - started) * 1000)
        self.counts[f"status {status}"] += 1
        self.counts["retries"] += retry
        self.counts["duplicate answers"] += bool(duplicate)
        self.counts["retry not seen as duplicate"] += retry and not duplicate and status == 200

    async def run(self, lanes: int, warmup: float, seconds: float, seed: int) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=lanes, max_keepalive_connections=lanes)
        async with httpx.AsyncClient(base_url=self.base, headers=self.headers, timeout=60, limits=limits) as client:
            now = time.monotonic()
            self.measure_from, self.until = now + warmup, now + warmup + seconds
            await asyncio.gather(*(self.lane(client, n, random.Random(seed * 1000 + n)) for n in range(lanes)))
        answered = sum(v for k, v in self.counts.items() if k.startswith("status 200"))
        posted = sum(v for k, v in self.counts.items() if k.startswith("status "))
        return {"posted": posted, "answered_200": answered, "events_per_second": posted / seconds,
                "latency_ms": {"p50": percentile(self.latencies, 0.5), "p99": percentile(self.latencies, 0.99),
                               "max": max(self.latencies, default=float("nan"))},
                "retries_share": self.counts["retries"] / posted if posted else 0.0,
                "duplicates_share": self.counts["duplicate answers"] / posted if posted else 0.0,
                "counts": dict(self.counts)}


# The floor's HTTP handler: reads the JSON body and answers like the API, nothing else (uvicorn loads it by name).
async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    event = json.loads(body or b"{}")
    answer = json.dumps({"call_id": event.get("call_id"), "event": event.get("event"), "duplicate": False}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


def insert_floor(postgres: bool, data: Path, seconds: float, seed: int) -> dict[str, Any]:
    """One transaction per event into a table keyed like CallEvent (call, event, at), from one thread."""
    rng = random.Random(seed)
    if postgres:
        import psycopg

        conn: Any = psycopg.connect(f"{PG}/{PG_DB}", autocommit=True)
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, call_id varchar(100), event varchar(12), "
                     "at timestamptz, payload text, UNIQUE (call_id, event, at))")
        sql = "INSERT INTO bench_floor (call_id, event, at, payload) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
    else:
        conn = sqlite3.connect(data / "floor.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # Kefu's SQLite settings say the same (kefu.config.settings)
        conn.execute("CREATE TABLE bench_floor (id integer PRIMARY KEY, call_id text, event text, at text, "
                     "payload text, UNIQUE (call_id, event, at))")
        sql = "INSERT OR IGNORE INTO bench_floor (call_id, event, at, payload) VALUES (?, ?, ?, ?)"
    done = 0
    latencies = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        if postgres:
            with conn.transaction():
                conn.execute(sql, (f"c{done // 5}", "offered", datetime.now(UTC), f"{rng.random()}"))
        else:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, (f"c{done // 5}", "offered", datetime.now(UTC).isoformat(), f"{rng.random()}"))
            conn.execute("COMMIT")
        latencies.append((time.monotonic() - started) * 1000)
        done += 1
    conn.close()
    return {"events_per_second": done / seconds, "latency_ms": {"p50": percentile(latencies, 0.5),
                                                                 "p99": percentile(latencies, 0.99)}}


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="kefu-cti-bench-"))
    env = environment(args.postgres, data)
    log(f"setting up ({'PostgreSQL + Redis' if args.postgres else 'SQLite'}) in {data}")
    setup = json.loads(django_run(env, SETUP, str(QUEUES), str(AGENTS_PER_QUEUE), "0"))
    agents: dict[str, list[str]] = {}
    for agent in setup["agents"]:
        agents.setdefault(agent["queue"], []).append(agent["username"])
    workers = args.server_workers or (2 if args.postgres else 1)
    result: dict[str, Any] = {}
    server = Served(env, workers)
    try:
        log(f"Kefu: {args.lanes} lanes, {args.warmup} s warm-up + {args.seconds} s")
        cpu = server.cpu()
        pbx = Pbx(server.base, setup["token"], setup["queues"], agents, args.retries)
        result["kefu"] = asyncio.run(pbx.run(args.lanes, args.warmup, args.seconds, seed=1))
        result["kefu"]["cpu_seconds"] = [round(b - a, 1) for a, b in zip(cpu, server.cpu(), strict=True)]
        result["kefu"]["calls_started"] = pbx.calls
    finally:
        server.stop()
    rows = json.loads(django_run(env, "from kefu.telephony.models import Call, CallEvent\n"
                                      "import json; print(json.dumps([Call.objects.count(), "
                                      "CallEvent.objects.count()]))"))
    result["kefu"]["stored"] = {"calls": rows[0], "events": rows[1]}
    floor = Served(env, workers, app="cti_ingest:floor_app")
    try:
        log("floor: bare HTTP handler")
        pbx = Pbx(floor.base, "x", setup["queues"], agents, args.retries, path="/")
        result["http_floor"] = asyncio.run(pbx.run(args.lanes, args.warmup, args.seconds, seed=1))
    finally:
        floor.stop()
    log("floor: bare INSERT loop")
    result["insert_floor"] = insert_floor(args.postgres, data, args.seconds, seed=1)
    kefu = result["kefu"]["events_per_second"]
    result["ratio_to_http_floor"] = kefu / result["http_floor"]["events_per_second"]
    result["ratio_to_insert_floor"] = kefu / result["insert_floor"]["events_per_second"]
    config = {"db": "PostgreSQL + Redis" if args.postgres else "SQLite", "server_workers": workers,
              "lanes": args.lanes, "seconds": args.seconds, "warmup_seconds": args.warmup, "retries": args.retries}
    return {"config": config, "result": result}


def write(out: Path, runs: list[dict[str, Any]]) -> None:
    meta = save_runs(out, "cti_ingest", runs)
    lines = ["# CTI event ingestion", "", f"Run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs), "
             "client and server on the same machine. `bench/cti_ingest.py`: concurrent calls posted event by "
             "event to `POST /api/v1/cti/events` (offered, queued, ringing, answered, held/resumed, ended; "
             "abandons and voicemails), a share retried; latency from sending a post to its answer. Floors in the "
             "same run: a bare HTTP handler under the same uvicorn and clients, and a bare INSERT loop (one "
             "transaction per event, one thread).", "",
             "| setup | lanes | events/s | p50 ms | p99 ms | max ms | retries / duplicate answers | non-200 | "
             "CPU s (server, worker) | bare HTTP events/s (ratio) | bare INSERT events/s (ratio) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        c, r = run["config"], run["result"]
        k = r["kefu"]
        bad = sum(v for key, v in k["counts"].items() if key.startswith("status ") and key != "status 200")
        lines.append(
            f"| {c['db']}, {c['server_workers']} app process(es) | {c['lanes']} | {k['events_per_second']:.0f} | "
            f"{k['latency_ms']['p50']:.1f} | {k['latency_ms']['p99']:.1f} | {k['latency_ms']['max']:.0f} | "
            f"{k['retries_share']:.1%} / {k['duplicates_share']:.1%} | {bad} | {k.get('cpu_seconds')} | "
            f"{r['http_floor']['events_per_second']:.0f} ({r['ratio_to_http_floor']:.2f}) | "
            f"{r['insert_floor']['events_per_second']:.0f} ({r['ratio_to_insert_floor']:.2f}) |")
    lines += ["", "Stored after each run (calls, events): " + "; ".join(
        f"{run['config']['db']}: {run['result']['kefu']['stored']}" for run in runs), ""]
    (out / "cti_ingest.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help=f"PostgreSQL ({PG_DB}) + Redis db {REDIS_DB}")
    parser.add_argument("--server-workers", type=int, default=0, help="app processes (1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--lanes", type=int, default=64, help="calls in flight at once")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--retries", type=float, default=0.03, help="share of posts sent twice")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", action="store_true", help="add this run to the results file's runs")
    args = parser.parse_args()
    if args.server_workers > 1 and not args.postgres:
        parser.error("several app processes need Redis (--postgres)")
    runs = earlier_runs(args.out, "cti_ingest", args.append)
    run = run_config(args)
    log(json.dumps(run["result"], ensure_ascii=False))
    write(args.out, [*runs, run])


if __name__ == "__main__":
    main()
