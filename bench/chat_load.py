"""Live chat under load: 1,000 websocket clients — 500 conversations, each with its customer on the chat widget's
socket (`ws/chat/<code>/`) and its agent on the inbox socket (`ws/inbox/`) — exchanging messages for a while, on
PostgreSQL with Redis (channel layer, cache, Huey, live pushes), Kefu served by `kefu serve` (uvicorn) and
`kefu worker` as installed. For every message: the time from its sender's send to the other side's receipt of
it (one monotonic clock: every client is in this process), and whether it was lost or shown twice. Three
scenarios in one run — steady; the worker killed (SIGKILL) mid-run and started again; PostgreSQL restarted
mid-run — and, as the floor, a bare Channels echo server (bench/chat_echo.py) on the same Redis channel layer,
served the same way and driven by the same clients with the same pattern. Not a test: numbers are measured, the
bench never fails on them.

    .venv/bin/python bench/chat_load.py                                   # the full run (about 13 minutes)
    .venv/bin/python bench/chat_load.py --conversations 50 --seconds 10 --out /tmp/cl   # quick look
    .venv/bin/python bench/chat_load.py --scenarios steady,echo --server-workers 1

Writes bench/results/chat_load.json and .md (--out writes elsewhere).

What runs: a PostgreSQL of its own (initdb in a temporary directory, on a free port, started and restarted with
pg_ctl — restarting the machine's shared server would break everyone else's connections; `--postgres system`
uses the cluster on 127.0.0.1:5432 and restarts it with pg_ctlcluster instead), Redis db 15 (flushed), a fresh
database `kefu_chatbench` migrated, then an organisation made through the product's own code: 25 teams of 20
agents (500), each team with its chat channel (`kefu.conversations.services.channel_create`, allowing the origin
https://shop.example), and each agent signed in (Django's `login()`, so the second-factor state and the session
index are what a sign-in writes; no role requires a second factor in this setup).

The clients: every agent connects first (cookie session, `ws/inbox/`). Each customer asks for a visitor token
(`POST /chat/<code>/session` from its own address behind one trusted proxy), connects, resumes, and opens a
conversation with a first message; the agent of the pair picks it up (`POST /api/v1/conversations/{id}/claim`,
session + CSRF) and watches it. Then both sides talk: each waits 2–4 s (uniform), sends `typing`, and 0.5 s later
a message with a unique client_id; a customer sends a read receipt for each agent message it is shown. Unacked
messages are sent again with the same client_id (5 s without an ack, or after an error frame, with backoff);
a socket that closes reconnects with backoff and resumes (the customer after the last seq it saw, as the
widget does; the agent by reading the conversation's messages after its last seq through the API). At the end
senders stop, unacked messages get 20 s to be acked, then every client resumes once more after its last seq:
what arrives then counts as "late" (delivered by the resume), what never arrives as lost. Duplicates: a message
id arriving twice as a live frame at one client ("raw"), and one message (client_id) shown under two ids
("shown twice" — what dedupe by id cannot hide); and, from the database, messages stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import django_run, free_port, log
from _proc import group_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DB_NAME = "kefu_chatbench"
REDIS_DB = 15
ORIGIN = "https://shop.example"  # the site that embeds the widget
AGENTS_PER_TEAM = 20
ACK_TIMEOUT = 15.0  # seconds without an ack before a message is sent again (the widget's timer)
BODY = re.compile(r"\[([va]\d+-\d+)\]")
FILLER = ("您好，请问订单什么时候发货", "好的，我帮您查一下", "麻烦提供一下订单号", "已经为您加急处理",
          "Thanks, that works", "收到，谢谢", "还有其他问题吗", "地址需要修改一下")
MESSAGE_EVENTS = ("conversation.message_received", "conversation.message_sent")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (every process, the bench's and everyone else's)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and its live children (PostgreSQL: the postmaster and its backends)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == root or int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --- PostgreSQL ---------------------------------------------------------------------------------------------


class Postgres:
    """The database server: a private one (initdb in a temporary directory, run as the postgres user) or the
    machine's cluster. `restart()` restarts it the way an operator would and returns how long it took."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dir: Path | None = None
        if kind == "private":
            self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]).parent
            self.port = free_port()
            self.dir = Path(tempfile.mkdtemp(prefix="kefu-chatbench-pg-"))
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_postgres([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                               "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], quiet=True)
            with (self.dir / "data" / "postgresql.conf").open("a") as conf:
                conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                           f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n")
            self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                               str(self.dir / "server.log"), "-w", "start"], quiet=True)
        else:
            self.port = 5432
        self.admin = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def _as_postgres(self, command: list[str], quiet: bool = False) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       stdout=subprocess.DEVNULL if quiet else None, cwd="/")

    def fresh_database(self) -> None:
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}"):
            subprocess.run(["psql", self.admin, "-qc", sql], check=True, capture_output=True)

    def version(self) -> str:
        return subprocess.run(["psql", self.admin, "-tAc", "SHOW server_version"], capture_output=True,
                              text=True).stdout.strip()

    def postmaster(self) -> int | None:
        pid_file = (self.dir / "data" / "postmaster.pid") if self.dir else None
        if pid_file is None:
            found = sorted(Path("/var/run/postgresql").glob("*.pid"))
            pid_file = found[0] if found else None
        try:
            return int(pid_file.read_text().split()[0]) if pid_file else None
        except (OSError, ValueError, IndexError):
            return None

    def cpu_seconds(self) -> float:
        pid = self.postmaster()
        return tree_cpu_seconds(pid) if pid else 0.0

    def restart(self) -> float:
        started = time.monotonic()
        if self.kind == "private":
            assert self.dir is not None
            self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                               str(self.dir / "server.log"), "-m", "fast", "-w", "restart"], quiet=True)
        else:
            version = sorted(os.listdir("/etc/postgresql"))[-1]
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.kind == "private" and self.dir is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w",
                                   "stop"], quiet=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            with contextlib.suppress(subprocess.CalledProcessError):
                subprocess.run(["psql", self.admin, "-qc", f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"],
                               check=True, capture_output=True)


# --- Kefu: the organisation, the processes --------------------------------------------------------------------

SETUP = r'''
import json, sys
from importlib import import_module
from django.conf import settings
from django.contrib.auth import login
from django.test import RequestFactory
from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.conversations.services import channel_create
from kefu.tickets.defaults import sla_install_defaults

teams, per_team, origin = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sla_install_defaults()
centre = Department.objects.create(name="客服中心", code="service", is_service_center=True)
manager = User.objects.create(username="bench-manager", display_name="经理", role=Role.MANAGER, department=centre)
engine = import_module(settings.SESSION_ENGINE)
factory = RequestFactory()


def signed_in(user):
    """A session as the sign-in page leaves it (Django's login(): the second-factor state, the session index)."""
    request = factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_USER_AGENT="kefu chat_load bench")
    request.session = engine.SessionStore()
    login(request, user, backend="kefu.accounts.backends.AccountBackend")  # the password sign-in's backend
    request.session.save()
    return request.session.session_key


agents, channels = [], []
for t in range(teams):
    team = Team.objects.create(name=f"在线客服{t + 1}组", department=centre)
    lead = User.objects.create(username=f"lead{t}", display_name=f"组长{t}", role=Role.TEAM_LEAD, team=team,
                               department=centre)
    team.lead = lead
    team.save()
    channel = channel_create(actor=manager, kind="chat", code=f"chat{t}", name=f"官网在线客服{t + 1}", team=team,
                             config={"allowed_origins": [origin]})
    channels.append(channel.code)
    for a in range(per_team):
        user = User.objects.create(username=f"agent{t}_{a}", display_name=f"客服{t}-{a}", role=Role.AGENT,
                                   team=team, department=centre)
        agents.append({"id": user.pk, "team": t, "channel": channel.code, "session": signed_in(user)})
print(json.dumps({"agents": agents, "channels": channels}))
'''

STORED = r'''
import json, re
from collections import Counter
from kefu.conversations.models import Message
found = Counter()
body = re.compile(r"\[([va]\d+-\d+)\]")
for conversation, text in Message.objects.filter(body__contains="[").values_list("conversation_id", "body").iterator():
    m = body.search(text)
    if m:
        found[m.group(1)] += 1
print(json.dumps(found))
'''


class Proc:
    """A server or worker in its own process group, its output kept in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return group_cpu_seconds(self.proc.pid) if self.proc.poll() is None else 0.0

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def wait_http(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


# --- the clients --------------------------------------------------------------------------------------------


@dataclass
class Sent:
    """One message: who sent it, when (first try), its ack, and when the other side first got it."""

    client_id: str
    side: str  # visitor or agent
    pair: int
    phase: str
    at: float  # monotonic
    wall: float  # epoch seconds
    last_try: float = 0.0
    tries: int = 0
    retry_at: float | None = None
    acked: float | None = None
    message_id: Any = None
    seq: int | None = None  # from the ack
    received: float | None = None
    via: str = ""  # live or resume


@dataclass
class Marker:
    phase: str
    what: str
    at: float
    wall: float
    seconds: float | None = None


@dataclass
class Run:
    """What one load run shares: every message, the phase now, counters per phase."""

    mode: str  # kefu or echo
    phase: str = "connecting"
    sent: dict[str, Sent] = field(default_factory=dict)
    counters: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    frames: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    lag: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    markers: list[Marker] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    talking: bool = False
    gaps: tuple[float, float] = (2.0, 4.0)
    resume_points: dict[tuple[str, int], int] = field(default_factory=dict)  # last seq at the final resume
    reads: bool = True
    typing: bool = True

    def count(self, name: str, n: int = 1) -> None:
        self.counters[self.phase][name] += n

    def mark(self, what: str, seconds: float | None = None) -> None:
        self.markers.append(Marker(self.phase, what, time.monotonic(), time.time(), seconds))
        log(f"  {self.phase}: {what}" + (f" ({seconds:.1f} s)" if seconds is not None else ""))


def text_for(client_id: str) -> str:
    """The message text, the same on every try (its client_id in brackets: how a receiver knows it)."""
    return f"[{client_id}] {FILLER[hash(client_id) % len(FILLER)]}"


def no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that keeps nothing: each request carries its own client's cookies in its headers."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class Side:
    """One websocket client: reconnects with backoff, resends unacked messages with their client_id, and keeps
    what it was shown (by message id, as the widget does)."""

    role = ""

    def __init__(self, run: Run, pair: int, base: str, http: httpx.AsyncClient) -> None:
        self.run, self.pair, self.base, self.http = run, pair, base, http
        self.ws_base = base.replace("http://", "ws://")
        self.rng = random.Random(f"{self.role}{pair}")
        self.ws: Any = None
        self.pending: dict[str, Sent] = {}
        self.seen: dict[Any, str] = {}  # message id → how it first came (live / resume)
        self.shown: dict[str, Any] = {}  # client_id → message id shown
        self.last_seq = 0
        self.read_seq = 0
        self.counter = 0
        self.conversation_id: int | None = None
        self.connected = asyncio.Event()
        self.closing = False
        self.task: asyncio.Task[None] | None = None

    # what differs between the sides and the servers
    def url(self) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def origin(self) -> str:
        return self.base

    async def on_open(self, again: bool) -> None:
        for sent in list(self.pending.values()):
            await self.transmit(sent)

    def message_frame(self, sent: Sent) -> dict[str, Any]:
        raise NotImplementedError

    def typing_frame(self) -> dict[str, Any]:
        raise NotImplementedError

    def read_frame(self, seq: int) -> dict[str, Any] | None:
        return None

    def handle(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    # the socket
    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.serve())

    async def serve(self) -> None:
        attempt, first = 0, True
        while not self.closing:
            try:
                async with websockets.connect(self.url(), additional_headers=self.headers(), origin=self.origin(),
                                              open_timeout=60, close_timeout=2, ping_interval=None,
                                              max_queue=None) as ws:
                    self.ws, attempt = ws, 0
                    if not first:
                        self.run.count("reconnects")
                    again, first = not first, False
                    self.connected.set()
                    await self.on_open(again)
                    async for raw in ws:
                        try:
                            self.handle(json.loads(raw))
                        except Exception as exc:  # a frame the bench did not expect: counted, not fatal
                            self.run.count(f"bad frame {type(exc).__name__}")
                    if not self.closing:
                        self.run.count(f"closed by server {ws.close_code}")
            except ConnectionClosed as exc:
                if not self.closing:
                    self.run.count(f"closed {exc.rcvd.code if exc.rcvd else 'abruptly'}")
            except InvalidStatus as exc:
                self.run.count(f"connect refused {exc.response.status_code}")
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.run.count(f"connect failed {type(exc).__name__}")
            finally:
                self.ws = None
            if self.closing:
                break
            attempt += 1
            await asyncio.sleep(min(5.0, 0.25 * 2 ** attempt) * self.rng.uniform(0.5, 1.5))

    async def send_json(self, frame: dict[str, Any]) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
            return True
        except ConnectionClosed:
            return False

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    # messages
    async def say(self) -> None:
        self.counter += 1
        client_id = f"{self.role[0]}{self.pair}-{self.counter}"
        sent = Sent(client_id, self.role, self.pair, self.run.phase, time.monotonic(), time.time())
        self.run.sent[client_id] = sent
        self.pending[client_id] = sent
        await self.transmit(sent)

    async def transmit(self, sent: Sent) -> None:
        sent.tries += 1
        sent.last_try, sent.retry_at = time.monotonic(), None
        if sent.tries > 1:
            self.run.count("resends")
        await self.send_json(self.message_frame(sent))

    async def typing(self) -> None:
        await self.send_json(self.typing_frame())

    def acked(self, frame: dict[str, Any]) -> None:
        sent = self.pending.pop(str(frame.get("client_id")), None)
        if sent is None:
            self.run.count("acks of nothing pending")
            return
        seq = frame.get("seq")
        if sent.acked is None:
            sent.acked = time.monotonic()
            sent.message_id = frame.get("id")
            sent.seq = seq if isinstance(seq, int) else None
        self.saw_seq(seq, "ack")  # the widget moves its place on acks too

    def refused(self, frame: dict[str, Any]) -> None:
        self.run.count(f"error frame {frame.get('code')}")
        sent = self.pending.get(str(frame.get("client_id")))
        if sent is not None:
            sent.retry_at = time.monotonic() + min(5.0, 0.5 * 2 ** (sent.tries - 1)) * self.rng.uniform(0.5, 1.5)

    def shown_message(self, message: dict[str, Any], via: str) -> int | None:
        """A message frame (live) or a message read on resuming: record it once per id → its seq when it is the
        partner's message shown for the first time (for the read receipt)."""
        found = BODY.search(str(message.get("body") or ""))
        sent = self.run.sent.get(found.group(1)) if found else None
        if sent is None or sent.pair != self.pair:
            self.run.count("messages of other conversations")
            return None
        message_id = message.get("id")
        before = self.seen.get(message_id)
        if before is not None:
            self.run.count("raw duplicates" if via == "live" and before == "live" else "seen again on resume")
            return None
        self.seen[message_id] = via
        if self.shown.setdefault(sent.client_id, message_id) != message_id:
            self.run.count("shown twice")  # one message under two ids: stored twice
        seq = message.get("seq")
        self.saw_seq(seq, via)
        if sent.side != self.role and sent.received is None:
            sent.received, sent.via = time.monotonic(), via
            return seq if isinstance(seq, int) else 0
        return None

    def saw_seq(self, seq: Any, via: str) -> None:
        """A seq seen (a message, live or resumed, or an ack): the inbox page reads what it missed when a live
        message is beyond the next seq, and resumes after the highest seq seen."""
        if not isinstance(seq, int):
            return
        if via == "live" and seq > self.last_seq + 1:
            self.gap()
        if seq > self.last_seq:
            self.last_seq = seq

    def gap(self) -> None:
        """A live message beyond the next seq: what the inbox page does then (it reads what it missed)."""

    async def final_resume(self) -> None:
        self.run.resume_points[(self.role, self.pair)] = self.last_seq
        await self.resume()

    async def resume(self) -> None:
        raise NotImplementedError

    def after_shown(self, seq: int | None) -> None:
        if seq and self.run.reads and seq > self.read_seq:
            self.read_seq = seq
            frame = self.read_frame(seq)
            if frame is not None:
                asyncio.get_running_loop().create_task(self.send_json(frame))


class Visitor(Side):
    role = "visitor"

    def __init__(self, run: Run, pair: int, base: str, http: httpx.AsyncClient, code: str) -> None:
        super().__init__(run, pair, base, http)
        self.code = code
        self.token = ""
        self.ahead: set[int] = set()  # seqs seen beyond last_seq
        self.gap_check: asyncio.Task[None] | None = None
        self.history = asyncio.Event()
        self.opened = asyncio.Event()

    def origin(self) -> str:
        return ORIGIN

    def saw_seq(self, seq: Any, via: str) -> None:
        """As the widget (frame.js `sawSeq`): its place moves only over seqs all seen; a gap still there 1.5 s
        later asks for the messages after its place again."""
        if not isinstance(seq, int) or seq <= self.last_seq:
            return
        self.ahead.add(seq)
        while self.last_seq + 1 in self.ahead:
            self.ahead.discard(self.last_seq + 1)
            self.last_seq += 1
        if self.ahead and self.run.mode == "kefu" and (self.gap_check is None or self.gap_check.done()):
            self.gap_check = asyncio.get_running_loop().create_task(self._gap_later())

    async def _gap_later(self) -> None:
        await asyncio.sleep(1.5)
        if self.ahead:
            self.run.count("gap fetches")
            with contextlib.suppress(Exception):
                await self.resume()

    def url(self) -> str:
        if self.run.mode == "echo":
            return f"{self.ws_base}/echo/{self.pair}/visitor/"
        return f"{self.ws_base}/ws/chat/{self.code}/?lang=zh-hans&token={quote(self.token, safe='')}"

    async def session(self) -> None:
        """The widget's first call: a visitor token (from this customer's own address, behind one proxy)."""
        if self.run.mode == "echo":
            return
        address = f"10.{self.pair // 65536 % 256}.{self.pair // 256 % 256}.{self.pair % 256 + 1}"
        for attempt in range(8):
            try:
                r = await self.http.post(f"/chat/{self.code}/session", json={"token": None, "identity": None,
                                                                               "lang": "zh-hans"},
                                         headers={"Origin": ORIGIN, "X-Forwarded-For": address})
                if r.status_code == 200:
                    self.token = r.json()["token"]
                    return
                self.run.count(f"session answered {r.status_code}")
            except httpx.HTTPError as exc:
                self.run.count(f"session failed {type(exc).__name__}")
            await asyncio.sleep(0.5 * 2 ** attempt)
        raise RuntimeError(f"visitor {self.pair}: no session")

    async def on_open(self, again: bool) -> None:
        await self.send_json({"type": "resume", "after": self.last_seq, "conversation": self.conversation_id})
        await super().on_open(again)

    async def resume(self) -> None:
        self.history.clear()
        await self.send_json({"type": "resume", "after": self.last_seq, "conversation": self.conversation_id})

    def message_frame(self, sent: Sent) -> dict[str, Any]:
        return {"type": "message", "client_id": sent.client_id, "text": text_for(sent.client_id)}

    def typing_frame(self) -> dict[str, Any]:
        return {"type": "typing"}

    def read_frame(self, seq: int) -> dict[str, Any] | None:
        return {"type": "read", "seq": seq} if self.run.mode == "kefu" else None

    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        self.run.frames[self.role][str(kind)] += 1
        if kind == "message":
            self.after_shown(self.shown_message(frame["message"], "live"))
        elif kind == "ack":
            if frame.get("conversation_id") is not None:
                self.conversation_id = int(frame["conversation_id"])
                self.opened.set()
            self.acked(frame)
        elif kind == "history":
            messages = frame.get("messages") or []
            seqs = [self.shown_message(m, "resume") for m in messages]
            self.after_shown(max((s for s in seqs if s), default=None))
            if len(messages) >= 200:  # one page: ask for the next
                asyncio.get_running_loop().create_task(self.resume())
            else:
                self.history.set()
        elif kind == "error":
            self.refused(frame)


class Agent(Side):
    role = "agent"

    def __init__(self, run: Run, pair: int, base: str, http: httpx.AsyncClient, session: str) -> None:
        super().__init__(run, pair, base, http)
        self.session_key = session
        self.fetching: asyncio.Task[None] | None = None
        self.csrf = "".join(random.Random(pair).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))

    def url(self) -> str:
        if self.run.mode == "echo":
            return f"{self.ws_base}/echo/{self.pair}/agent/"
        return f"{self.ws_base}/ws/inbox/"

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session_key}"} if self.run.mode == "kefu" else {}

    def _api_headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session_key}; csrftoken={self.csrf}", "X-CSRFToken": self.csrf,
                "Origin": self.base, "Referer": self.base + "/"}

    async def claim(self, conversation_id: int) -> None:
        """Pick the conversation up through the API (the inbox's button), then watch it on the socket."""
        self.conversation_id = conversation_id
        if self.run.mode == "kefu":
            for attempt in range(8):
                try:
                    r = await self.http.post(f"/api/v1/conversations/{conversation_id}/claim",
                                             headers=self._api_headers())
                    if r.status_code == 200:
                        break
                    self.run.count(f"claim answered {r.status_code}")
                except httpx.HTTPError as exc:
                    self.run.count(f"claim failed {type(exc).__name__}")
                await asyncio.sleep(0.5 * 2 ** attempt)
            else:
                raise RuntimeError(f"agent {self.pair}: could not claim {conversation_id}")
        await self.send_json({"type": "watch", "conversation": conversation_id})

    async def on_open(self, again: bool) -> None:
        if self.conversation_id is not None:
            await self.send_json({"type": "watch", "conversation": self.conversation_id})
            if again:
                await self.resume()
        await super().on_open(again)

    def gap(self) -> None:
        if self.fetching is None or self.fetching.done():
            self.fetching = asyncio.get_running_loop().create_task(self.resume())
            self.run.count("gap fetches")

    async def resume(self) -> None:
        """What the inbox page reads when it comes back (or sees a gap): the conversation's messages after the
        last seq seen."""
        if self.run.mode == "echo" or self.conversation_id is None:
            return
        for attempt in range(6):
            try:
                while True:
                    r = await self.http.get(f"/api/v1/conversations/{self.conversation_id}/messages",
                                            params={"after": self.last_seq, "limit": 500},
                                            headers=self._api_headers())
                    if r.status_code != 200:
                        self.run.count(f"messages answered {r.status_code}")
                        break
                    rows = r.json()
                    for row in rows:
                        self.shown_message(row, "resume")
                    if len(rows) < 500:
                        return
            except httpx.HTTPError as exc:
                self.run.count(f"messages failed {type(exc).__name__}")
            await asyncio.sleep(0.5 * 2 ** attempt)

    def message_frame(self, sent: Sent) -> dict[str, Any]:
        return {"type": "send", "conversation": self.conversation_id, "client_id": sent.client_id,
                "text": text_for(sent.client_id)}

    def typing_frame(self) -> dict[str, Any]:
        return {"type": "typing", "conversation": self.conversation_id}

    def read_frame(self, seq: int) -> dict[str, Any] | None:
        if self.run.mode != "kefu" or self.conversation_id is None:
            return None
        return {"type": "read", "conversation": self.conversation_id, "seq": seq}

    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            self.run.frames[self.role][f"event {frame.get('event')}"] += 1
            if frame.get("event") in MESSAGE_EVENTS and frame.get("message"):
                self.after_shown(self.shown_message(frame["message"], "live"))
            return
        self.run.frames[self.role][str(kind)] += 1
        if kind == "ack":
            self.acked(frame)
        elif kind == "error":
            self.refused(frame)


