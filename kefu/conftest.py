"""Shared pytest fixtures: the personas of STYLE habit 6 (with an outsider) and a customer.

Team layout: `agent` and `team_lead` are in team "客服一组" (`team`); `other_agent` is in "客服二组"
(`other_team`), the outsider; `department_user` belongs to the repair department (`repair_department`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from kefu.accounts.tests.factories import DepartmentFactory, TeamFactory, UserFactory

# Property tests draw the same examples on every run (a fixed seed): a failure is found again by rerunning, not
# by luck, and CI cannot go red on a draw it never made before.
hypothesis_settings.register_profile("kefu", derandomize=True)
hypothesis_settings.load_profile("kefu")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Each test starts with empty caches: the page header's SLA counters, the SLA engine's calendars (tests
    rewrite calendars with queryset updates, which do not stamp a new version), the rate-limit counts."""
    from django.conf import settings
    from django.core.cache import cache

    from kefu.core import ratelimit
    from kefu.knowledge import index as knowledge_index
    from kefu.tickets import sla

    def clear() -> None:
        cache.clear()
        sla._SPECS.clear()
        knowledge_index.forget()  # tests' databases restart their ids: a fingerprint could repeat
        if settings.REDIS_URL:  # rate-limit counts in Redis (in the database they roll back with the test)
            ratelimit.clear_all()

    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
def _site_language() -> Any:
    """Each test starts in the site's language: a request by an English-speaking user activates English in the
    thread, and it must not leak into the next test (a reply's subject, a notice's wording)."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def login(client: Any) -> Any:
    """`login(user)` signs `user` in on the test client and returns the client."""

    def _login(user: Any) -> Any:
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def service_center(db: Any) -> Any:
    return DepartmentFactory(service_center=True)


@pytest.fixture
def repair_department(db: Any) -> Any:
    return DepartmentFactory(repair=True)


@pytest.fixture
def team(service_center: Any) -> Any:
    return TeamFactory(name="客服一组", department=service_center)


@pytest.fixture
def other_team(service_center: Any) -> Any:
    return TeamFactory(name="客服二组", department=service_center)


@pytest.fixture
def team_lead(team: Any, service_center: Any) -> Any:
    user = UserFactory(username="lead", display_name="王组长", team_lead=True, team=team,
                       department=service_center)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def agent(team: Any, service_center: Any) -> Any:
    return UserFactory(username="agent", display_name="李客服", agent=True, team=team,
                       department=service_center)


@pytest.fixture
def other_agent(other_team: Any, service_center: Any) -> Any:
    """Another team's agent: the outsider every permission test checks."""
    return UserFactory(username="other_agent", display_name="赵客服", agent=True, team=other_team,
                       department=service_center)


@pytest.fixture
def shift_lead(service_center: Any) -> Any:
    return UserFactory(username="shift_lead", display_name="陈班长", shift_lead=True,
                       department=service_center)


@pytest.fixture
def qa(service_center: Any) -> Any:
    return UserFactory(username="qa", display_name="周质检", qa=True, department=service_center)


@pytest.fixture
def manager(service_center: Any) -> Any:
    return UserFactory(username="manager", display_name="刘经理", manager=True, department=service_center)


@pytest.fixture
def admin_user(service_center: Any) -> Any:
    return UserFactory(username="admin", display_name="系统管理员", admin=True, department=service_center)


@pytest.fixture
def department_user(repair_department: Any) -> Any:
    """Staff of the repair department, who receive dispatched orders."""
    return UserFactory(username="repair", display_name="孙师傅", department_staff=True,
                       department=repair_department)


@pytest.fixture
def customer(db: Any) -> Any:
    """A customer with a mobile phone and an e-mail."""
    from kefu.customers.tests.factories import CustomerFactory

    return CustomerFactory(code="C900001", name="张三", phone="13800138000", email="zhangsan@example.com",
                           id_number="110101199003071233")
