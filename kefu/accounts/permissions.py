"""Rights on people and the organisation: the directory, staff accounts, teams, departments, skills, tokens."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import LEADS, Role
from kefu.core.policy import register_rights


class AccountRight(StrEnum):
    DIRECTORY_VIEW = "directory.view"
    TOKEN_MANAGE_OWN = "token.manage_own"  # noqa: S105 - a right's name, not a secret
    STAFF_VIEW = "staff.view"  # the staff pages of the administration
    STAFF_MANAGE = "staff.manage"  # create, edit, deactivate accounts; reset passwords; import
    ORG_MANAGE = "org.manage"  # teams, departments, skills
    SIGNIN_UNLOCK = "signin.unlock"  # see and end sign-in locks (accounts, addresses)
    TOKEN_MANAGE_ALL = "token.manage_all"  # noqa: S105 - see and revoke anyone's API tokens


def register() -> None:
    """Called when the app is ready."""
    register_rights({
        AccountRight.DIRECTORY_VIEW: set(Role),
        AccountRight.TOKEN_MANAGE_OWN: set(Role),
        AccountRight.STAFF_VIEW: LEADS,
        AccountRight.STAFF_MANAGE: {Role.MANAGER, Role.ADMIN},
        AccountRight.ORG_MANAGE: {Role.MANAGER, Role.ADMIN},
        AccountRight.SIGNIN_UNLOCK: {Role.MANAGER, Role.ADMIN},
        AccountRight.TOKEN_MANAGE_ALL: {Role.ADMIN},
    })