# --- the load -----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    gaps: tuple[float, float]  # seconds between one side's messages: from, to
    disrupt_at: float | None = None  # seconds into the phase
    disrupt: Any = None  # async (run) -> None


@dataclass
class Plan:
    pairs: int
    typing_lead: float
    arrival: float
    warmup: float
    settle: float
    # (name, seconds, disruption at (seconds into the phase) or None, the disruption)
    phases: list[Phase]


async def talk(side: Side, run: Run, plan: Plan) -> None:
    """One side's messages: the first after a random part of a gap (the sides do not start together), then one
    every gap; a typing signal `typing_lead` seconds before each."""
    rng = side.rng
    due = time.monotonic() + rng.uniform(0, run.gaps[1])
    while run.talking:
        if run.typing:
            await asyncio.sleep(max(0.0, due - plan.typing_lead - time.monotonic()))
            if not run.talking:
                break
            await side.typing()
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if not run.talking:
            break
        await side.say()
        due += rng.uniform(*run.gaps)


async def resender(sides: list[Side], run: Run) -> None:
    while True:
        await asyncio.sleep(0.25)
        now = time.monotonic()
        for side in sides:
            if side.ws is None:
                continue
            for sent in list(side.pending.values()):
                due = sent.retry_at if sent.retry_at is not None else sent.last_try + ACK_TIMEOUT
                if now >= due:
                    await side.transmit(sent)


