"""The shared personas of kefu/conftest.py exist with the team layout other tests rely on."""


def test_personas(
    agent, team_lead, shift_lead, qa, manager, admin_user, department_user, other_agent, customer
):
    assert agent.team_id == team_lead.team_id != other_agent.team_id
    assert department_user.department.code == "repair"
    assert agent.check_password("pass")
    assert customer.contacts.count() == 2
