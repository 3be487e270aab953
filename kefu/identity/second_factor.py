"""Two-factor sign-in on django-otp: an authenticator app (TOTP, RFC 6238: 微信/腾讯身份验证器, Google or Microsoft
Authenticator …) with one-time recovery codes, the per-role requirement, and where a signed-in session stands.

A session is *fully* signed in when its second step is done: django-otp has verified a device in it, or the
single sign-on provider asserted that the person used a second factor there, or the person has no second factor
and their role does not require one. Until then the session is *half* signed in: SecondFactorMiddleware sends
every page to the second step (or to enrolment, when the role requires a second factor the person has not set
up), the API refuses it, and so does the websocket (kefu.identity.websocket).

Every service is one transaction and writes its audit row. Recovery codes are stored as keyed hashes
(Django's salted HMAC with the installation's secret key), never in clear; they are shown once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth import logout
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kefu.accounts.choices import Role
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.identity.models import RoleTwoFactorRule
from kefu.identity.permissions import IdentityRight

SESSION_STATE = "kefu_second_factor"  # "not_required" or "provider"; absent: decided from the database
NOT_REQUIRED = "not_required"
BY_PROVIDER = "provider"
FAILURES_KEY = "kefu_second_factor_failures"
MAX_SESSION_FAILURES = 5  # wrong codes in one half-signed-in session, then back to the password step
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_CODE_LENGTH = 10  # about 49 bits each; shown as xxxxx-xxxxx
MAX_CODE_LENGTH = 32
DEVICE_NAME = "authenticator"
RECOVERY_NAME = "recovery"
_REQUIRED_ROLES = "kefu:identity:required-roles"
_HMAC_SALT = "kefu.identity.recovery-code"


class Step(StrEnum):
    DONE = "done"  # fully signed in
    VERIFY = "verify"  # the person has a second factor: enter a code
    ENROL = "enrol"  # the role requires a second factor the person has not set up


# --- the per-role requirement ---------------------------------------------------------------------------------


def required_roles() -> frozenset[str]:
    """The roles whose people must use a second factor (cached; forgotten when an administrator changes it)."""
    found = cache.get(_REQUIRED_ROLES)
    if found is None:
        found = sorted(RoleTwoFactorRule.objects.filter(required=True).values_list("role", flat=True))
        cache.set(_REQUIRED_ROLES, found, None)
    return frozenset(found)


def role_requires(user: Any) -> bool:
    return str(getattr(user, "role", "")) in required_roles()


def rules() -> list[dict[str, Any]]:
    """Every role with its rule (a role without a row: not required, version 1) and how many of its active
    people have a second factor."""
    stored = {r.role: r for r in RoleTwoFactorRule.objects.all()}
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Exists, OuterRef, Q

    users = get_user_model().objects.filter(is_active=True).annotate(
        enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
    counts = {row["role"]: row for row in users.values("role").annotate(
        people=Count("pk"), with_factor=Count("pk", filter=Q(enrolled=True)))}
    out = []
    for value, label in Role.choices:
        rule = stored.get(value)
        count = counts.get(value, {})
        out.append({"role": value, "label": str(label), "required": bool(rule and rule.required),
                    "version": rule.version if rule else 1, "people": count.get("people", 0),
                    "enrolled": count.get("with_factor", 0)})
    return out


@transaction.atomic
def role_two_factor_set(*, actor: Any, role: str, required: bool, expected_version: int | None) -> RoleTwoFactorRule:
    """Require (or stop requiring) a second factor of everyone with `role`. People of the role who have none are
    sent to enrolment at their next page; those signed in already are too."""
    if not has_right(actor, IdentityRight.SIGNIN_POLICY_MANAGE):
        raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(IdentityRight.SIGNIN_POLICY_MANAGE)})
    if role not in Role.values:
        raise ValidationFailed(_("未知的角色“%(r)s”") % {"r": role}, details={"field": "role",
                                                                              "allowed": list(Role.values)})
    if not isinstance(required, bool):
        raise ValidationFailed(_("“必须两步验证”只能是是或否"), details={"field": "required"})
    rule = RoleTwoFactorRule.objects.select_for_update().filter(role=role).first()
    current = rule.version if rule else 1
    if expected_version is not None and expected_version != current:
        raise Conflict(_("已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": current}, code="stale_version",
                       details={"current_version": current, "field": "version"})
    if rule is None:
        before = False
        if not required:
            return RoleTwoFactorRule(role=role, required=False, version=1)  # the default already: nothing to store
        rule = RoleTwoFactorRule(role=role, required=required, version=2)  # a role without a row reads as version 1
    else:
        before = rule.required
        if before == required:
            return rule
        rule.required = required
        rule.version += 1
    rule.save()
    cache.delete(_REQUIRED_ROLES)
    transaction.on_commit(lambda: cache.delete(_REQUIRED_ROLES))  # a page read meanwhile cached the old rule
    audit_record(actor=actor, action="signin_policy.two_factor_rule_set", obj=rule,
                 summary=f"{role}: {'required' if required else 'optional'}",
                 data={"role": role, "before": before, "after": required})
    return rule


# --- where a session stands -----------------------------------------------------------------------------------


def totp_device(user: Any, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def has_second_factor(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=RECOVERY_NAME).count()


def step_for(user: Any, session: Any, *, verified: bool) -> Step:
    """Where a signed-in session stands. `verified`: django-otp verified a device in this session."""
    if user is None or not getattr(user, "is_authenticated", False) or verified:
        return Step.DONE
    state = session.get(SESSION_STATE)
    if state == BY_PROVIDER:
        return Step.DONE
    if state == NOT_REQUIRED:  # decided at sign-in; the role may have become required since
        return Step.ENROL if role_requires(user) else Step.DONE
    # Not decided yet (a session opened before this check existed): decide from the database, once.
    if has_second_factor(user):
        return Step.VERIFY
    if role_requires(user):
        return Step.ENROL
    session[SESSION_STATE] = NOT_REQUIRED
    return Step.DONE


def request_step(request: HttpRequest) -> Step:
    user = request.user
    verified = bool(getattr(user, "is_verified", lambda: False)())
    return step_for(user, request.session, verified=verified)


def session_verified(user: Any, session: Any) -> bool:
    """What django-otp's middleware decides for HTTP, for a session read elsewhere (the websocket)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and bool(device.confirmed)