async def lag_probe(run: Run) -> None:
    """How late this process's event loop wakes up (the clients' own delay, in every latency)."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(0.1)
        run.lag[run.phase].append((time.monotonic() - started - 0.1) * 1000)


class Meter:
    """CPU seconds of the processes and the machine between two readings."""

    def __init__(self, readers: dict[str, Any]) -> None:
        self.readers = readers
        self.last = self._read()

    def _read(self) -> dict[str, float]:
        values = {name: float(read()) for name, read in self.readers.items()}
        values["bench clients"] = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        busy, total = machine_busy()
        values["_busy"], values["_total"] = busy, total
        return values

    def lap(self) -> dict[str, float]:
        now = self._read()
        # a reading that went down belongs to a process started again (PostgreSQL, the worker): count from 0
        out = {name: round(now[name] - self.last[name] if now[name] >= self.last.get(name, 0.0) else now[name], 1)
               for name in now if not name.startswith("_")}
        if now["_total"] > self.last["_total"]:
            out["machine busy %"] = round(100 * (now["_busy"] - self.last["_busy"])
                                          / (now["_total"] - self.last["_total"]), 1)
        self.last = now
        return out


async def drive(run: Run, plan: Plan, base: str, agents_setup: list[dict[str, Any]], meter: Meter) -> list[Side]:
    """Connect everybody, open and pick up the conversations, talk through the phases, resume at the end."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    http = httpx.AsyncClient(base_url=base, timeout=60, limits=limits, cookies=no_cookies())
    agents = [Agent(run, i, base, http, a["session"]) for i, a in enumerate(agents_setup[: plan.pairs])]
    visitors = [Visitor(run, i, base, http, a["channel"]) for i, a in enumerate(agents_setup[: plan.pairs])]
    sides: list[Side] = [*agents, *visitors]
    probe = asyncio.get_running_loop().create_task(lag_probe(run))
    retry = asyncio.get_running_loop().create_task(resender(sides, run))
    started = time.monotonic()

    run.phase = "connecting"
    for agent in agents:
        agent.start()
    await _within(asyncio.gather(*(a.connected.wait() for a in agents)), 300, run, "agents connecting")
    run.mark(f"{len(agents)} agents connected")

    run.phase = "opening"
    phase_start, wall_start = time.monotonic(), time.time()

    async def arrive(visitor: Visitor, agent: Agent) -> None:
        """A customer comes to the page (spread over the arrival window), opens a conversation with a first
        message; its agent sees it in the team's inbox and picks it up a moment later."""
        await asyncio.sleep(visitor.rng.uniform(0, plan.arrival))
        await visitor.session()
        visitor.start()
        await visitor.connected.wait()
        await visitor.say()
        await visitor.opened.wait()
        await asyncio.sleep(agent.rng.uniform(1, 3))
        assert visitor.conversation_id is not None
        await agent.claim(visitor.conversation_id)

    await _within(asyncio.gather(*(arrive(v, a) for v, a in zip(visitors, agents, strict=True))),
                  plan.arrival + 300, run, "customers arriving")
    run.mark(f"{len(visitors)} conversations opened and picked up", time.monotonic() - phase_start)
    run.phases.append({"name": "opening", "seconds": round(time.monotonic() - phase_start, 1),
                       "start": phase_start, "wall_start": wall_start, "cpu_seconds": meter.lap()})
    log(f"  connected and opened in {time.monotonic() - started:.0f} s")

    run.talking = True
    talkers = [asyncio.get_running_loop().create_task(talk(s, run, plan)) for s in sides]
    for phase in [Phase("warmup", plan.warmup, plan.phases[0].gaps), *plan.phases]:
        run.phase, run.gaps = phase.name, phase.gaps
        phase_start, wall_start = time.monotonic(), time.time()
        log(f"  phase {phase.name}: {phase.seconds:.0f} s, a message every {phase.gaps[0]:g}–{phase.gaps[1]:g} s")
        if phase.disrupt is not None and phase.disrupt_at is not None:
            await asyncio.sleep(phase.disrupt_at)
            await phase.disrupt(run)
        await asyncio.sleep(max(0.0, phase_start + phase.seconds - time.monotonic()))
        run.phases.append({"name": phase.name, "seconds": round(time.monotonic() - phase_start, 1),
                           "gaps": list(phase.gaps), "start": phase_start, "wall_start": wall_start,
                           "cpu_seconds": meter.lap()})

    run.phase = "ending"
    run.talking = False
    for task in talkers:
        task.cancel()
    deadline = time.monotonic() + 20
    while any(s.pending for s in sides) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(plan.settle)
    run.mark("final resume")
    for visitor in visitors:
        await visitor.final_resume()
    await asyncio.gather(*(asyncio.wait_for(v.history.wait(), 30) for v in visitors), return_exceptions=True)
    await asyncio.gather(*(a.final_resume() for a in agents))
    retry.cancel()
    probe.cancel()
    await asyncio.gather(*(s.close() for s in sides))
    await http.aclose()
    return sides


