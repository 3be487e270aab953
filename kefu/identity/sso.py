"""Accounts kept by single sign-on (OpenID Connect, LDAP / Active Directory): on each sign-in the person's account
is created or brought up to date from what the provider says — name, e-mail, and the role, team and department
their groups map to (KEFU_SSO_GROUP_*) — through the staff services of kefu.accounts, so the same checks and audit
rows apply as for an administrator's edit. Also the per-person switch that turns the local password off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.accounts import staff as staff_services
from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.core.actors import system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.identity.models import SignInSettings
from kefu.identity.permissions import IdentityRight

SSO = system_actor("sso", gettext_lazy("系统：单点登录"))


class SignInRefused(ApplicationError):
    status = 403
    code = "sso_refused"


@dataclass(frozen=True)
class ExternalIdentity:
    """What a provider says about a person who has just proved who they are there."""

    source: str  # AccountSource.OIDC or AccountSource.LDAP
    subject: str  # stable at the provider: OIDC "sub", the LDAP entry's DN
    username: str
    display_name: str = ""
    email: str = ""
    groups: list[str] = field(default_factory=list)


def _first(mapping: list[tuple[str, str]], groups: set[str]) -> str | None:
    for group, value in mapping:
        if group.casefold() in groups:
            return value
    return None


@dataclass(frozen=True)
class Placement:
    role: str
    team: Team | None
    department: Department | None


def placement(groups: list[str]) -> Placement:
    """The role, team and department a person's groups map to. Refused when no group gives a role and no
    default role is set, or when the configuration names a role, team or department that does not exist."""
    names = {g.casefold() for g in groups}
    role = _first(settings.KEFU_SSO_GROUP_ROLES, names) or settings.KEFU_SSO_DEFAULT_ROLE
    if not role:
        raise SignInRefused(_("您的账号不在任何已授权使用客服系统的组中，请联系系统管理员"),
                            details={"groups": sorted(groups)[:50]})
    if role not in Role.values:
        raise SignInRefused(_("单点登录配置有误：角色“%(r)s”不存在，请联系系统管理员") % {"r": role})
    team = None
    team_name = _first(settings.KEFU_SSO_GROUP_TEAMS, names)
    if team_name:
        team = Team.objects.filter(name=team_name, is_active=True).first()
        if team is None:
            raise SignInRefused(_("单点登录配置有误：班组“%(t)s”不存在或已停用，请联系系统管理员") % {"t": team_name})
    department = None
    department_code = _first(settings.KEFU_SSO_GROUP_DEPARTMENTS, names)
    if department_code:
        department = Department.objects.filter(code=department_code, is_active=True).first()
        if department is None:
            raise SignInRefused(_("单点登录配置有误：部门“%(d)s”不存在或已停用，请联系系统管理员") % {
                "d": department_code})
    return Placement(role=role, team=team, department=department)


def _staff_data(user: User | None, identity: ExternalIdentity, place: Placement) -> staff_services.StaffData:
    """The account as the provider describes it; what the provider does not know is kept as it is."""
    department = place.department
    if department is None and place.team is None and user is not None and place.role == Role.DEPARTMENT:
        department = user.department
    return staff_services.StaffData(
        username=user.username if user is not None else identity.username,
        display_name=(identity.display_name or (user.display_name if user else "") or identity.username)[:100],
        role=place.role,
        employee_no=user.employee_no if user else "",
        phone=user.phone if user else "",
        email=(identity.email or (user.email if user else ""))[:254],
        team=place.team,
        department=department,
        skills=[(s.skill, s.proficiency) for s in user.skills.select_related("skill")] if user else [],
        language=user.language if user else settings.LANGUAGE_CODE,
    )


def _differs(user: User, data: staff_services.StaffData) -> bool:
    department = data.department or (data.team.department if data.team else None)
    return (user.display_name, user.email, user.role, user.team_id, user.department_id) != (
        data.display_name, data.email, data.role, data.team.pk if data.team else None,
        department.pk if department else None)


@transaction.atomic
def sso_sign_in(*, identity: ExternalIdentity) -> User:
    """The account of a person the provider vouches for: found by the provider's subject (or, the first time,
    by user name), created or updated through the staff services. Raises SignInRefused (or the staff services'
    refusal) with a message for the person."""
    if not identity.subject or not identity.username:
        raise SignInRefused(_("单点登录返回的信息不完整（缺少用户标识或用户名），请联系系统管理员"))
    place = placement(identity.groups)
    link = (SignInSettings.objects.select_for_update().select_related("user")
            .filter(source=identity.source, external_subject=identity.subject).first())
    user = link.user if link is not None else User.objects.filter(username__iexact=identity.username).first()
    if user is not None and link is None:
        other = SignInSettings.objects.filter(user=user).exclude(external_subject="").first()
        if other is not None:  # the name is taken by an account another identity signs in to
            raise SignInRefused(_("用户名“%(u)s”已属于另一个登录身份，请联系系统管理员") % {"u": identity.username})
    if user is None:
        created = staff_services.staff_create(actor=SSO, data=_staff_data(None, identity, place))
        user = created.user
        # The temporary password of a new account is never shown to anyone: the person signs in through the
        # provider, so the account gets no usable local password and nothing to change.
        User.objects.filter(pk=user.pk).update(password=make_password(None), must_change_password=False)
        user.refresh_from_db()
        SignInSettings.objects.update_or_create(user=user, defaults={
            "source": identity.source, "external_subject": identity.subject, "local_password_disabled": True})
        audit_record(actor=SSO, action="sso.account_created", obj=user, summary=user.username,
                     data={"source": identity.source, "role": place.role})
    else:
        if not user.is_active:
            raise SignInRefused(_("该账号已停用，请联系系统管理员"))
        data = _staff_data(user, identity, place)
        if _differs(user, data):
            user = staff_services.staff_update(actor=SSO, user=user, data=data, expected_version=None)
        SignInSettings.objects.update_or_create(user=user, defaults={
            "source": identity.source, "external_subject": identity.subject})
    SignInSettings.objects.filter(user=user).update(last_sso_at=timezone.now())
    audit_record(actor=user, action="sso.signed_in", obj=user, summary=user.username,
                 data={"source": identity.source, "role": user.role, "team": user.team_id})
    return user


def sso_refused(*, identity: ExternalIdentity | None, source: str, reason: str) -> None:
    """An audit row for a refused single sign-on (its own transaction: the refused one was rolled back)."""
    audit_record(actor=SSO, action="sso.refused", object_type="identity.external", summary=reason,
                 object_id=(identity.username if identity else "")[:64],
                 data={"source": source, "subject": identity.subject[:255] if identity else ""})


def local_password_disabled(user: Any) -> bool:
    return SignInSettings.objects.filter(user=user, local_password_disabled=True).exists()


@transaction.atomic
def local_password_set(*, actor: Any, user: Any, disabled: bool) -> SignInSettings:
    """Switch a person's local password off (they sign in through single sign-on only) or back on (an
    administrator then gives them a password with a reset)."""
    if not has_right(actor, IdentityRight.SIGNIN_POLICY_MANAGE):
        raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(IdentityRight.SIGNIN_POLICY_MANAGE)})
    if not isinstance(disabled, bool):
        raise ValidationFailed(_("“禁用本地密码”只能是是或否"), details={"field": "local_password_disabled"})
    locked = User.objects.select_for_update().filter(pk=user.pk).first()
    if locked is None:
        raise NotFound(_("员工不存在"))
    if disabled and not (settings.KEFU_OIDC_ENABLED or settings.KEFU_LDAP_ENABLED):
        raise Conflict(_("尚未配置单点登录：停用本地密码后此人将无法登录"), code="no_single_sign_on",
                       details={"field": "local_password_disabled"})
    if disabled and locked.pk == getattr(actor, "pk", None):
        raise Conflict(_("不能停用自己的本地密码（以免把自己锁在门外）"), code="self_lockout",
                       details={"field": "local_password_disabled"})
    row, _created = SignInSettings.objects.get_or_create(user=locked)
    if row.local_password_disabled == disabled:
        return row
    row.local_password_disabled = disabled
    row.version += 1
    row.save(update_fields=["local_password_disabled", "version"])
    audit_record(actor=actor, action="signin_policy.local_password_disabled" if disabled
                 else "signin_policy.local_password_enabled", obj=locked, summary=locked.username)
    return row
