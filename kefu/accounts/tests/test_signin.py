"""Sign-in protection: failures counted per account and per address lock them before any password is hashed (web
sign-in, django-admin, API tokens with 429 + Retry-After); the lock ends on its own or by an administrator; every
step is an audit row. Time moves explicitly (time-machine), never by sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kefu.accounts.backends import AccountBackend
from kefu.accounts.models import SignInLock
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape
from kefu.core.models import AuditLog

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def _sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The user names whose password the backend checked (where the hash is computed)."""
    seen: list[str] = []
    original = AccountBackend.authenticate

    def counting(self: Any, request: Any, username: Any = None, password: Any = None, **kw: Any) -> Any:
        seen.append(username)
        return original(self, request, username=username, password=password, **kw)

    monkeypatch.setattr(AccountBackend, "authenticate", counting)
    return seen


def _actions(*names: str) -> list[str]:
    return list(AuditLog.objects.filter(action__in=names).order_by("id").values_list("action", flat=True))


def test_thirty_wrong_passwords_then_the_right_one_is_refused_until_the_lock_ends(agent: Any,
                                                                                 hashes: list[str]) -> None:
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [_sign_in(client, "agent", f"wrong-{n}") for n in range(30)]
        assert [a.status_code for a in answers[:9]] == [200] * 9
        assert "用户名或密码不正确" in answers[0].content.decode()
        assert {a.status_code for a in answers[9:]} == {429}  # the 10th failure locks
        page = answers[-1].content.decode()
        until = timezone.localtime(SignInLock.objects.get(kind="account").locked_until).strftime("%H:%M")
        assert "此账号已临时锁定" in page
        assert until in page
        assert int(answers[-1]["Retry-After"]) > 0
        assert len(hashes) == 10  # 20 attempts refused without hashing a password

        right = _sign_in(client, "agent", "pass")
        assert right.status_code == 429
        assert len(hashes) == 10
        clock.shift(timedelta(minutes=14))
        assert _sign_in(client, "agent", "pass").status_code == 429
        clock.shift(timedelta(minutes=2))
        signed_in = _sign_in(client, "agent", "pass")
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse("web:home")
    assert _actions("signin.failed", "signin.locked", "signin.succeeded") == (
        ["signin.failed"] * 10 + ["signin.locked", "signin.succeeded"])
    failed = AuditLog.objects.filter(action="signin.failed").first()
    assert failed.actor == agent
    assert failed.ip_address == "10.0.0.1"
    assert failed.data["via"] == "web"


def test_lock_message_in_english(agent: Any, settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.account": "2/15m"}
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    _sign_in(client, "agent", "x")
    page = _sign_in(client, "agent", "x").content.decode()
    assert "temporarily locked" in page


def test_user_names_are_counted_without_regard_to_case_and_unknown_ones_too(agent: Any, settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.account": "3/15m"}
    client = Client()
    for name in ("Agent", "AGENT ", "agent"):
        _sign_in(client, name, "x")
    assert SignInLock.objects.filter(kind="account", value="agent").exists()
    for _n in range(3):
        last = _sign_in(client, "nobody-here", "x")
    assert last.status_code == 429  # an unknown name is locked alike: a lock tells nothing about accounts


def test_many_accounts_from_one_address_lock_the_address_only(agent: Any, other_agent: Any, settings: Any,
                                                             hashes: list[str]) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.address": "5/15m"}
    client = Client()
    answers = [_sign_in(client, f"guess{n}", "x", address="203.0.113.9") for n in range(5)]
    assert answers[-1].status_code == 429
    assert "网络地址已临时锁定" in answers[-1].content.decode()
    lock = SignInLock.objects.get(kind="address")
    assert lock.value == "203.0.113.9"
    assert _sign_in(client, "agent", "pass", address="203.0.113.9").status_code == 429
    assert len(hashes) == 5
    assert _sign_in(Client(), "other_agent", "pass", address="198.51.100.7").status_code == 302


def test_the_address_is_read_behind_trusted_proxies(settings: Any, agent: Any) -> None:
    from django.test import RequestFactory

    from kefu.core.ratelimit import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.4")
    assert client_address(request) == "127.0.0.1"
    settings.KEFU_TRUSTED_PROXY_HOPS = 1
    assert client_address(request) == "192.0.2.4"  # the proxy's view, not what the client wrote to its left
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="bogus")) == "unknown"


def test_django_admin_login_is_guarded_alike(admin_user: Any, settings: Any, hashes: list[str]) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.account": "3/15m"}
    client = Client()
    url = reverse("admin:login")
    for _n in range(3):
        answer = client.post(url, {"username": "admin", "password": "wrong"})
    assert "此账号已临时锁定" in answer.content.decode()
    assert client.post(url, {"username": "admin", "password": "pass"}).status_code == 200  # still the form
    assert len(hashes) == 3
    assert AuditLog.objects.filter(action="signin.failed", data__via="admin").count() == 3


