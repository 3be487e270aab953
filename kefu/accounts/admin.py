"""django-admin views of people and the organisation, read-only: Kefu's administration pages (/admin/staff/…)
change them through the services, with their rules and audit rows. Django's groups are not used (rights come from
roles, kefu/*/permissions.py)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group

from kefu.accounts.forms import AdminLoginForm
from kefu.accounts.models import Department, SignInLock, Skill, Team, User
from kefu.core.admin_base import ReadOnlyModelAdmin

admin.site.unregister(Group)
admin.site.login_form = AdminLoginForm  # guarded and counted like the sign-in page (kefu.accounts.signin)


@admin.register(User)
class UserAdmin(ReadOnlyModelAdmin):
    list_display = ("username", "display_name", "employee_no", "role", "team", "department", "is_active",
                    "last_login")
    list_filter = ("role", "is_active", "team")
    search_fields = ("username", "display_name", "employee_no")
    list_select_related = ("team", "department")
    exclude = ("password",)


@admin.register(Team)
class TeamAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "department", "lead", "is_active")


@admin.register(Department)
class DepartmentAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "code", "is_service_center", "contact_name", "contact_phone", "is_active")


@admin.register(Skill)
class SkillAdmin(ReadOnlyModelAdmin):
    list_display = ("code", "name", "is_active")


@admin.register(SignInLock)
class SignInLockAdmin(ReadOnlyModelAdmin):
    list_display = ("kind", "value", "failures", "locked_at", "locked_until", "unlocked_at", "unlocked_by")
    list_filter = ("kind",)
    search_fields = ("value",)
