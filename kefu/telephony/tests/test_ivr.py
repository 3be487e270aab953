"""The IVR: editing a menu tree (versions, refusals naming the field), the checks that keep a broken tree from the
PBX (naming the menu and digit), and the next step the PBX is told (POST /api/v1/ivr/next): menus, digits, retries,
queues, voicemail, transfer, opening hours and holidays, the order-status lookup, idempotent answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape, token_for
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.telephony.ivr_selectors import NextStepIn, NoFlow, flow_problems, flow_tree, ivr_next_step, try_path
from kefu.telephony.ivr_services import (
    ChoiceData,
    NodeData,
    TargetData,
    choice_delete,
    choice_set,
    flow_update,
    node_create,
    node_delete,
    node_update,
)
from kefu.telephony.models import IvrChoice, IvrNode
from kefu.telephony.tests.ivr_world import (
    HOTLINE_NUMBER,
    MAIN_PROMPT,
    MONDAY_10,
    MONDAY_20,
    NEW_YEAR_10,
    build_hotline,
    flow_settings,
)
from kefu.tickets import services as tickets

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotline_ivr(admin_user: Any, team: Any) -> Any:
    return build_hotline(admin_user, team)


def ask(*, node: str = "", digits: str | None = None, attempt: int = 0, caller: str = "13912345678",
        at: Any = MONDAY_10) -> Any:
    return ivr_next_step(NextStepIn(call_id="c1", caller=caller, called=HOTLINE_NUMBER, node=node, digits=digits,
                                    attempt=attempt), now=at)


# --- the next step --------------------------------------------------------------------------------------------


def test_a_new_call_hears_the_main_menu(hotline_ivr: Any) -> None:
    step = ask()
    assert (step.action, step.reason, step.node, step.attempt) == ("play", "start", "main", 0)
    assert step.prompt == MAIN_PROMPT
    assert step.digits_allowed == "12340"  # keypad order, only the keys with a choice
    assert step.timeout_seconds == 5


def test_digits_lead_to_a_queue_voicemail_a_sub_menu_and_a_transfer(hotline_ivr: Any) -> None:
    queue = ask(node="main", digits="2")
    assert (queue.action, queue.queue, queue.reason) == ("queue", "hotline", "choice")
    assert ask(node="main", digits="3").action == "voicemail"
    sub = ask(node="main", digits="4")
    assert (sub.action, sub.node, sub.digits_allowed) == ("play", "after-sales", "1*")
    transfer = ask(node="after-sales", digits="1")
    assert (transfer.action, transfer.number) == ("transfer", "02088886666")
    back = ask(node="after-sales", digits="*")
    assert back.node == "main"
    assert ask(node="main", digits="0").node == "main"


def test_no_key_or_a_wrong_key_replays_the_menu_then_takes_the_timeout_rule(hotline_ivr: Any) -> None:
    first = ask(node="main", digits="")
    assert (first.action, first.reason, first.attempt) == ("play", "timeout", 1)
    assert first.notice
    assert first.prompt.startswith(first.notice)
    assert first.prompt.endswith(MAIN_PROMPT)
    wrong = ask(node="main", digits="7", attempt=1)
    assert (wrong.reason, wrong.attempt) == ("invalid", 2)
    assert "有误" in wrong.notice
    exhausted = ask(node="main", digits="", attempt=2)  # two replays allowed, then the rule: an agent
    assert (exhausted.action, exhausted.queue, exhausted.reason) == ("queue", "hotline", "retries_exhausted")
    assert ask(node="after-sales", digits="", attempt=1).action == "hangup"


def test_the_same_question_gets_the_same_answer(hotline_ivr: Any) -> None:
    assert ask(node="main", digits="", attempt=1) == ask(node="main", digits="", attempt=1)
    assert ask(node="main", digits="4").as_dict("c1") == ask(node="main", digits="4").as_dict("c1")


def test_out_of_hours_and_holidays_have_their_message_then_voicemail_or_hang_up(admin_user: Any,
                                                                                 hotline_ivr: Any) -> None:
    evening = ask(at=MONDAY_20)
    assert (evening.action, evening.reason) == ("voicemail", "out_of_hours")
    assert evening.prompt.startswith("您好，现在是非工作时间")
    holiday = ask(at=NEW_YEAR_10)
    assert (holiday.action, holiday.reason) == ("voicemail", "holiday")
    assert holiday.prompt.startswith("节日快乐")
    flow_update(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                data=flow_settings(hotline_ivr, closed_action="hangup"))
    assert ask(at=MONDAY_20).action == "hangup"
    # a caller already in the menus is not cut off at closing time
    assert ask(node="main", digits="2", at=MONDAY_20).action == "queue"


def test_the_order_status_lookup_says_only_numbers_and_statuses(agent: Any, customer: Any,
                                                                 hotline_ivr: Any) -> None:
    open_order = tickets.ticket_create(actor=agent, subject="空调不制冷，住址北京市朝阳区", customer=customer)
    step = ask(node="main", digits="1", caller="+86 138 0013 8000")
    assert (step.action, step.reason, step.node) == ("play", "order_status", "main")
    assert f"您的工单 {open_order.number} 当前状态：新建。" in step.notice
    assert step.prompt.endswith(MAIN_PROMPT)  # then back to the menu
    for secret in ("空调", "朝阳", "张三", "13800138000"):
        assert secret not in step.prompt
    unknown = ask(node="main", digits="1", caller="13700000000")
    assert "未能根据您的来电号码查到客户记录" in unknown.notice
    withheld = ask(node="main", digits="1", caller="")
    assert "未能" in withheld.notice


def test_numbers_without_an_active_flow_are_not_served(admin_user: Any, hotline_ivr: Any) -> None:
    with pytest.raises(NoFlow):
        ivr_next_step(NextStepIn(call_id="c", caller="139", called="95555"), now=MONDAY_10)
    flow_update(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                data=flow_settings(hotline_ivr, is_active=False))
    with pytest.raises(NoFlow):
        ask()
    assert try_path(flow_tree(hotline_ivr.pk), caller="139", keys=["4", "1"], now=MONDAY_10)[-1].action == "transfer"


def test_a_called_number_in_another_writing_finds_its_flow(hotline_ivr: Any) -> None:
    step = ivr_next_step(NextStepIn(call_id="c", caller="139", called="+86 400-800-1234"), now=MONDAY_10)
    assert step.node == "main"


def test_a_menu_deleted_during_a_call_starts_over(admin_user: Any, hotline_ivr: Any) -> None:
    assert ask(node="gone", digits="1").node == "main"


# --- editing and checking the tree ----------------------------------------------------------------------------


def test_the_finished_tree_has_no_problem(hotline_ivr: Any) -> None:
    assert flow_problems(flow_tree(hotline_ivr.pk)) == []


def test_problems_name_the_menu_and_the_digit(admin_user: Any, hotline_ivr: Any) -> None:
    flow_update(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                data=flow_settings(hotline_ivr, is_active=False))
    hotline_ivr.refresh_from_db()
    lonely = node_create(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                         data=NodeData(key="lonely", name="孤立菜单", prompt="…"))
    hotline_ivr.refresh_from_db()
    loop = node_create(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version, data=NodeData(
        key="loop", name="循环", prompt="…", fallback=TargetData(action="menu", node="lonely")))
    IvrNode.objects.filter(pk=lonely.pk).update(action="menu", target_node=loop)  # a silent caller goes round
    problems = flow_problems(flow_tree(hotline_ivr.pk))
    messages = [p.message for p in problems]
    assert any("“lonely”无法到达" in m for m in messages)
    assert any("“loop”无法到达" in m for m in messages)
    assert any("没有出口" in m and "lonely" in m for m in messages)
    assert any("循环" in m and "lonely" in m and "loop" in m for m in messages)
    assert {p.node for p in problems} >= {"lonely", "loop"}


def test_a_stopped_queue_is_named_with_its_digit(admin_user: Any, hotline_ivr: Any) -> None:
    from kefu.routing.models import Queue

    Queue.objects.filter(code="hotline").update(is_active=False)
    problems = flow_problems(flow_tree(hotline_ivr.pk))
    assert any(p.node == "main" and p.digit == "2" and "hotline" in p.message for p in problems)
    # the PBX is still answered: a stopped queue's callers can leave a message
    assert ask(node="main", digits="2").action == "voicemail"


def test_an_active_flow_refuses_a_change_that_breaks_it(admin_user: Any, hotline_ivr: Any) -> None:
    main = IvrNode.objects.get(flow=hotline_ivr, key="main")
    after = IvrNode.objects.get(flow=hotline_ivr, key="after-sales")
    node_update(actor=admin_user, node=main, expected_version=hotline_ivr.version, data=NodeData(
        key="main", name="主菜单", prompt=MAIN_PROMPT, fallback=TargetData(action="menu", node="after-sales")))
    hotline_ivr.refresh_from_db()
    with pytest.raises(ValidationFailed) as refused:  # silence would now go round main → after-sales → main
        node_update(actor=admin_user, node=after, expected_version=hotline_ivr.version, data=NodeData(
            key="after-sales", name="售后维修", prompt="报修请按1", fallback=TargetData(action="menu", node="main")))
    assert refused.value.details["field"] == "tree"
    assert "循环" in refused.value.message
    after.refresh_from_db()
    assert (after.action, after.prompt) == ("hangup", "报修请按1，返回上一级请按星号。")  # rolled back
    hotline_ivr.refresh_from_db()
    choice_delete(actor=admin_user, choice=IvrChoice.objects.get(node=after, digit="*"),
                  expected_version=hotline_ivr.version)  # harmless: still served


def test_switching_on_is_refused_while_the_tree_has_problems(admin_user: Any, hotline_ivr: Any) -> None:
    flow_update(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                data=flow_settings(hotline_ivr, is_active=False))
    hotline_ivr.refresh_from_db()
    node_create(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                data=NodeData(key="draft", name="草稿", prompt="…"))
    hotline_ivr.refresh_from_db()
    with pytest.raises(ValidationFailed) as refused:
        flow_update(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version,
                    data=flow_settings(hotline_ivr, is_active=True))
    assert refused.value.details["field"] == "is_active"
    assert any(p["node"] == "draft" for p in refused.value.details["problems"])
    hotline_ivr.refresh_from_db()
    assert not hotline_ivr.is_active


def test_an_old_version_is_refused(admin_user: Any, hotline_ivr: Any) -> None:
    main = IvrNode.objects.get(flow=hotline_ivr, key="main")
    with pytest.raises(Conflict):
        choice_set(actor=admin_user, node=main, expected_version=hotline_ivr.version - 1,
                   data=ChoiceData(digit="9", target=TargetData(action="hangup")))
    assert not IvrChoice.objects.filter(node=main, digit="9").exists()


@pytest.mark.parametrize(("target", "field"), [
    (TargetData(action="menu", node="nowhere"), "node"),
    (TargetData(action="queue", queue="no-such"), "queue"),
    (TargetData(action="transfer", number="abc"), "number"),
    (TargetData(action="explode"), "action"),
])
def test_bad_targets_are_refused_naming_the_field(admin_user: Any, hotline_ivr: Any, target: TargetData,
                                                  field: str) -> None:
    main = IvrNode.objects.get(flow=hotline_ivr, key="main")
    with pytest.raises(ValidationFailed) as refused:
        choice_set(actor=admin_user, node=main, expected_version=hotline_ivr.version,
                   data=ChoiceData(digit="8", target=target))
    assert refused.value.details["field"] == field


@pytest.mark.parametrize(("data", "field"), [
    (NodeData(key="Bad Key", name="x", prompt="x"), "key"),
    (NodeData(key="main", name="x", prompt="x"), "key"),
    (NodeData(key="ok", name="", prompt="x"), "name"),
    (NodeData(key="ok", name="x", prompt=""), "prompt"),
    (NodeData(key="ok", name="x", prompt="x", timeout_seconds=0), "timeout_seconds"),
    (NodeData(key="ok", name="x", prompt="x", audio="../etc/passwd"), "audio"),
    (NodeData(key="ok", name="x", prompt="x", fallback=TargetData(action="repeat")), "fallback_action"),
])
def test_bad_menus_are_refused_naming_the_field(admin_user: Any, hotline_ivr: Any, data: NodeData,
                                                field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        node_create(actor=admin_user, flow=hotline_ivr, expected_version=hotline_ivr.version, data=data)
    assert refused.value.details["field"] == field


def test_a_digit_is_one_key_of_the_keypad(admin_user: Any, hotline_ivr: Any) -> None:
    main = IvrNode.objects.get(flow=hotline_ivr, key="main")
    for digit in ("", "12", "a", "+"):
        with pytest.raises(ValidationFailed):
            choice_set(actor=admin_user, node=main, expected_version=hotline_ivr.version,
                       data=ChoiceData(digit=digit, target=TargetData(action="hangup")))


def test_a_menu_in_use_cannot_be_deleted(admin_user: Any, hotline_ivr: Any) -> None:
    after = IvrNode.objects.get(flow=hotline_ivr, key="after-sales")
    with pytest.raises(Conflict) as refused:
        node_delete(actor=admin_user, node=after, expected_version=hotline_ivr.version)
    assert "按键 4" in refused.value.message
    with pytest.raises(Conflict):
        node_delete(actor=admin_user, node=hotline_ivr.entry, expected_version=hotline_ivr.version)


def test_changes_are_audited_and_need_the_right(admin_user: Any, agent: Any, manager: Any, hotline_ivr: Any) -> None:
    actions = set(AuditLog.objects.filter(object_type="telephony.ivrflow").values_list("action", flat=True))
    assert {"ivr.flow_created", "ivr.flow_updated", "ivr.node_created", "ivr.choice_set"} <= actions
    main = IvrNode.objects.get(flow=hotline_ivr, key="main")
    with pytest.raises(PermissionDenied):
        choice_set(actor=agent, node=main, expected_version=hotline_ivr.version,
                   data=ChoiceData(digit="9", target=TargetData(action="hangup")))
    choice_set(actor=manager, node=main, expected_version=hotline_ivr.version,
               data=ChoiceData(digit="9", target=TargetData(action="hangup")))


# --- the API --------------------------------------------------------------------------------------------------


@pytest.fixture
def pbx(admin_user: Any) -> ApiClient:
    from kefu.accounts.services import api_token_create

    return ApiClient(api_token_create(actor=admin_user, name="PBX", scopes=["telephony"]).key)


def test_the_api_walks_a_call_through_the_menus(pbx: ApiClient, hotline_ivr: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(timezone, "now", lambda: MONDAY_10)
    start = pbx.post("/ivr/next", {"call_id": "1733302800.42", "caller": "13912345678", "called": HOTLINE_NUMBER})
    assert start.status_code == 200, start.content
    body = start.json()
    assert (body["action"], body["node"], body["attempt"], body["digits_allowed"]) == ("play", "main", 0, "12340")
    sub = pbx.post("/ivr/next", {"call_id": "1733302800.42", "caller": "13912345678", "called": HOTLINE_NUMBER,
                                 "node": body["node"], "digits": "4", "attempt": body["attempt"]}).json()
    assert sub["node"] == "after-sales"
    again = pbx.post("/ivr/next", {"call_id": "1733302800.42", "caller": "13912345678", "called": HOTLINE_NUMBER,
                                   "node": "after-sales", "digits": "1"})
    assert again.json()["action"] == "transfer"
    assert again.json()["number"] == "02088886666"


def test_the_api_refuses_bad_input_and_unknown_numbers(pbx: ApiClient, hotline_ivr: Any) -> None:
    body = assert_error_shape(pbx.post("/ivr/next", {"call_id": "x", "caller": "1", "called": "95555"}), 422,
                              "no_flow")
    assert body["details"]["field"] == "called"
    assert pbx.post("/ivr/next", {"call_id": "x", "caller": "1", "called": HOTLINE_NUMBER,
                                  "node": "main", "digits": "1a"}).status_code in (400, 422)
    assert pbx.post("/ivr/next", {"call_id": "x", "caller": "1", "called": HOTLINE_NUMBER,
                                  "attempt": -1}).status_code in (400, 422)


def test_the_api_needs_the_telephony_right(agent: Any, hotline_ivr: Any) -> None:
    response = api_as(agent).post("/ivr/next", {"call_id": "x", "caller": "1", "called": HOTLINE_NUMBER})
    assert response.status_code == 403
    assert token_for(agent)
