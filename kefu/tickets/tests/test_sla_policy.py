"""SLA policy matching (most specific wins, ties by name), the escalation rule and the standing rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.clocks.models import Clock
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog, BusinessCalendar, OutboxEvent
from kefu.core.relay import drain
from kefu.customers.choices import Tier
from kefu.tickets import services
from kefu.tickets.choices import Channel, Priority, SlaClockState, SlaMetric, SlaStanding, TicketType
from kefu.tickets.defaults import sla_install_defaults
from kefu.tickets.models import SlaPolicy, Ticket
from kefu.tickets.sla import (
    SlaPolicyData,
    TicketFacts,
    choose_policy,
    compute_standing,
    escalation_level_after,
    policy_score,
    sla_customer_changed,
    sla_policy_create,
    sla_policy_for,
    sla_policy_update,
)
from kefu.tickets.tests.clocks import sla_clocks

SH = ZoneInfo("Asia/Shanghai")

FACTS = TicketFacts(ticket_type=TicketType.COMPLAINT, priority=Priority.HIGH, channel=Channel.PHONE,
                    tier=Tier.A, vip=False)


def policy(name: str, **fields: Any) -> SlaPolicy:
    return SlaPolicy(name=name, **fields)


def test_blank_fields_match_anything_and_do_not_count() -> None:
    assert policy_score(policy("catch-all"), FACTS) == 0
    assert policy_score(policy("complaint", ticket_type=TicketType.COMPLAINT), FACTS) == 1
    both = policy("complaint A", ticket_type=TicketType.COMPLAINT, customer_tier=Tier.A)
    assert policy_score(both, FACTS) == 2
    assert policy_score(policy("repair", ticket_type=TicketType.REPAIR), FACTS) is None
    assert policy_score(policy("vip", vip_only=True), FACTS) is None
    assert policy_score(policy("vip", vip_only=True), TicketFacts(**{**FACTS.__dict__, "vip": True})) == 1


def test_the_most_specific_policy_wins_and_ties_go_by_name() -> None:
    candidates = [
        policy("z catch-all"),
        policy("b by type", ticket_type=TicketType.COMPLAINT),
        policy("a by channel", channel=Channel.PHONE),
        policy("c type+priority", ticket_type=TicketType.COMPLAINT, priority=Priority.HIGH),
        policy("0 wrong tier", ticket_type=TicketType.COMPLAINT, priority=Priority.HIGH,
               customer_tier=Tier.D),
        policy("1 inactive", ticket_type=TicketType.COMPLAINT, priority=Priority.HIGH, channel=Channel.PHONE,
               is_active=False),
    ]
    assert choose_policy(candidates, FACTS).name == "c type+priority"
    assert choose_policy(candidates[:3], FACTS).name == "a by channel"  # 1 field each: name order
    assert choose_policy(candidates[:1], FACTS).name == "z catch-all"
    assert choose_policy([], FACTS) is None


policies_strategy = st.lists(
    st.builds(
        lambda name, t, p, tier, ch, vip, active: policy(name, ticket_type=t, priority=p, customer_tier=tier,
                                                         channel=ch, vip_only=vip, is_active=active),
        st.text(alphabet="abc投诉报修", min_size=1, max_size=4),
        st.sampled_from(["", TicketType.COMPLAINT, TicketType.REPAIR]),
        st.sampled_from(["", Priority.HIGH, Priority.LOW]),
        st.sampled_from(["", Tier.A, Tier.B]),
        st.sampled_from(["", Channel.PHONE, Channel.CHAT]),
        st.booleans(), st.booleans(),
    ),
    max_size=12, unique_by=lambda p: p.name,
)


@given(policies_strategy, st.booleans(), st.randoms())
def test_choice_is_the_best_match_whatever_the_order(policies: list[SlaPolicy], vip: bool, rnd: Any) -> None:
    facts = TicketFacts(**{**FACTS.__dict__, "vip": vip})
    chosen = choose_policy(policies, facts)
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    assert choose_policy(shuffled, facts) is chosen
    matching = [(score, p.name) for p in policies
                if p.is_active and (score := policy_score(p, facts)) is not None]
    if chosen is None:
        assert not matching
        return
    best = policy_score(chosen, facts)
    assert chosen.is_active
    assert best is not None
    assert all(score < best or (score == best and name >= chosen.name) for score, name in matching)


@pytest.mark.parametrize(("level", "metrics", "expected"), [
    (0, [], 0),
    (0, [SlaMetric.FIRST_RESPONSE], 1),        # first breach: team lead
    (1, [SlaMetric.ONSITE], 2),                # breached again: manager
    (0, [SlaMetric.FIRST_RESPONSE, SlaMetric.ONSITE], 2),
    (0, [SlaMetric.RESOLUTION], 2),            # resolution breach: straight to the manager
    (2, [SlaMetric.NEXT_RESPONSE], 2),         # never above the manager
])
def test_escalation_rule(level: int, metrics: list[str], expected: int) -> None:
    assert escalation_level_after(level=level, breached_metrics=metrics) == expected


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def clock(state: str, *, due: int | None = None, warn: int | None = None, stopped: bool = False) -> Clock:
    return Clock(state=state, due_at=NOW + timedelta(minutes=due) if due is not None else None,
                    warn_at=NOW + timedelta(minutes=warn) if warn is not None else None,
                    stopped_at=NOW if stopped else None)


@pytest.mark.parametrize(("clocks", "standing", "due"), [
    ([], SlaStanding.NONE, None),
    ([clock(SlaClockState.RUNNING, due=30, warn=10)], SlaStanding.OK, 30),
    ([clock(SlaClockState.RUNNING, due=30, warn=0)], SlaStanding.WARNING, 30),
    ([clock(SlaClockState.RUNNING, due=-1, warn=-10)], SlaStanding.BREACHED, -1),
    ([clock(SlaClockState.RUNNING, due=0, warn=-10)], SlaStanding.WARNING, 0),  # due now: not yet late
    ([clock(SlaClockState.PAUSED)], SlaStanding.OK, None),
    ([clock(SlaClockState.BREACHED, due=-5), clock(SlaClockState.RUNNING, due=90, warn=60)],
     SlaStanding.BREACHED, 90),
    ([clock(SlaClockState.MET, stopped=True)], SlaStanding.OK, None),
    ([clock(SlaClockState.BREACHED, due=-5, stopped=True), clock(SlaClockState.MET, stopped=True)],
     SlaStanding.BREACHED, None),
    ([clock(SlaClockState.CANCELLED, stopped=True)], SlaStanding.NONE, None),
])
def test_standing_rule(clocks: list[Clock], standing: str, due: int | None) -> None:
    expected_due = NOW + timedelta(minutes=due) if due is not None else None
    assert compute_standing(clocks, NOW) == (standing, expected_due)


# ------------------------------------------------------------------------------------------ in the database


@pytest.fixture
def defaults(db: Any) -> None:
    sla_install_defaults()


@pytest.mark.parametrize(("ticket_type", "channel", "expected"), [
    (TicketType.COMPLAINT, Channel.PHONE, "10 投诉"),
    (TicketType.COMPLAINT, Channel.CHAT, "10 投诉"),      # keeps the on-site target
    (TicketType.REPAIR, Channel.WECHAT, "20 报修"),
    (TicketType.INQUIRY, Channel.CHAT, "30 在线客服"),     # the 30-second chat target
    (TicketType.INQUIRY, Channel.PHONE, "40 咨询"),
    (TicketType.SUGGESTION, Channel.EMAIL, "90 默认"),
    (TicketType.PRAISE, Channel.CHAT, "30 在线客服"),
])
def test_default_policies_match_as_documented(defaults: None, customer: Any, ticket_type: str, channel: str,
                                              expected: str) -> None:
    ticket = Ticket(subject="x", ticket_type=ticket_type, channel=channel, customer=customer)
    assert sla_policy_for(ticket=ticket).name == expected


def test_vip_and_tier_policies_in_the_database(defaults: None, customer: Any,
                                              django_assert_num_queries: Any) -> None:
    calendar = BusinessCalendar.objects.get(name="全天候")
    SlaPolicy.objects.create(name="VIP 投诉", ticket_type=TicketType.COMPLAINT, vip_only=True,
                             calendar=calendar, first_response_seconds=1800)
    SlaPolicy.objects.create(name="A 类客户", customer_tier=Tier.A, calendar=calendar,
                             first_response_seconds=3600)
    ticket = Ticket(subject="x", ticket_type=TicketType.COMPLAINT, channel=Channel.PHONE, customer=customer)
    assert sla_policy_for(ticket=ticket).name == "10 投诉"  # tier C, not VIP
    customer.is_vip = True
    customer.tier = Tier.A
    with django_assert_num_queries(1):
        chosen = sla_policy_for(ticket=ticket)
    assert chosen.name == "VIP 投诉"  # type + VIP: two fields beat one
    ticket.ticket_type = TicketType.SUGGESTION
    assert sla_policy_for(ticket=ticket).name == "A 类客户"  # tier beats the catch-all
    SlaPolicy.objects.filter(name="A 类客户").update(is_active=False)
    assert sla_policy_for(ticket=ticket).name == "90 默认"


# ------------------------------------------------------------------------------------------ editing policies


def policy_data(**overrides: Any) -> SlaPolicyData:
    values: dict[str, Any] = {"name": "60 VIP 投诉",
                              "calendar": BusinessCalendar.objects.get(name="标准工作日历"),
                              "ticket_type": TicketType.COMPLAINT, "vip_only": True,
                              "first_response_seconds": 1800, "resolution_seconds": 8 * 3600}
    values.update(overrides)
    return SlaPolicyData(**values)


@pytest.mark.parametrize("persona", ["agent", "team_lead", "shift_lead", "qa", "department_user",
                                     "other_agent"])
def test_only_managers_and_administrators_edit_policies(defaults: None, request: Any, persona: str) -> None:
    user = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied):
        sla_policy_create(actor=user, data=policy_data())
    with pytest.raises(PermissionDenied):
        sla_policy_update(actor=user, policy=SlaPolicy.objects.get(name="10 投诉"), data=policy_data())
    assert not SlaPolicy.objects.filter(name="60 VIP 投诉").exists()


@pytest.mark.parametrize("persona", ["manager", "admin_user"])
def test_managers_create_policies_with_an_audit_row(defaults: None, request: Any, persona: str) -> None:
    user = request.getfixturevalue(persona)
    created = sla_policy_create(actor=user, data=policy_data())
    assert (created.vip_only, created.first_response_seconds) == (True, 1800)
    row = AuditLog.objects.get(action="sla_policy.create", object_id=str(created.pk))
    assert row.actor == user


@pytest.mark.parametrize(("overrides", "field"), [
    ({"name": " "}, "name"),
    ({"name": "10 投诉"}, "name"),
    ({"ticket_type": "gossip"}, "ticket_type"),
    ({"channel": "pigeon"}, "channel"),
    ({"customer_tier": "Z"}, "customer_tier"),
    ({"first_response_seconds": 0}, "first_response_seconds"),
    ({"onsite_seconds": -5}, "onsite_seconds"),
    ({"resolution_seconds": 2**31}, "resolution_seconds"),
    ({"first_response_seconds": None, "resolution_seconds": None}, "first_response_seconds"),
    ({"warning_fraction": 1.0}, "warning_fraction"),
    ({"warning_fraction": 0}, "warning_fraction"),
    ({"warning_fraction": 80}, "warning_fraction"),
])
def test_bad_policy_data_names_the_field(defaults: None, manager: Any, overrides: dict[str, Any],
                                         field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sla_policy_create(actor=manager, data=policy_data(**overrides))
    assert caught.value.details["field"] == field


def test_a_policy_edit_retargets_open_orders_through_its_event(defaults: None, manager: Any, agent: Any) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    ticket = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT, at=start)
    policy = SlaPolicy.objects.get(name="10 投诉")
    data = policy_data(name=policy.name, vip_only=False, first_response_seconds=3 * 3600,
                       next_response_seconds=None, onsite_seconds=None, resolution_seconds=5 * 8 * 3600)
    updated = sla_policy_update(actor=manager, policy=policy, data=data, expected_version=policy.version)
    assert updated.version == policy.version + 1
    event = OutboxEvent.objects.get(type="sla_policy.changed")  # written in the edit's own transaction
    assert event.payload["policy_id"] == policy.pk
    assert "first_response_seconds" in event.payload["changes"]
    assert sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get().target_seconds == 2 * 3600
    drain()  # the worker's relay hands the event to the work orders' consumer, which re-targets
    first = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert first.target_seconds == 3 * 3600
    assert sla_clocks(ticket=ticket, metric=SlaMetric.ONSITE).get().state == SlaClockState.CANCELLED
    row = AuditLog.objects.get(action="sla_policy.update")
    assert row.data["before"]["first_response_seconds"] == 7200
    assert row.data["after"]["first_response_seconds"] == 3 * 3600
    with pytest.raises(Conflict):
        sla_policy_update(actor=manager, policy=policy, data=data, expected_version=policy.version)


def test_a_customer_tier_change_reevaluates_their_open_orders(defaults: None, agent: Any,
                                                              customer: Any) -> None:
    calendar = BusinessCalendar.objects.get(name="全天候")
    SlaPolicy.objects.create(name="05 A 类投诉", ticket_type=TicketType.COMPLAINT, customer_tier=Tier.A,
                             calendar=calendar, first_response_seconds=3600)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    ticket = services.ticket_create(actor=agent, subject="投诉", ticket_type=TicketType.COMPLAINT,
                                    customer=customer, at=start)
    assert ticket.sla_policy.name == "10 投诉"
    customer.tier = Tier.A
    customer.save(update_fields=["tier"])
    assert sla_customer_changed(customer=customer, at=start + timedelta(minutes=30)) == 1
    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "05 A 类投诉"
    first = sla_clocks(ticket=ticket, metric=SlaMetric.FIRST_RESPONSE).get()
    assert (first.elapsed_before_pause, first.due_at) == (1800, start + timedelta(hours=1))
