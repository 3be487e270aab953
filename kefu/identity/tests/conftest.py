"""Fixtures of the sign-in security tests: a frozen clock, codes computed from a secret for that clock, and a
person signed in through the real sign-in page."""

from __future__ import annotations

import re
from base64 import b32decode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django_otp.oath import TOTP

FROZEN = datetime(2026, 3, 2, 1, 0, 0, tzinfo=UTC)  # 09:00 in Shanghai
PASSWORD = "pass"  # the factories' password


class Clock:
    """A stopped clock the test moves on by hand (TOTP codes and django-otp's throttle read it)."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller
        self.now = FROZEN

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.traveller.move_to(self.now)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(FROZEN, tick=False) as traveller:
        yield Clock(traveller)


def code_for(secret: str, clock: Clock, *, offset_steps: int = 0) -> str:
    """The 6-digit code an authenticator app shows for `secret` (base32, as on the setup page) at the clock's time."""
    key = b32decode(re.sub(r"\s", "", secret).upper() + "=" * (-len(re.sub(r"\s", "", secret)) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = clock.now.timestamp() + offset_steps * 30
    return f"{totp.token():06d}"


def secret_of(page: bytes) -> str:
    found = re.search(rb'data-testid="setup-secret">([A-Z2-7 ]+)<', page)
    assert found, "the setup page shows the secret as text"
    return found.group(1).decode()


def sign_in(client: Client, username: str, password: str = PASSWORD, next_url: str = "") -> Any:
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data)


@pytest.fixture
def enrol(clock: Clock) -> Any:
    """enrol(client) → (secret, recovery codes): a signed-in person sets up an authenticator on the pages."""

    def _enrol(client: Client) -> tuple[str, list[str]]:
        page = client.get("/account/two-factor/setup/")
        assert page.status_code == 200
        secret = secret_of(page.content)
        done = client.post("/account/two-factor/setup/", {"code": code_for(secret, clock)})
        assert done.status_code == 200, done.content[:500]
        codes = re.findall(rb"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", done.content)
        assert len(codes) == 10
        clock.advance(30)  # the next code: the one just used is never accepted twice
        return secret, [c.decode() for c in codes]

    return _enrol
