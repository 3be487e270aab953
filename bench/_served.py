"""A Kefu served over HTTP for the probes: a fresh data directory and database (SQLite, or PostgreSQL) with the
small demo company, `kefu serve` on a free loopback port, and API tokens for demo users."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
from _common import free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = ROOT / ".venv" / "bin"
PG = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "kefu-demo-2026"


def prepare(database: str, work: Path, pg_name: str) -> dict[str, str]:
    """A fresh data directory and database with the small demo company; returns the server's environment."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "KEFU_DATA_DIR": str(work), "KEFU_LOG_LEVEL": "WARNING"}
    env.pop("KEFU_REDIS_URL", None)
    if database == "postgres":
        for sql in (f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)", f"CREATE DATABASE {pg_name}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
        env["KEFU_DATABASE_URL"] = f"{PG}/{pg_name}"
    else:
        env.pop("KEFU_DATABASE_URL", None)
    for command in (["migrate", "--no-input", "-v", "0"], ["demo", "--small"]):
        subprocess.run([str(VENV / "kefu"), *command], env=env, check=True, cwd=ROOT, capture_output=True)
    return env


def run_django(env: dict[str, str], code: str) -> str:
    """Runs `code` with Django set up on the served database; returns the last line it printed."""
    env = {**env, "DJANGO_SETTINGS_MODULE": env.get("DJANGO_SETTINGS_MODULE", "kefu.config.settings.base")}
    out = subprocess.run([str(VENV / "python"), "-c", "import django; django.setup()\n" + code], env=env,
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip().splitlines()[-1]


def token_for(env: dict[str, str], username: str, name: str = "probe") -> str:
    """A new API token of a demo user with every scope, made through the product's own service."""
    return run_django(env, "from kefu.accounts.models import User\n"
                           "from kefu.accounts.choices import TokenScope\n"
                           "from kefu.accounts.services import api_token_create\n"
                           f"print(api_token_create(actor=User.objects.get(username={username!r}), "
                           f"name={name!r}, scopes=TokenScope.values).key)\n")


class Server:
    """`kefu serve` in its own process group (so its CPU time can be read and it can be stopped whole)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([str(VENV / "kefu"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("Kefu did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
