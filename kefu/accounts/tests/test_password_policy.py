"""The password policy: at least 12 characters (a phrase of several words welcome), none of the common or leaked
passwords (offline lists), not quickly guessable; applied wherever a password is set."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from kefu.accounts import staff
from kefu.core.errors import ValidationFailed
from kefu.demo.builder import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

REFUSED = {
    "Kefu2026!": "password_too_short",  # 9 characters: the probe's accepted password
    "password1234": "password_leaked",  # on the leaked list
    "qwertyuiop123": "password_leaked",  # on the leaked list
    "qwertyuiopasdf": "password_guessable",  # keyboard rows
    "aaaaaaaaaaaaaa": "password_guessable",  # repeats
    "Password2026!": "password_guessable",  # a common word, a year, a sign
    "zaq12wsxcde34rfv": "password_guessable",  # a keyboard pattern
    "123456789012": "password_entirely_numeric",
}
ACCEPTED = ["lantern orchid quarry", "tea-kettle-on-mars", "我爱北京天安门广场的黄昏", DEMO_PASSWORD, "x7Pq2mZr9KfW"]


@pytest.mark.parametrize(("password", "code"), REFUSED.items())
def test_weak_passwords_are_refused(password: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_password(password)
    assert code in {error.code for error in refused.value.error_list}


@pytest.mark.parametrize("password", ACCEPTED)
def test_passphrases_and_strong_passwords_pass(password: str) -> None:
    validate_password(password)


def test_a_password_like_the_person_is_refused(agent: Any) -> None:
    agent.display_name = "zhangweiming"
    with pytest.raises(ValidationError):
        validate_password("zhangweiming88", user=agent)


def test_password_change_applies_the_policy(agent: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        staff.password_change(user=agent, new_password="Kefu2026!", old_password="pass")
    assert refused.value.details["field"] == "new_password"
    assert "12" in refused.value.message
    staff.password_change(user=agent, new_password="lantern orchid quarry", old_password="pass")


def test_temporary_passwords_of_resets_and_new_accounts_meet_the_policy(admin_user: Any, agent: Any) -> None:
    for _n in range(20):
        validate_password(staff.temporary_password())
    reset = staff.staff_reset_password(actor=admin_user, user=agent, method="temporary")
    validate_password(reset.temporary_password)
    created = staff.staff_create(actor=admin_user, data=staff.StaffData(username="newbie", display_name="新人",
                                                                       role="agent"))
    validate_password(created.temporary_password, user=created.user)


def test_createadmin_applies_the_policy() -> None:
    with pytest.raises(CommandError, match="12"):
        call_command("createadmin", username="boss", password="short-one")
    call_command("createadmin", username="boss", password="lantern orchid quarry")


def test_the_demo_password_signs_in_after_the_demo_is_built(settings: Any) -> None:
    from django.test import Client

    call_command("demo", "--small")
    answer = Client().post("/login/", {"username": "agent1", "password": DEMO_PASSWORD})
    assert answer.status_code == 302
