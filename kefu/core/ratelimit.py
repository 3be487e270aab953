"""Rate limits in one place: named limits (settings KEFU_RATE_LIMITS, each overridable with an environment variable
KEFU_RATE_LIMIT_<NAME>, e.g. KEFU_RATE_LIMIT_PUBLIC_WIDGET="30/1m"), counted in Redis when KEFU_REDIS_URL is set,
else in the database: never in a per-process memory, so every server process and machine shares one count.

A public endpoint takes the decorator; a service counts by hand:

    @rate_limited("public.widget", key=client_address)     # over the limit: 429 with Retry-After
    def widget_message(request): ...

    verdict = hit("signin.address", address)                # Verdict(allowed, count, limit, retry_after)

Counts are kept per fixed window (the limit's period, aligned to the epoch): one counter per key and window, so a
burst across a window's edge may reach twice the count; the limits are set with that in mind.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.errors import ApplicationError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Limit:
    name: str
    count: int  # hits allowed per window
    seconds: int  # the window


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int  # hits in the current window, this one included
    limit: Limit
    retry_after: int  # seconds until the window ends (a refused caller may try again then)


class Throttled(ApplicationError):
    """Too many requests: the API answers 429 with Retry-After (kefu.apiutils.errors), pages the same."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None,
                 code: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, code=code, details={"retry_after": self.retry_after, **(details or {})})


def parse_rate(text: str) -> tuple[int, int]:
    """"30/15m" → (30, 900): a count per period (s, m, h, d; "10/m" is per minute). ValueError if malformed."""
    found = _RATE.match(str(text))
    if not found:
        raise ValueError(f"a rate is written like 30/15m, not {text!r}")
    count, number, unit = int(found[1]), int(found[2] or 1), found[3]
    if count < 1 or number < 1:
        raise ValueError(f"a rate needs a positive count and period, not {text!r}")
    return count, number * _UNITS[unit]


def limit(name: str) -> Limit:
    """The named limit: the environment (KEFU_RATE_LIMIT_<NAME>) overrides settings.KEFU_RATE_LIMITS."""
    configured = getattr(settings, "KEFU_RATE_LIMITS", {})
    if name not in configured:
        raise ImproperlyConfigured(f"unknown rate limit {name!r}: name it in settings.KEFU_RATE_LIMITS")
    env_name = "KEFU_RATE_LIMIT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    text = os.environ.get(env_name) or configured[name]
    try:
        count, seconds = parse_rate(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{env_name if os.environ.get(env_name) else name}: {exc}") from None
    return Limit(name=name, count=count, seconds=seconds)


def limits() -> dict[str, Limit]:
    """Every named limit as configured (documentation, checks, tests)."""
    return {name: limit(name) for name in getattr(settings, "KEFU_RATE_LIMITS", {})}


# --- the stores ---------------------------------------------------------------------------------------------


def _digest(name: str, key: str) -> str:
    """The counter's name: the limit and a hash of the key (an address, a user name: never stored as typed)."""
    return f"{name}:{hashlib.sha256(str(key).encode()).hexdigest()[:32]}"


class _RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def add(self, counter: str, window: int, end: float, cost: int) -> int:
        key = f"{self.prefix}{counter}:{window}"
        pipe = self.client.pipeline(transaction=True)
        pipe.incrby(key, cost)
        pipe.expireat(key, int(end) + 2)  # the key names its window: setting the expiry again is harmless
        count, _ok = pipe.execute()
        return int(count)

    def get(self, counter: str, window: int) -> int:
        return int(self.client.get(f"{self.prefix}{counter}:{window}") or 0)

    def delete(self, counter: str) -> None:
        for key in self.client.scan_iter(match=f"{self.prefix}{counter}:*", count=100):
            self.client.delete(key)

    def clear(self) -> None:
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=500):
            self.client.delete(key)


class _DatabaseStore:
    @staticmethod
    def _model() -> Any:
        from kefu.core.models import RateCounter

        return RateCounter

    def add(self, counter: str, window: int, end: float, cost: int) -> int:
        model = self._model()
        rows = model.objects.filter(key=counter, window=window)
        with transaction.atomic():
            if not rows.update(count=models.F("count") + cost):
                expires = timezone.now() + timedelta(seconds=max(1.0, end - time.time()) + 2)
                try:
                    with transaction.atomic():
                        model.objects.create(key=counter, window=window, count=cost, expires_at=expires)
                except IntegrityError:  # another process opened the window first
                    rows.update(count=models.F("count") + cost)
                else:
                    model.objects.filter(key=counter, window__lt=window).delete()  # the key's past windows
            return int(rows.values_list("count", flat=True).first() or 0)

    def get(self, counter: str, window: int) -> int:
        return int(self._model().objects.filter(key=counter, window=window).values_list("count", flat=True)
                   .first() or 0)

    def delete(self, counter: str) -> None:
        self._model().objects.filter(key=counter).delete()

    def clear(self) -> None:
        self._model().objects.all().delete()


