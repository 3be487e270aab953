"""Screen-pop latency with 500 calls in progress: from the moment the PBX's `ringing` event is posted to
`POST /api/v1/cti/events` to the moment the rung agent's open page (its websocket, `ws/workspace/`) receives the
`call.changed` push that pops the caller's card. Goal (issue 10): p99 ≤ 1 s. Not a test.

    .venv/bin/python bench/screen_pop.py                        # SQLite, one app process (the default setup)
    .venv/bin/python bench/screen_pop.py --postgres             # PostgreSQL + Redis, 2 app processes and the worker
    .venv/bin/python bench/screen_pop.py --in-progress 100 --seconds 10 --out /tmp/sp   # quick look

Writes bench/results/screen_pop.json and .md (one section per configuration; --append adds a run).

The floor: 4 phone queues, each answered by a team of 75 agents (300), and 10 shift leads; every one of them
has a page open (a signed-in websocket; each hears its own calls, its team's queue's calls, and the supervisors
every call). Before measuring, the PBX brings `--in-progress` calls (500) into the queues: half answered by an
agent (talking), the rest queued or ringing. While measuring, the PBX keeps that number steady (`--churn`
events/s: a queued call rings and is answered, a talking call ends and a new call arrives) and, `--probes` times a
second, a new call rings a random agent: that agent's socket is watched for the push of that very ringing. All
clients are in this process, so one monotonic clock times both ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import earlier_runs, save_runs
from cti_ingest import SETUP, Served, django_run, environment, log, percentile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
QUEUES, AGENTS_PER_QUEUE, SUPERVISORS = 4, 75, 10


class Page:
    """An agent's (or supervisor's) open page: records when each ringing push for it arrives."""

    shown = False

    def __init__(self, person: dict[str, Any], url: str, origin: str) -> None:
        self.person, self.url, self.origin = person, url, origin
        self.rings: dict[str, float] = {}  # call_id → arrival (monotonic) of the ringing push naming this person
        self.frames = 0
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.errors = 0

    async def run(self) -> None:
        headers = {"Cookie": f"sessionid={self.person['session']}"}
        try:
            async with websockets.connect(self.url, additional_headers=headers, origin=self.origin,
                                          open_timeout=120, max_queue=None) as ws:
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    arrived = time.monotonic()
                    self.frames += 1
                    message = json.loads(raw)
                    if message.get("type") != "event" or message.get("event") != "call.changed":
                        continue
                    cti = message.get("cti") or {}
                    if cti.get("event") == "ringing" and cti.get("agent_id") == self.person["id"]:
                        self.rings.setdefault(message["call"]["call_id"], arrived)
        except Exception as exc:  # counted and reported; the first one shown
            self.errors += 1
            if not Page.shown:
                Page.shown = True
                log(f"a page failed: {exc!r}")
            self.ready.set()


class Floor:
    """The PBX: calls in progress kept steady, and the probes."""

    def __init__(self, client: httpx.AsyncClient, queues: list[str], agents: list[dict[str, Any]],
                 rng: random.Random) -> None:
        self.client, self.queues, self.agents, self.rng = client, queues, agents, rng
        self.by_queue: dict[str, list[str]] = {}
        for agent in agents:
            self.by_queue.setdefault(agent["queue"], []).append(agent["username"])
        self.waiting: list[tuple[str, str]] = []  # (call_id, queue)
        self.talking: list[str] = []
        self.counts: Counter[str] = Counter()
        self.probes: list[tuple[str, dict[str, Any], float]] = []  # call_id, agent, posted (monotonic)
        self.serial = 0

    async def post(self, call_id: str, event: str, **extra: Any) -> None:
        body = {"call_id": call_id, "event": event, "at": datetime.now(UTC).isoformat(), "caller": "13800138000",
                "called": "4008001234", **extra}
        try:
            answer = await self.client.post("/api/v1/cti/events", json=body)
            self.counts[f"{event} {answer.status_code}"] += 1
        except httpx.HTTPError:
            self.counts[f"{event} error"] += 1

    def new_id(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}-{self.serial}-{self.rng.getrandbits(24):06x}"

    async def arrive(self) -> None:
        queue = self.rng.choice(self.queues)
        call_id = self.new_id("c")
        await self.post(call_id, "offered")
        await self.post(call_id, "queued", queue=queue)
        self.waiting.append((call_id, queue))

    async def answer(self) -> None:
        call_id, queue = self.waiting.pop(self.rng.randrange(len(self.waiting)))
        agent = self.rng.choice(self.by_queue[queue])
        await self.post(call_id, "ringing", queue=queue, agent=agent)
        await self.post(call_id, "answered", agent=agent)
        self.talking.append(call_id)

    async def end(self) -> None:
        await self.post(self.talking.pop(self.rng.randrange(len(self.talking))), "ended")

    async def fill(self, in_progress: int) -> None:
        """`in_progress` calls: half talking, the rest queued (8 at a time, as a PBX's trunks deliver them)."""
        for start in range(0, in_progress, 8):
            await asyncio.gather(*(self.arrive() for _ in range(min(8, in_progress - start))))
        for start in range(0, in_progress // 2, 8):
            await asyncio.gather(*(self.answer() for _ in range(min(8, in_progress // 2 - start))))

    async def churn(self, per_second: float, until: float) -> None:
        """Events at `per_second` on average: a queued call answered (2 events) or a talking call ended and a new
        one arriving (3 events), so that the number in progress stays where it is."""
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.expovariate(per_second / 2.5))
            if self.rng.random() < 0.5 and self.waiting:
                asyncio.get_running_loop().create_task(self.answer())
            elif self.talking:
                asyncio.get_running_loop().create_task(self.end())
                asyncio.get_running_loop().create_task(self.arrive())

    async def probe(self) -> None:
        agent = self.rng.choice(self.agents)
        call_id = self.new_id("probe")
        await self.post(call_id, "offered")
        await self.post(call_id, "queued", queue=agent["queue"])
        posted = time.monotonic()
        await self.post(call_id, "ringing", queue=agent["queue"], agent=agent["username"])
        self.probes.append((call_id, agent, posted))
        await asyncio.sleep(1.0)
        await self.post(call_id, "abandoned")  # a missed call: the number in progress stays steady

    async def probing(self, per_second: float, until: float) -> None:
        tasks = []
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.expovariate(per_second))
            tasks.append(asyncio.get_running_loop().create_task(self.probe()))
        await asyncio.gather(*tasks)


async def measure(base: str, setup: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/ws/workspace/"
    people = setup["agents"] + setup["supervisors"]
    pages = {p["id"]: Page(p, ws_url, base) for p in people}
    tasks = [asyncio.create_task(page.run()) for page in pages.values()]
    await asyncio.gather(*(page.ready.wait() for page in pages.values()))
    log(f"{len(pages)} pages open ({sum(p.errors for p in pages.values())} failed); filling the floor")
    headers = {"Authorization": f"Bearer {setup['token']}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        floor = Floor(client, setup["queues"], setup["agents"], random.Random(args.seed))
        started = time.monotonic()
        await floor.fill(args.in_progress)
        fill_seconds = time.monotonic() - started
        log(f"{args.in_progress} calls in progress after {fill_seconds:.0f} s; measuring {args.seconds} s")
        until = time.monotonic() + args.seconds
        await asyncio.gather(floor.churn(args.churn, until), floor.probing(args.probes, until))
        await asyncio.sleep(args.settle)
        in_progress_at_end = len(floor.waiting) + len(floor.talking)
    for page in pages.values():
        page.stop.set()
    await asyncio.gather(*tasks)
    latencies, missing = [], 0
    for call_id, agent, posted in floor.probes:
        arrived = pages[agent["id"]].rings.get(call_id)
        if arrived is None:
            missing += 1
        else:
            latencies.append((arrived - posted) * 1000)
    return {"pages": len(pages), "page_errors": sum(p.errors for p in pages.values()),
            "frames_received": sum(p.frames for p in pages.values()), "fill_seconds": round(fill_seconds, 1),
            "in_progress_at_end": in_progress_at_end, "probes": len(floor.probes), "missing": missing,
            "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                           "p99": percentile(latencies, 0.99), "max": max(latencies, default=float("nan"))},
            "posts": dict(floor.counts)}


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="kefu-pop-bench-"))
    env = environment(args.postgres, data)
    log(f"setting up ({'PostgreSQL + Redis' if args.postgres else 'SQLite'}) in {data}")
    setup = json.loads(django_run(env, SETUP, str(QUEUES), str(AGENTS_PER_QUEUE), str(SUPERVISORS)))
    workers = args.server_workers or (2 if args.postgres else 1)
    server = Served(env, workers)
    try:
        cpu = server.cpu()
        load_before = os.getloadavg()[0]
        result = asyncio.run(measure(server.base, setup, args))
        result["cpu_seconds"] = [round(b - a, 1) for a, b in zip(cpu, server.cpu(), strict=True)]
        result["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    finally:
        server.stop()
    stored = json.loads(django_run(env, "import json\nfrom kefu.telephony.models import Call\n"
                                        "print(json.dumps([Call.objects.count(), "
                                        "Call.objects.filter(ended_at__isnull=True).count()]))"))
    result["calls"] = {"stored": stored[0], "in_progress_in_the_database": stored[1]}
    config = {"db": "PostgreSQL + Redis" if args.postgres else "SQLite", "server_workers": workers,
              "in_progress": args.in_progress, "churn_events_per_second": args.churn,
              "probes_per_second": args.probes, "seconds": args.seconds}
    return {"config": config, "result": result}


def write(out: Path, runs: list[dict[str, Any]]) -> None:
    meta = save_runs(out, "screen_pop", runs)
    lines = ["# Screen-pop latency", "", f"Run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs), "
             "clients and server on the same machine. `bench/screen_pop.py`: from posting the PBX's `ringing` "
             "event to the rung agent's open page receiving the `call.changed` push, with the calls in progress "
             "held steady by the PBX's other events. Goal: p99 ≤ 1 s.", "",
             "| setup | pages | calls in progress | other events/s | probes | missing | p50 ms | p95 ms | p99 ms | "
             "max ms | CPU s (server, worker) | load before → after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        c, r = run["config"], run["result"]
        lat = r["latency_ms"]
        lines.append(f"| {c['db']}, {c['server_workers']} app process(es) | {r['pages']} | {c['in_progress']} → "
                     f"{r['in_progress_at_end']} | {c['churn_events_per_second']} | {r['probes']} | {r['missing']} "
                     f"| {lat['p50']:.0f} | {lat['p95']:.0f} | {lat['p99']:.0f} | {lat['max']:.0f} | "
                     f"{r['cpu_seconds']} | {r['load_average'][0]} → {r['load_average'][1]} |")
    lines += ["", "Posts per event and answer: " + "; ".join(
        f"{run['config']['db']}: {run['result']['posts']}" for run in runs), ""]
    (out / "screen_pop.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (kefu_hc) + Redis db 9")
    parser.add_argument("--server-workers", type=int, default=0, help="app processes (1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--in-progress", type=int, default=500)
    parser.add_argument("--churn", type=float, default=10.0, help="other PBX events per second while measuring")
    parser.add_argument("--probes", type=float, default=2.0, help="measured ringing events per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=5, help="seconds to wait for late pushes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", action="store_true", help="add this run to the results file's runs")
    args = parser.parse_args()
    if args.server_workers > 1 and not args.postgres:
        parser.error("several app processes need Redis (--postgres)")
    runs = earlier_runs(args.out, "screen_pop", args.append)
    run = run_config(args)
    log(json.dumps(run["result"], ensure_ascii=False))
    write(args.out, [*runs, run])


if __name__ == "__main__":
    main()
