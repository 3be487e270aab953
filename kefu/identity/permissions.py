"""Rights of sign-in security: the per-role two-factor rule, the local-password switch, resetting another
person's second factor. One's own second factor needs no right beyond being signed in."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import Role
from kefu.core.policy import register_rights


class IdentityRight(StrEnum):
    SIGNIN_POLICY_MANAGE = "signin_policy.manage"  # which roles must use two-factor; local passwords per person
    TWO_FACTOR_RESET = "two_factor.reset"  # remove a person's authenticator and recovery codes (a lost phone)


def register() -> None:
    """Called when the app is ready."""
    register_rights({
        IdentityRight.SIGNIN_POLICY_MANAGE: {Role.ADMIN},
        IdentityRight.TWO_FACTOR_RESET: {Role.ADMIN},
    })
