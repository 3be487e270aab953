"""The bot at work in conversations: on a channel where it answers first it answers customers' questions from the
knowledge base; unsure, asked for a person, or sent a picture, it hands over, and the conversation then enters its
team's inbox or routing queue exactly as one without a bot does, with the whole transcript. A channel without the
bot, or the bot switched off, behaves as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kefu.conversations import services
from kefu.conversations.choices import AuthorKind, BotState, Direction
from kefu.conversations.models import Conversation, Message
from kefu.conversations.selectors import ConversationFilter, conversation_list, inbox_counts
from kefu.conversations.tests.cloudapi import api  # noqa: F401  (the fake WeChat API fixture)
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.core.models import OutboxEvent
from kefu.knowledge.choices import Language
from kefu.knowledge.models import BotSettings, Consultation, Gap
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db

ASK = "退款要多久"  # an example question of an article: answered
VAGUE = "怎么开发票"  # close to an article, less sure: suggestions
UNKNOWN = "你们的办公楼有几层电梯"  # nothing like it: no suggestion


_capture: list[Any] = []


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """What follows a commit (the relay: the bot's turn; deliveries) happens as each service returns."""
    _capture.append(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        yield
    _capture.clear()


def committed(work: Any, *args: Any, **kwargs: Any) -> Any:
    with _capture[-1](execute=True):
        return work(*args, **kwargs)


@pytest.fixture
def kb(qa: Any) -> dict[str, Any]:
    """A small knowledge base, the bot's threshold set by hand (a calibration on three articles means little)."""
    articles = {
        "password": make_article(actor=qa, title="如何重置登录密码",
                                 body="在登录页点“忘记密码”，按短信验证码设置新密码即可。",
                                 questions=["密码忘了怎么办", "怎么重置密码", "登录密码找回"]),
        "invoice": make_article(actor=qa, title="如何开具发票", body="在“订单-申请发票”里填写抬头，三个工作日内开出。",
                                questions=["怎么开发票", "发票在哪里申请", "可以开增值税发票吗"]),
        "refund": make_article(actor=qa, title="退款多久到账", body="退款审核通过后，一至三个工作日原路退回。",
                               questions=["退款什么时候到账", "退款要多久", "钱什么时候退回来"]),
        "en": make_article(actor=qa, title="How to reset my password", language=Language.EN,
                           body="Click 'Forgot password' on the sign-in page and follow the SMS code.",
                           questions=["I forgot my password", "how do I reset my password"]),
    }
    from kefu.knowledge.index import served

    # the threshold between the two questions' confidences, whatever the engine's tuning gives them
    index = served("public").index
    sure, vague = (index.answer(q, threshold=1.0).confidence for q in (ASK, VAGUE))
    assert sure > vague > 0.02
    BotSettings.objects.filter(pk=BotSettings.current().pk).update(threshold=(sure + vague) / 2, enabled=True)
    return articles


@pytest.fixture
def bot_channel(team: Any) -> Any:
    return ChannelFactory(chat=True, code="web-bot", team=team, bot_first=True)


def say(channel: Any, message_id: str, text: str, visitor: str = "v1") -> services.Received:
    return committed(services.message_receive, channel=channel,
                     inbound=inbound(message_id, external_id=visitor, text=text, kind="visitor"))


def transcript(conversation: Conversation) -> list[tuple[str, str]]:
    return list(Message.objects.filter(conversation=conversation).order_by("seq")
                .values_list("author_kind", "body"))


def waiting(user: Any) -> list[int]:
    return list(conversation_list(user, ConversationFilter(view="waiting")).values_list("pk", flat=True))


def test_a_confident_answer_is_the_bots_message_and_the_conversation_stays_with_the_bot(
        bot_channel: Any, kb: dict[str, Any], agent: Any) -> None:
    conversation = say(bot_channel, "m1", ASK).conversation
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.ACTIVE
    assert conversation.assignee_id is None
    (_question, answer) = Message.objects.filter(conversation=conversation).order_by("seq")
    assert answer.author_kind == AuthorKind.BOT
    assert answer.direction == Direction.OUTBOUND
    assert answer.author_system == "bot"
    assert answer.author_id is None
    assert answer.body == kb["refund"].published.body
    bot = answer.meta["bot"]
    assert (bot["kind"], bot["article_id"], bot["name"]) == ("answer", kb["refund"].pk, BotSettings.current().name)
    consultation = Consultation.objects.get(pk=bot["consultation_id"])
    assert (consultation.answered, consultation.conversation_id, consultation.channel) == (True, conversation.pk,
                                                                                            "chat")
    # nobody's inbox yet: not waiting, no clock, no team audience on its events
    assert conversation.pk not in waiting(agent)
    assert inbox_counts(agent)["waiting"] == 0
    assert conversation.first_response_at is None
    received = OutboxEvent.objects.filter(type="conversation.message_received").latest("pk")
    assert f"team.{bot_channel.team_id}" not in received.audience
    sent = OutboxEvent.objects.filter(type="conversation.message_sent").latest("pk")
    assert sent.payload["message"]["author_kind"] == "bot"
    assert sent.payload["message"]["bot"]["article_id"] == kb["refund"].pk
    assert sent.payload["message"]["author_name"] == BotSettings.current().name


def test_unsure_the_bot_offers_three_articles_and_hands_over_with_the_transcript(
        bot_channel: Any, kb: dict[str, Any], agent: Any) -> None:
    first = say(bot_channel, "m1", ASK).conversation
    say(bot_channel, "m2", VAGUE)
    conversation = Conversation.objects.get(pk=first.pk)
    assert conversation.bot_state == BotState.HANDED_OVER
    rows = transcript(conversation)
    assert [kind for kind, _body in rows] == ["customer", "bot", "customer", "bot"]
    offer = Message.objects.filter(conversation=conversation).latest("seq")
    assert offer.meta["bot"]["kind"] == "suggestions"
    offered = [s["article_id"] for s in offer.meta["bot"]["suggestions"]]
    assert 1 <= len(offered) <= 3
    assert offered[0] == kb["invoice"].pk
    assert "人工客服" in offer.body
    assert Gap.objects.filter(question=VAGUE).exists()
    # now in the team's inbox like any new conversation, with its first-response clock
    assert conversation.pk in waiting(agent)
    assert inbox_counts(agent)["waiting"] == 1
    handed = OutboxEvent.objects.get(type="conversation.bot_handed_over")
    assert handed.payload["data"]["reason"] == "unsure"
    assert f"team.{bot_channel.team_id}" in handed.audience
    from kefu.clocks.models import Clock

    assert Clock.objects.filter(metric="first_response").count() == 1
    # a later message is the agent's to answer: the bot stays silent
    say(bot_channel, "m3", "还有人吗")
    assert transcript(conversation)[-1] == ("customer", "还有人吗")
    # the agent replies: the first response
    services.message_send(actor=agent, conversation=conversation, text="您好，我来帮您")
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert conversation.first_response_at is not None


def test_with_nothing_to_offer_the_bot_says_a_person_will_answer(bot_channel: Any, agent: Any) -> None:
    """An empty knowledge base (nothing served): no suggestion, straight to a person."""
    conversation = say(bot_channel, "m1", UNKNOWN).conversation
    said = Message.objects.filter(conversation=conversation).latest("seq")
    assert said.meta["bot"]["kind"] == "handoff"
    assert "人工客服" in said.body
    assert conversation.pk in waiting(agent)


@pytest.mark.parametrize("words", ["转人工", "人工", "Agent", "human!", " 转 人工 "])
def test_asking_for_a_person_hands_over_at_once(bot_channel: Any, kb: dict[str, Any], agent: Any,
                                                 words: str) -> None:
    conversation = say(bot_channel, "m1", words).conversation
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.HANDED_OVER
    (_question, said) = Message.objects.filter(conversation=conversation).order_by("seq")
    assert said.author_kind == AuthorKind.BOT
    assert said.meta["bot"]["kind"] == "handoff"
    assert OutboxEvent.objects.get(type="conversation.bot_handed_over").payload["data"]["reason"] == "asked"
    assert not Consultation.objects.exists()  # not a question for the knowledge base
    assert conversation.pk in waiting(agent)


def test_an_english_customer_is_told_in_english(bot_channel: Any, kb: dict[str, Any]) -> None:
    conversation = say(bot_channel, "m1", "agent").conversation
    said = Message.objects.filter(conversation=conversation).latest("seq")
    assert said.meta["bot"]["language"] == "en"  # written in English (the catalogue has the words)


def test_the_widgets_button_hands_over_once(bot_channel: Any, kb: dict[str, Any]) -> None:
    from kefu.conversations.services.bot import customer_asks_for_person

    conversation = say(bot_channel, "m1", ASK).conversation
    customer_asks_for_person(conversation=conversation, client_id="press-1")
    customer_asks_for_person(conversation=conversation, client_id="press-1")
    customer_asks_for_person(conversation=conversation, client_id="press-2")
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.HANDED_OVER
    assert [k for k, _b in transcript(conversation)] == ["customer", "bot", "bot"]
    assert OutboxEvent.objects.filter(type="conversation.bot_handed_over").count() == 1


def test_a_picture_goes_to_a_person(bot_channel: Any, kb: dict[str, Any]) -> None:
    from kefu.conversations.adapters.base import Identity, InboundAttachment, InboundMessage

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    received = committed(services.message_receive, channel=bot_channel, inbound=InboundMessage(
        external_id="p1", identity=Identity(kind="visitor", value="v1"), text="", kind="image",
        attachments=(InboundAttachment(filename="a.png", content_type="image/png", content=png),)))
    conversation = Conversation.objects.get(pk=received.conversation.pk)
    assert conversation.bot_state == BotState.HANDED_OVER
    assert OutboxEvent.objects.get(type="conversation.bot_handed_over").payload["data"]["reason"] == "attachment"


def test_a_retried_message_is_answered_once(bot_channel: Any, kb: dict[str, Any]) -> None:
    from kefu.conversations.services.bot import bot_attend
    from kefu.core.relay import drain

    first = say(bot_channel, "m1", ASK)
    again = say(bot_channel, "m1", ASK)
    assert again.duplicate
    assert bot_attend(message_id=first.message.pk) is None  # a replayed event: already answered
    drain()
    assert [k for k, _b in transcript(first.conversation)] == ["customer", "bot"]
    assert Consultation.objects.count() == 1


@pytest.mark.parametrize("setup", ["no_bot_channel", "bot_switched_off"])
def test_without_the_bot_nothing_changes(team: Any, kb: dict[str, Any], agent: Any, setup: str) -> None:
    channel = ChannelFactory(chat=True, code="web-plain", team=team, bot_first=setup != "no_bot_channel")
    if setup == "bot_switched_off":
        BotSettings.objects.update(enabled=False)
    conversation = say(channel, "m1", ASK).conversation
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.NONE
    assert transcript(conversation) == [("customer", ASK)]
    assert conversation.pk in waiting(agent)
    assert not Consultation.objects.exists()


def test_the_bot_switched_off_meanwhile_hands_over(bot_channel: Any, kb: dict[str, Any], agent: Any) -> None:
    conversation = say(bot_channel, "m1", ASK).conversation
    BotSettings.objects.update(enabled=False)
    say(bot_channel, "m2", ASK)
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.HANDED_OVER
    assert conversation.pk in waiting(agent)


def test_an_agent_who_answers_takes_it_from_the_bot(bot_channel: Any, kb: dict[str, Any], manager: Any) -> None:
    conversation = say(bot_channel, "m1", ASK).conversation
    services.message_send(actor=manager, conversation=conversation, text="我来处理")
    say(bot_channel, "m2", ASK)
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.HANDED_OVER
    assert conversation.assignee == manager
    assert [k for k, _b in transcript(conversation)] == ["customer", "bot", "agent", "customer"]


def test_an_agent_who_picks_it_up_takes_it_from_the_bot(bot_channel: Any, kb: dict[str, Any], agent: Any) -> None:
    conversation = say(bot_channel, "m1", ASK).conversation
    services.conversation_claim(actor=agent, conversation=conversation)
    say(bot_channel, "m2", ASK)
    conversation.refresh_from_db()
    assert conversation.bot_state == BotState.HANDED_OVER
    assert [k for k, _b in transcript(conversation)] == ["customer", "bot", "customer"]


def test_a_routed_channel_queues_the_conversation_at_the_handoff_once(team: Any, kb: dict[str, Any]) -> None:
    from kefu.routing.models import Queue, RoutedContact

    line = Queue.objects.create(code="botline", name="网页咨询", kind="chat", routed=True, team=team)
    channel = ChannelFactory(chat=True, code="web-routed", team=team, queue=line, bot_first=True)
    conversation = say(channel, "m1", ASK).conversation
    ref = f"conversation:{conversation.pk}"
    assert not RoutedContact.objects.filter(ref=ref).exists()  # the bot holds it: not in line
    say(channel, "m2", "转人工")
    say(channel, "m3", "人呢")
    (contact,) = RoutedContact.objects.filter(ref=ref)
    assert contact.state == "waiting"
    assert contact.queue == line


def test_a_wechat_customer_gets_the_bots_answer_through_the_adapter(team: Any, kb: dict[str, Any],
                                                                   api: Any) -> None:  # noqa: F811
    from kefu.conversations.adapters.registry import adapter_for
    from kefu.conversations.choices import DeliveryState
    from kefu.conversations.tests.wechat.conftest import APPID, OPENID, token_answer

    mp = ChannelFactory(kind="wechat_oa", code="mp-bot", name="服务号", team=team, config={"appid": APPID},
                        secrets={"token": "t", "appsecret": "a" * 32}, bot_first=True)
    api.on("/cgi-bin/token", token_answer("T1"))
    api.on("/cgi-bin/message/custom/send", {"errcode": 0, "errmsg": "ok"})
    fields = {"ToUserName": "gh_0123456789ab", "FromUserName": OPENID, "CreateTime": "1700000000",
              "MsgType": "text", "Content": ASK, "MsgId": "7001"}
    received = committed(services.message_receive, channel=mp,
                         inbound=adapter_for("wechat_oa").inbound(mp, fields))  # type: ignore[attr-defined]
    answer = Message.objects.get(conversation=received.conversation, author_kind=AuthorKind.BOT)
    assert answer.delivery_state == DeliveryState.SENT
    (send,) = api.to("/cgi-bin/message/custom/send")
    content = api.json(send)["text"]["content"]
    assert content.startswith(kb["refund"].published.body)
    assert "人工" in content
    assert Consultation.objects.get().channel == "wechat"



# --- the widget: the bot's side of the visitor's endpoints --------------------------------------------------


def visitor_says(channel: Any, text: str, client_id: str = "c1") -> tuple[str, services.Received]:
    from kefu.widget import inbound as widget_inbound
    from kefu.widget.visitors import Visitor, token_for

    visitor = Visitor(code=channel.code, id="visitor-1")
    received = committed(widget_inbound.receive, channel=channel, visitor=visitor, client_id=client_id, text=text)
    return token_for(visitor), received


def post(client: Any, channel: Any, path: str, body: Any) -> Any:
    import json

    return client.post(f"/chat/{channel.code}/bot/{path}", data=json.dumps(body) if not isinstance(body, str)
                       else body, content_type="application/json", HTTP_ORIGIN="http://testserver")


def test_the_widget_session_names_the_bot_and_the_frame_shows_its_answer(client: Any, bot_channel: Any,
                                                                        kb: dict[str, Any]) -> None:
    import json

    answer = client.post(f"/chat/{bot_channel.code}/session", data=json.dumps({}), content_type="application/json",
                         HTTP_ORIGIN="http://testserver").json()
    assert answer["bot"] == {"name": BotSettings.current().name}
    token, received = visitor_says(bot_channel, ASK)
    from kefu.widget.selectors import history

    rows = history(received.conversation, after=0, code=bot_channel.code, token=token)
    assert rows[1]["author"] == "bot"
    assert rows[1]["name"] == BotSettings.current().name
    assert rows[1]["bot"]["kind"] == "answer"
    plain = ChannelFactory(chat=True, code="web-plain", team=bot_channel.team)
    assert client.post(f"/chat/{plain.code}/session", data="{}", content_type="application/json",
                       HTTP_ORIGIN="http://testserver").json()["bot"] is None


def test_the_widget_rates_an_answer_once_and_an_unhelpful_one_is_a_gap(client: Any, bot_channel: Any,
                                                                       kb: dict[str, Any]) -> None:
    from kefu.knowledge.models import Feedback

    token, received = visitor_says(bot_channel, ASK)
    bot = Message.objects.get(conversation=received.conversation, author_kind=AuthorKind.BOT).meta["bot"]
    body = {"token": token, "article_id": bot["article_id"], "consultation_id": bot["consultation_id"],
            "helpful": False}
    assert post(client, bot_channel, "feedback", body).status_code == 200
    assert post(client, bot_channel, "feedback", body).json()["duplicate"] is True
    assert Feedback.objects.count() == 1
    assert Consultation.objects.get(pk=bot["consultation_id"]).helpful is False
    assert Gap.objects.filter(question=ASK, source="unhelpful").exists()


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"helpful": "yes"}, 400, "helpful"),
    ({"article_id": "1"}, 400, "article_id"),
    ({"consultation_id": 999999}, 400, "consultation_id"),
    ({"token": "forged"}, 401, None),
])
def test_bad_feedback_names_the_field_and_writes_nothing(client: Any, bot_channel: Any, kb: dict[str, Any],
                                                         change: dict[str, Any], status: int,
                                                         field: str | None) -> None:
    from kefu.knowledge.models import Feedback

    token, received = visitor_says(bot_channel, ASK)
    bot = Message.objects.get(conversation=received.conversation, author_kind=AuthorKind.BOT).meta["bot"]
    body = {"token": token, "article_id": bot["article_id"], "consultation_id": bot["consultation_id"],
            "helpful": True, **change}
    answer = post(client, bot_channel, "feedback", body)
    assert answer.status_code == status
    if field:
        assert answer.json()["details"]["field"] == field
    assert not Feedback.objects.exists()
    assert post(client, bot_channel, "feedback", "not json").status_code == 401  # no token: 401 before 400


