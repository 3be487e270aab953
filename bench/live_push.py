"""Live pushes by audience: 500 browsers connected by websocket, 50 agents writing through the API. For every
change, how long until the browsers of its audience hear of it (from the moment the event was written, inside
the committing transaction, to its arrival at the browser), and whether any browser outside the audience heard
it. Not a test.

    .venv/bin/python bench/live_push.py                         # SQLite, one server process (the default setup)
    .venv/bin/python bench/live_push.py --db pg --redis --server-workers 2   # PostgreSQL + Redis, 2 app processes
    .venv/bin/python bench/live_push.py --browsers 100 --writers 10 --seconds 10 --out /tmp/lp   # quick look

Writes bench/results/live_push.json and .md (one section per configuration; --out writes elsewhere).

The organisation: 25 teams of 1 lead and 18 agents, 10 supervisors (shift leads, QA, managers) and 15 staff of
a repair department — 500 people, each with one browser. The writers are 50 agents of 10 teams; each waits an
exponential think time (mean 1 s) between actions: create an order (50 %), add an internal note (25 %), move
an order to "in progress" or dispatch it to the repair department (25 %). Expected recipients of an event are
the browsers whose groups (user, team, department, role) meet the event's audience, as recorded in the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import django_run, earlier_runs, free_port, log, percentile, save_runs
from _proc import group_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG = "postgres://postgres@127.0.0.1:5432"
TEAMS, AGENTS_PER_TEAM, SUPERVISORS, DEPARTMENT_STAFF = 25, 18, 10, 15


SETUP = r'''
import json, sys
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.accounts.services import api_token_create
from kefu.tickets.defaults import sla_install_defaults
from kefu.web.live import audience_groups

teams, per_team, supervisors, staff = map(int, sys.argv[1:5])
sla_install_defaults()
centre = Department.objects.create(name="客服中心", code="service", is_service_center=True)
repair = Department.objects.create(name="维修部", code="repair")
people = []
for t in range(teams):
    team = Team.objects.create(name=f"客服{t + 1}组", department=centre)
    lead = User.objects.create(username=f"lead{t}", display_name=f"组长{t}", role=Role.TEAM_LEAD, team=team,
                               department=centre)
    team.lead = lead
    team.save()
    people.append(lead)
    for a in range(per_team):
        people.append(User.objects.create(username=f"a{t}_{a}", display_name=f"客服{t}-{a}", role=Role.AGENT,
                                          team=team, department=centre))
roles = [Role.SHIFT_LEAD, Role.QA, Role.MANAGER]
for s in range(supervisors):
    people.append(User.objects.create(username=f"sup{s}", role=roles[s % 3], department=centre))
for s in range(staff):
    people.append(User.objects.create(username=f"repair{s}", role=Role.DEPARTMENT, department=repair))
out = []
for user in people:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    out.append({"id": user.pk, "username": user.username, "role": user.role, "team": user.team_id,
                "session": session.session_key, "groups": audience_groups(user)})
writers = [p for p in out if p["role"] == "agent" and p["team"] is not None][: 10 * per_team]
for w in writers:
    w["token"] = api_token_create(actor=User.objects.get(pk=w["id"]), name="bench").key
print(json.dumps({"people": out, "repair": repair.pk}))
'''

REPORT = r'''
import json, sys
from kefu.core.models import OutboxEvent
first = int(sys.argv[1])
rows = OutboxEvent.objects.filter(id__gt=first).order_by("id").values_list("id", "type", "audience", "created_at")
print(json.dumps([[i, t, a, c.timestamp()] for i, t, a, c in rows]))
'''


class Browser:
    def __init__(self, person: dict[str, Any], url: str, origin: str) -> None:
        self.person, self.url, self.origin = person, url, origin
        self.received: dict[int, float] = {}  # event id → arrival (epoch seconds)
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.errors = 0

    async def run(self) -> None:
        headers = {"Cookie": f"sessionid={self.person['session']}"}
        try:
            async with websockets.connect(self.url, additional_headers=headers, origin=self.origin,
                                          open_timeout=60, max_queue=None) as ws:
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    message = json.loads(raw)
                    if message.get("type") == "event":
                        self.received.setdefault(int(message["id"]), time.time())
        except Exception:
            self.errors += 1
            self.ready.set()


async def writer(person: dict[str, Any], base: str, repair: int, until: float, rng: random.Random,
                 counts: dict[str, int]) -> None:
    mine: list[int] = []
    headers = {"Authorization": f"Bearer {person['token']}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        while time.time() < until:
            await asyncio.sleep(rng.expovariate(1.0))
            roll = rng.random()
            try:
                if roll < 0.5 or not mine:
                    r = await client.post("/api/v1/tickets", json={"subject": "实时推送测试", "type": "inquiry",
                                                                    "assignee_id": person["id"]})
                    if r.status_code == 201:
                        mine.append(r.json()["id"])
                    counts[f"create {r.status_code}"] += 1
                elif roll < 0.75:
                    r = await client.post(f"/api/v1/tickets/{rng.choice(mine)}/notes", json={"body": "跟进中"})
                    counts[f"note {r.status_code}"] += 1
                else:
                    ticket = mine.pop(rng.randrange(len(mine)))
                    if rng.random() < 0.5:
                        detail = (await client.get(f"/api/v1/tickets/{ticket}")).json()
                        r = await client.post(f"/api/v1/tickets/{ticket}/transitions",
                                              json={"to": "in_progress", "version": detail["version"]})
                        counts[f"transition {r.status_code}"] += 1
                    else:
                        r = await client.post(f"/api/v1/tickets/{ticket}/dispatches",
                                              json={"department_id": repair, "instructions": "上门"})
                        counts[f"dispatch {r.status_code}"] += 1
            except httpx.HTTPError:
                counts["error"] += 1


async def measure(base: str, people: list[dict[str, Any]], repair: int, writers: int, seconds: float,
                  settle: float, warmup: float) -> tuple[dict[str, Any], list[Browser]]:
    ws_url = base.replace("http://", "ws://") + "/ws/workspace/"
    browsers = [Browser(p, ws_url, base) for p in people]
    tasks = [asyncio.create_task(b.run()) for b in browsers]
    await asyncio.gather(*(b.ready.wait() for b in browsers))
    await asyncio.sleep(1)
    counts: dict[str, int] = defaultdict(int)
    rng = random.Random(7)
    writing = [p for p in people if p.get("token")][:writers]
    started = time.time()
    measured_from = started + warmup
    until = measured_from + seconds
    await asyncio.gather(*(writer(p, base, repair, until, random.Random(rng.random()), counts) for p in writing))
    await asyncio.sleep(settle)  # late arrivals
    for b in browsers:
        b.stop.set()
    await asyncio.gather(*tasks)
    return {"writes": dict(counts), "write_seconds": time.time() - started - settle,
            "measured_from": measured_from}, browsers


def judge(events: list[list[Any]], browsers: list[Browser], measured_from: float) -> dict[str, Any]:
    """Every event is checked for missing and stray deliveries; latencies count from `measured_from` (the
    first seconds warm the processes up: their p99 is reported beside)."""
    latencies: list[float] = []
    warming: list[float] = []
    missing = leaks = expected = 0
    by_type: dict[str, list[float]] = defaultdict(list)
    by_window: dict[int, list[float]] = defaultdict(list)  # 5-second windows from the first event
    first = min((e[3] for e in events), default=0.0)
    for event_id, event_type, audience, created in events:
        groups = set(audience)
        for b in browsers:
            meant = bool(groups & set(b.person["groups"]))
            got = b.received.get(event_id)
            if meant:
                expected += 1
                if got is None:
                    missing += 1
                elif created < measured_from:
                    warming.append((got - created) * 1000)
                else:
                    latencies.append((got - created) * 1000)
                    by_type[event_type].append((got - created) * 1000)
                    by_window[int((created - first) // 5) * 5].append((got - created) * 1000)
            elif got is not None:
                leaks += 1
    return {
        "events": len(events), "deliveries_expected": expected, "delivered": len(latencies) + len(warming),
        "deliveries_measured": len(latencies), "warmup_p99_ms": percentile(warming, 0.99),
        "missing": missing, "outside_audience": leaks,
        "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                       "p99": percentile(latencies, 0.99), "max": max(latencies, default=float("nan"))},
        "by_type_p99_ms": {t: percentile(v, 0.99) for t, v in sorted(by_type.items())},
        "by_5s_window_p99_ms": {str(w): round(percentile(v, 0.99)) for w, v in sorted(by_window.items())},
        "browser_errors": sum(b.errors for b in browsers),
    }


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="kefu-live-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(DJANGO_SETTINGS_MODULE="kefu.config.settings.base", KEFU_DATA_DIR=str(data),
               KEFU_SECRET_KEY="live-bench-" + "x" * 40, KEFU_LOG_LEVEL="WARNING", KEFU_DEBUG="0")
    if args.db == "pg":
        db = "kefu_live_bench"
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True,
                       capture_output=True)
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True, capture_output=True)
        env["KEFU_DATABASE_URL"] = f"{PG}/{db}"
    if args.redis:
        env["KEFU_REDIS_URL"] = "redis://127.0.0.1:6379/9"
        subprocess.run(["redis-cli", "-n", "9", "flushdb"], check=True, capture_output=True)
    log(f"setting up ({args.db}{' + redis' if args.redis else ''}) in {data}")
    subprocess.run([sys.executable, "-m", "kefu.cli", "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    setup = json.loads(django_run(env, SETUP, str(TEAMS), str(AGENTS_PER_TEAM), str(SUPERVISORS),
                                  str(DEPARTMENT_STAFF)))
    people = setup["people"][: args.browsers]
    first = int(django_run(env, "from kefu.core.relay import latest_event_id; print(latest_event_id())").strip())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["KEFU_ALLOWED_HOSTS"] = "127.0.0.1"
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "kefu.config.asgi:application", "--host",
                               "127.0.0.1", "--port", str(port), "--workers", str(args.server_workers),
                               "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT,
                              start_new_session=True)
    # The worker runs as in every installation: notifications, webhooks, escalation, clocks; with Redis also the
    # live relay (without, each server relays its own live pushes).
    worker = subprocess.Popen([sys.executable, "-m", "kefu.cli", "worker"], env=env, cwd=ROOT,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        log(f"{len(people)} browsers, {args.writers} writers, {args.warmup} s warm-up + {args.seconds} s")
        load_before = os.getloadavg()[0]
        cpu_before = group_cpu_seconds(server.pid), group_cpu_seconds(worker.pid)
        outcome, browsers = asyncio.run(measure(base, people, setup["repair"], args.writers, args.seconds,
                                                args.settle, args.warmup))
        events = json.loads(django_run(env, REPORT, str(first)))
        result = {**outcome, **judge(events, browsers, outcome.pop("measured_from")),
                  "load_average_before": load_before,
                  "load_average_after": os.getloadavg()[0],
                  "cpu_seconds": {"servers": round(group_cpu_seconds(server.pid) - cpu_before[0], 1),
                                  "worker": round(group_cpu_seconds(worker.pid) - cpu_before[1], 1)}}
    finally:
        for proc in (server, worker):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
    config = {"db": "PostgreSQL" if args.db == "pg" else "SQLite", "redis": args.redis,
              "server_workers": args.server_workers, "browsers": len(people), "writers": args.writers,
              "seconds": args.seconds, "warmup_seconds": args.warmup}
    return {"config": config, "result": result}


def write(out: Path, runs: list[dict[str, Any]]) -> None:
    meta = save_runs(out, "live_push", runs)
    lines = ["# Live pushes by audience", "", f"Run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs). "
             "`bench/live_push.py`; latency from the event's write (inside the committing transaction) to its "
             "arrival at each browser of its audience, over the seconds after a warm-up of writing (every "
             "event, warm-up included, is checked for missing and stray deliveries; the warm-up's own p99 is "
             "shown beside). "
             "Target: p99 ≤ 200 ms, nothing outside the audience.", "",
             "| setup | browsers | writers | events | deliveries expected | delivered | missing | outside audience "
             "| p50 ms | p95 ms | p99 ms | max ms | warm-up p99 ms | CPU s servers / worker | load before → after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        c, r = run["config"], run["result"]
        setup = f"{c['db']}{' + Redis' if c['redis'] else ''}, {c['server_workers']} app process(es)"
        lat = r["latency_ms"]
        cpu = r.get("cpu_seconds", {})
        lines.append(f"| {setup} | {c['browsers']} | {c['writers']} | {r['events']} | {r['deliveries_expected']} | "
                     f"{r['delivered']} | {r['missing']} | {r['outside_audience']} | {lat['p50']:.0f} | "
                     f"{lat['p95']:.0f} | {lat['p99']:.0f} | {lat['max']:.0f} | {r.get('warmup_p99_ms', 0):.0f} | "
                     f"{cpu.get('servers', '—')} / {cpu.get('worker', '—')} | "
                     f"{r['load_average_before']:.1f} → {r['load_average_after']:.1f} |")
    lines += ["", "Writes per kind and answer: " + "; ".join(
        f"{run['config']['db']}: {run['result']['writes']}" for run in runs), ""]
    (out / "live_push.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--browsers", type=int, default=500)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of writing before measuring")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", action="store_true", help="add this run to the results file's runs")
    args = parser.parse_args()
    if args.server_workers > 1 and not args.redis:
        parser.error("several app processes need Redis (the in-memory channel layer lives in one process)")
    runs = earlier_runs(args.out, "live_push", args.append)
    run = run_config(args)
    log(json.dumps(run["result"], ensure_ascii=False))
    write(args.out, [*runs, run])


if __name__ == "__main__":
    main()
