"""`who_sees` (one check per group of people who see an order alike) and `may_see` (one loaded order, from its
fields) give exactly the people `can_see` admits, for every persona and every relation to the order: owner,
first-contact owner, team mate, other team, department staff with and without a dispatch, an inactive manager."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.tests.factories import DepartmentFactory, UserFactory
from kefu.core.policy import can_see, may_see, who_sees
from kefu.tickets import services

pytestmark = pytest.mark.django_db


def test_who_sees_equals_can_see_for_everyone(agent: Any, other_agent: Any, team_lead: Any, shift_lead: Any,
                                              qa: Any, manager: Any, admin_user: Any, department_user: Any,
                                              repair_department: Any, customer: Any, team: Any) -> None:
    mate = UserFactory(team=team, department=agent.department)
    lone = UserFactory(team=None, department=agent.department)
    other_department = UserFactory(department=DepartmentFactory(), role=department_user.role)
    homeless = UserFactory(department=None, role=department_user.role)
    gone = UserFactory(role=manager.role, is_active=False)
    people = [agent, other_agent, team_lead, shift_lead, qa, manager, admin_user, department_user, mate, lone,
              other_department, homeless, gone]
    mine = services.ticket_create(actor=agent, subject="报修", customer=customer)
    theirs = services.ticket_create(actor=other_agent, subject="咨询", customer=customer)
    lonely = services.ticket_create(actor=lone, subject="投诉", customer=customer)
    services.ticket_dispatch(actor=agent, ticket=mine, department=repair_department)
    for ticket in (mine, theirs, lonely):
        ticket.refresh_from_db()
        expected = [p.username for p in people if can_see(p, ticket)]
        assert [p.username for p in who_sees(people, ticket)] == expected, ticket.subject
        assert [p.username for p in people if may_see(p, ticket)] == expected, ticket.subject
    # the groups are real: the agent's order is seen by the department it went to, not by the other one
    assert department_user in who_sees(people, mine)
    assert other_department not in who_sees(people, mine)
    assert homeless not in who_sees(people, mine)
    assert other_agent not in who_sees(people, mine)
    assert other_agent in who_sees(people, theirs)
