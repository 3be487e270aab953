"""Probe: the whole REST API under generated input, over HTTP, against a served Kefu with the small demo data.

Schemathesis reads `/api/v1/openapi.json` and sends, for every operation, its documented examples, boundary
values (the coverage phase: empty and huge strings, year-1 and year-9999 dates, numbers past their limits,
missing and unknown fields) and random cases, as the demo administrator (who may call every operation). The one
check is the promise of the product: no answer is a server error (5xx). The CI suite runs a short, in-process
version of the same on every operation (tests/api/test_fuzz.py); this is the long one. Not a test.

`DELETE /me/tokens/{id}` is left out: a case would revoke the run's own token and every later request would be
refused (the CI version covers it with spare tokens). Each persona is a separate run on the same server.

Run: `.venv/bin/python bench/api_fuzz.py [--database sqlite|postgres] [--examples 100]`
(writes bench/results/api_fuzz-<database>.json and .md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from _common import log
from _served import BENCH, VENV, Server, prepare, token_for

RESULTS = BENCH / "results"
EXCLUDED = ["DELETE /api/v1/me/tokens/{token_id}"]
# The administrator may call the administration; a team lead works the orders (create, assign, dispatch).
PERSONAS = ["admin", "lead1"]


def fuzz(port: int, token: str, examples: int, seed: int, events: Path) -> int:
    command = [str(VENV / "st"), "run", f"http://127.0.0.1:{port}/api/v1/openapi.json",
               "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error",
               "--max-examples", str(examples), "--seed", str(seed), "--continue-on-failure",
               "--request-timeout", "60", "--workers", "1", "--report", "ndjson",
               "--report-ndjson-path", str(events), "--warnings", "off"]
    for operation in EXCLUDED:
        command += ["--exclude-name", operation]
    started = time.monotonic()
    subprocess.run(command, cwd=events.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.monotonic() - started)


def read_events(events: Path) -> dict[str, Any]:
    """Requests and answers per operation, from the run's NDJSON event stream."""
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[dict[str, Any]] = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        for kind, body in event.items():
            if kind != "ScenarioFinished":
                continue
            label = body.get("recorder", {}).get("label", "?")
            for interaction in body.get("recorder", {}).get("interactions", {}).values():
                response = interaction.get("response") or {}
                if "status_code" in response:
                    statuses[label][int(response["status_code"])] += 1
            for check_list in body.get("recorder", {}).get("checks", {}).values():
                for check in check_list:
                    if check.get("status") == "FAILURE" or check.get("status") == "failure":
                        failures.append({"operation": label, "check": check.get("name")})
    return {"statuses": statuses, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--examples", type=int, default=100, help="random cases per operation (after the "
                        "examples and coverage phases)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    work = BENCH / ".work" / f"api-fuzz-{args.database}"
    log(f"preparing {args.database} with the small demo data")
    env = prepare(args.database, work, "kefu_api_fuzz")
    server = Server(env)
    port = server.port
    seconds = 0
    found: dict[str, Any] = {"statuses": defaultdict(Counter), "failures": []}
    try:
        for username in PERSONAS:
            log(f"fuzzing http://127.0.0.1:{port}/api/v1 as {username} ({args.examples} random cases per operation)")
            events = work / f"events-{username}.ndjson"
            seconds += fuzz(port, token_for(env, username), args.examples, args.seed, events)
            run = read_events(events)
            for label, counts in run["statuses"].items():
                found["statuses"][label].update(counts)
            found["failures"] += [{**f, "as": username} for f in run["failures"]]
    finally:
        server.stop()
    rows = []
    for label in sorted(found["statuses"]):
        counts = found["statuses"][label]
        if not counts:
            continue
        rows.append({"operation": label, "requests": sum(counts.values()),
                     "server_errors": sum(n for code, n in counts.items() if code >= 500),
                     "statuses": dict(sorted(counts.items()))})
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"), "database": args.database, "seed": args.seed,
        "examples": args.examples, "personas": PERSONAS, "seconds": seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "operations": len(rows), "requests": sum(r["requests"] for r in rows),
        "server_errors": sum(r["server_errors"] for r in rows), "failed_checks": found["failures"],
        "excluded": EXCLUDED, "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"api_fuzz-{args.database}"
    out.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    lines = [f"# API fuzzing ({args.database})", "",
             f"{result['when']}, {result['machine']}, Python {platform.python_version()}, schemathesis over HTTP "
             f"against `kefu serve` with the small demo data, as {' and '.join(PERSONAS)} in turn; seed {args.seed}, "
             f"{args.examples} random cases per operation after its examples and boundary cases.", "",
             f"**{result['operations']} operations, {result['requests']:,} requests, "
             f"{result['server_errors']} server errors** in {seconds} s. Left out: {', '.join(EXCLUDED)} (it would "
             "revoke the run's own token; tests/api/test_fuzz.py covers it).", "",
             "| operation | requests | 5xx | answers |", "|---|---:|---:|---|"]
    for r in rows:
        answers = ", ".join(f"{code} × {n}" for code, n in r["statuses"].items())
        lines.append(f"| `{r['operation']}` | {r['requests']} | {r['server_errors']} | {answers} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    log(f"{result['requests']} requests, {result['server_errors']} server errors → {out}.md")
    sys.exit(1 if result["server_errors"] else 0)


if __name__ == "__main__":
    main()
