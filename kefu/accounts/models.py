"""Users, departments, teams, skills and personal API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.accounts.choices import Role, TokenScope
from kefu.core.models import TimeStampedModel


class Department(TimeStampedModel):
    """A department of the company: the service center itself or one that receives dispatched orders."""

    name = models.CharField(_("部门名称"), max_length=100, unique=True)
    code = models.SlugField(_("部门代码"), max_length=40, unique=True)
    is_service_center = models.BooleanField(_("客服中心"), default=False)
    manager = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="managed_departments", verbose_name=_("负责人"))
    contact_name = models.CharField(_("联系人"), max_length=100, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=32, blank=True)
    contact_email = models.EmailField(_("联系邮箱"), blank=True)
    # A dispatch sent without a due time is due this many business seconds later on this calendar.
    calendar = models.ForeignKey("core.BusinessCalendar", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("工作日历"))
    default_due_seconds = models.PositiveIntegerField(_("默认完成时限（工作秒）"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(TimeStampedModel):
    name = models.CharField(_("班组名称"), max_length=100, unique=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="teams",
                                   verbose_name=_("所属部门"))
    lead = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="led_teams", verbose_name=_("组长"))
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("班组")
        verbose_name_plural = _("班组")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    display_name = models.CharField(_("姓名"), max_length=100, blank=True)
    employee_no = models.CharField(_("工号"), max_length=20, blank=True, db_index=True)
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, default=Role.AGENT, db_index=True)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="members",
                             verbose_name=_("班组"))
    department = models.ForeignKey(Department, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="members", verbose_name=_("部门"))
    phone = models.CharField(_("手机号"), max_length=32, blank=True)
    # the agent's phone on the PBX: click-to-dial rings it first; a PBX naming agents by extension finds them
    extension = models.CharField(_("分机号"), max_length=20, blank=True)
    language = models.CharField(_("界面语言"), max_length=10, default="zh-hans",
                                choices=[("zh-hans", "简体中文"), ("en", "English")])
    # Set by a temporary password (an administrator's reset, an import): every page asks for a new one first.
    must_change_password = models.BooleanField(_("须修改密码"), default=False)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")
        ordering = ["employee_no", "username"]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def name(self) -> str:
        return str(self)

    def team_ids(self, *, led: bool = True) -> set[int]:
        """The teams this person is a member of and, with `led`, the teams they lead (a lead may lead teams they
        are not a member of). One query when `led`; none otherwise."""
        teams = {self.team_id} if self.team_id else set()
        if led and self.pk:
            teams |= set(Team.objects.filter(lead_id=self.pk).values_list("pk", flat=True))
        return teams


# What a page needs to name a user (str(user), the employee number, the team, the role): the other columns
# (password hash, e-mail, phone, …) are left unloaded where users are only shown by name, as in a work order's
# thread and history.
USER_LABEL_FIELDS = frozenset({"id", "username", "display_name", "first_name", "last_name", "employee_no", "team",
                               "role", "is_active"})


def user_label_defer(prefix: str = "") -> list[str]:
    """The User fields not needed to name a user, for `QuerySet.defer()`; `prefix` is the relation's path."""
    lead = f"{prefix}__" if prefix else ""
    return [f"{lead}{f.name}" for f in User._meta.concrete_fields if f.name not in USER_LABEL_FIELDS]


class Skill(models.Model):
    code = models.SlugField(_("技能代码"), max_length=40, unique=True)
    name = models.CharField(_("技能名称"), max_length=100)
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("技能")
        verbose_name_plural = _("技能")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class AgentSkill(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="skills", verbose_name=_("客服"))
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents", verbose_name=_("技能"))
    proficiency = models.PositiveSmallIntegerField(_("熟练度"), default=3, help_text=_("1（入门）到 5（专家）"))

    class Meta:
        verbose_name = _("客服技能")
        verbose_name_plural = _("客服技能")
        constraints = [models.UniqueConstraint(fields=["user", "skill"], name="agent_skill_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.skill} ({self.proficiency})"


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the token is shown once when created."""

    PREFIX = "kefu_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("用户"))
    name = models.CharField(_("用途"), max_length=100)
    key_prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    # What the token may do (TokenScope values); the role's rights still apply on top.
    scopes = models.JSONField(_("权限范围"), default=list)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def new_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def scope_labels(self) -> list[str]:
        labels = dict(TokenScope.choices)
        return [str(labels.get(s, s)) for s in self.scopes]


class SignInLock(models.Model):
    """An account or a client address locked after too many failed sign-ins (or guessed API tokens), until
    `locked_until` or an administrator's unlock. Kept afterwards as the record of what happened."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", _("账号")
        ADDRESS = "address", _("网络地址")
        TOKEN_ADDRESS = "token_address", _("网络地址（API 令牌）")

    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("账号或地址"), max_length=150)  # the user name as typed (lower case), or the address
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                             verbose_name=_("用户"))  # the account, when the name is one
    failures = models.PositiveIntegerField(_("失败次数"), default=0)
    locked_at = models.DateTimeField(_("锁定时间"), default=timezone.now)
    locked_until = models.DateTimeField(_("解锁时间"), db_index=True)
    unlocked_at = models.DateTimeField(_("提前解锁时间"), null=True, blank=True)
    unlocked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    verbose_name=_("解锁人"))

    class Meta:
        verbose_name = _("登录锁定")
        verbose_name_plural = _("登录锁定")
        ordering = ["-locked_at", "-id"]
        indexes = [models.Index(fields=["kind", "value", "locked_until"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value} → {self.locked_until:%Y-%m-%d %H:%M}"


class UserSession(models.Model):
    """One signed-in browser of a person: the index behind "my sessions" and "sign out everywhere". Points at the
    session row by its key's hash (the session store keeps only that hash, kefu.core.sessions); last_seen_at is
    written at most once a minute."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions", verbose_name=_("用户"))
    session_key_hash = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(_("浏览器"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    created_at = models.DateTimeField(_("登录时间"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("最近活动"), default=timezone.now)

    class Meta:
        verbose_name = _("登录会话")
        verbose_name_plural = _("登录会话")
        ordering = ["-last_seen_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} · {self.ip_address or '?'} · {self.created_at:%Y-%m-%d %H:%M}"