_STORES: dict[tuple[str, str], Any] = {}
_STORES_LOCK = threading.Lock()


def _store() -> Any:
    url = getattr(settings, "REDIS_URL", "")
    prefix = getattr(settings, "KEFU_RATE_LIMIT_PREFIX", "kefu:rl:")
    found = _STORES.get((url, prefix))
    if found is None:
        with _STORES_LOCK:
            found = _STORES.get((url, prefix))
            if found is None:
                found = _RedisStore(url, prefix) if url else _DatabaseStore()
                _STORES[(url, prefix)] = found
    return found


def _window(rule: Limit) -> tuple[int, float, int]:
    now = time.time()
    window = int(now // rule.seconds)
    end = (window + 1) * rule.seconds
    return window, end, max(1, math.ceil(end - now))


# --- counting -----------------------------------------------------------------------------------------------


def hit(name: str, key: str, *, cost: int = 1) -> Verdict:
    """Count `cost` hits of `key` against the named limit; allowed while the window's count stays within it."""
    rule = limit(name)
    window, end, left = _window(rule)
    count = _store().add(_digest(name, key), window, end, cost)
    return Verdict(allowed=count <= rule.count, count=count, limit=rule, retry_after=left)


def peek(name: str, key: str) -> Verdict:
    """The current window's count of `key` without adding to it; `allowed` says whether one more hit would be."""
    rule = limit(name)
    window, _end, left = _window(rule)
    count = _store().get(_digest(name, key), window)
    return Verdict(allowed=count < rule.count, count=count, limit=rule, retry_after=left)


def reset(name: str, key: str) -> None:
    """Forget the counts of `key` for the named limit (a successful sign-in, an administrator's unlock)."""
    _store().delete(_digest(name, key))


def clear_all() -> None:
    """Forget every count of this installation's prefix (tests; an operator after changing limits)."""
    _store().clear()


def purge_expired() -> int:
    """Delete the database store's finished windows (the worker, nightly); Redis expires its own."""
    if getattr(settings, "REDIS_URL", ""):
        return 0
    from kefu.core.models import RateCounter

    deleted, _ = RateCounter.objects.filter(expires_at__lt=timezone.now()).delete()
    return int(deleted)


# --- the client's address -----------------------------------------------------------------------------------


def client_address(request: Any) -> str:
    """The address the request came from. Behind N reverse proxies of one's own (KEFU_TRUSTED_PROXY_HOPS=N),
    the N-th address from the right of X-Forwarded-For: the ones to its left are written by the client and may be
    anything. Without proxies, the peer address."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    hops = int(getattr(settings, "KEFU_TRUSTED_PROXY_HOPS", 0) or 0)
    if hops > 0:
        chain = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
                 if part.strip()]
        if len(chain) >= hops:
            remote = chain[-hops]
    try:
        return str(ipaddress.ip_address(remote))
    except ValueError:
        return "unknown"


# --- the decorator ------------------------------------------------------------------------------------------


def rate_limited(name: str, *, key: Callable[[Any], str] = client_address) -> Callable[[Any], Any]:
    """Count each call of a view (or a Ninja operation) against the named limit, keyed by `key(request)` (the
    client's address by default). Over the limit: an API operation raises Throttled (429 in the error shape
    with Retry-After); a page answers 429 with Retry-After and a short message."""
    limit(name)  # an unknown name fails at import, not at the first request

    def decorate(view: Any) -> Any:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            verdict = hit(name, key(request))
            if not verdict.allowed:
                refused = Throttled(_("请求过于频繁，请 %(s)s 秒后再试") % {"s": verdict.retry_after},
                                    retry_after=verdict.retry_after, details={"limit": name})
                if request.path.startswith("/api/"):
                    raise refused
                return throttled_response(refused)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def throttled_response(refused: Throttled) -> Any:
    """A plain 429 page with Retry-After, for views outside the API."""
    from django.http import HttpResponse

    response = HttpResponse(refused.message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(refused.retry_after)
    return response
