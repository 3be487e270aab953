"""Factories for staff personas: users with role traits, departments and teams (shared by all apps' tests)."""

from __future__ import annotations

import factory

from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User


class DepartmentFactory(factory.django.DjangoModelFactory):
    """A department; `is_service_center=True` for the customer service center itself."""

    class Meta:
        model = Department
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"部门{n}")
    code = factory.Sequence(lambda n: f"dept-{n}")
    is_service_center = False

    class Params:
        service_center = factory.Trait(is_service_center=True, name="客服中心", code="service")
        repair = factory.Trait(name="维修部", code="repair")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"客服{n}组")
    department = factory.SubFactory(DepartmentFactory, service_center=True)


class UserFactory(factory.django.DjangoModelFactory):
    """A staff user. Default role agent; traits: team_lead, shift_lead, qa, manager, admin, department.

    The password is always "pass" (fast hasher in tests).
    """

    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"员工{n}")
    # A letter no test writes by hand: a literal number in a test never meets a number the factory already gave out
    employee_no = factory.Sequence(lambda n: f"F{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = Role.AGENT
    is_active = True
    team = None
    department = None
    password = factory.django.Password("pass")

    class Params:
        agent = factory.Trait(role=Role.AGENT)
        team_lead = factory.Trait(role=Role.TEAM_LEAD)
        shift_lead = factory.Trait(role=Role.SHIFT_LEAD)
        qa = factory.Trait(role=Role.QA)
        manager = factory.Trait(role=Role.MANAGER)
        admin = factory.Trait(role=Role.ADMIN, is_staff=True, is_superuser=True)
        department_staff = factory.Trait(role=Role.DEPARTMENT)
