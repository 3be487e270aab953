"""Routing under concurrency on PostgreSQL, with real processes: contacts arrive (hypothesis picks how many, to
which queue, which callers hang up and when, which offers an agent turns down) while two agents' processes
dispatch, accept, decline and finish at once. Whatever the interleaving: every contact ends exactly once,
answered or abandoned; no contact is ever accepted by two agents; no agent holds two calls at once or more chats
than their capacity; the counters agree with the contacts."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.accounts.tests.factories import UserFactory
from kefu.routing.models import AgentState, Offer, Queue, RoutedContact
from kefu.routing.services import ROUTING, StateChange, agent_state_set, routing_repair

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs a database with real concurrent connections: runs on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

AGENTS = 4
CAPACITY = 2

contacts = st.lists(st.fixed_dictionaries({
    "queue": st.sampled_from(["hotline", "chat"]),
    "patience": st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
    "complaint": st.booleans(),
    "decline": st.booleans(),
}), min_size=1, max_size=40)


def _run(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start one process per plan at once (each its own connection to the test database) and wait for all."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    # the connection pool on, as in production: dispatch then keeps its candidates statement prepared
    env = {**os.environ, "KEFU_DATABASE_URL": url, "KEFU_DB_POOL": "1",
           "DJANGO_SETTINGS_MODULE": "kefu.config.settings.test"}
    procs = [subprocess.Popen([sys.executable, "-m", "kefu.routing.tests.floor_worker"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _plan in plans]
    for proc in procs:  # every process has started Django before any of them begins
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr
    for proc, plan in zip(procs, plans, strict=True):
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(plan) + "\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        report = json.loads(out)
        assert report["ok"], report.get("error")
        reports.append(report)
    return reports


def _reset() -> None:
    Offer.objects.all().delete()
    RoutedContact.objects.all().delete()
    AgentState.objects.update(chats=0)


@settings(max_examples=int(os.environ.get('ACD_EXAMPLES', 6)), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=contacts)
def test_every_contact_ends_once_and_never_with_two_agents(plan: list[dict[str, Any]]) -> None:
    if not Queue.objects.exists():
        Queue.objects.create(code="hotline", name="热线", routed=True)
        Queue.objects.create(code="chat", name="在线", kind="chat", routed=True)
        for i in range(AGENTS):
            user = UserFactory(username=f"floor{i}", role="agent")
            agent_state_set(actor=ROUTING, user=user, change=StateChange(state="available", source="system"))
        AgentState.objects.update(chat_capacity=CAPACITY)
    _reset()
    for i in range(AGENTS):  # every example starts with everyone free
        agent_state_set(actor=ROUTING, user=UserFactory._meta.model.objects.get(username=f"floor{i}"),
                        change=StateChange(state="available", source="system"))
    refs = [dict(c, ref=f"{c['queue']}:{n}") for n, c in enumerate(plan)]
    names = [f"floor{i}" for i in range(AGENTS)]
    common = {"contacts": refs, "total": len(refs), "decline_first": [c["ref"] for c in refs if c["decline"]]}
    reports = _run([{**common, "role": "arrivals"},
          {**common, "role": "agents", "agents": names[:2]},
          {**common, "role": "agents", "agents": names[2:]}])

    rows = list(RoutedContact.objects.all())
    assert sorted(r.ref for r in rows) == sorted(c["ref"] for c in refs)  # one row per contact, none lost
    stuck = (reports, [
        (r.ref, r.state, list(Offer.objects.filter(contact=r).values_list("agent_id", "outcome", "offered_at",
                                                                           "expires_at", "decided_at")))
        for r in rows if r.state not in ("finished", "abandoned")], list(AgentState.objects.values_list(
            "user__username", "user_id", "state", "chats", "chat_capacity")))
    assert all(r.state in ("finished", "abandoned") and r.ended_at for r in rows), stuck
    for row in rows:
        accepted = list(Offer.objects.filter(contact=row, outcome="accepted"))
        assert len(accepted) <= 1, row.ref  # never two agents
        if row.state == "finished":
            assert len(accepted) == 1, row.ref
            assert accepted[0].agent_id == row.agent_id, row.ref
        else:
            assert not accepted, row.ref
            assert row.agent_id is None, row.ref
    assert not Offer.objects.filter(outcome="").exists()
    for user_id in {r.agent_id for r in rows if r.agent_id}:
        spans = sorted((r.assigned_at, r.ended_at, r.kind) for r in rows if r.agent_id == user_id)
        calls = [s for s in spans if s[2] == "phone"]
        for (_a, end, _k), (start, _e, _k2) in itertools.pairwise(calls):
            assert end <= start, f"agent {user_id} held two calls at once"
        chats = [s for s in spans if s[2] == "chat"]
        for start, _end, _k in chats:
            held = sum(1 for a, e, _k in chats if a <= start < e)
            assert held <= CAPACITY, f"agent {user_id} held {held} chats"
    assert routing_repair() == 0
