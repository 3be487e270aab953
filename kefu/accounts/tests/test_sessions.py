"""Sessions: idle and absolute limits enforced on the server, the per-person index (written at most once a minute),
the list of one's sessions with "sign out this one" and "sign out everywhere else"; keys stored only as hashes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kefu.accounts.models import UserSession
from kefu.core.models import AuditLog
from kefu.core.sessions import stored_key

pytestmark = pytest.mark.django_db

HOME = "/"


def _signed_in(username: str, agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
               address: str = "10.1.1.1") -> Client:
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    answer = client.post("/login/", {"username": username, "password": "pass"})
    assert answer.status_code == 302, answer.content[:300]
    return client


def _is_signed_in(client: Client) -> bool:
    return client.get(HOME).status_code == 200


def test_sign_in_indexes_the_session_and_stores_only_a_hash(agent: Any) -> None:
    client = _signed_in("agent")
    raw = client.cookies["sessionid"].value
    row = UserSession.objects.get(user=agent)
    assert row.session_key_hash == stored_key(raw)
    assert row.ip_address == "10.1.1.1"
    assert "Chrome" in row.user_agent
    assert not Session.objects.filter(session_key=raw).exists()
    assert Session.objects.filter(session_key=stored_key(raw)).exists()


def test_idle_sessions_end_after_the_idle_limit(agent: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = _signed_in("agent")
        assert _is_signed_in(client)
        clock.shift(timedelta(minutes=29))
        assert _is_signed_in(client)  # activity: the session lives on for another 30 minutes
        clock.shift(timedelta(minutes=29))
        assert _is_signed_in(client)
        clock.shift(timedelta(minutes=31))
        answer = client.get(HOME)
    assert answer.status_code == 302
    assert reverse("web:login") in answer["Location"]


def test_background_refreshes_do_not_keep_a_session_alive(agent: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = _signed_in("agent")
        assert _is_signed_in(client)
        for _n in range(7):  # the header's counters, every 4 minutes: not activity
            clock.shift(timedelta(minutes=4))
            client.get(reverse("web:counters"))
        clock.shift(timedelta(minutes=3))
        assert not _is_signed_in(client)


def test_the_absolute_limit_ends_even_a_busy_session(agent: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = _signed_in("agent")
        for _n in range(35):  # a request every 20 minutes for 11 h 40 min
            clock.shift(timedelta(minutes=20))
            assert _is_signed_in(client)
        clock.shift(timedelta(minutes=21))
        answer = client.get(HOME)
    assert answer.status_code == 302
    row = AuditLog.objects.get(action="signin.signed_out")
    assert row.actor == agent
    assert row.data == {"reason": "max_age"}
    assert not UserSession.objects.filter(user=agent).exists()


def test_last_seen_is_written_at_most_once_a_minute(agent: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = _signed_in("agent")
        client.get(HOME)
        first = UserSession.objects.get(user=agent).last_seen_at
        clock.shift(timedelta(seconds=30))
        client.get(HOME)
        assert UserSession.objects.get(user=agent).last_seen_at == first
        clock.shift(timedelta(seconds=31))
        client.get(HOME)
        assert UserSession.objects.get(user=agent).last_seen_at > first


def test_a_request_inside_the_minute_writes_nothing(agent: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = _signed_in("agent")
        client.get(HOME)
        clock.shift(timedelta(seconds=5))
        with CaptureQueriesContext(connection) as queries:
            client.get(HOME)
    assert not [q for q in queries.captured_queries if "accounts_usersession" in q["sql"]
                or q["sql"].lstrip().upper().startswith("UPDATE \"DJANGO_SESSION\"")]


def test_the_security_page_lists_sessions_and_signs_out_everywhere_else(agent: Any, other_agent: Any) -> None:
    here = _signed_in("agent")
    phone = _signed_in("agent", agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile Safari/604.1",
                       address="10.2.2.2")
    _signed_in("other_agent")
    page = here.get(reverse("web:account_security")).content.decode()
    assert page.count('data-testid="session-row"') == 2
    assert "Chrome 120" in page
    assert "10.2.2.2" in page
    assert "本设备" in page
    answer = here.post(reverse("web:account_sessions_end_others"), follow=True)
    assert "已退出其他 1 个登录" in answer.content.decode()
    assert not _is_signed_in(phone)
    assert _is_signed_in(here)
    assert UserSession.objects.filter(user=other_agent).count() == 1  # nobody else's
    assert AuditLog.objects.get(action="signin.sessions_ended").data == {"ended": 1}


def test_signing_out_one_session_and_never_someone_elses(agent: Any, other_agent: Any) -> None:
    here = _signed_in("agent")
    there = _signed_in("agent", address="10.3.3.3")
    theirs = _signed_in("other_agent")
    mine = UserSession.objects.get(user=agent, ip_address="10.3.3.3")
    other = UserSession.objects.get(user=other_agent)
    assert here.post(reverse("web:account_session_end", kwargs={"session_id": other.pk})).status_code == 404
    assert _is_signed_in(theirs)
    assert here.post(reverse("web:account_session_end", kwargs={"session_id": mine.pk})).status_code == 302
    assert not _is_signed_in(there)
    assert _is_signed_in(here)
    own = UserSession.objects.get(user=agent)
    answer = here.post(reverse("web:account_session_end", kwargs={"session_id": own.pk}))
    assert answer.status_code == 302
    assert reverse("web:login") in answer["Location"]
    assert not _is_signed_in(here)


def test_a_password_change_keeps_this_session_listed(agent: Any) -> None:
    client = _signed_in("agent")
    answer = client.post(reverse("administration:account_password"), {
        "old_password": "pass", "new_password": "lantern-orchid-quarry", "new_password_again": "lantern-orchid-quarry"})
    assert answer.status_code == 302
    client.get(HOME)
    row = UserSession.objects.get(user=agent)
    assert row.session_key_hash == stored_key(client.cookies["sessionid"].value)


def test_a_reset_or_a_deactivation_signs_the_person_out_everywhere(agent: Any, admin_user: Any) -> None:
    from kefu.accounts import staff

    first, second = _signed_in("agent"), _signed_in("agent", address="10.4.4.4")
    staff.staff_reset_password(actor=admin_user, user=agent, method="temporary")
    for client in (first, second):
        answer = client.get(HOME)
        assert answer.status_code == 302
        assert reverse("web:login") in answer["Location"]
    assert not UserSession.objects.filter(user=agent).exists()

    agent.refresh_from_db()
    third = Client()
    third.force_login(agent)
    assert UserSession.objects.filter(user=agent).count() == 1
    staff.staff_set_active(actor=admin_user, user=agent, active=False)
    assert not UserSession.objects.filter(user=agent).exists()
    assert third.get(HOME).status_code == 302


def test_ones_own_password_change_signs_out_the_other_browsers(agent: Any) -> None:
    here, there = _signed_in("agent"), _signed_in("agent", address="10.5.5.5")
    here.post(reverse("administration:account_password"), {
        "old_password": "pass", "new_password": "lantern-orchid-quarry", "new_password_again": "lantern-orchid-quarry"})
    assert _is_signed_in(here)
    assert not _is_signed_in(there)
    assert UserSession.objects.filter(user=agent).count() == 1