def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Every sign-in (the sign-in page, django-admin's, single sign-on): the new session starts half signed in
    unless the person has no second factor and their role requires none — decided here, once, so a page costs
    no query for it afterwards. (Django's user_logged_in signal: the one moment every way in passes through.)"""
    if request is None or not hasattr(request, "session"):
        return
    for key in (SESSION_STATE, FAILURES_KEY):
        request.session.pop(key, None)
    if not hasattr(user, "otp_device"):  # a device verified by an OTP-aware form stays; an earlier one does not
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
    step_for(user, request.session, verified=False)


def begin_after_password(request: HttpRequest) -> Step:
    """Called right after a password (or directory) sign-in: the next step (decided when the session began)."""
    return step_for(request.user, request.session, verified=False)


def begin_after_provider(request: HttpRequest, *, provider_mfa: bool) -> Step:
    """Called right after a single sign-on: a provider that asserted a second factor counts as Kefu's."""
    if provider_mfa:
        request.session[SESSION_STATE] = BY_PROVIDER
        return Step.DONE
    return step_for(request.user, request.session, verified=False)


# --- codes ----------------------------------------------------------------------------------------------------


def _clean_code(code: Any) -> str:
    text = "".join(str(code or "").split()).replace("-", "").lower()
    if not text:
        raise ValidationFailed(_("请输入验证码"), details={"field": "code"})
    if len(text) > MAX_CODE_LENGTH:
        raise ValidationFailed(_("验证码太长"), details={"field": "code"})
    return text


def _recovery_hash(code: str) -> str:
    # StaticToken.token holds 16 characters: 64 bits of a keyed hash are plenty for a code that is itself
    # random and used once, and useless without the installation's secret key.
    return salted_hmac(_HMAC_SALT, code, algorithm="sha256").hexdigest()[:16]


def new_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))


