"""Administration of people and the organisation: staff accounts (create, edit, deactivate, reactivate, reset a
password with a one-time link or a temporary one), teams with their leads, departments that receive dispatches,
and skills. Every service is one transaction, checks the rights, refuses bad input naming the field, checks the
`version` the form read (a concurrent edit is a Conflict), and writes an audit row (never a password)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from kefu.accounts.choices import Role
from kefu.accounts.models import AgentSkill, Department, Skill, Team, User
from kefu.accounts.permissions import AccountRight
from kefu.accounts.sessions import sessions_end_all
from kefu.core.actors import is_system
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.core.versions import DIRECTORY, bump_after_commit

USERNAME = re.compile(r"^[\w.@+-]{1,150}$")
PHONE = re.compile(r"^\+?[\d\s()-]{5,32}$")
EXTENSION = re.compile(r"^[0-9*#+]{1,20}$")  # what a phone's keypad can dial
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TEMPORARY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I
MAX_DUE_SECONDS = 2**31 - 1


def _require(actor: Any, right: str) -> None:
    if not has_right(actor, right):
        raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(right)})


def _invalid(message: str, field_name: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name, **details})


def _text(value: Any, field_name: str, label: str, max_length: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise _invalid(_("%(label)s不能为空") % {"label": label}, field_name)
    if len(text) > max_length:
        raise _invalid(_("%(label)s不能超过 %(n)s 个字符") % {"label": label, "n": max_length}, field_name)
    return text


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise Conflict(_("已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": obj.version},
                       code="stale_version", details={"current_version": obj.version})


def _lock(model: type, pk: int, message: str) -> Any:
    found = model.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(message)
    return found


# --- staff ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffData:
    """Every editable field of a staff account, as the form or the API sends it (a full replacement)."""

    username: str
    display_name: str
    role: str
    employee_no: str = ""
    phone: str = ""
    email: str = ""
    extension: str = ""  # 分机号: the agent's phone on the PBX
    team: Team | None = None
    department: Department | None = None
    skills: list[tuple[Skill, int]] = field(default_factory=list)  # (skill, proficiency 1–5)
    language: str = "zh-hans"


def _clean_staff(data: StaffData, *, instance: User | None) -> dict[str, Any]:
    username = _text(data.username, "username", _("用户名"), 150, required=True)
    if not USERNAME.match(username):
        raise _invalid(_("用户名只能包含字母、数字和 @ . + - _"), "username")
    if User.objects.filter(username__iexact=username).exclude(pk=getattr(instance, "pk", None)).exists():
        raise _invalid(_("用户名“%(u)s”已被使用") % {"u": username}, "username")
    display_name = _text(data.display_name, "display_name", _("姓名"), 100, required=True)
    employee_no = _text(data.employee_no, "employee_no", _("工号"), 20)
    if employee_no and User.objects.filter(employee_no=employee_no, is_active=True).exclude(
            pk=getattr(instance, "pk", None)).exists():
        raise _invalid(_("工号“%(n)s”已被在职人员使用") % {"n": employee_no}, "employee_no")
    phone = _text(data.phone, "phone", _("手机号"), 32)
    if phone and not PHONE.match(phone):
        raise _invalid(_("手机号格式不正确"), "phone")
    extension = _text(data.extension, "extension", _("分机号"), 20)
    if extension and not EXTENSION.match(extension):
        raise _invalid(_("分机号只能包含数字和 * # +"), "extension")
    if extension and User.objects.filter(extension=extension, is_active=True).exclude(
            pk=getattr(instance, "pk", None)).exists():
        raise _invalid(_("分机号“%(n)s”已被在职人员使用") % {"n": extension}, "extension")
    email = _text(data.email, "email", _("邮箱"), 254)
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise _invalid(_("邮箱格式不正确"), "email") from None
    if data.role not in Role.values:
        raise _invalid(_("未知的角色“%(r)s”") % {"r": data.role}, "role", allowed=list(Role.values))
    if data.team is not None and not data.team.is_active:
        raise _invalid(_("班组“%(t)s”已停用") % {"t": data.team}, "team")
    if data.department is not None and not data.department.is_active:
        raise _invalid(_("部门“%(d)s”已停用") % {"d": data.department}, "department")
    if data.role == Role.DEPARTMENT and data.department is None:
        raise _invalid(_("部门人员必须选择所属部门"), "department")
    if data.language not in ("zh-hans", "en"):
        raise _invalid(_("不支持的界面语言"), "language")
    seen: set[int] = set()
    for skill, level in data.skills:
        if skill.pk in seen:
            raise _invalid(_("技能“%(s)s”重复") % {"s": skill}, "skills")
        seen.add(skill.pk)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise _invalid(_("技能“%(s)s”的熟练度必须是 1 到 5") % {"s": skill}, "skills")
    return {"username": username, "display_name": display_name, "employee_no": employee_no, "phone": phone,
            "email": email, "extension": extension, "role": data.role, "team": data.team,
            "department": data.department or (data.team.department if data.team else None),
            "language": data.language}


def _guard_roles(actor: Any, *, old_role: str | None, new_role: str, user: User | None) -> None:
    """Only administrators grant or take away the administrator role; the last active administrator stays."""
    touches_admin = Role.ADMIN in (old_role, new_role) and old_role != new_role
    if touches_admin and not is_system(actor) and getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied(_("只有系统管理员可以授予或取消系统管理员角色"), details={"field": "role"})
    if old_role == Role.ADMIN and new_role != Role.ADMIN and user is not None:
        _keep_an_administrator(user)


def _keep_an_administrator(user: User) -> None:
    others = User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk)
    if not others.exists():
        raise Conflict(_("这是最后一位在职的系统管理员，不能停用或降级"), code="last_administrator")


def _staff_snapshot(user: User) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "employee_no": user.employee_no,
            "extension": user.extension, "role": user.role, "team": user.team_id, "department": user.department_id,
            "is_active": user.is_active,
            "skills": sorted([s.skill_id, s.proficiency] for s in user.skills.all()) if user.pk else []}


def _set_skills(user: User, skills: list[tuple[Skill, int]]) -> None:
    wanted = {skill.pk: level for skill, level in skills}
    AgentSkill.objects.filter(user=user).exclude(skill_id__in=wanted).delete()
    for skill_id, level in wanted.items():
        AgentSkill.objects.update_or_create(user=user, skill_id=skill_id, defaults={"proficiency": level})


def temporary_password() -> str:
    """12 characters a person can read out and type: letters and digits without look-alikes; passes the password
    policy (AUTH_PASSWORD_VALIDATORS) like any password a person chooses."""
    while True:
        password = "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(12))
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            try:
                validate_password(password)
            except DjangoValidationError:
                continue
            return password


@dataclass(frozen=True)
class Created:
    user: User
    temporary_password: str  # shown once to the administrator; the person must change it at first sign-in


@transaction.atomic
def staff_create(*, actor: Any, data: StaffData) -> Created:
    """A new staff account with a temporary password that must be changed at first sign-in."""
    _require(actor, AccountRight.STAFF_MANAGE)
    cleaned = _clean_staff(data, instance=None)
    _guard_roles(actor, old_role=None, new_role=cleaned["role"], user=None)
    user = User(**cleaned, is_active=True, must_change_password=True)
    password = temporary_password()
    user.set_password(password)
    user.save()
    _set_skills(user, data.skills)
    _directory_changed()
    audit_record(actor=actor, action="staff.created", obj=user, summary=f"{user.username} {user.display_name}",
                 data=_staff_snapshot(user))
    return Created(user=user, temporary_password=password)


@transaction.atomic
def staff_update(*, actor: Any, user: User, data: StaffData, expected_version: int | None) -> User:
    """Edit an account (everything but its password and its active flag)."""
    _require(actor, AccountRight.STAFF_MANAGE)
    locked = _lock(User, user.pk, _("员工不存在"))
    _check_version(locked, expected_version)
    cleaned = _clean_staff(data, instance=locked)
    _guard_roles(actor, old_role=locked.role, new_role=cleaned["role"], user=locked)
    before = _staff_snapshot(locked)
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    _set_skills(locked, data.skills)
    after = _staff_snapshot(locked)
    if before["team"] != after["team"]:
        _directory_changed()
    audit_record(actor=actor, action="staff.updated", obj=locked, summary=locked.username,
                 data={"before": before, "after": after})
    return locked


def _directory_changed() -> None:
    bump_after_commit(DIRECTORY)  # the cached lists of people (the work-order page's "assign" list)


@transaction.atomic
def staff_set_active(*, actor: Any, user: User, active: bool) -> User:
    """Deactivate (no sign-in, no API tokens; history stays) or reactivate an account."""
    _require(actor, AccountRight.STAFF_MANAGE)
    locked = _lock(User, user.pk, _("员工不存在"))
    if locked.is_active == active:
        return locked
    if not active:
        if locked.pk == getattr(actor, "pk", None):
            raise Conflict(_("不能停用自己的账号"), code="self_deactivation")
        if locked.role == Role.ADMIN:
            _keep_an_administrator(locked)
    elif locked.employee_no and User.objects.filter(employee_no=locked.employee_no, is_active=True).exclude(
            pk=locked.pk).exists():
        raise Conflict(_("工号“%(n)s”已被在职人员使用，请先修改工号") % {"n": locked.employee_no},
                       code="employee_no_taken", details={"field": "employee_no"})
    locked.is_active = active
    locked.version += 1
    locked.save(update_fields=["is_active", "version"])
    if not active:
        sessions_end_all(locked)
    _directory_changed()
    audit_record(actor=actor, action="staff.reactivated" if active else "staff.deactivated", obj=locked,
                 summary=locked.username)
    return locked


@dataclass(frozen=True)
class PasswordReset:
    method: str  # "temporary" or "link"
    temporary_password: str = ""
    link_path: str = ""  # /account/reset/<uid>/<token>/: valid once, for PASSWORD_RESET_TIMEOUT


@transaction.atomic
def staff_reset_password(*, actor: Any, user: User, method: str) -> PasswordReset:
    """Give a person a way back in: a temporary password they must change at first sign-in, or a one-time link
    to set their own (nothing to read out over the phone; it stops working once used)."""
    _require(actor, AccountRight.STAFF_MANAGE)
    locked = _lock(User, user.pk, _("员工不存在"))
    if locked.role == Role.ADMIN and getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied(_("只有系统管理员可以重置系统管理员的密码"))
    if method == "temporary":
        password = temporary_password()
        locked.set_password(password)
        locked.must_change_password = True
        locked.save(update_fields=["password", "must_change_password"])
        sessions_end_all(locked)
        audit_record(actor=actor, action="staff.password_reset", obj=locked, summary=locked.username,
                     data={"method": method})
        return PasswordReset(method=method, temporary_password=password)
    if method == "link":
        from django.urls import reverse

        uid = urlsafe_base64_encode(force_bytes(locked.pk))
        path = reverse("administration:password_reset_confirm",
                       kwargs={"uidb64": uid, "token": default_token_generator.make_token(locked)})
        audit_record(actor=actor, action="staff.password_reset", obj=locked, summary=locked.username,
                     data={"method": method})
        return PasswordReset(method=method, link_path=path)
    raise _invalid(_("重置方式只能是临时密码或一次性链接"), "method")


@transaction.atomic
def password_change(*, user: User, new_password: str, old_password: str | None = None) -> User:
    """A person sets their own password (at first sign-in, after a reset, or whenever they like)."""
    locked = _lock(User, user.pk, _("员工不存在"))
    if old_password is not None and not locked.check_password(old_password):
        raise _invalid(_("当前密码不正确"), "old_password")
    try:
        validate_password(new_password, user=locked)
    except DjangoValidationError as exc:
        raise _invalid(" ".join(exc.messages), "new_password") from None
    if locked.check_password(new_password):
        raise _invalid(_("新密码不能与当前密码相同"), "new_password")
    locked.set_password(new_password)
    locked.must_change_password = False
    locked.save(update_fields=["password", "must_change_password"])
    sessions_end_all(locked)  # every other browser signs in again (this one is kept by update_session_auth_hash)
    audit_record(actor=locked, action="account.password_changed", obj=locked, summary=locked.username)
    return locked


# --- teams ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamData:
    name: str
    department: Department
    lead: User | None = None
    is_active: bool = True


def _clean_team(data: TeamData, *, instance: Team | None) -> dict[str, Any]:
    name = _text(data.name, "name", _("班组名称"), 100, required=True)
    if Team.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        raise _invalid(_("已有名为“%(n)s”的班组") % {"n": name}, "name")
    if data.department is None:
        raise _invalid(_("请选择所属部门"), "department")
    if not data.department.is_service_center:
        raise _invalid(_("班组属于客服中心；其他部门通过派单接收工作"), "department")
    lead = data.lead
    if lead is not None:
        if not lead.is_active or lead.role not in (Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER):
            raise _invalid(_("组长必须是在职的客服组长（或班长、经理）"), "lead")
        if lead.team_id and lead.team_id != getattr(instance, "pk", None):
            raise _invalid(_("“%(u)s”已属于班组“%(t)s”，请先调整其班组") % {"u": lead, "t": lead.team}, "lead")
    return {"name": name, "department": data.department, "lead": lead, "is_active": bool(data.is_active)}


def _seat_lead(team: Team) -> None:
    if team.lead_id:
        User.objects.filter(pk=team.lead_id, team__isnull=True).update(team=team)


@transaction.atomic
def team_create(*, actor: Any, data: TeamData) -> Team:
    _require(actor, AccountRight.ORG_MANAGE)
    team = Team.objects.create(**_clean_team(data, instance=None))
    _seat_lead(team)
    _directory_changed()
    audit_record(actor=actor, action="team.created", obj=team, summary=team.name,
                 data={"lead": team.lead_id, "department": team.department_id})
    return team


@transaction.atomic
def team_update(*, actor: Any, team: Team, data: TeamData, expected_version: int | None) -> Team:
    _require(actor, AccountRight.ORG_MANAGE)
    locked = _lock(Team, team.pk, _("班组不存在"))
    _check_version(locked, expected_version)
    cleaned = _clean_team(data, instance=locked)
    if not cleaned["is_active"] and locked.is_active and User.objects.filter(team=locked, is_active=True).exists():
        raise Conflict(_("班组还有在职成员，请先调整他们的班组再停用"), code="team_has_members")
    before = {"name": locked.name, "lead": locked.lead_id, "department": locked.department_id,
              "is_active": locked.is_active}
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    _seat_lead(locked)
    _directory_changed()
    audit_record(actor=actor, action="team.updated", obj=locked, summary=locked.name,
                 data={"before": before, "after": {"name": locked.name, "lead": locked.lead_id,
                                                   "department": locked.department_id,
                                                   "is_active": locked.is_active}})
    return locked


# --- departments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentData:
    name: str
    code: str
    is_service_center: bool = False
    manager: User | None = None
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    calendar: Any = None
    default_due_seconds: int | None = None
    is_active: bool = True


def _clean_department(data: DepartmentData, *, instance: Department | None) -> dict[str, Any]:
    pk = getattr(instance, "pk", None)
    name = _text(data.name, "name", _("部门名称"), 100, required=True)
    if Department.objects.filter(name=name).exclude(pk=pk).exists():
        raise _invalid(_("已有名为“%(n)s”的部门") % {"n": name}, "name")
    code = _text(data.code, "code", _("部门代码"), 40, required=True).lower()
    if not CODE.match(code):
        raise _invalid(_("部门代码只能用小写字母、数字、- 和 _"), "code")
    if Department.objects.filter(code=code).exclude(pk=pk).exists():
        raise _invalid(_("部门代码“%(c)s”已被使用") % {"c": code}, "code")
    if data.manager is not None and not data.manager.is_active:
        raise _invalid(_("负责人必须是在职人员"), "manager")
    contact_phone = _text(data.contact_phone, "contact_phone", _("联系电话"), 32)
    if contact_phone and not PHONE.match(contact_phone):
        raise _invalid(_("联系电话格式不正确"), "contact_phone")
    contact_email = _text(data.contact_email, "contact_email", _("联系邮箱"), 254)
    if contact_email:
        try:
            validate_email(contact_email)
        except DjangoValidationError:
            raise _invalid(_("联系邮箱格式不正确"), "contact_email") from None
    due = data.default_due_seconds
    if due is not None and (isinstance(due, bool) or not isinstance(due, int) or not 60 <= due <= MAX_DUE_SECONDS):
        raise _invalid(_("默认完成时限必须至少 1 分钟"), "default_due_seconds")
    if due is not None and data.calendar is None:
        raise _invalid(_("设置默认完成时限时，请选择计时所用的工作日历"), "calendar")
    return {"name": name, "code": code, "is_service_center": bool(data.is_service_center),
            "manager": data.manager, "contact_name": _text(data.contact_name, "contact_name", _("联系人"), 100),
            "contact_phone": contact_phone, "contact_email": contact_email, "calendar": data.calendar,
            "default_due_seconds": due, "is_active": bool(data.is_active)}


def _department_snapshot(department: Department) -> dict[str, Any]:
    return {f: getattr(department, f) for f in ("name", "code", "is_service_center", "contact_name",
                                               "contact_phone", "contact_email", "default_due_seconds",
                                               "is_active")} | {"manager": department.manager_id,
                                                                "calendar": department.calendar_id}


@transaction.atomic
def department_create(*, actor: Any, data: DepartmentData) -> Department:
    _require(actor, AccountRight.ORG_MANAGE)
    department = Department.objects.create(**_clean_department(data, instance=None))
    _directory_changed()
    audit_record(actor=actor, action="department.created", obj=department, summary=department.name,
                 data=_department_snapshot(department))
    return department


@transaction.atomic
def department_update(*, actor: Any, department: Department, data: DepartmentData,
                      expected_version: int | None) -> Department:
    _require(actor, AccountRight.ORG_MANAGE)
    locked = _lock(Department, department.pk, _("部门不存在"))
    _check_version(locked, expected_version)
    cleaned = _clean_department(data, instance=locked)
    if not cleaned["is_active"] and locked.is_active:
        from kefu.tickets.selectors import open_dispatches_of

        if open_dispatches_of(locked.pk).exists():
            raise Conflict(_("该部门还有未完成的派单，完成或撤回后再停用"), code="department_has_open_dispatches")
    before = _department_snapshot(locked)
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    _directory_changed()
    audit_record(actor=actor, action="department.updated", obj=locked, summary=locked.name,
                 data={"before": before, "after": _department_snapshot(locked)})
    return locked


# --- skills -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkillData:
    code: str
    name: str
    is_active: bool = True


def _clean_skill(data: SkillData, *, instance: Skill | None) -> dict[str, Any]:
    pk = getattr(instance, "pk", None)
    code = _text(data.code, "code", _("技能代码"), 40, required=True).lower()
    if not CODE.match(code):
        raise _invalid(_("技能代码只能用小写字母、数字、- 和 _"), "code")
    if Skill.objects.filter(code=code).exclude(pk=pk).exists():
        raise _invalid(_("技能代码“%(c)s”已被使用") % {"c": code}, "code")
    return {"code": code, "name": _text(data.name, "name", _("技能名称"), 100, required=True),
            "is_active": bool(data.is_active)}


@transaction.atomic
def skill_create(*, actor: Any, data: SkillData) -> Skill:
    _require(actor, AccountRight.ORG_MANAGE)
    skill = Skill.objects.create(**_clean_skill(data, instance=None))
    audit_record(actor=actor, action="skill.created", obj=skill, summary=f"{skill.code} {skill.name}")
    return skill


@transaction.atomic
def skill_update(*, actor: Any, skill: Skill, data: SkillData, expected_version: int | None) -> Skill:
    _require(actor, AccountRight.ORG_MANAGE)
    locked = _lock(Skill, skill.pk, _("技能不存在"))
    _check_version(locked, expected_version)
    for name, value in _clean_skill(data, instance=locked).items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="skill.updated", obj=locked, summary=f"{locked.code} {locked.name}")
    return locked


# --- reads for the administration pages ---------------------------------------------------------------------


def staff_queryset(*, q: str = "", role: str = "", team_id: int | None = None, active: str = "active") -> Any:
    """The staff list's rows (one query with team and department), filtered."""
    qs = User.objects.select_related("team", "department").order_by("-is_active", "employee_no", "username")
    if active == "active":
        qs = qs.filter(is_active=True)
    elif active == "inactive":
        qs = qs.filter(is_active=False)
    if role in Role.values:
        qs = qs.filter(role=role)
    if team_id:
        qs = qs.filter(team_id=team_id)
    text = q.strip()
    if text:
        qs = qs.filter(Q(username__icontains=text) | Q(display_name__icontains=text) | Q(employee_no=text))
    return qs
