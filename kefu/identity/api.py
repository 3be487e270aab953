"""REST API of sign-in security (/api/v1/security/…): which roles must use two-factor, and per person the
second factor (reset) and the local password (switch off / on). The same services as the administration page, so
the checks and the audit rows are the same.

Two-factor and the API: the API is used with personal tokens, which are their own credential — a token can only be
created from a fully signed-in session (password and second step), and it needs no code per call. A session that
has given its password but not its second factor is refused by every operation (403 `two_factor_required`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from kefu.accounts.choices import Role
from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import MAX_VERSION, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.identity import second_factor as tf
from kefu.identity import sso
from kefu.identity.models import SignInSettings
from kefu.identity.permissions import IdentityRight

router = Router()
RoleName = Literal["agent", "team_lead", "shift_lead", "qa", "manager", "admin", "department"]
assert set(RoleName.__args__) == set(Role.values)  # type: ignore[attr-defined]


class RuleOut(Schema):
    role: str
    label: str
    required: bool = Field(description="People of this role must sign in with a second factor")
    version: int
    people: int = Field(description="Active people with this role")
    enrolled: int = Field(description="Of them, how many have set up an authenticator")


class RuleIn(InSchema):
    role: RoleName
    required: bool
    version: int | None = Field(None, ge=1, le=MAX_VERSION, description="The version you read; a stale one gets 409")


def _rule(role: str) -> RuleOut:
    return RuleOut(**next(r for r in tf.rules() if r["role"] == role))


@router.get("/two-factor-rules", response=list[RuleOut], summary="Which roles must use two-factor sign-in")
@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
def two_factor_rules(request: HttpRequest) -> list[RuleOut]:
    return [RuleOut(**r) for r in tf.rules()]


@router.put("/two-factor-rules", response=RuleOut, summary="Require (or stop requiring) two-factor for a role")
@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
def two_factor_rule_set(request: HttpRequest, payload: RuleIn) -> RuleOut:
    tf.role_two_factor_set(actor=request.auth, role=payload.role, required=payload.required,  # type: ignore[attr-defined]
                           expected_version=payload.version)
    return _rule(payload.role)


class SignInOut(Schema):
    user_id: int
    username: str
    two_factor_enrolled: bool
    two_factor_required: bool = Field(description="The person's role requires a second factor")
    recovery_codes_left: int
    enrolled_at: datetime | None
    source: str = Field(description="local, oidc or ldap")
    local_password_disabled: bool
    last_sso_at: datetime | None


class LocalPasswordIn(InSchema):
    local_password_disabled: bool


def _person(user_id: int) -> object:
    found = get_user_model().objects.filter(pk=user_id).first()
    if found is None:
        raise NotFound(_("员工不存在"), details={"user_id": user_id})
    return found


def _sign_in(person: object) -> SignInOut:
    device = tf.totp_device(person)
    row = SignInSettings.objects.filter(user=person).first()
    return SignInOut(user_id=person.pk, username=person.get_username(),  # type: ignore[attr-defined]
                     two_factor_enrolled=device is not None, two_factor_required=tf.role_requires(person),
                     recovery_codes_left=tf.recovery_codes_left(person) if device else 0,
                     enrolled_at=device.created_at if device else None,
                     source=row.source if row else "local",
                     local_password_disabled=bool(row and row.local_password_disabled),
                     last_sso_at=row.last_sso_at if row else None)


@router.get("/people/{user_id}/sign-in", response=SignInOut, summary="A person's sign-in settings")
@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
def person_sign_in(request: HttpRequest, user_id: PathId) -> SignInOut:
    return _sign_in(_person(user_id))


@router.put("/people/{user_id}/sign-in", response=SignInOut, summary="Switch a person's local password off or on")
@requires(IdentityRight.SIGNIN_POLICY_MANAGE)
def person_local_password(request: HttpRequest, user_id: PathId, payload: LocalPasswordIn) -> SignInOut:
    person = _person(user_id)
    sso.local_password_set(actor=request.auth, user=person,  # type: ignore[attr-defined]
                           disabled=payload.local_password_disabled)
    return _sign_in(person)


@router.delete("/people/{user_id}/two-factor", response=SignInOut,
               summary="Reset a person's second factor (authenticator and recovery codes)")
@requires(IdentityRight.TWO_FACTOR_RESET)
def person_two_factor_reset(request: HttpRequest, user_id: PathId) -> SignInOut:
    person = _person(user_id)
    tf.two_factor_reset(actor=request.auth, user=person)  # type: ignore[attr-defined]
    return _sign_in(person)