def format_recovery_code(code: str) -> str:
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def _issue_recovery_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=_recovery_hash(c)) for c in codes])
    return [format_recovery_code(c) for c in codes]


def _locked_until(device: Any) -> Any:
    allowed, info = device.verify_is_allowed()
    return None if allowed else (info or {}).get("locked_until")


def _throttled(until: Any) -> ValidationFailed:
    local = timezone.localtime(until)
    return ValidationFailed(_("错误次数过多，请在 %(t)s 之后再试") % {"t": local.strftime("%H:%M:%S")},
                            code="throttled", details={"field": "code", "retry_after": until.isoformat()})


# --- enrolment ------------------------------------------------------------------------------------------------


@transaction.atomic
def totp_enrolment_begin(*, user: Any) -> TOTPDevice:
    """The authenticator being set up: a new secret, or the one shown before (a reload shows the same QR code)."""
    if has_second_factor(user):
        raise Conflict(_("已设置两步验证；如需更换，请先停用当前的"), code="already_enrolled")
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@dataclass(frozen=True)
class Enrolled:
    device: TOTPDevice
    recovery_codes: list[str]  # shown once


def totp_enrolment_confirm(*, request: HttpRequest, code: str) -> Enrolled:
    """Confirm the authenticator with a code it shows; issue recovery codes; the session counts as verified.
    A wrong code is refused after its audit row and django-otp's throttle count are committed."""
    user = request.user
    cleaned = _clean_code(code)
    refusal: ValidationFailed | None = None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            raise NotFound(_("请重新开始设置两步验证"), details={"field": "code"})
        until = _locked_until(device)
        if until is not None:
            raise _throttled(until)
        if cleaned.isdigit() and device.verify_token(cleaned):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            codes = _issue_recovery_codes(user)
            _verified(request, device)
            audit_record(actor=user, action="two_factor.enrolled", obj=user, summary=user.get_username(),
                         data={"method": "totp", "recovery_codes": len(codes)})
            return Enrolled(device=device, recovery_codes=codes)
        if not cleaned.isdigit():
            device.throttle_increment()
        audit_record(actor=user, action="two_factor.enrolment_failed", obj=user, summary=user.get_username())
        refusal = ValidationFailed(_("验证码不正确：请确认手机时间准确，并输入验证器当前显示的 6 位数字"),
                                   details={"field": "code"})
    raise refusal


def _verified(request: HttpRequest, device: Any) -> None:
    request.session.cycle_key()  # a new session id once the person is fully signed in
    otp_login(request, device)
    request.session.pop(FAILURES_KEY, None)
    request.session.pop(SESSION_STATE, None)


# --- the second step ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondStep:
    ok: bool
    method: str = ""  # "totp" or "recovery"
    signed_out: bool = False  # too many wrong codes in this session: back to the password step
    message: str = ""


