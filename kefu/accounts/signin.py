"""Sign-in protection and the sign-in audit trail, for every way in: the sign-in page, django-admin's login, API
tokens, and any later path (a second factor, LDAP, SSO) that checks a secret.

    user = password_check(request, username=..., password=..., via="web")   # None, or raises SignInLocked
    signin_completed(request, user, via="web")                               # after login(): the audit row

`password_check` asks for the locks BEFORE the password is hashed (PBKDF2 costs ~240 ms of CPU; a locked account or
address costs one indexed query), then counts a failure per account and per client address (kefu.core.ratelimit:
Redis when configured, else the database). Reaching a limit locks that account or address for
KEFU_SIGNIN_LOCK_MINUTES; an administrator may unlock earlier (`signin_unlock`). Unknown user names are counted
and locked like real ones, so a lock says nothing about whether an account exists.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.models import SignInLock, User
from kefu.accounts.permissions import AccountRight
from kefu.core import ratelimit
from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied
from kefu.core.policy import has_right
from kefu.core.ratelimit import Throttled, client_address

ACCOUNT_LIMIT = "signin.account"
ADDRESS_LIMIT = "signin.address"
TOKEN_LIMIT = "api.token_failure"  # noqa: S105 - a limit's name, not a secret
_LIMITS = {SignInLock.Kind.ACCOUNT: ACCOUNT_LIMIT, SignInLock.Kind.ADDRESS: ADDRESS_LIMIT,
           SignInLock.Kind.TOKEN_ADDRESS: TOKEN_LIMIT}


class SignInLocked(Throttled):
    """Too many failures: the account or the address may not sign in until `until`."""

    code = "signin_locked"

    def __init__(self, lock: SignInLock) -> None:
        self.lock = lock
        self.until = lock.locked_until
        when = _unlock_time(lock.locked_until)
        if lock.kind == SignInLock.Kind.ACCOUNT:
            message = _("登录失败次数过多，此账号已临时锁定，请在 %(time)s 后重试；如需提前解锁，请联系系统管理员") % {
                "time": when}
        elif lock.kind == SignInLock.Kind.ADDRESS:
            message = _("登录失败次数过多，您所在的网络地址已临时锁定，请在 %(time)s 后重试；"
                        "如需提前解锁，请联系系统管理员") % {"time": when}
        else:
            message = _("无效令牌过多，来自此地址的 API 请求已临时锁定，请在 %(time)s 后重试") % {"time": when}
        seconds = (lock.locked_until - timezone.now()).total_seconds()
        super().__init__(message, retry_after=int(seconds) + 1,
                         details={"locked_until": lock.locked_until.isoformat(), "lock": lock.kind})


def _unlock_time(until: Any) -> str:
    local = timezone.localtime(until)
    if local.date() == timezone.localtime().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def account_key(username: str) -> str:
    """User names are counted and locked case-insensitively (and trimmed): variants share one count."""
    return str(username or "").strip().lower()[:150]


def _active(kind: str, value: str) -> Q:
    return Q(kind=kind, value=value)


def active_locks() -> QuerySet[SignInLock]:
    """The locks in force now (for the administration), newest first."""
    return SignInLock.objects.filter(unlocked_at__isnull=True, locked_until__gt=timezone.now()) \
        .select_related("user")


def _lock_in_force(*conditions: Q) -> SignInLock | None:
    query = Q()
    for condition in conditions:
        query |= condition
    return active_locks().filter(query).order_by("-locked_until").first()


# --- the guard and the counts -------------------------------------------------------------------------------


def signin_guard(*, username: str, address: str) -> None:
    """Raise SignInLocked when the account or the address is locked. One indexed query; no hashing."""
    found = _lock_in_force(_active(SignInLock.Kind.ACCOUNT, account_key(username)),
                           _active(SignInLock.Kind.ADDRESS, address))
    if found is not None:
        raise SignInLocked(found)


def _lock(kind: str, value: str, *, failures: int, user: User | None, address: str) -> SignInLock:
    minutes = settings.KEFU_SIGNIN_LOCK_MINUTES
    with transaction.atomic():
        existing = _lock_in_force(_active(kind, value))
        if existing is not None:
            return existing
        lock = SignInLock.objects.create(kind=kind, value=value, user=user, failures=failures,
                                         locked_until=timezone.now() + timedelta(minutes=minutes))
        audit_record(actor=None, action="signin.locked", obj=lock, summary=f"{lock.get_kind_display()} {value}",
                     data={"kind": kind, "value": value, "failures": failures, "minutes": minutes,
                           "user": getattr(user, "pk", None)}, ip_address=_ip(address))
    ratelimit.reset(_LIMITS[kind], value)  # a fresh count once the lock ends
    return lock


def _ip(address: str) -> str | None:
    return None if address == "unknown" else address


def signin_failed(*, username: str, address: str, via: str) -> None:
    """A wrong password (or an unknown or inactive account): audit it, count it per account and per address, and
    raise SignInLocked when this failure reaches a limit."""
    key = account_key(username)
    user = User.objects.filter(username__iexact=key).first() if key else None
    audit_record(actor=user, action="signin.failed", object_type="accounts.user",
                 object_id=getattr(user, "pk", "") or "", summary=key, data={"via": via, "username": key},
                 ip_address=_ip(address))
    by_account = ratelimit.hit(ACCOUNT_LIMIT, key) if key else None
    by_address = ratelimit.hit(ADDRESS_LIMIT, address)
    lock = None
    if by_address.count >= by_address.limit.count:
        lock = _lock(SignInLock.Kind.ADDRESS, address, failures=by_address.count, user=None, address=address)
    if by_account is not None and by_account.count >= by_account.limit.count:
        lock = _lock(SignInLock.Kind.ACCOUNT, key, failures=by_account.count, user=user, address=address)
    if lock is not None:
        raise SignInLocked(lock)


def password_check(request: Any, *, username: str, password: str, via: str) -> Any:
    """Check a user name and password through Django's authentication backends, guarded: SignInLocked before any
    hashing when locked; None on a wrong password (counted); the user when right (the account's count restarts).
    Signing the user in (and a second factor) is the caller's; then `signin_completed`."""
    from django.contrib.auth import authenticate

    address = client_address(request)
    signin_guard(username=username, address=address)
    user = authenticate(request, username=username, password=password)
    if user is None:
        signin_failed(username=username, address=address, via=via)
        return None
    ratelimit.reset(ACCOUNT_LIMIT, account_key(username))
    return user


def signin_completed(request: Any, user: User, *, via: str) -> None:
    """The audit row of a sign-in (after login(), so the session exists)."""
    audit_record(actor=user, action="signin.succeeded", obj=user, summary=user.username,
                 data={"via": via, "user_agent": str(request.META.get("HTTP_USER_AGENT", ""))[:200]},
                 ip_address=_ip(client_address(request)))


def signed_out(request: Any, user: User, *, reason: str = "user") -> None:
    """The audit row of a sign-out: by the person ("user"), or the session's idle or absolute limit."""
    audit_record(actor=user, action="signin.signed_out", obj=user, summary=user.username, data={"reason": reason},
                 ip_address=_ip(client_address(request)))


# --- API tokens ---------------------------------------------------------------------------------------------


def token_guard(address: str) -> None:
    """Raise SignInLocked (429) when the address is locked for guessing tokens. Called for unknown tokens only: a
    valid token costs no extra query."""
    found = _lock_in_force(_active(SignInLock.Kind.TOKEN_ADDRESS, address))
    if found is not None:
        raise SignInLocked(found)


def token_failed(address: str, *, prefix: str) -> None:
    """An unknown, revoked or expired token from `address`: counted; reaching the limit locks the address."""
    audit_record(actor=None, action="api_token.rejected", object_type="accounts.apitoken", object_id="",
                 summary=prefix[:12], data={"prefix": prefix[:12]}, ip_address=_ip(address))
    verdict = ratelimit.hit(TOKEN_LIMIT, address)
    if verdict.count >= verdict.limit.count:
        raise SignInLocked(_lock(SignInLock.Kind.TOKEN_ADDRESS, address, failures=verdict.count, user=None,
                                 address=address))


# --- the administrator's unlock ---------------------------------------------------------------------------


@transaction.atomic
def signin_unlock(*, actor: Any, lock_id: int) -> SignInLock:
    """End a lock now (and forget its failures). Unlocking one that has already ended changes nothing."""
    if not has_right(actor, AccountRight.SIGNIN_UNLOCK):
        raise PermissionDenied(_("您没有权限解除登录锁定"), details={"action": str(AccountRight.SIGNIN_UNLOCK)})
    lock = SignInLock.objects.select_for_update().filter(pk=lock_id).first()
    if lock is None:
        raise NotFound(_("锁定记录不存在"), details={"lock_id": lock_id})
    if lock.unlocked_at is None and lock.locked_until > timezone.now():
        lock.unlocked_at = timezone.now()
        lock.unlocked_by = actor
        lock.save(update_fields=["unlocked_at", "unlocked_by"])
        ratelimit.reset(_LIMITS[lock.kind], lock.value)
        audit_record(actor=actor, action="signin.unlocked", obj=lock, summary=f"{lock.get_kind_display()} {lock.value}",
                     data={"kind": lock.kind, "value": lock.value, "locked_until": lock.locked_until.isoformat()})
    return lock
