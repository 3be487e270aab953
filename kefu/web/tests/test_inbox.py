"""The agent's inbox pages: each tab's filter, the pane and its actions (pick-up and its conflict, transfer,
assignment, close, order), files, canned replies, the outsider's 404, query counts and escaped customer text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from kefu.conversations import services
from kefu.conversations.adapters.base import InboundAttachment
from kefu.conversations.choices import ConversationStatus
from kefu.conversations.models import CannedReply, Conversation, Message, Participant
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.core.models import OutboxEvent
from kefu.web.inbox import online_key
from kefu.web.tests.test_xss import PAYLOAD, assert_inert

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PANE = {**HTMX, "HTTP_HX_TARGET": "conv-pane"}


@pytest.fixture
def channel(team: Any) -> Any:
    return ChannelFactory(code="app", name="会员 App", team=team)


@pytest.fixture
def other_channel(other_team: Any) -> Any:
    return ChannelFactory(code="app2", name="二组 App", team=other_team)


def receive(channel: Any, message_id: str, *, who: str = "u1", text: str = "你好", **extra: Any) -> Conversation:
    return services.message_receive(channel=channel, inbound=inbound(message_id, external_id=who, text=text,
                                                                     **extra)).conversation


@pytest.fixture
def scene(channel: Any, other_channel: Any, agent: Any, team_lead: Any) -> dict[str, Conversation]:
    """One conversation of each kind an agent of team 1 meets, and one of team 2."""
    waiting = receive(channel, "w1", who="waiting", text="请问运费怎么算？")
    mine = receive(channel, "m1", who="mine", text="我的订单到哪了？")
    services.conversation_claim(actor=agent, conversation=mine)
    colleague = receive(channel, "c1", who="colleague", text="发票开好了吗？")
    services.conversation_claim(actor=team_lead, conversation=colleague)
    closed = receive(channel, "x1", who="closed", text="谢谢")
    services.conversation_close(actor=agent, conversation=closed, reason="resolved")
    outside = receive(other_channel, "o1", who="outside", text="二组的客户")
    return {"waiting": waiting, "mine": mine, "colleague": colleague, "closed": closed, "outside": outside}


def _ids(response: Any) -> set[int]:
    return {row["id"] for row in response.context["rows"]}


class TestList:
    def test_each_tab_holds_its_conversations(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        client = login(agent)
        expected = {
            "mine": {scene["mine"].pk},
            "waiting": {scene["waiting"].pk},
            "team": {scene["waiting"].pk, scene["mine"].pk, scene["colleague"].pk},
            "all": {scene["waiting"].pk, scene["mine"].pk, scene["colleague"].pk, scene["closed"].pk},
            "closed": {scene["closed"].pk},
        }
        for view, ids in expected.items():
            response = client.get(f"/conversations/?view={view}")
            assert response.status_code == 200
            assert _ids(response) == ids, view
        assert _ids(client.get("/conversations/")) == expected["mine"]  # an agent starts on "mine"

    def test_supervisor_sees_every_team(self, login: Any, shift_lead: Any, scene: dict[str, Any]) -> None:
        response = login(shift_lead).get("/conversations/?view=waiting")
        assert _ids(response) == {scene["waiting"].pk, scene["outside"].pk}
        assert "team" not in [t["view"] for t in response.context["tabs"]]  # no team: no "my team" tab

    def test_rows_carry_preview_waiting_unread_and_online(self, login: Any, agent: Any, channel: Any,
                                                         scene: dict[str, Any]) -> None:
        receive(channel, "w2", who="waiting", text="在吗？")
        cache.set(online_key(scene["waiting"].pk), "1", 90)
        response = login(agent).get("/conversations/?view=waiting")
        row = response.context["rows"][0]
        assert row["preview"] == "在吗？"
        assert row["unread"] == 2
        assert row["online"] is True
        assert row["waiting"]
        assert row["unassigned"] is True
        html = response.content.decode()
        assert 'class="online-dot"' in html
        assert 'data-inbox-count="waiting">1<' in html

    def test_tab_switch_answers_the_list_only(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        html = login(agent).get("/conversations/?view=waiting", HTTP_HX_TARGET="conv-list", **HTMX).content.decode()
        assert 'data-testid="conv-list"' in html
        assert "<html" not in html

    def test_search_and_bad_view(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        client = login(agent)
        assert _ids(client.get("/conversations/?view=all&q=欧阳")) == set()
        scene["mine"].customer.name = "欧阳娜娜"
        scene["mine"].customer.save(update_fields=["name"])
        assert _ids(client.get("/conversations/?view=all&q=欧阳")) == {scene["mine"].pk}
        response = client.get("/conversations/?view=nonsense")
        assert response.status_code == 422
        assert "未知的视图" in response.content.decode()

    def test_query_count_does_not_grow_with_rows(self, login: Any, agent: Any, channel: Any,
                                                 django_assert_max_num_queries: Any) -> None:
        for i in range(3):
            receive(channel, f"a{i}", who=f"a{i}")
        client = login(agent)
        client.get("/conversations/?view=waiting")
        cache.clear()
        with django_assert_max_num_queries(14) as few:
            client.get("/conversations/?view=waiting")
        for i in range(25):
            receive(channel, f"b{i}", who=f"b{i}")
        cache.clear()
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = client.get("/conversations/?view=waiting")
        assert len(response.context["rows"]) == 28

    def test_department_staff_have_no_inbox(self, login: Any, department_user: Any, agent: Any) -> None:
        assert login(department_user).get("/conversations/").status_code == 403
        assert 'data-testid="nav-conversations"' not in login(department_user).get("/department/").content.decode()
        assert 'data-testid="nav-conversations"' in login(agent).get("/tickets/").content.decode()


class TestPane:
    def test_pane_shows_messages_both_ways_with_states(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        sent = services.message_send(actor=agent, conversation=conversation, text="已为您查询")
        Message.objects.filter(pk=sent.pk).update(delivery_state="read")
        failed = services.message_send(actor=agent, conversation=conversation, text="第二条")
        Message.objects.filter(pk=failed.pk).update(delivery_state="failed")
        html = login(agent).get(f"/conversations/{conversation.pk}/", **PANE).content.decode()
        assert "<html" not in html
        assert "我的订单到哪了？" in html
        assert "已为您查询" in html
        assert "已读" in html
        assert "发送失败" in html
        assert 'data-testid="composer"' in html
        assert 'data-testid="conv-claim"' not in html  # already mine

    def test_whole_page_with_the_pane(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        response = login(agent).get(f"/conversations/{scene['waiting'].pk}/?view=waiting")
        html = response.content.decode()
        assert response.context["view"] == "waiting"
        assert 'data-testid="conv-claim"' in html
        assert 'data-ws-url="/ws/inbox/"' in html
        assert 'id="canned-replies"' in html

    def test_automated_mail_and_attachments_are_marked(self, login: Any, agent: Any, channel: Any) -> None:
        conversation = receive(channel, "auto", who="bot", text="我不在办公室", automated="auto_reply",
                               attachments=(InboundAttachment("照片.png", "image/png", b"\x89PNG"),
                                            InboundAttachment("合同.pdf", "application/pdf", b"%PDF")))
        html = login(agent).get(f"/conversations/{conversation.pk}/", **PANE).content.decode()
        assert "自动回复" in html
        assert 'class="bubble-image"' in html
        assert "合同.pdf" in html

    def test_customer_online_comes_from_the_cache(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        client = login(agent)
        url = f"/conversations/{scene['mine'].pk}/"
        assert 'data-testid="customer-online" hidden' in client.get(url, **PANE).content.decode()
        cache.set(online_key(scene["mine"].pk), "1", 90)
        assert 'data-testid="customer-online" hidden' not in client.get(url, **PANE).content.decode()

    def test_outsider_gets_404_everywhere(self, login: Any, other_agent: Any, scene: dict[str, Any]) -> None:
        client = login(other_agent)
        pk = scene["mine"].pk
        for url in (f"/conversations/{pk}/", f"/conversations/{pk}/messages/", f"/conversations/{pk}/side/"):
            assert client.get(url).status_code == 404, url
        for action in ("claim", "transfer", "close", "ticket", "send"):
            assert client.post(f"/conversations/{pk}/{action}/", {"reason": "resolved"}).status_code == 404

    def test_query_count_does_not_grow_with_messages(self, login: Any, agent: Any, scene: dict[str, Any],
                                                     django_assert_max_num_queries: Any) -> None:
        conversation = scene["mine"]
        client = login(agent)
        url = f"/conversations/{conversation.pk}/"
        client.get(url, **PANE)
        with django_assert_max_num_queries(9) as few:
            client.get(url, **PANE)
        for i in range(30):
            services.message_send(actor=agent, conversation=conversation, text=f"回复{i}")
            receive(conversation.channel, f"more{i}", who="mine", text=f"追问{i}",
                    attachments=(InboundAttachment(f"图{i}.png", "image/png", b"\x89PNG"),) if i % 5 == 0 else ())
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get(url, **PANE)

    def test_earlier_messages_and_after(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        for i in range(55):
            services.message_send(actor=agent, conversation=conversation, text=f"第{i}条")
        client = login(agent)
        html = client.get(f"/conversations/{conversation.pk}/", **PANE).content.decode()
        assert 'data-testid="earlier"' in html
        older = client.get(f"/conversations/{conversation.pk}/messages/?before=7").content.decode()
        assert older.count('data-testid="message"') == 6
        newer = client.get(f"/conversations/{conversation.pk}/messages/?after=54").content.decode()
        assert newer.count('data-testid="message"') == 2
        assert client.get(f"/conversations/{conversation.pk}/messages/?after=x").status_code == 400

    def test_side_panel_has_the_customer_and_history(self, login: Any, agent: Any, channel: Any,
                                                     customer: Any) -> None:
        first = receive(channel, "p1", who="phone-user", text="第一次", name="张三")
        Conversation.objects.filter(pk=first.pk).update(customer=customer)
        services.conversation_close(actor=agent, conversation=first, reason="resolved")
        second = receive(channel, "p2", who="other-user", text="第二次")
        Conversation.objects.filter(pk=second.pk).update(customer=customer)
        html = login(agent).get(f"/conversations/{second.pk}/side/").content.decode()
        assert 'data-testid="customer-card"' in html
        assert "138****8000" in html  # the ticket page's masked contacts
        assert "13800138000" not in html
        assert "问题已解决" in html  # the earlier conversation, with its close reason


class TestActions:
    def test_claim_then_a_colleague_is_told_who_was_first(self, login: Any, agent: Any, team_lead: Any,
                                                          scene: dict[str, Any]) -> None:
        conversation = scene["waiting"]
        response = login(team_lead).post(f"/conversations/{conversation.pk}/claim/", **HTMX)
        assert response.status_code == 200
        assert response["HX-Trigger"] == "kefu:inbox-changed"
        late = login(agent).post(f"/conversations/{conversation.pk}/claim/", **HTMX)
        assert late.status_code == 409
        assert late["HX-Retarget"] == "#err-conv-actions"
        assert "会话已被 王组长 接入" in late.content.decode()
        conversation.refresh_from_db()
        assert conversation.assignee == team_lead

    def test_transfer_to_a_colleague_and_to_a_team(self, login: Any, agent: Any, team_lead: Any, other_team: Any,
                                                   scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        client = login(agent)
        response = client.post(f"/conversations/{conversation.pk}/transfer/",
                               {"target": f"user:{team_lead.pk}", "note": "客户要退款"}, **HTMX)
        assert response.status_code == 200
        assert "已转接给 王组长" in response.content.decode()
        conversation.refresh_from_db()
        assert conversation.assignee == team_lead
        event = OutboxEvent.objects.filter(type="conversation.assigned").order_by("-id").first()
        assert event.payload["data"]["note"] == "客户要退款"
        lead = login(team_lead)
        pane = lead.get(f"/conversations/{conversation.pk}/", **PANE).content.decode()
        assert "李客服 接入了会话" in pane
        assert "李客服 将会话转接给 王组长" in pane
        assert "“客户要退款”" in pane  # the note, for colleagues
        response = lead.post(f"/conversations/{conversation.pk}/transfer/", {"target": f"team:{other_team.pk}"},
                             **HTMX)
        assert response.status_code == 200
        conversation.refresh_from_db()
        assert (conversation.assignee, conversation.team) == (None, other_team)
        refused = lead.post(f"/conversations/{scene['colleague'].pk}/transfer/", {"target": "nobody"}, **HTMX)
        assert refused.status_code == 422
        assert "请选择转接给一位同事或一个班组" in refused.content.decode()

    def test_close_with_a_reason(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        client = login(agent)
        refused = client.post(f"/conversations/{conversation.pk}/close/", {"reason": "customer_left"}, **HTMX)
        assert refused.status_code == 422  # the widget's reason, not an agent's
        response = client.post(f"/conversations/{conversation.pk}/close/", {"reason": "no_reply", "note": "未回复"},
                               **HTMX)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="composer-closed"' in html
        assert "客户无回应" in html
        conversation.refresh_from_db()
        assert (conversation.status, conversation.close_reason, conversation.close_note) == (
            ConversationStatus.CLOSED, "no_reply", "未回复")

    def test_make_an_order_then_the_pane_links_it(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        client = login(agent)
        response = client.post(f"/conversations/{conversation.pk}/ticket/", **HTMX)
        assert response.status_code == 200
        conversation.refresh_from_db()
        ticket = conversation.ticket
        html = response.content.decode()
        assert f"已创建工单 {ticket.number}" in html
        assert f'href="/tickets/{ticket.pk}/"' in html
        assert 'data-testid="conv-ticket"' not in html
        # the order's page offers its conversations, loaded after the page
        page = client.get(f"/tickets/{ticket.pk}/").content.decode()
        assert f'hx-get="/tickets/{ticket.pk}/conversations/"' in page
        part = client.get(f"/tickets/{ticket.pk}/conversations/").content.decode()
        assert f'href="/conversations/{conversation.pk}/"' in part
        again = client.post(f"/conversations/{conversation.pk}/ticket/", **HTMX)
        assert again.status_code == 409

    def test_lead_assigns_and_agent_may_not(self, login: Any, agent: Any, team_lead: Any,
                                            scene: dict[str, Any]) -> None:
        conversation = scene["waiting"]
        assert login(agent).post(f"/conversations/{conversation.pk}/assign/", {"assignee": agent.pk}).status_code \
            == 403
        response = login(team_lead).post(f"/conversations/{conversation.pk}/assign/", {"assignee": agent.pk}, **HTMX)
        assert response.status_code == 200
        assert "已分配给 李客服" in response.content.decode()
        conversation.refresh_from_db()
        assert conversation.assignee == agent

    def test_plain_posts_redirect(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["waiting"]
        response = login(agent).post(f"/conversations/{conversation.pk}/claim/")
        assert response.status_code == 302
        assert response["Location"] == f"/conversations/{conversation.pk}/"


class TestSendOverHttp:
    def test_reply_with_a_file_is_stored_once(self, login: Any, agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        client = login(agent)
        upload = SimpleUploadedFile("说明.png", b"\x89PNG", content_type="image/png")
        response = client.post(f"/conversations/{conversation.pk}/send/",
                               {"text": "请看图", "client_id": "c-1", "files": [upload]})
        assert response.status_code == 200
        ack = response.json()
        message = Message.objects.get(pk=ack["id"])
        assert (ack["type"], ack["client_id"], ack["seq"]) == ("ack", "c-1", message.seq)
        assert message.attachments.get().filename == "说明.png"
        again = client.post(f"/conversations/{conversation.pk}/send/", {"text": "请看图", "client_id": "c-1"})
        assert again.json()["id"] == message.pk
        assert Message.objects.filter(conversation=conversation, client_id="c-1").count() == 1
        assert Participant.objects.get(conversation=conversation, user=agent).last_read_seq == message.seq
        # the file opens for those who see the conversation only
        url = f"/conversations/attachments/{message.attachments.get().pk}/"
        assert client.get(url).status_code == 200

    def test_refusals_are_json(self, login: Any, agent: Any, other_agent: Any, scene: dict[str, Any]) -> None:
        conversation = scene["mine"]
        client = login(agent)
        empty = client.post(f"/conversations/{conversation.pk}/send/", {"text": "  ", "client_id": "c-2"})
        assert empty.status_code == 422
        assert empty.json()["client_id"] == "c-2"
        bad = SimpleUploadedFile("病毒.exe", b"MZ", content_type="application/octet-stream")
        refused = client.post(f"/conversations/{conversation.pk}/send/", {"files": [bad]})
        assert refused.status_code == 422
        assert "不支持的文件类型" in refused.json()["message"]
        attachment = services.message_send(actor=agent, conversation=conversation, text="图",
                                           attachments=[services.AttachmentIn("a.png", "image/png", b"x")])
        url = f"/conversations/attachments/{attachment.attachments.get().pk}/"
        assert login(other_agent).get(url).status_code == 404


class TestCannedReplies:
    def test_lead_creates_edits_and_deletes(self, login: Any, team_lead: Any, team: Any) -> None:
        client = login(team_lead)
        assert client.get("/conversations/canned/").status_code == 200
        response = client.post("/conversations/canned/", {"team": team.pk, "shortcut": "/hi", "title": "问候",
                                                           "body": "您好！"})
        assert response.status_code == 302
        reply = CannedReply.objects.get()
        assert (reply.shortcut, reply.team) == ("hi", team)
        duplicate = client.post("/conversations/canned/", {"team": team.pk, "shortcut": "hi", "title": "又一个",
                                                            "body": "x"})
        assert duplicate.status_code == 422
        assert "快捷词 /hi 已被使用" in duplicate.content.decode()
        shared = client.post("/conversations/canned/", {"team": "", "shortcut": "all", "title": "通用", "body": "x"})
        assert shared.status_code == 422  # the shared ones are the supervisors'
        edited = client.post(f"/conversations/canned/{reply.pk}/", {"team": team.pk, "shortcut": "hello",
                                                                     "title": "问候语", "body": "您好，请讲"})
        assert edited.status_code == 302
        reply.refresh_from_db()
        assert (reply.shortcut, reply.title, reply.body) == ("hello", "问候语", "您好，请讲")
        assert client.post(f"/conversations/canned/{reply.pk}/delete/").status_code == 302
        assert not CannedReply.objects.exists()

    def test_agent_may_not_manage_and_a_lead_only_their_teams(self, login: Any, agent: Any, team_lead: Any,
                                                              other_team: Any, shift_lead: Any) -> None:
        theirs = CannedReply.objects.create(team=other_team, shortcut="x", title="二组", body="二组的")
        assert login(agent).get("/conversations/canned/").status_code == 403
        client = login(team_lead)
        assert client.get(f"/conversations/canned/{theirs.pk}/").status_code == 404
        assert client.post(f"/conversations/canned/{theirs.pk}/delete/").status_code == 404
        assert login(shift_lead).get(f"/conversations/canned/{theirs.pk}/").status_code == 200

    def test_composer_offers_the_team_and_shared_replies(self, login: Any, agent: Any, team: Any, other_team: Any,
                                                         scene: dict[str, Any]) -> None:
        CannedReply.objects.create(team=team, shortcut="mine", title="本组", body="本组的回复")
        CannedReply.objects.create(team=None, shortcut="shared", title="通用", body="通用的回复")
        CannedReply.objects.create(team=other_team, shortcut="theirs", title="二组", body="二组的回复")
        response = login(agent).get(f"/conversations/{scene['mine'].pk}/")
        shortcuts = {r["shortcut"] for r in response.context["canned"]}
        assert shortcuts == {"mine", "shared"}
        html = response.content.decode()
        data = json.loads(html.split('id="canned-replies" type="application/json">')[1].split("</script>")[0])
        assert {r["shortcut"] for r in data} == shortcuts


def test_customer_text_is_shown_as_text(login: Any, agent: Any, channel: Any) -> None:
    """A customer's message (and name, and a file name) carrying HTML stays inert in the list and the pane."""
    conversation = services.message_receive(channel=channel, inbound=inbound(
        "xss", external_id="xss", text=PAYLOAD, name=f"客户{PAYLOAD}"[:200],
        attachments=(InboundAttachment('"><img src=x onerror=alert(1)>.png', "image/png", b"\x89PNG"),))).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    client = login(agent)
    for url in ("/conversations/?view=mine", f"/conversations/{conversation.pk}/",
                f"/conversations/{conversation.pk}/messages/?after=0", f"/conversations/{conversation.pk}/side/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)
    html = client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _inbox_urls(conversation: Any) -> list[str]:
    return ["/conversations/", "/conversations/?view=waiting", "/conversations/?view=closed",
            f"/conversations/{conversation.pk}/", f"/conversations/{conversation.pk}/side/",
            f"/tickets/{conversation.ticket_id}/conversations/"]


def test_inbox_in_english_has_no_chinese(client: Any, agent: Any, team_lead: Any, team: Any, other_team: Any,
                                         customer: Any) -> None:
    from django.conf import settings

    from kefu.web.tests.test_i18n import CJK, _asciify, visible_text

    channel = ChannelFactory(code="app", name="Member app", team=team)
    conversation = services.message_receive(channel=channel, inbound=inbound("e1", text="Where is my order?",
                                                                            name="Ann")).conversation
    Conversation.objects.filter(pk=conversation.pk).update(customer=customer)
    conversation.refresh_from_db()
    services.conversation_claim(actor=agent, conversation=conversation)
    services.message_send(actor=agent, conversation=conversation, text="On its way")
    services.conversation_create_ticket(actor=agent, conversation=conversation, subject="Order")
    conversation.refresh_from_db()
    CannedReply.objects.create(team=team, shortcut="hi", title="Hello", body="Hello there")
    _asciify(agent, team_lead, team, other_team, agent.department, customer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for user, urls in ((agent, _inbox_urls(conversation)), (team_lead, ["/conversations/canned/"])):
        client.force_login(user)
        for url in urls:
            leaks = [t for t in visible_text(client.get(url).content.decode()) if CJK.search(t)]
            assert not leaks, f"{url}: {leaks[:10]}"


def test_inbox_in_chinese_has_no_english(client: Any, agent: Any, team_lead: Any, channel: Any,
                                         customer: Any) -> None:
    from kefu.web.tests.test_i18n import SHARED_WORDS, WORD, visible_text

    conversation = receive(channel, "z1", text="我的订单到哪了？")
    services.conversation_claim(actor=agent, conversation=conversation)
    services.message_send(actor=agent, conversation=conversation, text="已发货")
    services.conversation_create_ticket(actor=agent, conversation=conversation)
    conversation.refresh_from_db()
    channel.name = "会员客户端"
    channel.save(update_fields=["name"])
    CannedReply.objects.create(team=None, shortcut="问候", title="问候", body="您好")
    for user, urls in ((agent, _inbox_urls(conversation)), (team_lead, ["/conversations/canned/"])):
        client.force_login(user)
        for url in urls:
            words = {w for t in visible_text(client.get(url).content.decode()) for w in WORD.findall(t)}
            assert not words - SHARED_WORDS, f"{url}: {sorted(words - SHARED_WORDS)}"
