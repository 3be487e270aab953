"""One's own account security (/account/security/): signed-in browsers (sign out one, or every other), personal API
tokens (create: the key shown once; revoke), and the way to the password page. Everything here is one's own: another
person's session or token is "not found"."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kefu.accounts import sessions
from kefu.accounts.choices import TokenScope
from kefu.accounts.models import UserSession
from kefu.accounts.permissions import AccountRight
from kefu.accounts.services import api_token_create, api_token_revoke, tokens_of
from kefu.accounts.signin import signed_out
from kefu.core.errors import ApplicationError, NotFound
from kefu.core.policy import AUTHENTICATED, has_right, requires

EXPIRY_CHOICES = (7, 30, 90, 180, 365)


def _page(request: HttpRequest, *, issued: Any = None, form: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, status: int = 200) -> HttpResponse:
    current = sessions.current_hash(request)
    rows = [{"row": s, "device": sessions.describe_agent(s.user_agent), "current": s.session_key_hash == current}
            for s in sessions.sessions_of(request.user)[:50]]  # type: ignore[arg-type]
    rows.sort(key=lambda r: not r["current"])
    tokens = list(tokens_of(request.user)[:50])  # type: ignore[arg-type]
    longest = settings.KEFU_API_TOKEN_MAX_DAYS
    return render(request, "web/account/security.html", {
        "nav": "account", "sessions": rows, "tokens": tokens, "issued": issued,
        "can_tokens": has_right(request.user, AccountRight.TOKEN_MANAGE_OWN),
        "scopes": TokenScope.choices, "expiry_choices": [d for d in EXPIRY_CHOICES if d <= longest],
        "default_days": settings.KEFU_API_TOKEN_DEFAULT_DAYS,
        "form": form or {"scopes": [TokenScope.READ], "days": settings.KEFU_API_TOKEN_DEFAULT_DAYS},
        "errors": errors or {}, "idle_minutes": settings.KEFU_SESSION_IDLE_MINUTES,
        "max_hours": f"{settings.KEFU_SESSION_MAX_HOURS:g}"}, status=status)


@requires(AUTHENTICATED)
def account_security(request: HttpRequest) -> HttpResponse:
    return _page(request)


@requires(AccountRight.TOKEN_MANAGE_OWN)
@require_POST
def account_token_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    scopes = request.POST.getlist("scopes")
    raw_days = request.POST.get("days", "")
    form = {"name": name[:100], "scopes": scopes, "days": raw_days}
    if not raw_days.isdigit():
        return _page(request, form=form, errors={"days": _("请选择有效期")}, status=422)
    try:
        issued = api_token_create(actor=request.user, name=name, scopes=scopes,  # type: ignore[arg-type]
                                  expires_in_days=int(raw_days))
    except ApplicationError as error:
        field = str(error.details.get("field") or "name")
        return _page(request, form=form, errors={"days" if field == "expires_in_days" else field: error.message},
                     status=422)
    response = _page(request, issued=issued)
    response["Cache-Control"] = "no-store"  # the key is on this page, once
    return response


@requires(AccountRight.TOKEN_MANAGE_OWN)
@require_POST
def account_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(actor=request.user, token_id=token_id)  # type: ignore[arg-type]
    except NotFound:
        raise Http404 from None
    messages.success(request, _("已吊销令牌“%(name)s”") % {"name": token.name})
    return redirect("web:account_security")


@requires(AUTHENTICATED)
@require_POST
def account_session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    current = sessions.current_hash(request)
    if UserSession.objects.filter(pk=session_id, user=request.user, session_key_hash=current).exists():
        sessions.session_forget(request)  # this browser's own session: an ordinary sign-out
        signed_out(request, request.user)  # type: ignore[arg-type]
        logout(request)
        return redirect("web:login")
    try:
        sessions.session_end(actor=request.user, session_id=session_id, request=request)  # type: ignore[arg-type]
    except NotFound:
        raise Http404 from None
    messages.success(request, _("已退出该设备上的登录"))
    return redirect("web:account_security")


@requires(AUTHENTICATED)
@require_POST
def account_sessions_end_others(request: HttpRequest) -> HttpResponse:
    ended = sessions.sessions_end_others(actor=request.user, request=request)  # type: ignore[arg-type]
    messages.success(request, _("已退出其他 %(n)s 个登录") % {"n": ended})
    return redirect("web:account_security")