async def _within(awaitable: Any, seconds: float, run: Run, what: str) -> None:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise RuntimeError(f"{what}: not done in {seconds:.0f} s; {dict(run.counters[run.phase])}") from None


# --- the scenarios ------------------------------------------------------------------------------------------


def kefu_env(pg: Postgres, data: Path, as_configured: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    if not as_configured:  # the installed settings with the channel layer's fix for redis-py 8 (chat_settings.py)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH), env.get("PYTHONPATH", "")) if p)
    env.update(DJANGO_SETTINGS_MODULE="kefu.config.settings.base" if as_configured else "chat_settings",
               KEFU_DATA_DIR=str(data),
               KEFU_SECRET_KEY="chat-bench-" + "x" * 40, KEFU_LOG_LEVEL="WARNING", KEFU_DEBUG="0",
               KEFU_DATABASE_URL=pg.url, KEFU_REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
               KEFU_LIVE_CHANNEL="kefu:live:chatbench", KEFU_ALLOWED_HOSTS="127.0.0.1",
               KEFU_TRUSTED_PROXY_HOPS="1", PYTHONUNBUFFERED="1")
    return env


def flush_redis() -> None:
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=True, capture_output=True)


def run_echo(args: argparse.Namespace, agents_setup: list[dict[str, Any]], logs: Path,
             scenarios: list[str]) -> dict[str, Any]:
    """The floor: the same clients and pattern against bench/chat_echo.py."""
    flush_redis()
    port = free_port()
    env = {**os.environ, "CHATBENCH_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}"}
    server = Proc("echo-server", [sys.executable, "-m", "uvicorn", "chat_echo:application", "--app-dir",
                                  str(BENCH), "--host", "127.0.0.1", "--port", str(port), "--workers",
                                  str(args.server_workers), "--lifespan", "off", "--log-level", "warning"],
                  env, logs)
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        run = Run(mode="echo", reads=False, typing=not args.no_typing)
        gaps = (args.min_gap, args.max_gap)
        phases = [Phase("echo", args.seconds, gaps)] if "echo" in scenarios else []
        if not phases and not args.paces:
            return {"run": Run(mode="echo")}
        phases += [Phase(f"echo at {a:g}–{b:g} s", args.seconds, (a, b)) for a, b in args.paces]
        plan = Plan(args.conversations, 0.5, args.arrival, args.warmup, args.settle, phases)
        meter = Meter({"servers": server.cpu})
        asyncio.run(drive(run, plan, f"http://127.0.0.1:{port}", agents_setup, meter))
        dump(run, logs / "echo-messages.jsonl")
    finally:
        server.kill()
    return {"run": run}


