"""Pages of sign-in security: the second step after the password, setting up an authenticator (QR code and the
secret as text) with recovery codes, one's own two-factor page, the administrators' page (which roles must use
two-factor; per person: reset the second factor, switch the local password off), and single sign-on (OIDC)."""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import mark_safe
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from kefu.accounts.choices import Role
from kefu.core.errors import ApplicationError
from kefu.core.policy import AUTHENTICATED, PUBLIC, has_right, requires
from kefu.identity import second_factor as tf
from kefu.identity import sso
from kefu.identity.models import SignInSettings
from kefu.identity.permissions import IdentityRight

SIGNIN_LAYOUT = "identity/_signin_layout.html"
ACCOUNT_LAYOUT = "identity/_account_layout.html"
PAGE_SIZE = 50


def _next(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return reverse(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    from urllib.parse import urlencode

    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def after_sign_in(request: HttpRequest, step: tf.Step, next_url: str) -> str | None:
    """Where a person goes after the password (or the provider): None when they are fully signed in."""
    if step == tf.Step.VERIFY:
        return _with_next("identity:verify", next_url)
    if step == tf.Step.ENROL:
        return _with_next("identity:setup", next_url)
    return None


def password_step_done(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The sign-in page's one call into two-factor: after a right password, go on to the second step (or to
    enrolment) when one is needed, else where the sign-in page was going."""
    target = after_sign_in(request, tf.begin_after_password(request), getattr(response, "url", "") or _next(request))
    if not target:
        return response
    redirected = redirect(target)
    redirected.cookies = response.cookies  # the language cookie the sign-in page set
    return redirected


# --- the second step ----------------------------------------------------------------------------------------


@requires(AUTHENTICATED)
def verify(request: HttpRequest) -> HttpResponse:
    step = tf.request_step(request)
    if step == tf.Step.ENROL:
        return redirect(_with_next("identity:setup", _next(request)))
    if step == tf.Step.DONE:
        return redirect(_next(request))
    error = ""
    status = 200
    if request.method == "POST":
        try:
            outcome = tf.second_step_verify(request=request, code=request.POST.get("code", ""))
        except ApplicationError as refused:
            error, status = refused.message, 429 if refused.code == "throttled" else 422
        else:
            if outcome.ok:
                if outcome.method == "recovery":
                    left = tf.recovery_codes_left(request.user)
                    messages.warning(request, _("您使用了一个恢复码，还剩 %(n)s 个。恢复码不多时请重新生成。")
                                     % {"n": left})
                return redirect(_next(request))
            if outcome.signed_out:
                return _notice(request, _("已退出登录"), outcome.message)
            error, status = outcome.message, 422
    return render(request, "identity/verify.html", {
        "layout": SIGNIN_LAYOUT, "error": error, "next": _next(request),
        "recovery": (request.POST.get("mode") or request.GET.get("mode")) == "recovery"}, status=status)


# --- setting up an authenticator ------------------------------------------------------------------------------


def _qr_svg(device: TOTPDevice) -> str:
    qr = segno.make(device.config_url, error="m")
    return mark_safe(qr.svg_inline(scale=5, border=2, dark="#141b2d", light="#ffffff"))  # noqa: S308 - segno's own SVG


def _secret_text(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@requires(AUTHENTICATED)
def setup(request: HttpRequest) -> HttpResponse:
    step = tf.request_step(request)
    if step == tf.Step.VERIFY:
        return redirect(_with_next("identity:verify", _next(request)))
    if tf.has_second_factor(request.user):
        return redirect("identity:manage")
    forced = step == tf.Step.ENROL
    layout = SIGNIN_LAYOUT if forced else ACCOUNT_LAYOUT
    error = ""
    status = 200
    if request.method == "POST":
        try:
            enrolled = tf.totp_enrolment_confirm(request=request, code=request.POST.get("code", ""))
        except ApplicationError as refused:
            error, status = refused.message, 429 if refused.code == "throttled" else 422
        else:
            return render(request, "identity/recovery_codes.html", {
                "layout": layout, "codes": enrolled.recovery_codes, "next": _next(request), "enrolled": True})
    device = tf.totp_enrolment_begin(user=request.user)
    return render(request, "identity/setup.html", {
        "layout": layout, "forced": forced, "qr": _qr_svg(device), "secret": _secret_text(device),
        "issuer": settings.OTP_TOTP_ISSUER, "account": request.user.get_username(), "error": error,
        "next": _next(request), "nav": "account"}, status=status)


# --- one's own two-factor page ------------------------------------------------------------------------------


@requires(AUTHENTICATED)
def manage(request: HttpRequest) -> HttpResponse:
    device = tf.totp_device(request.user)
    return render(request, "identity/manage.html", {
        "layout": ACCOUNT_LAYOUT, "device": device, "codes_left": tf.recovery_codes_left(request.user),
        "required": tf.role_requires(request.user), "nav": "account"})


@requires(AUTHENTICATED)
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    try:
        codes = tf.recovery_codes_regenerate(request=request)
    except ApplicationError as refused:
        messages.error(request, refused.message)
        return redirect("identity:manage")
    return render(request, "identity/recovery_codes.html", {
        "layout": ACCOUNT_LAYOUT, "codes": codes, "next": reverse("identity:manage"), "enrolled": False,
        "nav": "account"})


@requires(AUTHENTICATED)
@require_POST
def disable(request: HttpRequest) -> HttpResponse:
    try:
        tf.two_factor_disable_own(request=request, code=request.POST.get("code", ""))
    except ApplicationError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("已停用两步验证"))
    return redirect("identity:manage")


# --- the administrators' page -------------------------------------------------------------------------------


def _people(request: HttpRequest) -> Any:
    users = get_user_model().objects.filter(is_active=True).select_related("team").annotate(
        enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
    q = request.GET.get("q", "").strip()[:100]
    if q:
        users = users.filter(Q(username__icontains=q) | Q(display_name__icontains=q) | Q(employee_no__icontains=q))
    shown = request.GET.get("show", "")
    required = tf.required_roles()
    if shown == "enrolled":
        users = users.filter(enrolled=True)
    elif shown == "missing":
        users = users.filter(enrolled=False, role__in=list(required))
    page = Paginator(users.order_by("employee_no", "username"), PAGE_SIZE).get_page(request.GET.get("page"))
    settings_by_user = {s.user_id: s for s in SignInSettings.objects.filter(user__in=[u.pk for u in page])}
    rows = [{"person": u, "enrolled": u.enrolled, "required": u.role in required,
             "signin": settings_by_user.get(u.pk)} for u in page]
    return page, rows, {"q": q, "show": shown}


@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
def admin_page(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        changed = 0
        before = {r["role"]: r["required"] for r in tf.rules()}
        try:
            with transaction.atomic():  # all the roles or none: a stale version leaves every rule as it was
                for value in Role.values:
                    version = request.POST.get(f"version_{value}", "")
                    if not version.isdigit():
                        raise ApplicationError(_("请求有误：缺少版本号，请刷新后重试"), details={"field": "version"})
                    wanted = request.POST.get(f"required_{value}") == "1"
                    if before[value] != wanted:
                        tf.role_two_factor_set(actor=request.user, role=value, required=wanted,
                                               expected_version=int(version))
                        changed += 1
        except ApplicationError as refused:
            messages.error(request, refused.message)
            status = 409 if refused.status == 409 else 422
        else:
            messages.success(request, _("已保存") if changed else _("没有变化"))
            return redirect("identity:admin")
    page, rows, selected = _people(request)
    return render(request, "identity/admin.html", {
        "rules": tf.rules(), "page": page, "rows": rows, "selected": selected, "nav": "admin",
        "can_reset": has_right(request.user, IdentityRight.TWO_FACTOR_RESET),
        "oidc": settings.KEFU_OIDC_ENABLED, "ldap": settings.KEFU_LDAP_ENABLED}, status=status)


def _person(user_id: int) -> Any:
    person = get_user_model().objects.filter(pk=user_id).first()
    if person is None:
        raise Http404
    return person


@requires(IdentityRight.TWO_FACTOR_RESET)
@require_POST
def admin_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _person(user_id)
    try:
        had = tf.two_factor_reset(actor=request.user, user=person)
    except ApplicationError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("已重置 %(p)s 的两步验证：下次登录时需要重新设置") % {"p": person} if had
                         else _("%(p)s 没有设置两步验证") % {"p": person})
    return redirect(request.POST.get("back") if (request.POST.get("back") or "").startswith("/admin/two-factor/")
                    else reverse("identity:admin"))


@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
@require_POST
def admin_local_password(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _person(user_id)
    wanted = request.POST.get("disabled")
    if wanted not in ("0", "1"):  # say which, never guess
        messages.error(request, _("请求有误：未说明停用还是启用本地密码"))
        return redirect("identity:admin")
    try:
        sso.local_password_set(actor=request.user, user=person, disabled=wanted == "1")
    except ApplicationError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("已停用 %(p)s 的本地密码：只能通过单点登录进入") % {"p": person} if wanted == "1"
                         else _("已恢复 %(p)s 的本地密码；如需新密码请在员工页重置") % {"p": person})
    return redirect(request.POST.get("back") if (request.POST.get("back") or "").startswith("/admin/two-factor/")
                    else reverse("identity:admin"))


# --- single sign-on (OpenID Connect) --------------------------------------------------------------------------


def _notice(request: HttpRequest, title: str, message: str) -> HttpResponse:
    return render(request, "identity/notice.html", {"layout": SIGNIN_LAYOUT, "title": title, "message": message})


def _sso_failed(request: HttpRequest, message: str) -> HttpResponse:
    return _notice(request, _("单点登录未完成"), message)


@requires(PUBLIC)
class OidcStart(OIDCAuthenticationRequestView):
    def get(self, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        if not settings.KEFU_OIDC_ENABLED:
            return _sso_failed(request, _("本系统未配置单点登录，请使用账号密码登录"))
        return super().get(request)  # type: ignore[no-any-return]


@requires(PUBLIC)
class OidcCallback(OIDCAuthenticationCallbackView):
    def get(self, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        if not settings.KEFU_OIDC_ENABLED:
            return _sso_failed(request, _("本系统未配置单点登录，请使用账号密码登录"))
        return super().get(request)  # type: ignore[no-any-return]

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        step = tf.begin_after_provider(self.request, provider_mfa=getattr(self.request, "kefu_provider_mfa", False))
        target = after_sign_in(self.request, step, response.url)
        return redirect(target) if target else response

    def login_failure(self) -> HttpResponse:
        message = getattr(self.request, "kefu_sso_refusal", "") or _(
            "单点登录没有完成（已取消或已过期），请重新登录")
        return _sso_failed(self.request, message)
