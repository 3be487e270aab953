"""Reads of the agent's desktop (我的工作台): the agent's state with its time, the open offer, the contacts in hand
with where to open them, today's own figures and the queues that can reach the agent. Times are handed to the
page as seconds measured here (the page counts on from them), so a browser's wrong clock does not matter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.core.policy import has_right
from kefu.routing import selectors as routing
from kefu.routing.choices import AgentStateKind, QueueKind, StateSource
from kefu.routing.models import AgentState

# What an agent may choose in the header's switch; the others (on a contact, after-contact work, missed) are set
# by routing and the PBX.
CHOOSABLE = (AgentStateKind.AVAILABLE, AgentStateKind.BREAK, AgentStateKind.MEAL, AgentStateKind.TRAINING,
             AgentStateKind.MEETING, AgentStateKind.OFFLINE)
STATE_HINTS = {
    AgentStateKind.AVAILABLE: _("可接收新的分配"),
    AgentStateKind.MISSED: _("有分配超时未应答：切换为空闲后才会收到新的分配"),
    AgentStateKind.AFTER_CONTACT: _("话后处理结束后自动恢复空闲"),
    AgentStateKind.ON_CONTACT: _("正在接待，暂不分配新的电话"),
}


def clock(seconds: float | None) -> str:
    """1:05 or 1:02:03; — for nothing."""
    if seconds is None:
        return "—"
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class StateView:
    state: str
    label: str
    seconds: float | None  # in this state, at the time of the read
    note: str
    source: str  # who set it (a label), empty when it was the agent
    hint: str
    after_contact_left: float | None  # seconds until after-contact work ends by itself
    choices: list[tuple[str, str]] = field(default_factory=list)


def state_view(user: Any, now: datetime) -> StateView:
    state = AgentState.objects.filter(user_id=user.pk).first()
    current = routing.effective_state(state, now)
    if state is None:
        since = None
    elif current != state.state:  # after-contact work that ran out: available since it ended
        since = state.after_contact_until
    else:
        since = state.since
    left = None
    if state is not None and current == AgentStateKind.AFTER_CONTACT and state.after_contact_until:
        left = max(0.0, (state.after_contact_until - now).total_seconds())
    source = state.source if state is not None and current == state.state else ""
    return StateView(
        state=current, label=str(AgentStateKind(current).label),
        seconds=(now - since).total_seconds() if since else None,
        note=state.note if state is not None and current == state.state else "",
        source=str(StateSource(source).label) if source and source != StateSource.AGENT else "",
        hint=str(STATE_HINTS.get(AgentStateKind(current), "")), after_contact_left=left,
        choices=[(str(k), str(k.label)) for k in CHOOSABLE])


def _contact_links(contacts: list[Any]) -> dict[str, dict[str, Any]]:
    """Where each contact is opened: a chat's conversation, a work order, a call's card (the screen pop)."""
    from kefu.telephony.models import Call

    call_ids = [c.ref.partition(":")[2] for c in contacts if c.ref.startswith("call:")]
    calls = dict(Call.objects.filter(call_id__in=call_ids).values_list("call_id", "pk")) if call_ids else {}
    links: dict[str, dict[str, Any]] = {}
    for contact in contacts:
        kind, _sep, key = contact.ref.partition(":")
        if kind == "conversation" and key.isdigit():
            links[contact.ref] = {"url": reverse("web:conversation_detail", kwargs={"conversation_id": int(key)})}
        elif kind == "ticket" and key.isdigit():
            links[contact.ref] = {"url": reverse("web:ticket_detail", kwargs={"ticket_id": int(key)})}
        elif kind == "call" and key in calls:
            links[contact.ref] = {"call_id": calls[key]}
    return links


def offer_view(user: Any, now: datetime) -> dict[str, Any] | None:
    offer = routing.open_offer_for(user)
    if offer is None:
        return None
    if offer.expires_at <= now:  # rung out: the routing tick is about to close it
        return None
    contact = offer.contact
    caller = ""
    if contact.kind == QueueKind.PHONE and contact.ref.startswith("call:"):
        from kefu.telephony.models import Call

        caller = Call.objects.filter(call_id=contact.ref.partition(":")[2]).values_list("caller", flat=True).first() \
            or ""
        if caller and not has_right(user, "customer.view_phone"):
            from kefu.core.masking import mask_phone

            caller = mask_phone(caller)  # the callback number stays whole: it is the number the agent must call
    return {"id": offer.pk, "kind": contact.kind, "kind_label": QueueKind(contact.kind).label, "caller": caller,
            "queue": contact.queue, "customer": contact.customer, "is_vip": contact.is_vip,
            "is_complaint": contact.is_complaint, "callback_number": contact.callback_number,
            "waited": max(0.0, (now - contact.enqueued_at).total_seconds()),
            "remaining": max(0.0, (offer.expires_at - now).total_seconds()),
            "total": max(1.0, (offer.expires_at - offer.offered_at).total_seconds())}


def live_rows(user: Any, now: datetime) -> list[dict[str, Any]]:
    contacts = routing.live_contacts(user)
    links = _contact_links(contacts)
    return [{"contact": c, "kind_label": QueueKind(c.kind).label, "link": links.get(c.ref, {}),
             "seconds": max(0.0, (now - (c.assigned_at or now)).total_seconds()),
             "since": timezone.localtime(c.assigned_at).strftime("%H:%M") if c.assigned_at else "",
             "waited": max(0.0, ((c.assigned_at or now) - c.enqueued_at).total_seconds())} for c in contacts]


def queue_rows(user: Any, now: datetime) -> list[dict[str, Any]]:
    from kefu.telephony.selectors import waiting_by_queue

    queues = routing.queues_of_agent(user)
    routed = routing.routed_waiting_by_queue([q.pk for q in queues if q.routed], now)
    phone = waiting_by_queue(now) if any(not q.routed and q.kind == QueueKind.PHONE for q in queues) else {}
    rows = []
    for queue in queues:
        count, longest = (routed if queue.routed else phone).get(queue.pk, (0, None))
        rows.append({"queue": queue, "waiting": count, "longest": longest,
                     "late": longest is not None and longest > queue.target_seconds})
    return rows


def today_figures(user: Any, now: datetime) -> dict[str, Any]:
    """Contacts handled since local midnight (calls answered, routed chats and work orders finished) and the
    average handle time: talk + hold of the calls, acceptance to end of the others, plus the after-contact work
    of the day, over the contacts handled. Time in each state from the state history."""
    from django.db.models import Count, Sum

    from kefu.telephony.models import Call

    midnight = routing.local_midnight(now)
    calls = Call.objects.filter(agent_id=user.pk, answered_at__gte=midnight, answered_at__lt=now).aggregate(
        n=Count("pk"), talk=Sum("talk_seconds"), hold=Sum("hold_seconds"))
    others, other_seconds = routing.routed_handled_between(user.pk, midnight, now)
    per_state = routing.state_seconds_between(user.pk, midnight, now)
    handled = int(calls["n"] or 0) + others
    handle_seconds = float(calls["talk"] or 0) + float(calls["hold"] or 0) + other_seconds + \
        per_state.get(AgentStateKind.AFTER_CONTACT, 0.0)
    logged = sum(s for k, s in per_state.items() if k != AgentStateKind.OFFLINE)
    states = [{"state": str(k), "label": str(k.label), "seconds": per_state[k], "clock": clock(per_state[k]),
               "share": per_state[k] / logged * 100 if logged else 0}
              for k in AgentStateKind if k != AgentStateKind.OFFLINE and per_state.get(k, 0) >= 1]
    return {"handled": handled, "calls": int(calls["n"] or 0), "others": others,
            "aht": clock(handle_seconds / handled) if handled else "—",
            "logged": clock(logged) if logged else "—",
            "ready": clock(per_state.get(AgentStateKind.AVAILABLE, 0.0)) if logged else "—",
            "states": states}


def desk_context(user: Any, now: datetime) -> dict[str, Any]:
    return {"state": state_view(user, now), "offer": offer_view(user, now), "live": live_rows(user, now),
            "queues": queue_rows(user, now), "today": today_figures(user, now),
            "may_set_state": has_right(user, "agent_state.own")}
