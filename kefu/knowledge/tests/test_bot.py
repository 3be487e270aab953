"""The answer bot's service: it answers above the threshold, hands over below it (still naming the best article),
records each question and notes a gap when it could not answer; bad input names the field and records nothing."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core.errors import ValidationFailed
from kefu.knowledge.choices import GapSource, Language, Visibility
from kefu.knowledge.models import BotSettings, Consultation, Gap
from kefu.knowledge.services.bot import bot_ask, spoken_answer
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db


def _threshold(value: float, *, enabled: bool = True) -> None:
    row = BotSettings.current()
    row.threshold, row.enabled = value, enabled
    row.save()


@pytest.fixture
def kb(qa: Any) -> dict[str, Any]:
    return {
        "password": make_article(actor=qa, title="如何修改登录密码", body="在“我的-设置-账户安全”里修改密码。",
                                 questions=["密码怎么改", "忘记密码了怎么办"],
                                 spoken="请在我的、设置、账户安全里修改。"),
        "refund": make_article(actor=qa, title="退款多久到账", body="退款在三到五个工作日内原路退回。",
                               questions=["退款什么时候到账", "钱什么时候退回来"]),
        "invoice": make_article(actor=qa, title="如何开发票", body="在订单详情页点击“申请开票”。",
                                questions=["怎么开发票", "发票在哪里申请"]),
        "internal": make_article(actor=qa, title="内部：退款审批流程", body="退款超过一千元需主管审批。",
                                 questions=["退款审批找谁"], visibility=Visibility.INTERNAL),
    }


def test_a_confident_answer_is_recorded_without_a_gap(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    reply = bot_ask(question="  密码怎么改 ", channel="chat")
    assert reply.article_id == kb["password"].pk
    assert not reply.handoff
    assert reply.question == "密码怎么改"
    assert reply.language == Language.ZH
    assert reply.answer.startswith("在“我的")
    assert reply.spoken
    assert 0.0 <= reply.confidence <= 1.0
    assert 1 <= len(reply.suggestions) <= 3
    assert reply.suggestions[0].article_id == kb["password"].pk
    consultation = Consultation.objects.get(pk=reply.consultation_id)
    assert consultation.answered
    assert consultation.channel == "chat"
    assert consultation.article_id == kb["password"].pk
    assert not Gap.objects.exists()


def test_below_the_threshold_it_hands_over_with_the_best_answer_and_notes_a_gap(kb: dict[str, Any]) -> None:
    _threshold(1.01)
    reply = bot_ask(question="退款什么时候到账", channel="portal")
    assert reply.handoff
    assert reply.article_id == kb["refund"].pk
    assert reply.answer == "退款在三到五个工作日内原路退回。"
    assert not Consultation.objects.get(pk=reply.consultation_id).answered
    gap = Gap.objects.get()
    assert gap.source == GapSource.HANDOFF
    assert gap.best_article_id == kb["refund"].pk
    bot_ask(question="退款什么时候到账？", channel="portal")  # the same question counts on the same gap
    assert Gap.objects.get().times == 2


def test_a_switched_off_bot_hands_over_but_opens_no_gap_for_what_it_could_answer(kb: dict[str, Any]) -> None:
    _threshold(0.0, enabled=False)
    reply = bot_ask(question="怎么开发票", channel="wechat")
    assert reply.handoff
    assert reply.article_id == kb["invoice"].pk
    assert reply.answer
    assert not Consultation.objects.get().answered
    assert not Gap.objects.exists()


def test_an_empty_knowledge_base_hands_over_with_nothing(db: Any) -> None:
    _threshold(0.0)
    reply = bot_ask(question="你们几点下班", channel="chat")
    assert reply.handoff
    assert reply.article_id is None
    assert reply.answer == ""
    assert reply.title == ""
    assert reply.confidence == 0.0
    assert reply.suggestions == []
    assert Consultation.objects.get().article_id is None
    assert Gap.objects.get().best_article_id is None


def test_a_question_in_a_language_without_articles_is_matched_across_languages(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    reply = bot_ask(question="How do I change my password?", channel="chat")
    assert reply.language == Language.EN  # detected; every article is Chinese
    assert reply.article_id in {a.pk for k, a in kb.items() if k != "internal"}
    assert Consultation.objects.get().language == Language.EN


def test_customers_are_never_told_internal_articles_but_staff_are(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    public = bot_ask(question="退款审批找谁", channel="chat", record=False)
    assert kb["internal"].pk not in {s.article_id for s in public.suggestions}
    staff = bot_ask(question="退款审批找谁", channel="agent", audience="staff", record=False)
    assert staff.article_id == kb["internal"].pk
    assert not Consultation.objects.exists()  # record=False writes nothing


@pytest.mark.parametrize(("over", "field"), [
    ({"question": ""}, "question"), ({"question": "   \n "}, "question"), ({"question": "长" * 501}, "question"),
    ({"language": "fr"}, "language"), ({"channel": "fax"}, "channel"), ({"audience": "everyone"}, "audience"),
])
def test_bad_input_names_its_field_and_records_nothing(kb: dict[str, Any], over: dict[str, Any],
                                                        field: str) -> None:
    arguments: dict[str, Any] = {"question": "密码怎么改", "channel": "chat", **over}
    with pytest.raises(ValidationFailed) as caught:
        bot_ask(**arguments)
    assert caught.value.details["field"] == field
    assert not Consultation.objects.exists()
    assert not Gap.objects.exists()


def test_the_longest_question_allowed_is_answered(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    reply = bot_ask(question="发票" * 250, channel="api")
    assert len(reply.question) == 500
    assert reply.article_id is not None


def test_the_spoken_answer_prefers_the_spoken_version_and_trims_long_bodies(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    reply = bot_ask(question="密码怎么改", channel="phone", record=False)
    assert spoken_answer(reply) == "请在我的、设置、账户安全里修改。"
    long = reply.__class__(**{**reply.as_dict(), "spoken": "", "suggestions": [],
                              "answer": "第一句话说明情况。" * 60})
    said = spoken_answer(long, limit=100)
    assert len(said) <= 100
    assert said.endswith("。")
