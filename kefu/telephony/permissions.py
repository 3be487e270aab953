"""Rights on telephony: reporting what the PBX does (the CTI event API), seeing calls (which ones: registered
with the policy), and commanding the PBX (click-to-dial, transfer)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from kefu.accounts.choices import FRONT_LINE, LEADS, Role
from kefu.core.policy import can_see, has_right, register_rights, register_scope, role_of


class TelephonyRight(StrEnum):
    REPORT = "telephony.report"  # a PBX (its API token) reporting call events; administrators hold it
    VIEW = "call.view"  # see calls: one's own and one's teams' queues'
    VIEW_ALL = "call.view_all"  # see every call (the floor's supervisors, quality)
    DIAL = "call.dial"  # click-to-dial: the PBX rings one's own extension, then the number
    TRANSFER = "call.transfer"  # transfer a call one is talking on (others' calls: TRANSFER_OTHERS too)
    TRANSFER_OTHERS = "call.transfer_others"  # leads: transfer calls of the agents they see
    IVR_MANAGE = "ivr.manage"  # edit the voice menus (IVR) the PBX is served
    BLACKLIST_MANAGE = "blacklist.manage"  # refuse a caller's number (harassment, fraud)


def register() -> None:
    from kefu.telephony.models import Call

    register_rights({
        TelephonyRight.REPORT: {Role.ADMIN},
        TelephonyRight.VIEW: FRONT_LINE | {Role.QA},
        TelephonyRight.VIEW_ALL: {Role.SHIFT_LEAD, Role.QA, Role.MANAGER, Role.ADMIN},
        TelephonyRight.DIAL: FRONT_LINE,
        TelephonyRight.TRANSFER: FRONT_LINE,
        TelephonyRight.TRANSFER_OTHERS: LEADS,
        TelephonyRight.IVR_MANAGE: {Role.MANAGER, Role.ADMIN},
        TelephonyRight.BLACKLIST_MANAGE: {Role.MANAGER, Role.ADMIN},
    })
    register_scope(Call, visible_to=visible_calls, allows=_call_allows)


def _teams(user: Any) -> set[int]:
    return set(user.team_ids(led=bool(role_of(user))))


def _routed_to(user: Any) -> QuerySet[Any]:
    """The PBX ids of the calls routing offers the person now or gave them (a queue without a team: before the
    PBX reports the call at the agent, only routing knows whose it is)."""
    from django.db.models.functions import Substr

    from kefu.routing.models import RoutedContact

    prefix = "call:"
    return (RoutedContact.objects.filter(Q(agent_id=user.pk) | Q(offer_set__agent_id=user.pk),
                                         ref__startswith=prefix)
            .annotate(pbx_call_id=Substr("ref", len(prefix) + 1)).values("pbx_call_id"))


def visible_calls(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Every call for supervisors; else the calls that rang or reached the person, and those of their teams'
    queues."""
    if has_right(user, TelephonyRight.VIEW_ALL):
        return queryset
    if not has_right(user, TelephonyRight.VIEW):
        return queryset.none()
    mine = Q(agent_id=user.pk) | Q(events__agent_id=user.pk) | Q(call_id__in=_routed_to(user))
    teams = _teams(user)
    if teams:
        mine |= Q(queue__team_id__in=teams)
    return queryset.filter(mine).distinct()


def _call_allows(user: Any, right: str, call: Any) -> bool:
    """A right on one call: it must be visible; a transfer is the call's agent's, or a lead's (TRANSFER_OTHERS)."""
    if not can_see(user, call):
        return False
    if right == TelephonyRight.TRANSFER:
        return call.agent_id == user.pk or has_right(user, TelephonyRight.TRANSFER_OTHERS)
    return True
