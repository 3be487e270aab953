"""/api/v1/kb/…: served articles for staff tokens, the bot for an app's own bot screen (recorded with channel "api"),
feedback; bad input answers 4xx naming the field and writes nothing; token scopes apply."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.services import api_token_create
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape
from kefu.knowledge.choices import Language, Visibility
from kefu.knowledge.models import Article, BotSettings, Consultation, Feedback, Gap
from kefu.knowledge.tests.factories import make_article, make_category

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb(qa: Any) -> dict[str, Any]:
    category = make_category("账户与登录", name_en="Account")
    return {
        "password": make_article(actor=qa, title="如何修改登录密码", body="在设置里修改密码。",
                                 questions=["密码怎么改", "忘记密码了怎么办"], category=category, tags=["账户"]),
        "refund": make_article(actor=qa, title="Refunds", body="Refunds take 3-5 working days.",
                               questions=["How long does a refund take?"], language=Language.EN,
                               category=category),
        "internal": make_article(actor=qa, title="退款审批流程", body="超过一千元需主管审批。",
                                 questions=["退款审批找谁"], visibility=Visibility.INTERNAL),
        "draft": make_article(actor=qa, title="草稿文章", body="还没发布", questions=["草稿"], publish=False),
        "category": category,
    }


def _threshold(value: float) -> None:
    row = BotSettings.current()
    row.threshold = value
    row.save()


def test_staff_list_the_served_articles_with_filters(agent: Any, kb: dict[str, Any]) -> None:
    api = api_as(agent)
    body = api.get("/kb/articles").json()
    ids = {item["id"] for item in body["items"]}
    assert ids == {kb["password"].pk, kb["refund"].pk, kb["internal"].pk}
    assert body["count"] == 3
    english = api.get("/kb/articles", language="en").json()["items"]
    assert [a["id"] for a in english] == [kb["refund"].pk]
    assert english[0]["category"] == "Account"
    assert {a["id"] for a in api.get("/kb/articles", category=kb["category"].pk).json()["items"]} == {
        kb["password"].pk, kb["refund"].pk}
    assert [a["id"] for a in api.get("/kb/articles", q="忘记密码").json()["items"]] == [kb["password"].pk]
    assert [a["id"] for a in api.get("/kb/articles", q="一千元").json()["items"]] == [kb["internal"].pk]
    page = api.get("/kb/articles", page_size=2).json()
    assert len(page["items"]) == 2
    assert page["next"] == "2"


def test_one_article_with_its_questions_and_drafts_are_not_found(agent: Any, kb: dict[str, Any]) -> None:
    api = api_as(agent)
    body = api.get(f"/kb/articles/{kb['password'].pk}").json()
    assert body["questions"] == ["密码怎么改", "忘记密码了怎么办"]
    assert body["body"] == "在设置里修改密码。"
    assert body["tags"] == ["账户"]
    assert body["version"] == 1
    assert body["category"] == "账户与登录"
    assert_error_shape(api.get(f"/kb/articles/{kb['draft'].pk}"), 404, "not_found")
    assert_error_shape(api.get("/kb/articles/999999"), 404, "not_found")


def test_ask_returns_the_bot_reply_and_records_it(agent: Any, kb: dict[str, Any]) -> None:
    _threshold(0.0)
    response = api_as(agent).post("/kb/ask", {"question": "密码怎么改"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["article_id"] == kb["password"].pk
    assert body["handoff"] is False
    assert body["answer"] == "在设置里修改密码。"
    assert body["language"] == "zh-hans"
    assert body["suggestions"][0]["article_id"] == kb["password"].pk
    consultation = Consultation.objects.get(pk=body["consultation_id"])
    assert consultation.channel == "api"
    assert consultation.answered


def test_ask_never_tells_internal_articles_and_hands_over_with_the_best_answer(agent: Any,
                                                                               kb: dict[str, Any]) -> None:
    _threshold(1.01)
    body = api_as(agent).post("/kb/ask", {"question": "退款审批找谁", "language": "zh-hans"}).json()
    assert body["handoff"] is True
    assert body["article_id"] != kb["internal"].pk
    assert kb["internal"].pk not in {s["article_id"] for s in body["suggestions"]}
    assert Gap.objects.count() == 1


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({}, 422, "question"), ({"question": ""}, 422, "question"), ({"question": "   "}, 400, "question"),
    ({"question": "长" * 501}, 422, "question"), ({"question": "好", "language": "fr"}, 422, "language"),
    ({"question": 5}, 422, "question"),
])
def test_ask_refuses_bad_input_naming_the_field(agent: Any, kb: dict[str, Any], payload: dict[str, Any],
                                               status: int, field: str) -> None:
    body = assert_error_shape(api_as(agent).post("/kb/ask", payload), status)
    assert field in str(body["details"])
    assert not Consultation.objects.exists()


def test_feedback_counts_and_an_unhelpful_answer_is_a_gap(agent: Any, kb: dict[str, Any]) -> None:
    _threshold(0.0)
    api = api_as(agent)
    reply = api.post("/kb/ask", {"question": "密码怎么改"}).json()
    response = api.post(f"/kb/articles/{kb['password'].pk}/feedback",
                        {"helpful": False, "comment": "没说清楚", "consultation_id": reply["consultation_id"]})
    assert response.status_code == 201, response.content
    assert Feedback.objects.get().channel == "api"
    assert Article.objects.get(pk=kb["password"].pk).unhelpful_count == 1
    assert Gap.objects.get().source == "unhelpful"
    body = assert_error_shape(api.post(f"/kb/articles/{kb['refund'].pk}/feedback",
                                       {"helpful": True, "consultation_id": reply["consultation_id"]}), 400)
    assert body["details"]["field"] == "consultation"
    assert_error_shape(api.post(f"/kb/articles/{kb['draft'].pk}/feedback", {"helpful": True}), 404)
    assert_error_shape(api.post(f"/kb/articles/{kb['password'].pk}/feedback", {"helpful": "maybe"}), 422)
    assert Feedback.objects.count() == 1


def test_rights_and_token_scopes(agent: Any, customer: Any, kb: dict[str, Any]) -> None:
    assert_error_shape(ApiClient().get("/kb/articles"), 401)
    read_only = ApiClient(api_token_create(actor=agent, name="r", scopes=["read"]).key)
    assert read_only.get("/kb/articles").status_code == 200
    assert_error_shape(read_only.post("/kb/ask", {"question": "密码怎么改"}), 403, "scope_missing")
    assert not Consultation.objects.exists()