def second_step_verify(*, request: HttpRequest, code: str) -> SecondStep:
    """Check a code from the authenticator, or a recovery code (used once), for a half-signed-in session.

    Two bounds on guessing: django-otp's own throttle on each device (after n wrong codes the next is refused for
    2^(n-1) seconds, kept in the database across sessions), and MAX_SESSION_FAILURES wrong codes per session,
    after which the session is signed out and the password is asked again."""
    user = request.user
    cleaned = _clean_code(code)
    with transaction.atomic():
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        if totp is None:
            raise Conflict(_("您还没有设置两步验证"), code="not_enrolled")
        method = "totp" if cleaned.isdigit() and len(cleaned) <= 8 else "recovery"
        device: Any = totp
        if method == "recovery":
            device = StaticDevice.objects.select_for_update().filter(user=user, name=RECOVERY_NAME).first()
        until = _locked_until(device) if device is not None else None
        if until is not None:
            audit_record(actor=user, action="two_factor.failed", obj=user, summary=user.get_username(),
                         data={"method": method, "reason": "throttled"})
    if until is not None:
        raise _throttled(until)
    with transaction.atomic():
        if device is not None:
            device = type(device).objects.select_for_update().get(pk=device.pk)
        token = cleaned if method == "totp" else _recovery_hash(cleaned)
        if device is not None and device.verify_token(token):
            _verified(request, device)
            if method == "recovery":
                left = recovery_codes_left(user)
                audit_record(actor=user, action="two_factor.recovery_code_used", obj=user,
                             summary=user.get_username(), data={"left": left})
            audit_record(actor=user, action="two_factor.verified", obj=user, summary=user.get_username(),
                         data={"method": method})
            return SecondStep(ok=True, method=method)
        failures = int(request.session.get(FAILURES_KEY, 0)) + 1
        audit_record(actor=user, action="two_factor.failed", obj=user, summary=user.get_username(),
                     data={"method": method, "session_failures": failures})
        if failures < MAX_SESSION_FAILURES:
            request.session[FAILURES_KEY] = failures
            return SecondStep(ok=False, method=method, message=_("验证码不正确，还可以再试 %(n)s 次") % {
                "n": MAX_SESSION_FAILURES - failures})
        audit_record(actor=user, action="two_factor.session_ended", obj=user, summary=user.get_username(),
                     data={"session_failures": failures})
    logout(request)
    return SecondStep(ok=False, method=method, signed_out=True,
                      message=_("验证码错误次数过多，请重新输入密码登录"))


# --- managing one's own and others' second factor -------------------------------------------------------------


@transaction.atomic
def recovery_codes_regenerate(*, request: HttpRequest) -> list[str]:
    """New recovery codes for a fully signed-in person; the old ones stop working."""
    user = request.user
    if not has_second_factor(user):
        raise Conflict(_("您还没有设置两步验证"), code="not_enrolled")
    codes = _issue_recovery_codes(user)
    # the session may have been verified with the recovery device just replaced: keep it verified
    totp = totp_device(user)
    if totp is not None and request.session.get(DEVICE_ID_SESSION_KEY, "").startswith("otp_static"):
        otp_login(request, totp)
    audit_record(actor=user, action="two_factor.recovery_codes_regenerated", obj=user, summary=user.get_username(),
                 data={"recovery_codes": len(codes)})
    return codes


def two_factor_disable_own(*, request: HttpRequest, code: str) -> None:
    """Remove one's own second factor, confirmed with a current code (refused while the role requires one)."""
    user = request.user
    if role_requires(user):
        raise Conflict(_("您的角色要求两步验证，不能停用；更换手机请联系系统管理员重置"), code="two_factor_required")
    cleaned = _clean_code(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            raise Conflict(_("您还没有设置两步验证"), code="not_enrolled")
        until = _locked_until(device)
        if until is not None:
            raise _throttled(until)
        if device.verify_token(cleaned):
            _remove_devices(user)
            request.session.pop(DEVICE_ID_SESSION_KEY, None)
            request.session[SESSION_STATE] = NOT_REQUIRED
            audit_record(actor=user, action="two_factor.removed", obj=user, summary=user.get_username(),
                         data={"by": "self"})
            return
        audit_record(actor=user, action="two_factor.failed", obj=user, summary=user.get_username(),
                     data={"method": "totp", "purpose": "disable"})
    raise ValidationFailed(_("验证码不正确"), details={"field": "code"})


def _remove_devices(user: Any) -> int:
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    return removed


@transaction.atomic
def two_factor_reset(*, actor: Any, user: Any) -> bool:
    """An administrator removes a person's authenticator and recovery codes (a lost or replaced phone). The person
    sets up a new one at their next sign-in if their role requires it. False: there was nothing to remove."""
    if not has_right(actor, IdentityRight.TWO_FACTOR_RESET):
        raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(IdentityRight.TWO_FACTOR_RESET)})
    from django.contrib.auth import get_user_model

    locked = get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if locked is None:
        raise NotFound(_("员工不存在"))
    had = has_second_factor(locked)
    _remove_devices(locked)
    if had:
        audit_record(actor=actor, action="two_factor.reset", obj=locked, summary=locked.get_username(),
                     data={"by": "administrator"})
    return had
