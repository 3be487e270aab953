"""The administration's sign-in security page (/admin/security/): accounts and addresses locked after failed sign-ins
(unlock one now) and everyone's API tokens (revoke one). Both audited by the services of kefu.accounts."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.permissions import AccountRight
from kefu.accounts.services import api_token_revoke_any, tokens_all
from kefu.accounts.signin import active_locks, signin_unlock
from kefu.core.errors import NotFound
from kefu.core.policy import has_right, requires

TOKENS_PER_PAGE = 50


@requires(AccountRight.SIGNIN_UNLOCK)
@require_GET
def security_page(request: HttpRequest) -> HttpResponse:
    can_tokens = has_right(request.user, AccountRight.TOKEN_MANAGE_ALL)
    q = request.GET.get("q", "").strip()[:100]
    tokens = None
    if can_tokens:
        qs = tokens_all()
        if q:
            qs = qs.filter(user__username__icontains=q) | qs.filter(user__display_name__icontains=q)
        tokens = Paginator(qs, TOKENS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "administration/security.html", {
        "nav": "admin", "locks": list(active_locks()[:200]), "tokens": tokens, "can_tokens": can_tokens, "q": q})


@requires(AccountRight.SIGNIN_UNLOCK)
@require_POST
def security_unlock(request: HttpRequest, lock_id: int) -> HttpResponse:
    try:
        lock = signin_unlock(actor=request.user, lock_id=lock_id)
    except NotFound:
        raise Http404 from None
    messages.success(request, _("已解除对“%(v)s”的锁定") % {"v": lock.value})
    return redirect("administration:security")


@requires(AccountRight.TOKEN_MANAGE_ALL)
@require_POST
def security_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke_any(actor=request.user, token_id=token_id)
    except NotFound:
        raise Http404 from None
    messages.success(request, _("已吊销 %(user)s 的令牌“%(name)s”") % {"user": token.user, "name": token.name})
    return redirect("administration:security")
