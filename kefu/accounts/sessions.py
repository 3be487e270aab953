"""A person's signed-in browsers: the index behind "my sessions" (UserSession), the idle and absolute limits, and
signing out one session or every other one.

Limits (settings): a session ends KEFU_SESSION_IDLE_MINUTES after its last request (its row's expiry, moved on at
most once a minute, SESSION_COOKIE_AGE) and KEFU_SESSION_MAX_HOURS after signing in (checked on each request from
the session's own data: no query). The index's last_seen_at is written in the same once-a-minute step.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.models import User, UserSession
from kefu.core.audit import audit_record
from kefu.core.errors import NotFound
from kefu.core.ratelimit import client_address
from kefu.core.sessions import stored_key

STARTED = "_kefu_started"  # epoch seconds of the sign-in
SEEN = "_kefu_seen"  # epoch seconds of the last recorded activity
INDEXED = "_kefu_indexed"  # the stored key the index row points at (a new key after login or a password change)
TOUCH_SECONDS = 60


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def max_seconds() -> float:
    return float(settings.KEFU_SESSION_MAX_HOURS) * 3600


def session_signed_in(request: Any) -> bool:
    """Whether this request's session carries a signed-in person (not an API token's request.user)."""
    session = getattr(request, "session", None)
    return bool(session is not None and session.session_key and session.get(SESSION_KEY))


def session_index(request: Any) -> None:
    """Point the person's index row at this session (a new one on sign-in; moved when the key changed)."""
    session = request.session
    hashed = stored_key(session.session_key)
    if session.get(INDEXED) == hashed:
        return
    now = time.time()
    started = session.get(STARTED) or now
    previous = session.get(INDEXED)
    with transaction.atomic():
        if previous and UserSession.objects.filter(session_key_hash=previous).update(
                session_key_hash=hashed, last_seen_at=_at(now)):
            pass
        else:
            UserSession.objects.update_or_create(session_key_hash=hashed, defaults={
                "user": request.user, "user_agent": str(request.META.get("HTTP_USER_AGENT", ""))[:300],
                "ip_address": _address(request), "created_at": _at(started), "last_seen_at": _at(now)})
    session[STARTED] = started
    session[SEEN] = now
    session[INDEXED] = hashed


def index_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Receiver of Django's user_logged_in: index the new session at once (see AccountsConfig.ready)."""
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        request.user = user
        session_index(request)


def _address(request: Any) -> str | None:
    address = client_address(request)
    return None if address == "unknown" else address


def session_expired(request: Any) -> bool:
    """Past the absolute lifetime (from the session's own data)."""
    started = request.session.get(STARTED)
    return started is not None and time.time() - float(started) > max_seconds()


def session_touch(request: Any) -> None:
    """At most once a minute: save the session (its row's expiry moves on: the idle limit) and the index's
    last_seen_at. Otherwise nothing, no query."""
    session = request.session
    now = time.time()
    if now - float(session.get(SEEN) or 0) < TOUCH_SECONDS:
        return
    session[SEEN] = now
    UserSession.objects.filter(session_key_hash=stored_key(session.session_key)).update(last_seen_at=_at(now))


def session_forget(request: Any) -> None:
    """Before sign-out: drop this session's index row."""
    key = getattr(request.session, "session_key", None)
    if key:
        UserSession.objects.filter(session_key_hash=stored_key(key)).delete()


# --- reads and the person's own actions -------------------------------------------------------------------


def sessions_of(user: User) -> QuerySet[UserSession]:
    """The person's sessions still alive (their row not expired, inside the absolute lifetime), latest first."""
    now = timezone.now()
    alive = Session.objects.filter(session_key=OuterRef("session_key_hash"), expire_date__gt=now)
    oldest = now - timedelta(seconds=max_seconds())
    return UserSession.objects.filter(user=user, created_at__gt=oldest).filter(Exists(alive)) \
        .order_by("-last_seen_at", "-id")


def current_hash(request: Any) -> str:
    key = getattr(request.session, "session_key", None)
    return stored_key(key) if key else ""


@transaction.atomic
def session_end(*, actor: User, session_id: int, request: Any = None) -> UserSession:
    """Sign out one of one's own sessions (another browser, or this one)."""
    found = UserSession.objects.select_for_update().filter(pk=session_id, user=actor).first()
    if found is None:
        raise NotFound(_("会话不存在或已结束"), details={"session_id": session_id})
    Session.objects.filter(session_key=found.session_key_hash).delete()
    found.delete()
    audit_record(actor=actor, action="signin.session_ended", obj=actor, summary=actor.username,
                 data={"session": session_id, "user_agent": found.user_agent[:100],
                       "ip_address": found.ip_address},
                 ip_address=_address(request) if request is not None else None)
    return found


@transaction.atomic
def sessions_end_others(*, actor: User, request: Any) -> int:
    """Sign out every session of the actor but this one; returns how many ended."""
    keep = current_hash(request)
    others = UserSession.objects.select_for_update().filter(user=actor).exclude(session_key_hash=keep)
    hashes = list(others.values_list("session_key_hash", flat=True))
    Session.objects.filter(session_key__in=hashes).delete()
    ended = others.delete()[0]
    audit_record(actor=actor, action="signin.sessions_ended", obj=actor, summary=actor.username,
                 data={"ended": ended}, ip_address=_address(request))
    return int(ended)


def sessions_end_all(user: User) -> int:
    """Sign a person out everywhere (a new password, a reset, a deactivation): their sessions' rows and index go.
    The caller's transaction and audit row cover it. A browser still mid-request is indexed again if it keeps
    its session (one's own password change keeps this browser signed in)."""
    hashes = list(UserSession.objects.filter(user=user).values_list("session_key_hash", flat=True))
    Session.objects.filter(session_key__in=hashes).delete()
    return int(UserSession.objects.filter(user=user).delete()[0])


def describe_agent(user_agent: str) -> str:
    """"Chrome 120 · Windows" from a User-Agent header (ua-parser's rules, offline)."""
    if not user_agent:
        return _("未知设备")
    from ua_parser import parse

    found = parse(user_agent)
    browser = found.user_agent.family if found.user_agent else ""
    major = found.user_agent.major if found.user_agent else ""
    system = found.os.family if found.os else ""
    parts = [f"{browser} {major}".strip() if browser and browser != "Other" else "",
             system if system and system != "Other" else ""]
    text = " · ".join(p for p in parts if p)
    return text or user_agent[:60]
