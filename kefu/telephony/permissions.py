"""Rights on telephony: reporting what the PBX does (the CTI event API), and seeing calls."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import FRONT_LINE, Role
from kefu.core.policy import register_rights


class TelephonyRight(StrEnum):
    REPORT = "telephony.report"  # a PBX (its API token) reporting call events; administrators hold it
    VIEW = "call.view"  # see calls and their events


def register() -> None:
    register_rights({
        TelephonyRight.REPORT: {Role.ADMIN},
        TelephonyRight.VIEW: FRONT_LINE | {Role.SHIFT_LEAD, Role.QA, Role.MANAGER, Role.ADMIN},
    })
