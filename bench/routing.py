"""Benchmark: routing decisions per second and their latency, with 1,000 agents and 50 queues on PostgreSQL,
beside a bare `SELECT … FOR UPDATE SKIP LOCKED` claim loop in the same run (the floor).

A decision is one offer: a waiting contact matched to the best free agent of its queue (skills with
their minimum proficiency, team, no open offer, the queue's strategy), the offer written with its event. Each round
puts 1,000 contacts in line across the 50 queues and makes every agent free, then P dispatcher processes
(`routing_dispatch`, as the web and worker processes run it) offer them at once; the round's decisions over its
wall time is the rate. A decision's latency is the time from its dispatcher reading the contact (its batch's first
statement) to the offer being committed (every decision of a batch waits for the batch's commit); p50/p99 are over
every decision of the round. The dispatcher processes live across the rounds, as the web and worker processes
do (connections open, statements prepared); warm-up rounds, one for each process alone and then one with all of
them, are not counted (with several processes a round's pass falls to whichever takes the turn first, and a process's
first pass prepares and plans its statements). The wall time runs from the
first process starting its round to the last one finishing it.

The floor does the least a correct claim can do on equivalent bare tables: lock the next waiting contact and the
next free agent with SKIP LOCKED, mark both, commit; same processes, same counts. Kefu's ratio to it says what
the rules (skills, strategies, one open offer per agent, the outbox event) cost.

Run: `.venv/bin/python bench/routing.py [--processes 1 2 4] [--rounds 5] [--warmup 1] [--batch N]` with PostgreSQL on
127.0.0.1:5432 (writes bench/results/routing.json and .md, with the load average beside each row: the machine
may be shared, so read Kefu against the floor of the same run). It creates and drops its own database
`kefu_bench_routing`; the dispatchers use the connection pool as production does. The tables are ANALYZEd once,
with the first round's line in them (as autovacuum keeps the statistics of a live database), and emptied with
DELETE between rounds: a TRUNCATE or ANALYZE in every round would make every process plan its prepared statements
again in the round's first batch, which on a live database happens only after autovacuum's occasional ANALYZE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DB = "kefu_bench_routing"
URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
AGENTS, QUEUES, SKILLS, CONTACTS = 1000, 50, 20, 1000
ARRIVALS = 240  # contacts the arrivals processes put in line per round between them, one at a time


def _psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-q", "-c", sql], check=True,
                   capture_output=True)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update({"KEFU_DATABASE_URL": URL, "DJANGO_SETTINGS_MODULE": "kefu.config.settings.base",
                "KEFU_SECRET_KEY": "bench-routing-" + "x" * 40, "PYTHONPATH": str(ROOT.parent)})
    return env


def _setup() -> None:
    """A fresh database: 20 skills, 50 queues each needing 1–2 of them, 1,000 agents with 4 skills each."""
    import random

    import django

    django.setup()
    from kefu.accounts.models import AgentSkill, Skill, User
    from kefu.routing.models import AgentState, Queue, QueueSkill

    rng = random.Random(7)
    skills = Skill.objects.bulk_create([Skill(code=f"s{i}", name=f"技能{i}") for i in range(SKILLS)])
    strategies = ["longest_idle", "least_occupied", "proficiency"]
    queues = Queue.objects.bulk_create([Queue(code=f"q{i}", name=f"队列{i}", routed=True, offer_seconds=300,
                                              strategy=strategies[i % 3]) for i in range(QUEUES)])
    QueueSkill.objects.bulk_create([QueueSkill(queue=q, skill=skills[(i * 3 + k) % SKILLS], min_proficiency=1 + k)
                                    for i, q in enumerate(queues) for k in range(1 + i % 2)])
    users = User.objects.bulk_create([User(username=f"a{i}", role="agent") for i in range(AGENTS)])
    AgentSkill.objects.bulk_create([AgentSkill(user=u, skill=s, proficiency=rng.randint(2, 5))
                                    for u in users for s in rng.sample(skills, 4)])
    from django.utils import timezone

    now = timezone.now()
    AgentState.objects.bulk_create([AgentState(user=u, state="available", since=now, idle_since=now,
                                               chat_capacity=3) for u in users])
    _psql("CREATE TABLE floor_contact (id serial PRIMARY KEY, priority int, enqueued_at timestamptz, "
          "state text, agent int); CREATE INDEX ON floor_contact (state, priority DESC, enqueued_at);"
          "CREATE TABLE floor_agent (id int PRIMARY KEY, free bool, idle_since timestamptz);"
          "CREATE INDEX ON floor_agent (free, idle_since);", DB)
    _psql("ANALYZE", DB)  # the planner's statistics, as autovacuum keeps them on a live database


def _servable() -> list[int]:
    """The queues at least one agent has the skills for."""
    from kefu.accounts.models import AgentSkill
    from kefu.routing.models import AgentState, QueueSkill

    needs: dict[int, list[tuple[int, int]]] = {}
    for qs in QueueSkill.objects.all():
        needs.setdefault(qs.queue_id, []).append((qs.skill_id, qs.min_proficiency))
    have = {(a.user_id, a.skill_id): a.proficiency for a in AgentSkill.objects.all()}
    agent_ids = list(AgentState.objects.values_list("user_id", flat=True))
    return sorted(q for q, need in needs.items()
                  if sum(all(have.get((a, s), 0) >= m for s, m in need) for a in agent_ids) >= 1)


def _round_reset(arrivals: bool = False) -> None:
    """1,000 contacts in line over the 50 queues (each one an agent can take), or none for the arrivals; every
    agent free again."""
    import random

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from kefu.routing.models import AgentState, Offer, RoutedContact

    rng = random.Random(11)
    analyze = os.environ.get("BENCH_ANALYZE") == "1"
    with connection.cursor() as cursor:  # not TRUNCATE: see the module's docstring
        cursor.execute("DELETE FROM routing_offer; DELETE FROM core_outboxevent; DELETE FROM routing_routedcontact")
    AgentState.objects.update(state="available", chats=0)
    if arrivals:
        if analyze:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        return
    servable = _servable()
    now = timezone.now()
    RoutedContact.objects.bulk_create([
        RoutedContact(ref=f"bench:{i}", kind="phone", queue_id=rng.choice(servable), priority=rng.choice([0, 0, 5, 10]),
                      enqueued_at=now, queue_entered_at=now) for i in range(CONTACTS)])
    assert not Offer.objects.exists()
    from django.db import connection as floor

    with floor.cursor() as cursor:
        cursor.execute("DELETE FROM floor_contact; DELETE FROM floor_agent;")
        cursor.execute("INSERT INTO floor_contact (priority, enqueued_at, state) SELECT (g %% 3) * 5, now(), "
                       "'waiting' FROM generate_series(1, %s) g", [CONTACTS])
        cursor.execute("INSERT INTO floor_agent SELECT g, true, now() FROM generate_series(1, %s) g", [AGENTS])
        if analyze:
            cursor.execute("ANALYZE")


def _serve(run: Any) -> None:
    """A dispatcher process lives across the rounds, as the web and worker processes do (its connection open, its
    statements prepared): each "go" on stdin runs one round and answers with a JSON line."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() != "go":
            break
        sys.stdout.write(json.dumps(run()) + "\n")
        sys.stdout.flush()


