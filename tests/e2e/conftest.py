"""Browser tests: a real Kefu (uvicorn, ASGI) on a free port, fresh SQLite database, `kefu demo --small`.

Why a subprocess instead of pytest-django's live_server: the page needs the ASGI app (websocket counters),
the fixed demo dataset the README promises, and a server that is not inside the test's transaction.
Chromium is Debian's (/usr/bin/chromium); without it the tests are skipped with the reason printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DEMO_PASSWORD = "kefu-demo-2026"
WAIT_SECONDS = 60  # how long the worker may take on a busy machine; the tests wait for a condition, not a time
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kefu() -> list[str]:
    script = Path(sys.executable).with_name("kefu")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kefu.cli"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        print("\nSKIP e2e: Chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
        pytest.skip("Chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    return path


class SmtpCatcher:
    """A real SMTP server (aiosmtpd) on a free loopback port: the server's e-mail notices arrive here."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        catcher = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                catcher.messages.append(envelope)
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


@pytest.fixture(scope="session")
def smtp_catcher() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()
    catcher.controller.start()
    yield catcher
    catcher.controller.stop()


def wait_for(condition: Any, what: str) -> Any:
    """Poll `condition` until it returns something true (the worker runs in its own process)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not seen within {WAIT_SECONDS} s: {what}")


def kefu_env(data: Path, smtp_catcher: SmtpCatcher) -> dict[str, str]:
    """The environment of a test server and its worker (also for `kefu` commands a test runs against it): its own
    SQLite database under `data`, e-mail to the local SMTP catcher, 企业微信 robot posts to a log file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        KEFU_DATA_DIR=str(data),
        KEFU_DATABASE_URL=f"sqlite:///{data / 'kefu.sqlite3'}",
        KEFU_SECRET_KEY="e2e-not-secret-" + "x" * 40,
        KEFU_DEBUG="0",
        KEFU_LOG_LEVEL="WARNING",
        KEFU_SMTP_HOST="127.0.0.1",
        KEFU_SMTP_PORT=str(smtp_catcher.port),
        KEFU_MAIL_FROM="Kefu <kefu@demo.kefu.local>",
        KEFU_WECOM_TRANSPORT="tests.e2e.fakes.RecordingRobotTransport",
        KEFU_E2E_ROBOT_LOG=str(data / "robot.jsonl"),
        # the tests move the clocks themselves (`kefu sla_sweep --at`): the worker's 5-second sweep would announce
        # the demo orders' targets falling due in real time, and their notices would race the tests' own
        KEFU_CLOCK_SWEEP_SECONDS="0",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    return env


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory, smtp_catcher: SmtpCatcher) -> dict[str, str]:
    """The environment of the demo server and its worker."""
    return kefu_env(tmp_path_factory.mktemp("kefu-e2e"), smtp_catcher)


def kefu_command(env: dict[str, str], *args: str) -> str:
    """Run a `kefu` command against the browser tests' server (its database)."""
    done = subprocess.run([*_kefu(), *args], env=env, cwd=ROOT, check=True, capture_output=True, text=True,  # noqa: S603
                          timeout=180)
    return done.stdout


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """Serve the database of `env` with its worker (relay, deliveries) on a free port; yields the base URL. Sets
    KEFU_BASE_URL in `env` (links in e-mails) so that `kefu` commands run with it see the same."""
    data = Path(env["KEFU_DATA_DIR"])
    port = _free_port()
    env["KEFU_BASE_URL"] = f"http://127.0.0.1:{port}"
    worker_log = (data / "worker.log").open("w")
    worker = subprocess.Popen([*_kefu(), "worker"], env=env, cwd=ROOT, stdout=worker_log,  # noqa: S603
                              stderr=subprocess.STDOUT)
    log = (data / "server.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
        [*_kefu(), "serve", "--port", str(port), "--log-level", "warning", "--no-static"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - our own local server
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError((data / "server.log").read_text()) from None
                time.sleep(0.25)
        else:
            raise RuntimeError("Kefu did not start: " + (data / "server.log").read_text())
        yield base
    finally:
        for child in (process, worker):
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        log.close()
        worker_log.close()


@pytest.fixture(scope="session")
def server(server_env: dict[str, str], chromium_path: str) -> Iterator[str]:
    """Migrate, load the small demo company, serve it with its worker; yields the base URL."""
    for command in (["migrate", "--verbosity", "0"], ["demo", "--small"]):
        kefu_command(server_env, *command)
    with serving(server_env) as base:
        yield base


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, server: str) -> Iterator[Any]:
    """Open a fresh browser context (its own cookies) and page; JS errors fail the test."""
    contexts = []

    def _open() -> Any:
        context = browser.new_context(
            viewport={"width": 1440, "height": 900},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            base_url=server,
        )
        context.set_default_timeout(30_000)  # generous: CI machines are shared and busy
        context.set_default_navigation_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        # A Content-Security-Policy refusal is only a console message: count it as an error too.
        page.on(
            "console",
            lambda message: page.js_errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None,
        )
        return page

    yield _open
    for context in contexts:
        context.close()


# Static files come straight from the finders (WhiteNoise, WHITENOISE_USE_FINDERS): no collectstatic needed.


def _sign_in(page: Any, username: str, language: str = "zh-hans") -> None:
    page.goto("/login/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    # the account keeps the last language chosen, perhaps by another test: notices, e-mails and pushes are
    # written in the account's language, so make it the one asked for
    switch = page.get_by_test_id("lang-switch")
    wanted = "English" if language == "zh-hans" else "简体中文"
    if switch.count() and switch.inner_text().strip() != wanted:
        switch.click()
        page.wait_for_function(
            f"document.querySelector('[data-testid=lang-switch]')?.innerText.trim() === '{wanted}'")


def _screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def sign_in() -> Any:
    """sign_in(page, username, language="zh-hans"): through the login page, as a person would."""
    return _sign_in


@pytest.fixture
def screenshot() -> Any:
    """screenshot(page, name, full_page=False): saved to tests/e2e/screenshots/<name>.png."""
    return _screenshot
