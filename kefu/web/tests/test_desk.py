"""The agent's desktop: the header's state switch, the offer card with 接受 / 拒绝, and the desk page (rights,
bad input, offers that rang out or were withdrawn meanwhile, live contacts, today's figures)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from kefu.routing.models import AgentState, AgentStateSpan, Offer, Queue, RoutedContact
from kefu.routing.services import (
    ROUTING,
    ContactIn,
    StateChange,
    agent_state_set,
    contact_callback,
    contact_enqueue,
    contact_taken,
    routing_dispatch,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def routed_queue(code: str = "hotline", *, kind: str = "phone", team: Any = None, **fields: Any) -> Queue:
    # the longest ring the settings allow: a test that takes a few seconds never sees its offer ring out
    return Queue.objects.create(code=code, name=fields.pop("name", "服务热线"), kind=kind, routed=True, team=team,
                                offer_seconds=300, **fields)


def available(user: Any, at: datetime | None = None) -> None:
    agent_state_set(actor=ROUTING, user=user, change=StateChange(state="available", source="system", at=at))


def offer_to(user: Any, queue: Queue, ref: str = "call:e2e-1", **fields: Any) -> Offer:
    available(user)
    contact_enqueue(data=ContactIn(ref=ref, queue=queue, **fields))
    routing_dispatch()
    return Offer.objects.get(contact__ref=ref, outcome="")


def seconds_in(html: str, attribute: str) -> float:
    """The seconds the first `attribute` of the part carries (measured by the server when it rendered)."""
    return float(html.split(f'{attribute}="', 1)[1].split('"', 1)[0])


class TestRights:
    def test_people_who_take_routed_contacts_have_the_desk_and_the_switch(self, login: Any, agent: Any) -> None:
        page = login(agent).get(reverse("web:desk"))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-testid="nav-desk"' in html
        assert 'id="state-switch"' in html
        assert "我的工作台" in html

    @pytest.mark.parametrize("persona", ["qa", "department_user"])
    def test_others_have_neither(self, login: Any, persona: str, request: Any) -> None:
        client = login(request.getfixturevalue(persona))
        assert client.get(reverse("web:desk")).status_code == 403
        assert client.get(reverse("web:desk_state")).status_code == 403
        assert client.post(reverse("web:desk_state"), {"state": "available"}).status_code == 403
        html = client.get(reverse("web:customer_list")).content.decode()
        assert 'id="state-switch"' not in html
        assert 'id="offer-holder"' not in html

    def test_anonymous_is_sent_to_sign_in(self, client: Any) -> None:
        answer = client.get(reverse("web:desk"))
        assert answer.status_code == 302
        assert reverse("web:login") in answer["Location"]

    def test_another_agents_offer_cannot_be_taken(self, login: Any, agent: Any, other_agent: Any) -> None:
        offer = offer_to(agent, routed_queue())
        answer = login(other_agent).post(reverse("web:desk_offer_accept", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer.status_code == 409
        assert "这个分配已不存在" in answer.content.decode()
        offer.refresh_from_db()
        assert offer.outcome == ""  # still ringing at its own agent


class TestStateSwitch:
    def test_the_switch_shows_the_state_and_its_time(self, login: Any, agent: Any) -> None:
        agent_state_set(actor=agent, user=agent, change=StateChange(
            state="break", note="午休", at=timezone.now() - timedelta(minutes=3, seconds=5)))
        html = login(agent).get(reverse("web:desk_state"), **HTMX).content.decode()
        assert 'data-state="break"' in html
        assert "小休" in html
        assert 185 <= seconds_in(html, "data-clock-seconds") < 185 + 60  # counted on by the page
        for state in ("available", "break", "meal", "training", "meeting", "offline"):
            assert f'data-testid="state-option-{state}"' in html
        assert 'state-option-on_contact' not in html  # set by routing and the PBX only

    def test_choosing_a_state_sets_it_with_its_reason(self, login: Any, agent: Any) -> None:
        answer = login(agent).post(reverse("web:desk_state"), {"state": "meeting", "note": "部门例会"}, **HTMX)
        assert answer.status_code == 200
        assert 'data-state="meeting"' in answer.content.decode()
        state = AgentState.objects.get(user=agent)
        assert (state.state, state.note, state.source) == ("meeting", "部门例会", "agent")
        assert AgentStateSpan.objects.filter(user=agent, state="meeting", ended_at__isnull=True).count() == 1

    @pytest.mark.parametrize(("data", "field"), [
        ({"state": "on_contact"}, "状态"),  # routing's own state
        ({"state": "missed"}, "状态"),
        ({"state": ""}, "状态"),
        ({"state": "x" * 5000}, "状态"),
        ({}, "状态"),
        ({"state": "break", "note": "长" * 201}, "原因"),
    ])
    def test_bad_input_is_named_and_changes_nothing(self, login: Any, agent: Any, data: dict[str, str],
                                                    field: str) -> None:
        available(agent)
        answer = login(agent).post(reverse("web:desk_state"), data, **HTMX)
        assert answer.status_code == 422
        assert f"{field}：" in answer.content.decode()
        assert 'data-testid="state-error"' in answer.content.decode()
        assert AgentState.objects.get(user=agent).state == "available"
        assert AgentStateSpan.objects.filter(user=agent).count() == 1

    def test_without_javascript_the_form_posts_and_comes_back(self, login: Any, agent: Any) -> None:
        answer = login(agent).post(reverse("web:desk_state"), {"state": "x"}, HTTP_REFERER="/customers/")
        assert answer.status_code == 302
        assert answer["Location"] == "/customers/"
        answer = login(agent).post(reverse("web:desk_state"), {"state": "available"},
                                   HTTP_REFERER="https://elsewhere.example/")
        assert answer["Location"] == reverse("web:desk")
        assert AgentState.objects.get(user=agent).state == "available"

    def test_going_on_a_break_withdraws_the_open_offer(self, login: Any, agent: Any) -> None:
        offer = offer_to(agent, routed_queue())
        login(agent).post(reverse("web:desk_state"), {"state": "break"}, **HTMX)
        offer.refresh_from_db()
        assert offer.outcome == "withdrawn"
        assert RoutedContact.objects.get(pk=offer.contact_id).state == "waiting"


class TestOffer:
    def test_the_card_shows_what_the_agent_needs(self, login: Any, agent: Any, customer: Any) -> None:
        customer.is_vip = True
        customer.save(update_fields=["is_vip"])
        queue = routed_queue(name="VIP 专线")
        enqueued = timezone.now() - timedelta(seconds=75)
        available(agent)
        contact_enqueue(data=ContactIn(ref="call:vip-1", queue=queue, customer=customer, at=enqueued))
        contact_callback(ref="call:vip-1", number="13800138000")
        routing_dispatch()
        html = login(agent).get(reverse("web:desk_offer"), **HTMX).content.decode()
        assert 'data-testid="offer-card"' in html
        assert "VIP 专线" in html
        assert "张三" in html
        assert 'data-testid="offer-vip"' in html
        assert "13800138000" in html
        assert "预约回拨" in html
        assert 75 <= seconds_in(html, "data-clock-seconds") < 75 + 60  # waited
        assert 300 - 60 < seconds_in(html, "data-countdown") <= 300

    def test_no_offer_no_card(self, login: Any, agent: Any) -> None:
        html = login(agent).get(reverse("web:desk_offer"), **HTMX).content.decode()
        assert 'data-testid="offer-card"' not in html
        assert 'data-testid="offer-empty"' in html

    def test_accepting_a_call_pops_the_callers_card_and_lists_the_contact(self, login: Any, agent: Any,
                                                                          customer: Any) -> None:
        from kefu.telephony.models import Call

        now = timezone.now()
        call = Call.objects.create(call_id="pbx-77", caller="13800138000", offered_at=now, last_event_at=now)
        offer = offer_to(agent, routed_queue(), ref="call:pbx-77", customer=customer)
        client = login(agent)
        answer = client.post(reverse("web:desk_offer_accept", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer.status_code == 200
        assert json.loads(answer["HX-Trigger"])["kefu:call-pop"] == {"call": call.pk, "target": "body"}
        contact = RoutedContact.objects.get(pk=offer.contact_id)
        assert (contact.state, contact.agent_id) == ("assigned", agent.pk)
        assert AgentState.objects.get(user=agent).state == "on_contact"
        html = client.get(reverse("web:desk")).content.decode()
        row = html.split('data-testid="desk-live-row"', 1)[1].split("</tr>", 1)[0]
        assert 'data-ref="call:pbx-77"' in row
        assert "张三" in row
        assert "服务热线" in row
        assert f'data-call-pop="{call.pk}"' in row

    def test_accepting_a_chat_goes_to_its_conversation(self, login: Any, agent: Any, team: Any) -> None:
        from kefu.conversations import services as chat
        from kefu.conversations.tests.factories import ChannelFactory, inbound

        queue = routed_queue("webchat", kind="chat", name="在线客服", team=team)
        channel = ChannelFactory(chat=True, code="web", team=team, queue=queue)
        available(agent)
        conversation = chat.message_receive(channel=channel, inbound=inbound("m1"), at=timezone.now()).conversation
        routing_dispatch()
        offer = Offer.objects.get(contact__ref=f"conversation:{conversation.pk}", outcome="")
        answer = login(agent).post(reverse("web:desk_offer_accept", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer["HX-Redirect"] == reverse("web:conversation_detail",
                                                kwargs={"conversation_id": conversation.pk})
        assert AgentState.objects.get(user=agent).chats == 1
        conversation.refresh_from_db()
        assert conversation.assignee_id == agent.pk

    def test_declining_puts_the_contact_back_in_line(self, login: Any, agent: Any) -> None:
        offer = offer_to(agent, routed_queue())
        answer = login(agent).post(reverse("web:desk_offer_decline", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer.status_code == 200
        assert "已拒绝" in answer.content.decode()
        offer.refresh_from_db()
        assert offer.outcome == "declined"
        assert RoutedContact.objects.get(pk=offer.contact_id).state == "waiting"

    def test_an_offer_that_rang_out_meanwhile_says_so(self, login: Any, agent: Any) -> None:
        offer = offer_to(agent, routed_queue())
        Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        answer = login(agent).post(reverse("web:desk_offer_accept", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer.status_code == 409
        html = answer.content.decode()
        assert "这个分配已超时" in html
        assert 'data-testid="offer-card"' not in html
        assert RoutedContact.objects.get(pk=offer.contact_id).agent_id is None

    @pytest.mark.parametrize("action", ["desk_offer_accept", "desk_offer_decline"])
    def test_an_offer_withdrawn_meanwhile_says_so(self, login: Any, agent: Any, other_agent: Any,
                                                  action: str) -> None:
        offer = offer_to(agent, routed_queue())
        contact_taken(ref=offer.contact.ref, agent=other_agent)  # the PBX put the call through to someone else
        answer = login(agent).post(reverse(f"web:{action}", kwargs={"offer_id": offer.pk}), **HTMX)
        assert answer.status_code == 409
        assert "这个分配已撤回" in answer.content.decode()
        assert RoutedContact.objects.get(pk=offer.contact_id).agent_id == other_agent.pk

    def test_without_javascript_a_refusal_is_a_message_on_the_desk(self, login: Any, agent: Any) -> None:
        offer = offer_to(agent, routed_queue())
        client = login(agent)
        client.post(reverse("web:desk_offer_decline", kwargs={"offer_id": offer.pk}))
        answer = client.post(reverse("web:desk_offer_accept", kwargs={"offer_id": offer.pk}), follow=True)
        assert answer.status_code == 200
        assert "这个分配已经拒绝过了" in answer.content.decode()

    def test_an_unknown_offer_is_a_message_not_an_error_page(self, login: Any, agent: Any) -> None:
        answer = login(agent).post(reverse("web:desk_offer_accept", kwargs={"offer_id": 2_000_000_000}), **HTMX)
        assert answer.status_code == 409
        assert "这个分配已不存在" in answer.content.decode()


class TestDeskPage:
    def test_live_contacts_are_mine_and_unfinished(self, login: Any, agent: Any, other_agent: Any, team: Any) -> None:
        queue = routed_queue("chat", kind="chat", name="在线客服", team=team)
        for ref, who in (("conversation:1", agent), ("conversation:2", agent), ("conversation:3", other_agent)):
            contact_enqueue(data=ContactIn(ref=ref, queue=queue))
            contact_taken(ref=ref, agent=who)
        from kefu.routing.services import contact_end

        contact_end(ref="conversation:2")
        html = login(agent).get(reverse("web:desk"), **HTMX).content.decode()
        assert html.count('data-testid="desk-live-row"') == 1
        assert 'data-ref="conversation:1"' in html
        assert reverse("web:conversation_detail", kwargs={"conversation_id": 1}) in html

    def test_my_queues_show_their_line(self, login: Any, agent: Any, team: Any, other_team: Any) -> None:
        mine = routed_queue("chat", kind="chat", name="在线客服", team=team)
        routed_queue("other", name="二组热线", team=other_team)
        for n in range(3):
            contact_enqueue(data=ContactIn(ref=f"conversation:{n}", queue=mine,
                                           at=timezone.now() - timedelta(seconds=40 * (n + 1))))
        html = login(agent).get(reverse("web:desk"), **HTMX).content.decode()
        assert 'data-queue="chat"' in html
        assert 'data-queue="other"' not in html
        row = html.split('data-queue="chat"', 1)[1].split("</li>", 1)[0]
        assert '<b class="num" data-testid="desk-queue-waiting">3</b>' in row
        assert "2:0" in row  # the longest has waited 120 s

    def test_todays_time_per_state_comes_from_the_history(self, login: Any, agent: Any) -> None:
        now = timezone.now()
        midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        start = max(midnight, now - timedelta(hours=2))
        agent_state_set(actor=agent, user=agent, change=StateChange(state="available", at=start))
        agent_state_set(actor=agent, user=agent, change=StateChange(state="break", at=start + timedelta(minutes=30)))
        agent_state_set(actor=agent, user=agent, change=StateChange(state="available",
                                                                   at=start + timedelta(minutes=45)))
        from kefu.web.desk import today_figures

        figures = today_figures(agent, start + timedelta(minutes=50))
        per_state = {s["state"]: s["seconds"] for s in figures["states"]}
        assert per_state == {"available": 35 * 60, "break": 15 * 60}
        assert figures["ready"] == "35:00"
        assert figures["logged"] == "50:00"

    def test_a_few_queries_whatever_the_contacts(self, login: Any, agent: Any, team: Any,
                                                 django_assert_max_num_queries: Any) -> None:
        queue = routed_queue("chat", kind="chat", name="在线客服", team=team)
        client = login(agent)
        client.get(reverse("web:desk"), **HTMX)
        with django_assert_max_num_queries(16) as few:
            client.get(reverse("web:desk"), **HTMX)
        for n in range(6):
            contact_enqueue(data=ContactIn(ref=f"conversation:{n}", queue=queue))
            contact_taken(ref=f"conversation:{n}", agent=agent)
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get(reverse("web:desk"), **HTMX)