def test_django_admin_sign_in_is_audited(admin_user: Any) -> None:
    client = Client()
    answer = client.post(reverse("admin:login"), {"username": "admin", "password": "pass"})
    assert answer.status_code == 302
    assert AuditLog.objects.filter(action="signin.succeeded", actor=admin_user, data__via="admin").exists()


def test_a_right_password_restarts_the_account_count(agent: Any, settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.account": "3/15m"}
    for _n in range(2):
        _sign_in(Client(), "agent", "x")
    assert _sign_in(Client(), "agent", "pass").status_code == 302
    for _n in range(2):
        _sign_in(Client(), "agent", "x")
    assert not SignInLock.objects.exists()


def test_sign_out_is_audited(agent: Any) -> None:
    client = Client()
    _sign_in(client, "agent", "pass")
    assert client.post(reverse("web:logout")).status_code == 302
    row = AuditLog.objects.get(action="signin.signed_out")
    assert row.actor == agent
    assert row.data == {"reason": "user"}


# --- API tokens ---------------------------------------------------------------------------------------------


def test_guessed_api_tokens_get_429_with_retry_after(agent: Any) -> None:
    good = api_as(agent)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [ApiClient(f"kefu_guess{n:04d}").client.get("/api/v1/me", headers={
            "Authorization": f"Bearer kefu_guess{n:04d}"}, REMOTE_ADDR="192.0.2.50") for n in range(25)]
        assert [a.status_code for a in answers[:19]] == [401] * 19
        assert {a.status_code for a in answers[19:]} == {429}
        body = assert_error_shape(answers[-1], 429, "signin_locked")
        assert 0 < int(answers[-1]["Retry-After"]) <= 15 * 60 + 1
        assert body["details"]["lock"] == "token_address"
        # a valid token is not a guess: it still works from the locked address
        assert good.client.get("/api/v1/me", headers={"Authorization": f"Bearer {good.token}"},
                               REMOTE_ADDR="192.0.2.50").status_code == 200
        clock.shift(timedelta(minutes=16))
        again = ApiClient("kefu_x").client.get("/api/v1/me", headers={"Authorization": "Bearer kefu_x"},
                                               REMOTE_ADDR="192.0.2.50")
    assert again.status_code == 401
    assert AuditLog.objects.filter(action="signin.locked", data__kind="token_address").count() == 1
    assert AuditLog.objects.filter(action="api_token.rejected").count() == 21


# --- the administrator's unlock ---------------------------------------------------------------------------


def _lock_agent(settings: Any) -> SignInLock:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "signin.account": "2/15m"}
    for _n in range(2):
        _sign_in(Client(), "agent", "x")
    return SignInLock.objects.get(kind="account")


def test_administrator_unlocks_through_the_api(agent: Any, admin_user: Any, settings: Any) -> None:
    lock = _lock_agent(settings)
    listed = api_as(admin_user).get("/admin/signin-locks")
    assert [row["value"] for row in listed.json()] == ["agent"]
    assert listed.json()[0]["user_id"] == agent.pk
    assert_error_shape(api_as(agent).post(f"/admin/signin-locks/{lock.pk}/unlock"), 403, "forbidden")
    answer = api_as(admin_user).post(f"/admin/signin-locks/{lock.pk}/unlock")
    assert answer.status_code == 200
    assert _sign_in(Client(), "agent", "pass").status_code == 302
    row = AuditLog.objects.get(action="signin.unlocked")
    assert row.actor == admin_user
    assert row.data["value"] == "agent"
    assert api_as(admin_user).get("/admin/signin-locks").json() == []
    assert_error_shape(api_as(admin_user).post("/admin/signin-locks/999999/unlock"), 404, "not_found")


def test_manager_unlocks_on_the_administration_page(agent: Any, manager: Any, settings: Any) -> None:
    lock = _lock_agent(settings)
    client = Client()
    client.force_login(manager)
    page = client.get(reverse("administration:security"))
    assert page.status_code == 200
    assert "agent" in page.content.decode()
    assert "all-tokens" not in page.content.decode()  # everyone's tokens are for administrators
    done = client.post(reverse("administration:security_unlock", kwargs={"lock_id": lock.pk}), follow=True)
    assert "已解除" in done.content.decode()
    lock.refresh_from_db()
    assert lock.unlocked_by == manager
    agent_client = Client()
    agent_client.force_login(agent)
    assert agent_client.get(reverse("administration:security")).status_code == 403


def test_the_language_cookie_is_secure_in_production(agent: Any, settings: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    settings.LANGUAGE_COOKIE_SECURE = True
    answer = _sign_in(Client(), "agent", "pass")
    assert answer.cookies[settings.LANGUAGE_COOKIE_NAME]["secure"] is True
    monkeypatch.setenv("KEFU_SECRET_KEY", "x" * 50)
    production = importlib.import_module("kefu.config.settings.production")
    assert production.LANGUAGE_COOKIE_SECURE is True
    assert production.SESSION_COOKIE_SECURE is True
