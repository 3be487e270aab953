"""The IVR by keyword (Kefu issue #11): where the PBX recognises speech, a caller says a question in a menu that takes
them (POST /api/v1/ivr/next with `speech`); a confident bot's spoken answer is read out, then the menu again; else
the call goes to the menu's queue for people. Each question is recorded once, channel "phone"."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.services import api_token_create
from kefu.apiutils.testing import ApiClient
from kefu.core.errors import ValidationFailed
from kefu.knowledge.models import BotSettings, Consultation, Gap
from kefu.knowledge.tests.factories import make_article
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.ivr_selectors import flow_problems, flow_tree
from kefu.telephony.ivr_services import node_knowledge_set
from kefu.telephony.models import IvrNode
from kefu.telephony.tests.ivr_world import HOTLINE_NUMBER, MAIN_PROMPT, MONDAY_10, build_hotline

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotline(admin_user: Any, team: Any, qa: Any) -> Any:
    flow = build_hotline(admin_user, team)
    queue_create(actor=admin_user, data=QueueData(code="kb-people", name="知识库转人工", team=team))
    node_knowledge_set(actor=admin_user, node=flow.entry, ask_kb=True, kb_queue="kb-people",
                       expected_version=None)
    make_article(actor=qa, title="营业时间", body="我们的营业时间是每天九点到十八点。节假日另行通知。",
                 questions=["你们几点上班", "营业时间是什么时候"], spoken="每天九点到十八点营业。")
    make_article(actor=qa, title="退款多久到账", body="退款在三到五个工作日内原路退回。",
                 questions=["退款什么时候到账"])
    return flow


@pytest.fixture
def pbx(admin_user: Any, monkeypatch: Any) -> ApiClient:
    monkeypatch.setattr(timezone, "now", lambda: MONDAY_10)
    return ApiClient(api_token_create(actor=admin_user, name="PBX", scopes=["telephony"]).key)


def _threshold(value: float) -> None:
    row = BotSettings.current()
    row.threshold = value
    row.save()


def _say(pbx: ApiClient, speech: str | None, *, node: str = "main", digits: str | None = None,
         call_id: str = "call-1") -> dict[str, Any]:
    body: dict[str, Any] = {"call_id": call_id, "caller": "13912345678", "called": HOTLINE_NUMBER, "node": node}
    if speech is not None:
        body["speech"] = speech
    if digits is not None:
        body["digits"] = digits
    response = pbx.post("/ivr/next", body)
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def test_a_confident_answer_is_read_out_then_the_menu_again(pbx: ApiClient, hotline: Any) -> None:
    _threshold(0.0)
    step = _say(pbx, "你们几点上班")
    assert (step["action"], step["reason"], step["node"]) == ("play", "kb_answer", "main")
    assert step["notice"] == "每天九点到十八点营业。"
    assert step["prompt"] == f"每天九点到十八点营业。 {MAIN_PROMPT}"
    consultation = Consultation.objects.get()
    assert consultation.channel == "phone"
    assert consultation.answered
    _say(pbx, "你们几点上班")  # the PBX retrying the same turn is not counted twice
    assert Consultation.objects.count() == 1
    _say(pbx, "你们几点上班", call_id="call-2")
    assert Consultation.objects.count() == 2


def test_a_question_the_bot_cannot_answer_goes_to_the_menu_s_queue(pbx: ApiClient, hotline: Any) -> None:
    _threshold(1.01)
    step = _say(pbx, "我要投诉你们的快递员")
    assert (step["action"], step["reason"], step["queue"]) == ("queue", "kb_handoff", "kb-people")
    assert not Consultation.objects.get().answered
    assert Gap.objects.count() == 1


def test_without_a_queue_the_menu_s_timeout_rule_takes_the_call(pbx: ApiClient, hotline: Any,
                                                                 admin_user: Any) -> None:
    _threshold(1.01)
    node_knowledge_set(actor=admin_user, node=hotline.entry, ask_kb=True, kb_queue="", expected_version=None)
    step = _say(pbx, "我要投诉")
    assert (step["action"], step["reason"], step["queue"]) == ("queue", "kb_handoff", "hotline")


def test_keys_win_over_speech_and_menus_that_take_no_questions_ignore_it(pbx: ApiClient, hotline: Any) -> None:
    _threshold(0.0)
    assert _say(pbx, "你们几点上班", digits="3")["action"] == "voicemail"
    sub = _say(pbx, "你们几点上班", node="after-sales")
    assert (sub["action"], sub["reason"], sub["node"]) == ("play", "menu", "after-sales")
    assert _say(pbx, "   ")["reason"] == "menu"
    assert not Consultation.objects.exists()


def test_speech_is_checked_like_any_input(pbx: ApiClient, hotline: Any) -> None:
    response = pbx.post("/ivr/next", {"call_id": "c", "caller": "1", "called": HOTLINE_NUMBER, "node": "main",
                                      "speech": "长" * 501})
    assert response.status_code == 422
    assert not Consultation.objects.exists()


def test_the_option_is_checked_and_a_stopped_queue_is_a_problem(admin_user: Any, hotline: Any, agent: Any) -> None:
    from kefu.core.errors import PermissionDenied
    from kefu.routing.models import Queue

    with pytest.raises(ValidationFailed) as caught:
        node_knowledge_set(actor=admin_user, node=hotline.entry, ask_kb=True, kb_queue="nope", expected_version=None)
    assert caught.value.details["field"] == "kb_queue"
    with pytest.raises(PermissionDenied):
        node_knowledge_set(actor=agent, node=hotline.entry, ask_kb=False, expected_version=None)
    assert IvrNode.objects.get(pk=hotline.entry_id).kb_queue.code == "kb-people"
    Queue.objects.filter(code="kb-people").update(is_active=False)
    tree = flow_tree(hotline.pk)
    assert tree is not None
    assert any(p.node == "main" and "kb-people" in p.message for p in flow_problems(tree))