def test_a_suggestion_shows_its_answer_only_when_the_bot_offered_it(client: Any, bot_channel: Any,
                                                                    kb: dict[str, Any], qa: Any) -> None:
    token, received = visitor_says(bot_channel, ASK)
    visitor_says(bot_channel, VAGUE, client_id="c2")
    offered = Message.objects.filter(conversation=received.conversation, author_kind=AuthorKind.BOT).latest("seq")
    first = offered.meta["bot"]["suggestions"][0]["article_id"]
    shown = post(client, bot_channel, "article", {"token": token, "article_id": first})
    assert shown.status_code == 200
    assert shown.json()["body"] == Article_body(first)
    again = post(client, bot_channel, "article", {"token": token, "article_id": first})
    assert again.json()["consultation_id"] == shown.json()["consultation_id"]  # one consultation per article
    internal = make_article(actor=qa, title="内部：退款审批流程", body="仅内部", questions=["退款审批"],
                            visibility="internal")
    assert post(client, bot_channel, "article", {"token": token, "article_id": internal.pk}).status_code == 404
    refused = post(client, bot_channel, "article", {"token": token, "article_id": 0})
    assert refused.status_code == 400
    assert refused.json()["details"]["field"] == "article_id"


def Article_body(article_id: int) -> str:
    from kefu.knowledge.models import Article

    return Article.objects.select_related("published").get(pk=article_id).published.body


