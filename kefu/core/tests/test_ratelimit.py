"""Rate limits for public endpoints: named in settings, overridable from the environment, counted in the shared
store (Redis when configured, else the database), applied with one decorator: 429 with Retry-After."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from kefu.core import ratelimit
from kefu.core.ratelimit import Throttled, parse_rate, rate_limited

pytestmark = pytest.mark.django_db


def test_rates_are_parsed_and_malformed_ones_refused() -> None:
    assert parse_rate("30/15m") == (30, 900)
    assert parse_rate("10/m") == (10, 60)
    assert parse_rate(" 5 / 2h ") == (5, 7200)
    for bad in ("", "ten/m", "0/m", "5/0m", "5/15x", "5"):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)


def test_limits_come_from_settings_and_the_environment(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ratelimit.limit("public.widget").count == 60
    monkeypatch.setenv("KEFU_RATE_LIMIT_PUBLIC_WIDGET", "7/30s")
    assert ratelimit.limit("public.widget") == ratelimit.Limit("public.widget", 7, 30)
    monkeypatch.setenv("KEFU_RATE_LIMIT_PUBLIC_WIDGET", "lots")
    with pytest.raises(ImproperlyConfigured, match="KEFU_RATE_LIMIT_PUBLIC_WIDGET"):
        ratelimit.limit("public.widget")
    monkeypatch.delenv("KEFU_RATE_LIMIT_PUBLIC_WIDGET")
    with pytest.raises(ImproperlyConfigured, match="unknown rate limit"):
        ratelimit.limit("no.such.limit")
    assert set(ratelimit.limits()) >= {"public.widget", "public.webhook", "public.faq", "signin.account"}


@rate_limited("public.faq")
def faq_page(request: Any) -> HttpResponse:
    return HttpResponse("ok")


@rate_limited("public.webhook")
def api_hook(request: Any) -> HttpResponse:
    return HttpResponse("ok")


def test_the_decorator_answers_429_with_retry_after_on_a_page(settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "public.faq": "3/1m"}
    factory = RequestFactory()
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False) as clock:
        codes = [faq_page(factory.get("/faq/", REMOTE_ADDR="192.0.2.1")).status_code for _n in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = faq_page(factory.get("/faq/", REMOTE_ADDR="192.0.2.1"))
        assert refused["Retry-After"] == "60"
        assert faq_page(factory.get("/faq/", REMOTE_ADDR="192.0.2.2")).status_code == 200  # another address
        clock.shift(timedelta(seconds=45))
        assert faq_page(factory.get("/faq/", REMOTE_ADDR="192.0.2.1"))["Retry-After"] == "15"
        clock.shift(timedelta(seconds=16))  # the next window
        assert faq_page(factory.get("/faq/", REMOTE_ADDR="192.0.2.1")).status_code == 200


def test_the_decorator_raises_throttled_in_the_api(settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "public.webhook": "1/1h"}
    factory = RequestFactory()
    assert api_hook(factory.post("/api/v1/hooks/x", REMOTE_ADDR="192.0.2.1")).status_code == 200
    with pytest.raises(Throttled) as refused:
        api_hook(factory.post("/api/v1/hooks/x", REMOTE_ADDR="192.0.2.1"))
    assert refused.value.status == 429
    assert refused.value.retry_after > 0
    assert refused.value.details["limit"] == "public.webhook"

    from kefu.apiutils.errors import handle_application_error

    answer = handle_application_error(factory.get("/api/v1/x"), refused.value)
    assert answer.status_code == 429
    assert answer["Retry-After"] == str(refused.value.retry_after)


def test_counts_are_shared_and_can_be_reset() -> None:
    first = ratelimit.hit("signin.account", "someone")
    second = ratelimit.hit("signin.account", "someone", cost=2)
    assert (first.count, second.count) == (1, 3)
    assert ratelimit.peek("signin.account", "someone").count == 3
    ratelimit.reset("signin.account", "someone")
    assert ratelimit.peek("signin.account", "someone").count == 0


def test_the_database_store_purges_finished_windows(settings: Any) -> None:
    if settings.REDIS_URL:
        pytest.skip("Redis expires its own keys")
    from kefu.core.models import RateCounter

    ratelimit.hit("public.widget", "192.0.2.1")
    assert RateCounter.objects.count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert ratelimit.purge_expired() == 1
        ratelimit.hit("public.widget", "192.0.2.1")
    assert RateCounter.objects.count() == 1
