"""API authentication (personal tokens, or the web session with CSRF) and the per-operation right.

Each operation declares the `Action` it requires with `@requires(...)`; the check runs right after
authentication and before the body is validated, so a role without the right gets 403, not 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from ninja.security import APIKeyCookie, HttpBearer

from kefu.core.errors import ApplicationError
from kefu.core.policy import Access, Requirement, has_right, role_of
from kefu.core.prepared import Prepared

F = TypeVar("F", bound=Callable[..., Any])

# last_used_at is written at most this often per token: a busy integration must not turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _token(key_hash: str) -> Any:
    from kefu.accounts.models import ApiToken

    return ApiToken.objects.select_related("user", "user__team").filter(key_hash=key_hash, revoked_at__isnull=True)


_TOKEN = Prepared(_token)  # every API call reads its token: compiled once (kefu.core.prepared)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer kefu_…` — a personal API token (only its SHA-256 hash is stored)."""

    openapi_description = ("A personal API token, created on the profile page (/account/security/). Shown once; "
                           "scoped, expires, revocable.")

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from kefu.accounts.models import ApiToken
        from kefu.accounts.signin import token_failed, token_guard
        from kefu.core.ratelimit import client_address

        token = token.strip()
        rows = _TOKEN.run(ApiToken.hash_key(token)) if token.startswith(ApiToken.PREFIX) and len(token) <= 200 else []
        found = rows[0] if rows else None
        if found is None:
            # a guess: refused with 429 once the address has guessed too often (kefu.accounts.signin); a valid
            # token never pays for this check
            address = client_address(request)
            token_guard(address)
            token_failed(address, prefix=token[:12])
            return None
        if role_of(found.user) is None:
            return None
        now = timezone.now()
        if found.expires_at is not None and found.expires_at <= now:
            raise ApplicationError(_("令牌已于 %(at)s 过期，请在个人资料页创建新令牌") % {
                "at": timezone.localtime(found.expires_at).strftime("%Y-%m-%d %H:%M")},
                code="token_expired", status=401, details={"expired_at": found.expires_at.isoformat()})
        if found.user.must_change_password:
            raise ApplicationError(_("请先修改临时密码（登录网页后按提示修改），再使用接口"),
                                   code="password_change_required", status=403)
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            # conditional: concurrent requests in the same minute write once
            ApiToken.objects.filter(pk=found.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        if found.user.language in dict(settings.LANGUAGES) and (
            request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) not in dict(settings.LANGUAGES)
        ):
            translation.activate(found.user.language)
            request.LANGUAGE_CODE = found.user.language  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The web UI's own calls: the Django session cookie, with the CSRF token on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = "The Django session of the web UI (unsafe methods need the X-CSRFToken header)."

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if role_of(user) is None:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            from ninja.utils import check_csrf

            if check_csrf(request) is not None:
                raise ApplicationError(_("CSRF 校验失败，请刷新页面后重试"), code="csrf_failed", status=403)
        return user


token_auth = TokenAuth()
session_auth = SessionAuth()


def requires(requirement: Requirement) -> Callable[[F], F]:
    """Declare the right an API operation requires (read by KefuAPI and by the permission matrix).

    Put it under the router decorator: `@router.get(...)` then `@requires(TicketRight.VIEW)`.
    """

    def mark(func: F) -> F:
        func.kefu_action = requirement  # type: ignore[attr-defined]
        return func

    return mark


def check_requirement(user: Any, requirement: Requirement | None) -> None:
    """Raise 403 when the authenticated `user` lacks the operation's role-level right."""
    from kefu.core.errors import PermissionDenied

    if requirement is None:  # an undeclared operation is refused, never silently open
        raise PermissionDenied(_("此接口未声明所需权限"))
    if requirement in (Access.PUBLIC, Access.AUTHENTICATED):
        return
    if not has_right(user, requirement):  # type: ignore[arg-type]
        raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(requirement)})