def run_kefu(args: argparse.Namespace, env: dict[str, str], agents_setup: list[dict[str, Any]], pg: Postgres,
             logs: Path, scenarios: list[str]) -> dict[str, Any]:
    flush_redis()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-m", "kefu.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
             str(args.server_workers), "--no-static", "--log-level", "warning"]
    server = Proc("kefu-serve", serve, env, logs)
    workers: list[Proc] = [Proc("kefu-worker", [sys.executable, "-m", "kefu.cli", "worker"], env, logs)]
    worker_cpu_before = [0.0]

    async def kill_worker(run: Run) -> None:
        old = workers[-1]
        worker_cpu_before[0] += old.cpu()
        old.kill(signal.SIGKILL)
        run.mark("worker killed (SIGKILL)")
        await asyncio.sleep(args.worker_down)
        workers.append(Proc(f"kefu-worker-{len(workers)}", [sys.executable, "-m", "kefu.cli", "worker"], env,
                            logs))
        run.mark(f"worker started again after {args.worker_down:.0f} s")

    async def restart_postgres(run: Run) -> None:
        run.mark("PostgreSQL restart begins")
        seconds = await asyncio.to_thread(pg.restart)
        run.mark("PostgreSQL restarted", seconds)

    gaps = (args.min_gap, args.max_gap)
    phases: list[Phase] = []
    if "steady" in scenarios:
        phases.append(Phase("steady", args.seconds, gaps))
    if "worker" in scenarios:
        phases.append(Phase("worker_killed", args.seconds, gaps, args.disrupt_at, kill_worker))
    if "postgres" in scenarios:
        phases.append(Phase("postgres_restarted", args.seconds, gaps, args.disrupt_at, restart_postgres))
    phases += [Phase(f"steady at {a:g}–{b:g} s", args.seconds, (a, b)) for a, b in args.paces]
    try:
        wait_http(f"{base}/healthz")
        run = Run(mode="kefu", reads=not args.no_reads, typing=not args.no_typing)
        plan = Plan(args.conversations, 0.5, args.arrival, args.warmup, args.settle, phases)
        meter = Meter({"servers": server.cpu, "worker": lambda: worker_cpu_before[0] + workers[-1].cpu(),
                       "postgres (approx.)": pg.cpu_seconds})
        asyncio.run(drive(run, plan, base, agents_setup, meter))
        dump(run, logs / "kefu-messages.jsonl")
    finally:
        server.kill()
        for worker in workers:
            worker.kill()
    stored = {k: int(v) for k, v in json.loads(django_run(env, STORED)).items()}
    return {"run": run, "stored": stored,
            "server_log": problems(server.log_path), "worker_log": problems(*(w.log_path for w in workers))}