def test_the_widgets_handoff_button(client: Any, bot_channel: Any, kb: dict[str, Any], agent: Any) -> None:
    token, received = visitor_says(bot_channel, ASK)
    answer = committed(post, client, bot_channel, "handoff", {"token": token, "client_id": "press-1"})
    assert answer.json()["bot_state"] == BotState.HANDED_OVER
    assert received.conversation.pk in waiting(agent)
    refused = post(client, bot_channel, "handoff", {"token": token, "client_id": "bad id!"})
    assert refused.status_code == 400
    assert refused.json()["details"]["field"] == "client_id"


# --- agent assist --------------------------------------------------------------------------------------------


def test_agent_assist_beside_a_conversation_suggests_and_records_only_an_insert(
        client: Any, bot_channel: Any, kb: dict[str, Any], agent: Any, qa: Any,
        django_assert_max_num_queries: Any) -> None:
    internal = make_article(actor=qa, title="退款审批流程（内部）", body="超过 500 元的退款需组长审批。",
                            questions=["退款审批怎么走", "退款多久到账内部流程"], visibility="internal")
    _token, received = visitor_says(bot_channel, "转人工")
    visitor_says(bot_channel, "退款审批怎么走", client_id="c2")
    conversation = received.conversation
    client.force_login(agent)
    url = f"/conversations/{conversation.pk}/assist/"
    client.get(url)  # the index built once
    before = Consultation.objects.count()
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert internal.published.title in html  # agents are suggested internal articles too
    assert "仅内部" in html
    assert "插入回复" in html
    assert 1 <= html.count('data-testid="assist-item"') <= 3
    assert Consultation.objects.count() == before  # reading suggestions records nothing
    used = client.post(f"{url}used/", {"article_id": kb["refund"].pk})
    assert used.status_code == 204
    assert Consultation.objects.filter(channel="agent", article=kb["refund"]).count() == 1
    assert client.post(f"{url}used/", {"article_id": "x"}).status_code == 422


