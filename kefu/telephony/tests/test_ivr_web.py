"""The IVR editor in the administration: the list, a new flow, menus and digits added and changed through the
pages, refusals shown with the field named, old versions refused, the try-out, and who may open it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.telephony.models import IvrChoice, IvrFlow, IvrNode
from kefu.telephony.tests.ivr_world import MAIN_PROMPT, build_hotline

pytestmark = pytest.mark.django_db


def test_the_editor_shows_the_tree_its_check_and_a_try_out(client: Client, admin_user: Any, team: Any) -> None:
    flow = build_hotline(admin_user, team)
    client.force_login(admin_user)
    listing = client.get("/admin/ivr/").content.decode()
    assert "服务热线导航" in listing
    assert "4008001234" in listing
    page = client.get(f"/admin/ivr/{flow.pk}/").content.decode()
    assert MAIN_PROMPT in page
    assert 'data-testid="ivr-ok"' in page
    assert "转接号码 → 02088886666" in page
    tried = client.get(f"/admin/ivr/{flow.pk}/", {"try_caller": "13912345678", "try_keys": "4 1"}).content.decode()
    assert 'data-testid="ivr-try-steps"' in tried
    assert tried.count("<li><strong>") >= 3


def test_building_a_flow_through_the_pages(client: Client, manager: Any, admin_user: Any, team: Any) -> None:
    from kefu.routing.services import QueueData, queue_create

    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    client.force_login(manager)
    created = client.post("/admin/ivr/new/", {"name": "售后热线", "number": "400-800-5678"})
    assert created.status_code == 302
    flow = IvrFlow.objects.get(name="售后热线")
    assert flow.number == "4008005678"
    main = flow.entry
    answer = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/choices/", {
        "version": flow.version, "digit": "2", "label": "人工", "action": "queue", "queue": "hotline"})
    assert answer.status_code == 302
    flow.refresh_from_db()
    assert IvrChoice.objects.get(node=main, digit="2").queue.code == "hotline"
    added = client.post(f"/admin/ivr/{flow.pk}/nodes/", {
        "version": flow.version, "key": "repair", "name": "报修", "prompt": "报修请按1", "timeout_seconds": 5,
        "retries": 1, "fallback_action": "voicemail"})
    assert added.status_code == 302, added.content.decode()[:2000]
    flow.refresh_from_db()
    client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/choices/", {
        "version": flow.version, "digit": "3", "action": "menu", "node": "repair"})
    flow.refresh_from_db()
    repair = IvrNode.objects.get(flow=flow, key="repair")
    edited = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/", {
        "version": flow.version, "key": "main", "name": "主菜单", "prompt": "人工请按2，报修请按3",
        "timeout_seconds": 5, "retries": 2, "fallback_action": "queue", "fallback_queue": "hotline"})
    assert edited.status_code == 302
    flow.refresh_from_db()
    switched = client.post(f"/admin/ivr/{flow.pk}/", {
        "version": flow.version, "name": "售后热线", "number": "4008005678", "entry": "main",
        "language": "zh-hans", "closed_action": "voicemail", "is_active": "on"})
    assert switched.status_code == 302
    flow.refresh_from_db()
    assert flow.is_active
    # the repair menu is in use: it cannot be deleted while digit 3 leads to it
    refused = client.post(f"/admin/ivr/{flow.pk}/nodes/{repair.pk}/delete/", {"version": flow.version},
                          follow=True).content.decode()
    assert "按键 3" in refused
    assert IvrNode.objects.filter(pk=repair.pk).exists()


def test_refusals_name_the_field_and_old_versions_are_refused(client: Client, admin_user: Any, team: Any) -> None:
    flow = build_hotline(admin_user, team)
    client.force_login(admin_user)
    main = IvrNode.objects.get(flow=flow, key="main")
    stale = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/choices/", {
        "version": flow.version - 1, "digit": "9", "action": "hangup"}, follow=True).content.decode()
    assert "已被他人修改" in stale
    assert not IvrChoice.objects.filter(node=main, digit="9").exists()
    bad = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/", {
        "version": flow.version, "key": "main", "name": "主菜单", "prompt": "x", "timeout_seconds": 5,
        "retries": 2, "fallback_action": "transfer", "fallback_number": "abc"})
    assert bad.status_code == 422
    assert "转接的电话号码" in bad.content.decode()
    taken = client.post("/admin/ivr/new/", {"name": "另一个", "number": "4008001234"})
    assert taken.status_code == 422
    assert "已由另一个语音导航接听" in taken.content.decode()


def test_a_draft_with_problems_lists_them_and_cannot_be_switched_on(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    client.post("/admin/ivr/new/", {"name": "草稿", "number": "95000"})
    flow = IvrFlow.objects.get(name="草稿")
    client.post(f"/admin/ivr/{flow.pk}/nodes/", {"version": flow.version, "key": "orphan", "name": "孤儿",
                                                 "prompt": "…", "timeout_seconds": 5, "retries": 1,
                                                 "fallback_action": "hangup"})
    flow.refresh_from_db()
    page = client.get(f"/admin/ivr/{flow.pk}/").content.decode()
    assert "“orphan”无法到达" in page
    refused = client.post(f"/admin/ivr/{flow.pk}/", {
        "version": flow.version, "name": "草稿", "number": "95000", "entry": "main", "language": "zh-hans",
        "closed_action": "hangup", "is_active": "on"})
    assert refused.status_code == 422
    assert "还不能启用" in refused.content.decode()


@pytest.mark.parametrize("persona", ["agent", "team_lead", "shift_lead", "qa", "department_user", "other_agent"])
def test_only_managers_and_administrators_edit_menus(client: Client, request: Any, persona: str,
                                                     admin_user: Any) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/admin/ivr/").status_code == 403
    assert client.get("/admin/blacklist/").status_code == 403


def test_the_administration_index_links_the_pages(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "/admin/ivr/" in page
    assert "/admin/blacklist/" in page


def test_a_menu_takes_spoken_questions_set_on_its_page(client: Client, admin_user: Any, team: Any) -> None:
    """The menu's page switches on questions by speech with the queue for what the bot cannot answer, in the same
    save as the menu; an unknown queue is named and nothing of the save is kept."""
    flow = build_hotline(admin_user, team)
    client.force_login(admin_user)
    main = IvrNode.objects.get(flow=flow, key="main")
    page = client.get(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/").content.decode()
    assert "来电者可以直接说出问题" in page
    fields = {"key": "main", "name": "主菜单", "prompt": "请说出您的问题，或按键选择", "timeout_seconds": 5,
              "retries": 2, "fallback_action": "hangup"}
    queue = flow.nodes.exclude(queue=None).values_list("queue__code", flat=True).first() or ""
    saved = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/", {
        **fields, "version": flow.version, "ask_kb": "on", "kb_queue": queue})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    main.refresh_from_db()
    assert (main.ask_kb, main.kb_queue.code if main.kb_queue else "", main.prompt) == (
        True, queue, "请说出您的问题，或按键选择")
    flow.refresh_from_db()
    bad = client.post(f"/admin/ivr/{flow.pk}/nodes/{main.pk}/", {
        **fields, "prompt": "不该保存", "version": flow.version, "ask_kb": "", "kb_queue": "nope"})
    assert bad.status_code == 422
    main.refresh_from_db()
    assert (main.ask_kb, main.prompt) == (True, "请说出您的问题，或按键选择")