def dump(run: Run, path: Path) -> None:
    """Every message, one JSON line each (for looking into a lost or slow one)."""
    with path.open("w") as out:
        for sent in run.sent.values():
            out.write(json.dumps(sent.__dict__) + "\n")


def problems(*paths: Path) -> dict[str, Any]:
    """What the processes logged as errors: a count of each exception (a traceback's last line) and of each
    warning or error line, and the first traceback whole."""
    counts: Counter[str] = Counter()
    first = ""
    for path in paths:
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        block: list[str] = []
        for line in lines:
            if line.startswith("Traceback"):
                block.append(line)
            elif block:
                block.append(line)
                chained = line.startswith(("During handling", "The above exception")) or not line.strip()
                if not line.startswith((" ", "\t")) and not chained:
                    counts[line[:200]] += 1
                    first = first or "\n".join(block[-60:])
                    block = []
            elif " ERROR " in line or " WARNING " in line:
                counts[re.sub(r"^\S+ \S+ ", "", line)[:200]] += 1
    return {"counts": dict(counts.most_common(20)), "first_traceback": first}


# --- the figures --------------------------------------------------------------------------------------------


def summarize(run: Run, stored: dict[str, int] | None) -> list[dict[str, Any]]:
    rows = []
    starts = {p["name"]: p.get("start") for p in run.phases}
    for phase in run.phases:
        name = phase["name"]
        items = [s for s in run.sent.values() if s.phase == name]
        got = [s for s in items if s.received is not None]
        latencies = [(s.received - s.at) * 1000 for s in got]  # type: ignore[operator]
        by_way = {way: [(s.received - s.at) * 1000 for s in got if s.side == side]  # type: ignore[operator]
                  for way, side in (("customer → agent", "visitor"), ("agent → customer", "agent"))}
        acks = [(s.acked - s.at) * 1000 for s in items if s.acked is not None]
        windows: dict[int, list[float]] = defaultdict(list)
        if starts.get(name) is not None:
            for s in got:
                windows[int((s.at - starts[name]) // 5) * 5].append((s.received - s.at) * 1000)  # type: ignore
        counters = run.counters[name]
        lost_acked = [s.client_id for s in items if s.received is None and s.acked is not None]
        # acked with a seq at or below where the other side resumed from: skipped by its resume (the widget and the
        # inbox move their place on their own acks too), not merely undelivered
        behind = [s.client_id for s in items if s.received is None and s.seq is not None
                  and s.seq <= run.resume_points.get(("agent" if s.side == "visitor" else "visitor", s.pair), 0)]
        lost_unacked = [s.client_id for s in items if s.received is None and s.acked is None]
        row: dict[str, Any] = {
            "phase": name, "seconds": phase["seconds"], "messages": len(items),
            "messages_per_second": round(len(items) / phase["seconds"], 1) if phase["seconds"] else None,
            "acked": sum(1 for s in items if s.acked is not None),
            "delivered_live": sum(1 for s in got if s.via == "live"),
            "delivered_late": sum(1 for s in got if s.via == "resume"),
            "lost": len(lost_acked) + len(lost_unacked), "lost_acked": len(lost_acked),
            "lost_never_acked": len(lost_unacked), "lost_examples": (lost_acked + lost_unacked)[:10],
            "lost_behind_resume_point": len(behind),
            "raw_duplicates": counters["raw duplicates"], "shown_twice": counters["shown twice"],
            "resends": counters["resends"], "reconnects": counters["reconnects"],
            "error_frames": {k.removeprefix("error frame "): v for k, v in counters.items()
                             if k.startswith("error frame")},
            "other_counts": {k: v for k, v in counters.items() if not k.startswith("error frame") and k not in (
                "raw duplicates", "shown twice", "resends", "reconnects", "messages of other conversations",
                "gap fetches")},
            "gap_fetches": counters["gap fetches"],
            "latency_ms": {q: _ms(percentile(latencies, v)) for q, v in (("p50", .5), ("p95", .95), ("p99", .99))}
            | {"max": _ms(max(latencies, default=None))},
            "latency_by_direction_ms": {way: {"p50": _ms(percentile(v, .5)), "p99": _ms(percentile(v, .99))}
                                        for way, v in by_way.items()},
            "ack_ms": {"p50": _ms(percentile(acks, .5)), "p99": _ms(percentile(acks, .99))},
            "over_1s": sum(1 for v in latencies if v > 1000),
            "p99_by_5s_window_ms": {str(w): _ms(percentile(v, .99)) for w, v in sorted(windows.items())},
            "client_loop_lag_ms": {"p99": _ms(percentile(run.lag.get(name, []), .99)),
                                   "max": _ms(max(run.lag.get(name, []), default=None))},
            "cpu_seconds": phase.get("cpu_seconds", {}),
            "events": [{"what": m.what, "at_s": round(m.at - starts[name], 1) if starts.get(name) else None,
                        "seconds": None if m.seconds is None else round(m.seconds, 1)}
                       for m in run.markers if m.phase == name],
        }
        if stored is not None:
            row["stored_twice"] = sum(stored.get(s.client_id, 0) - 1 for s in items if stored.get(s.client_id, 0) > 1)
            row["acked_not_stored"] = sum(1 for s in items if s.acked is not None and not stored.get(s.client_id))
        rows.append(row)
    return rows


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def write(out: Path, result: dict[str, Any], append: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "chat_load.json"
    runs = json.loads(previous.read_text())["runs"] if append and previous.exists() else []
    runs.append(result)
    previous.write_text(json.dumps({"runs": runs}, ensure_ascii=False, indent=1))
    (out / "chat_load.md").write_text("\n".join(["# Live chat under load", "", *map(markdown, runs)]))


def _f(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def markdown(result: dict[str, Any]) -> str:
    meta, config = result["meta"], result["config"]
    lines = [f"## {config['title']}", "",
             f"Run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs, {meta['cpu_model']}); load average "
             f"at start {meta['load_average_start']}; PostgreSQL {meta.get('postgres', '?')} "
             f"({config['postgres']}), Redis {meta.get('redis', '?')}; Python {meta['python']}. "
             "`bench/chat_load.py`: "
             f"{config['conversations']} conversations = {2 * config['conversations']} websocket clients "
             f"(customer on `ws/chat/<code>/`, agent on `ws/inbox/`) in one process; {config['server_workers']} "
             f"uvicorn process(es) (`kefu serve`) and `kefu worker`; each side sends a message every "
             f"{config['min_gap']:g}–{config['max_gap']:g} s"
             + (" after a typing signal" if config["typing"] else "")
             + ("; customers send read receipts" if config["reads"] else "")
             + ("; then one steady phase per pace: " + ", ".join(f"every {a:g}–{b:g} s" for a, b in config["paces"])
                if config.get("paces") else "")
             + f"; {config['seconds']:g} s per scenario after {config['warmup']:g} s of warm-up. Latency: from the "
             "sender's send to the other side's receipt of the message frame (one monotonic clock). "
             "Lost: sent and never received by the other side, even after a final resume after the last seq "
             "(\"late\": received only by that resume). Goal: p99 ≤ 100 ms, 0 lost, 0 duplicated.", "",
             "| scenario | messages | msg/s | acked | live | late | lost | raw dup | shown twice | stored twice "
             "| reconnects | resends | error frames | p50 ms | p95 ms | p99 ms | max ms | > 1 s | CPU s (servers / "
             "worker / PG / clients) | machine busy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lat, cpu = row["latency_ms"], row["cpu_seconds"]
        errors = sum(row["error_frames"].values())
        lines.append(
            f"| {row['label']} | {row['messages']} | {_f(row['messages_per_second'])} | {row['acked']} | "
            f"{row['delivered_live']} | {row['delivered_late']} | {row['lost']} | {row['raw_duplicates']} | "
            f"{row['shown_twice']} | {_f(row.get('stored_twice'))} | {row['reconnects']} | {row['resends']} | "
            f"{errors} | {_f(lat['p50'])} | {_f(lat['p95'])} | {_f(lat['p99'])} | {_f(lat['max'])} | "
            f"{row['over_1s']} | {_f(cpu.get('servers'))} / {_f(cpu.get('worker'))} / "
            f"{_f(cpu.get('postgres (approx.)'))} / {_f(cpu.get('bench clients'))} | "
            f"{_f(cpu.get('machine busy %'))} % |")
    floors = result.get("floor") or []
    for floor in [floors] if isinstance(floors, dict) else floors:  # the first recorded run had one, as a dict
        floor = {"kefu": "steady", **floor}
        lines += ["", f"**Floor and ratio ({floor['kefu']}).** The bare Channels echo server, same clients and "
                      f"pattern: p50 {_f(floor['echo_p50_ms'])} ms, p99 {_f(floor['echo_p99_ms'])} ms. Kefu: p50 "
                      f"{_f(floor['kefu_p50_ms'])} ms ({floor['p50_ratio']}× the floor), p99 "
                      f"{_f(floor['kefu_p99_ms'])} ms ({floor['p99_ratio']}× the floor)."]
    lines += ["", "Per scenario:", ""]
    for row in result["rows"]:
        lines.append(f"- **{row['label']}**: by direction "
                     + "; ".join(f"{k} p50 {_f(v['p50'])} / p99 {_f(v['p99'])} ms"
                                 for k, v in row["latency_by_direction_ms"].items())
                     + f"; ack p50 {_f(row['ack_ms']['p50'])} / p99 {_f(row['ack_ms']['p99'])} ms"
                     + f"; client event-loop lag p99 {_f(row['client_loop_lag_ms']['p99'])} ms"
                     + (f"; error frames {row['error_frames']}" if row["error_frames"] else "")
                     + (f"; lost {row['lost_acked']} acked (of which {_f(row.get('lost_behind_resume_point'))} at or "
                        f"below the seq the other side resumed after) + {row['lost_never_acked']} never acked "
                        f"(e.g. {', '.join(row['lost_examples'][:5])})" if row["lost"] else "")
                     + (f"; other {row['other_counts']}" if row["other_counts"] else "")
                     + ("; events: " + ", ".join(f"{e['what']} at {e['at_s']} s" for e in row["events"])
                        if row["events"] else "")
                     + (f"; p99 by 5 s window from the start: {row['p99_by_5s_window_ms']}"
                        if row["events"] else ""))
    for name in ("server_log", "worker_log"):
        found = result.get(name) or {}
        if found.get("counts"):
            lines += ["", f"**{name.replace('_', ' ')}** (errors logged, by last line): "
                      + "; ".join(f"{k} ×{v}" for k, v in found["counts"].items())]
    lines.append("")
    return "\n".join(lines)


LABELS = {"opening": "opening (first messages, pick-up)", "warmup": "warm-up", "steady": "steady",
          "worker_killed": "worker killed and restarted", "postgres_restarted": "PostgreSQL restarted",
          "echo": "floor: bare Channels echo"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60, help="seconds of each scenario")
    # 45 s: the opening's 500 first-response clocks (30 s) have all been met or breached before "steady" starts
    # (every agent has written within --max-gap of the pick-up); in a real centre conversations do not all open
    # in the same half minute, so that burst of warnings and breaches is the opening's, not the steady load's
    parser.add_argument("--warmup", type=float, default=45,
                        help="seconds of messages before each measured phase (default 45)")
    parser.add_argument("--arrival", type=float, default=30, help="seconds over which the customers arrive")
    parser.add_argument("--settle", type=float, default=5, help="seconds after the last message before resuming")
    parser.add_argument("--min-gap", type=float, default=20.0, help="seconds between one side's messages: from")
    parser.add_argument("--max-gap", type=float, default=40.0, help="… to")
    parser.add_argument("--no-typing", action="store_true", help="no typing signal before each message")
    parser.add_argument("--no-reads", action="store_true", help="customers send no read receipts")
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn processes (Kefu and the floor)")
    parser.add_argument("--scenarios", default="echo,steady,worker,postgres",
                        help="of echo, steady, worker, postgres, paces (steady phases at each of --paces)")
    parser.add_argument("--paces", default="10-20", help="e.g. 10-20,5-10,2-4: one steady phase (and one of the floor) "
                                                     "per pace, after the other scenarios")
    parser.add_argument("--disrupt-at", type=float, default=None,
                        help="seconds into a scenario (default: a quarter of it)")
    parser.add_argument("--worker-down", type=float, default=5, help="seconds the worker stays dead")
    parser.add_argument("--postgres", choices=["private", "system"], default="private")
    parser.add_argument("--as-configured", action="store_true",
                        help="Kefu's settings untouched (without bench/chat_settings.py's channel-layer fix)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", action="store_true", help="add this run to the results file's runs")
    parser.add_argument("--title", default="", help="the run's heading in the results")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if args.disrupt_at is None:
        args.disrupt_at = args.seconds / 4
    args.paces = [tuple(float(x) for x in pace.split("-")) for pace in args.paces.split(",") if pace.strip()]
    if args.paces and "paces" not in scenarios:
        scenarios.append("paces")
    teams = max(1, -(-args.conversations // AGENTS_PER_TEAM))

    meta = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "load_average_start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
            "python": platform.python_version(), "cpu_model": _cpu_model()}
    with contextlib.suppress(Exception):
        meta["redis"] = subprocess.run(["redis-cli", "info", "server"], capture_output=True, text=True).stdout \
            .split("redis_version:")[1].split()[0]
    work = Path(tempfile.mkdtemp(prefix="kefu-chatbench-"))
    logs = work / "logs"
    logs.mkdir()
    log(f"working in {work}; load average {meta['load_average_start']}")
    pg = Postgres(args.postgres)
    result: dict[str, Any] = {"meta": meta}
    try:
        meta["postgres"] = pg.version()
        pg.fresh_database()
        env = kefu_env(pg, work / "data", args.as_configured)
        flush_redis()
        log(f"migrating {DB_NAME} (PostgreSQL {meta['postgres']}, port {pg.port})")
        subprocess.run([sys.executable, "-m", "kefu.cli", "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        log(f"organisation: {teams} teams of {AGENTS_PER_TEAM} agents, a chat channel each")
        setup = json.loads(django_run(env, SETUP, str(teams), str(AGENTS_PER_TEAM), ORIGIN))
        agents_setup = setup["agents"][: args.conversations]
        rows: list[dict[str, Any]] = []
        if "echo" in scenarios or (args.paces and "paces" in scenarios):
            log("floor: bare Channels echo server")
            echo = run_echo(args, agents_setup, logs, scenarios)
            rows += [r for r in summarize(echo["run"], None) if r["phase"].startswith("echo")]
        kefu_scenarios = [s for s in scenarios if s in ("steady", "worker", "postgres")]
        if kefu_scenarios or args.paces:
            log(f"Kefu: {', '.join(kefu_scenarios)}" + (f"; paces {args.paces}" if args.paces else ""))
            kefu = run_kefu(args, env, agents_setup, pg, logs, kefu_scenarios)
            rows += summarize(kefu["run"], kefu["stored"])
            result["server_log"], result["worker_log"] = kefu["server_log"], kefu["worker_log"]
            result["frames_seen"] = {k: dict(v) for k, v in kefu["run"].frames.items()}
            result["counts_after_the_scenarios"] = dict(kefu["run"].counters["ending"])
            result["stored_messages"] = sum(kefu["stored"].values())
        for row in rows:
            row["label"] = LABELS.get(row["phase"], row["phase"].replace("echo at", "floor (echo) at"))
        result["config"] = {"title": args.title or f"{args.conversations} conversations, a message every "
                                     f"{args.min_gap:g}–{args.max_gap:g} s per side",
                            "conversations": args.conversations, "clients": 2 * args.conversations,
                            "teams": teams, "agents_per_team": AGENTS_PER_TEAM, "seconds": args.seconds,
                            "warmup": args.warmup, "arrival": args.arrival, "min_gap": args.min_gap,
                            "max_gap": args.max_gap, "paces": args.paces,
                            "typing": not args.no_typing, "reads": not args.no_reads,
                            "server_workers": args.server_workers, "postgres": args.postgres,
                            "disrupt_at": args.disrupt_at, "worker_down": args.worker_down,
                            "settings": "kefu.config.settings.base" if args.as_configured
                            else "bench/chat_settings.py (channel layer: socket_timeout None, max_connections "
                                 "1000)",
                            "scenarios": scenarios}
        result["rows"] = rows
        by_phase = {r["phase"]: r for r in rows}
        result["floor"] = []
        for kefu_phase in [r["phase"] for r in rows if r["phase"] == "steady" or r["phase"].startswith("steady at")]:
            echo_row = by_phase.get(kefu_phase.replace("steady", "echo"))
            lat, floor = by_phase[kefu_phase]["latency_ms"], (echo_row or {}).get("latency_ms") or {}
            if floor.get("p50") and floor.get("p99") and lat["p50"] is not None and lat["p99"] is not None:
                result["floor"].append({
                    "kefu": kefu_phase, "echo": echo_row["phase"],  # type: ignore[index]
                    "echo_p50_ms": floor["p50"], "echo_p99_ms": floor["p99"],
                    "kefu_p50_ms": lat["p50"], "kefu_p99_ms": lat["p99"],
                    "p50_ratio": round(lat["p50"] / floor["p50"], 1), "p99_ratio": round(lat["p99"] / floor["p99"], 1)})
        meta["load_average_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        meta["logs"] = str(logs)
        write(args.out, result, args.append)
        log(f"written to {args.out}/chat_load.json and .md; process logs kept in {logs}")
        print(markdown(result))
    finally:
        pg.stop()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


if __name__ == "__main__":
    main()