def test_agent_assist_beside_a_work_order(client: Any, kb: dict[str, Any], agent: Any, customer: Any,
                                          other_agent: Any) -> None:
    from kefu.tickets.services import ticket_create

    ticket = ticket_create(actor=agent, subject="退款一直没到账", description="客户说退款要多久才能到",
                           customer=customer)
    client.force_login(agent)
    page = client.get(f"/tickets/{ticket.pk}/assist/")
    assert page.status_code == 200
    assert kb["refund"].published.title in page.content.decode()
    assert "复制" in page.content.decode()
    client.force_login(other_agent)
    assert client.get(f"/tickets/{ticket.pk}/assist/").status_code in {403, 404}


def test_the_channel_page_switches_the_bot_on_and_refuses_it_on_mail(client: Any, manager: Any, team: Any) -> None:
    from kefu.conversations.services import ChannelChanges, channel_update
    from kefu.core.errors import ValidationFailed

    web = ChannelFactory(chat=True, code="web-admin", team=team)
    client.force_login(manager)
    data = {"name": web.name, "team": team.pk, "is_active": "on", "bot_first": "on", "version": web.version}
    assert client.post(f"/admin/channels/{web.pk}/", data).status_code == 302
    web.refresh_from_db()
    assert web.bot_first is True
    mail = ChannelFactory(email=True, code="mail-admin", team=team)
    with pytest.raises(ValidationFailed) as refused:
        channel_update(actor=manager, channel=mail, expected_version=None, changes=ChannelChanges(bot_first=True))
    assert refused.value.details == {"field": "bot_first"}
