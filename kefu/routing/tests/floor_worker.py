"""One process of the routing concurrency test (test_acd_concurrency): the caller's side (contacts arrive, some
hang up while waiting) or the agents' side (dispatch, accept or decline offers, finish contacts). Started with
`python -m kefu.routing.tests.floor_worker`, the plan as JSON on stdin, a JSON report on stdout."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any


def _arrivals(plan: dict[str, Any]) -> dict[str, Any]:
    from kefu.routing.models import Queue
    from kefu.routing.services import ContactIn, contact_end, contact_enqueue

    queues = {q.code: q for q in Queue.objects.all()}
    hang_ups: list[tuple[int, str]] = []
    for index, contact in enumerate(plan["contacts"]):
        contact_enqueue(data=ContactIn(ref=contact["ref"], queue=queues[contact["queue"]],
                                       is_complaint=contact["complaint"]))
        if contact["patience"] is not None:
            hang_ups.append((index + contact["patience"], contact["ref"]))
        for due, ref in [h for h in hang_ups if h[0] <= index]:
            contact_end(ref=ref)  # the caller hangs up (abandoned while waiting, finished once answered)
            hang_ups.remove((due, ref))
    for _due, ref in hang_ups:
        contact_end(ref=ref)
    return {"arrived": len(plan["contacts"])}


def _log(*args: Any) -> None:
    if os.environ.get("FLOOR_DEBUG"):
        print(f"{time.time():.3f}", os.getpid(), *args, file=sys.stderr, flush=True)


def _agents(plan: dict[str, Any]) -> dict[str, Any]:
    from kefu.accounts.models import User
    from kefu.core.errors import Conflict, NotFound
    from kefu.routing.choices import ContactState
    from kefu.routing.models import AgentState, Offer, RoutedContact
    from kefu.routing.services import (
        ROUTING,
        StateChange,
        agent_state_set,
        contact_end,
        offer_accept,
        offer_decline,
        routing_dispatch,
    )

    mine = {u.pk: u for u in User.objects.filter(username__in=plan["agents"])}
    declines = set(plan["decline_first"])
    declined: set[str] = set()
    raced, accepted, finished = 0, 0, 0
    total = plan["total"]
    give_up = time.monotonic() + 240  # a guard against a hang only: a healthy run ends when every contact has
    _round = 0
    while time.monotonic() < give_up:
        _round += 1
        _log("round", _round)
        routing_dispatch()
        for offer in Offer.objects.filter(agent_id__in=mine, outcome="").select_related("contact"):
            agent = mine[offer.agent_id]
            _log("offer", offer.pk, offer.contact.ref, agent.username)
            try:
                if offer.contact.ref in declines and offer.contact.ref not in declined:
                    declined.add(offer.contact.ref)
                    offer_decline(actor=agent, offer_id=offer.pk)
                else:
                    offer_accept(actor=agent, offer_id=offer.pk)
                    accepted += 1
                _log("done", offer.pk)
            except (Conflict, NotFound):  # withdrawn meanwhile (the caller hung up): the race is the point
                raced += 1
        held = list(RoutedContact.objects.filter(agent_id__in=mine, state=ContactState.ASSIGNED))
        for contact in held[: max(1, len(held) // 2)]:
            if contact_end(ref=contact.ref) is not None:
                finished += 1
        busy = set(RoutedContact.objects.filter(agent_id__in=mine, state=ContactState.ASSIGNED, kind="phone")
                   .values_list("agent_id", flat=True))
        for state in AgentState.objects.filter(user_id__in=mine, state="on_contact").exclude(user_id__in=busy):
            # the caller hung up on the agent: back to available, as the PBX's after-contact work would
            agent_state_set(actor=ROUTING, user=mine[state.user_id], change=StateChange(
                state="available", source="system"))
        if RoutedContact.objects.filter(state__in=["finished", "abandoned"]).count() >= total:
            break
    done = RoutedContact.objects.filter(state__in=["finished", "abandoned"]).count() >= total
    return {"accepted": accepted, "raced": raced, "finished": finished, "rounds": _round, "done": done}


def main() -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.KEFU_OUTBOX_INLINE = False  # as in production: the relay is the worker's, not each writer's
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    plan = json.loads(sys.stdin.readline())  # the start gate: every process is set up before any begins
    try:
        report = _arrivals(plan) if plan["role"] == "arrivals" else _agents(plan)
        report["ok"] = True
    except BaseException:
        report = {"ok": False, "error": traceback.format_exc()}
    sys.stdout.write(json.dumps(report))


if __name__ == "__main__":
    main()