def _kefu_worker() -> None:
    """One dispatcher process: dispatch until nothing more can be offered; each decision timed."""
    import django

    django.setup()
    from django.db import connection

    from kefu.routing.services import acd

    took: list[float] = []
    batch = acd._dispatch_batch

    def timed_batch(*args: Any) -> Any:
        began = time.perf_counter()
        made, after = batch(*args)
        took.extend([time.perf_counter() - began] * made)  # the batch's transaction, lock to commit
        return made, after

    acd._dispatch_batch = timed_batch  # type: ignore[assignment]
    if os.environ.get("BENCH_BATCH"):
        acd.BATCH = int(os.environ["BENCH_BATCH"])
    connection.ensure_connection()
    from kefu.core.gc_tuning import tune_for_serving

    tune_for_serving()  # as `kefu serve` sets its processes, where contacts are dispatched after each commit

    def run() -> dict[str, Any]:
        took.clear()
        began = time.monotonic()
        made = acd.routing_dispatch()
        return {"made": made, "began": began, "ended": time.monotonic(), "decisions": list(took),
                "batch": acd.BATCH}

    _serve(run)


def _arrivals_worker() -> None:
    """One process of steady arrivals: contacts enter the line one at a time (`contact_enqueue`, whose commit
    starts a dispatch pass, as a call or chat entering a queue does); each timed from the call to the offer
    committed (by this process's pass, or by the dispatcher at work in another one: then read until it is there;
    one no skilled agent is left for is not timed). The processes share ARRIVALS contacts between them."""
    import random

    import django

    django.setup()
    from django.db import connection

    from kefu.core.gc_tuning import tune_for_serving
    from kefu.routing.models import Offer, Queue
    from kefu.routing.services import ContactIn, contact_enqueue

    connection.ensure_connection()
    servable = [Queue.objects.get(pk=pk) for pk in _servable()]

    def _offered(ref: str) -> bool:
        return Offer.objects.filter(contact__ref=ref).exists()

    index = int(os.environ.get("BENCH_INDEX", "0"))
    rng = random.Random(index)
    tune_for_serving()
    rounds = 0

    def run() -> dict[str, Any]:
        nonlocal rounds
        rounds += 1
        took: list[float] = []
        began = time.monotonic()
        for number in range(ARRIVALS // int(os.environ.get("BENCH_PROCESSES", "1"))):
            ref = f"arrival:{index}:{rounds}:{number}"
            one = time.perf_counter()
            contact_enqueue(data=ContactIn(ref=ref, queue=rng.choice(servable)))
            # the pass may have been left to the dispatcher at work in another process: until the offer is there
            give_up, offered = one + 2.0, _offered(ref)
            while not offered and time.perf_counter() < give_up:
                time.sleep(0.0002)
                offered = _offered(ref)
            if offered:  # one for which no skilled agent is left is not timed
                took.append(time.perf_counter() - one)
        ended = time.monotonic()
        made = Offer.objects.filter(contact__ref__startswith=f"arrival:{index}:{rounds}:").count()
        return {"made": made, "began": began, "ended": ended, "decisions": took}

    _serve(run)


def _floor_worker() -> None:
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={DB}", autocommit=False) as conn:

        def run() -> dict[str, Any]:
            took: list[float] = []
            began = time.monotonic()
            while True:
                one = time.perf_counter()
                with conn.cursor() as cursor:
                    cursor.execute("SELECT id FROM floor_contact WHERE state = 'waiting' ORDER BY priority DESC, "
                                   "enqueued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
                    contact = cursor.fetchone()
                    cursor.execute("SELECT id FROM floor_agent WHERE free ORDER BY idle_since, id LIMIT 1 "
                                   "FOR UPDATE SKIP LOCKED")
                    agent = cursor.fetchone()
                    if contact is None or agent is None:
                        conn.rollback()
                        break
                    cursor.execute("UPDATE floor_contact SET state = 'offered', agent = %s WHERE id = %s",
                                   [agent[0], contact[0]])
                    cursor.execute("UPDATE floor_agent SET free = false WHERE id = %s", [agent[0]])
                conn.commit()
                took.append(time.perf_counter() - one)
            return {"made": len(took), "began": began, "ended": time.monotonic(), "decisions": took}

        _serve(run)


def _start(role: str, count: int) -> list[subprocess.Popen[str]]:
    procs = [subprocess.Popen([sys.executable, __file__, "--role", role],
                              env={**_env(), "BENCH_INDEX": str(i), "BENCH_PROCESSES": str(count)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(count)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    return procs


def _round(procs: list[subprocess.Popen[str]], reset: str = "reset", analyze: bool = False) -> dict[str, Any]:
    """Reset the line (and ANALYZE with `analyze`), then one round: every process told to go at once; the wall
    time runs from the first process starting to the last one finishing (their monotonic clocks are the
    machine's)."""
    subprocess.run([sys.executable, __file__, "--role", reset], env={**_env(), "BENCH_ANALYZE": str(int(analyze))},
                   check=True)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        assert proc.stdout is not None
        reports.append(json.loads(proc.stdout.readline()))
    wall = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    decisions = sorted(t for r in reports for t in r["decisions"])
    made = sum(r["made"] for r in reports)
    return {"made": made, "wall_seconds": wall, "per_second": made / wall if wall else 0.0,
            "p50_ms": 1000 * statistics.median(decisions) if decisions else None,
            "p99_ms": 1000 * decisions[int(0.99 * (len(decisions) - 1))] if decisions else None,
            "batch": reports[0].get("batch")}


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.communicate("quit\n", timeout=60)


def _child(role: str) -> None:
    if role == "setup":
        _setup()
        return
    if role in ("reset", "reset-arrivals"):
        _round_reset(arrivals=role == "reset-arrivals")
        return
    if role == "kefu":
        _kefu_worker()
    elif role == "arrivals":
        _arrivals_worker()
    else:
        _floor_worker()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds run first and not counted, after one for each process alone (default 1)")
    parser.add_argument("--batch", type=int, help="contacts a dispatcher locks at a time (default: Kefu's BATCH)")
    args = parser.parse_args()
    if args.batch:
        os.environ["BENCH_BATCH"] = str(args.batch)
    if args.role:
        _child(args.role)
        return
    _psql(f"DROP DATABASE IF EXISTS {DB}")
    _psql(f"CREATE DATABASE {DB}")
    try:
        subprocess.run([str(Path(sys.executable).parent / "kefu"), "migrate", "-v", "0"], env=_env(), check=True)
        subprocess.run([sys.executable, __file__, "--role", "setup"], env=_env(), check=True)
        rows = []
        for count in args.processes:
            for side in ("kefu", "floor", "arrivals"):
                reset = "reset-arrivals" if side == "arrivals" else "reset"
                procs = _start(side, count)
                try:
                    # warm-up, not counted: each process alone (then each has prepared and planned its statements,
                    # as every process of a live server has), then all together
                    for number, proc in enumerate(procs):
                        _round([proc], reset, analyze=number == 0)
                    for _ in range(args.warmup):
                        _round(procs, reset)
                    runs = [_round(procs, reset) for _ in range(args.rounds)]
                finally:
                    _stop(procs)
                best = max(runs, key=lambda r: r["per_second"])
                rows.append({"side": side, "processes": count, "rounds": args.rounds,
                             "made": best["made"], "per_second": round(best["per_second"], 1),
                             "median_per_second": round(statistics.median(r["per_second"] for r in runs), 1),
                             "p50_ms": round(best["p50_ms"], 3), "p99_ms": round(best["p99_ms"], 3),
                             "p99_ms_median_round": round(statistics.median(r["p99_ms"] for r in runs), 3),
                             "p99_ms_worst_round": round(max(r["p99_ms"] for r in runs), 3),
                             "p99_ms_rounds": [round(r["p99_ms"], 3) for r in runs],
                             "load_average": round(os.getloadavg()[0], 2), "batch": best["batch"]})
                print(rows[-1], flush=True)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {DB}")
    _write(rows)


def _write(rows: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {"agents": AGENTS, "queues": QUEUES, "skills": SKILLS, "contacts_per_round": CONTACTS,
            "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    (RESULTS / "routing.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    floor = {r["processes"]: r for r in rows if r["side"] == "floor"}
    arrivals = [r for r in rows if r["side"] == "arrivals"]
    rows = [r for r in rows if r["side"] != "arrivals"]
    lines = ["# Routing decisions (PostgreSQL)", "",
             f"{AGENTS} agents, {QUEUES} queues, {CONTACTS} contacts in line per round; best of "
             f"{rows[0]['rounds'] if rows else 0} rounds (median beside it), after warm-up rounds (one for each "
             "process alone, then one with all); the dispatcher processes live across the rounds. "
             "Goal: ≥ 2,000 decisions/s, p99 ≤ 5 ms.", "",
             "| processes | side | decisions/s (best) | median | p50 ms | p99 ms | median round's p99 ms "
             "| worst round's p99 ms | Kefu / floor | load average (1 min) | batch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = (f"{r['per_second'] / floor[r['processes']]['per_second']:.2f}"
                 if r["side"] == "kefu" and floor.get(r["processes"]) else "")
        lines.append(f"| {r['processes']} | {r['side']} | {r['per_second']} | {r['median_per_second']} | "
                     f"{r['p50_ms']} | {r['p99_ms']} | {r.get('p99_ms_median_round', '')} | "
                     f"{r['p99_ms_worst_round']} | {ratio} | "
                     f"{r.get('load_average', '')} | {r.get('batch') or ''} |")
    if arrivals:
        lines += ["", f"Steady arrivals: the processes put {ARRIVALS} contacts in line between them, one at a time "
                  "(`contact_enqueue`, whose commit starts a dispatch pass); a contact's time runs from the call to "
                  "its offer committed, by this process or the dispatcher at work in another.",
                  "", "| processes | arrivals/s (best) | median | p50 ms | p99 ms | median round's p99 ms "
                  "| worst round's p99 ms | offered | load average (1 min) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['processes']} | {r['per_second']} | {r['median_per_second']} | {r['p50_ms']} | "
                  f"{r['p99_ms']} | {r.get('p99_ms_median_round', '')} | {r['p99_ms_worst_round']} | {r['made']} | "
                  f"{r.get('load_average', '')} |"
                  for r in arrivals]
    lines += ["", f"Machine: {meta['machine']}, {meta['cpus']} CPUs, Python {meta['python']}."]
    (RESULTS / "routing.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
