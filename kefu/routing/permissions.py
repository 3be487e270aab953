"""Rights on queues."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import FRONT_LINE, LEADS, Role
from kefu.core.policy import register_rights


class RoutingRight(StrEnum):
    QUEUE_MANAGE = "queue.manage"  # set up queues and their service-level targets
    STATE_OWN = "agent_state.own"  # set one's own state (available, break, …)
    STATE_OTHERS = "agent_state.others"  # set others' states: a team lead their teams', supervisors anyone's
    STATE_VIEW = "agent_state.view"  # see agents' states (the wallboard)
    CONTACT_TAKE = "routed_contact.take"  # be offered contacts by routing, accept or decline them


def register() -> None:
    register_rights({
        RoutingRight.QUEUE_MANAGE: {Role.MANAGER, Role.ADMIN},
        RoutingRight.STATE_OWN: FRONT_LINE,
        RoutingRight.STATE_OTHERS: LEADS,
        RoutingRight.STATE_VIEW: FRONT_LINE | {Role.QA},
        RoutingRight.CONTACT_TAKE: FRONT_LINE,
    })
