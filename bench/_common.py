"""What every benchmark script needs: a timestamped log line, a free loopback port, a nearest-rank percentile and a
Django snippet run in a process of its own (on the database its environment names)."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-quantile (0 ≤ q ≤ 1) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def django_run(env: dict[str, str], code: str, *args: str) -> str:
    """Runs `code` after `django.setup()` in a new interpreter with `env`; returns what it printed."""
    return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code, *args], env=env,
                          check=True, capture_output=True, text=True, cwd=ROOT).stdout


def earlier_runs(out: Path, name: str, append: bool) -> list[dict[str, Any]]:
    """The runs already in `out/<name>.json` when this run is to be added to them (`--append`), else none."""
    previous = out / f"{name}.json"
    return json.loads(previous.read_text())["runs"] if append and previous.exists() else []


def save_runs(out: Path, name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """`out/<name>.json` with the runs and where and when they ran; → that `meta` (for the Markdown beside it)."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count()}
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "runs": runs}, ensure_ascii=False, indent=1))
    return meta
