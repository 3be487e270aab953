"""The channel settings pages: who may see and change them (managers and administrators; everyone else, the
outsider included, is refused), choosing the routed queue a channel's conversations wait in (only an active routed
chat queue: anything else is refused naming the field, nothing written), a stale form is a conflict, and every
change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.conversations.models import Channel
from kefu.conversations.tests.factories import ChannelFactory
from kefu.core.models import AuditLog
from kefu.routing.models import Queue

pytestmark = pytest.mark.django_db


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(team: Any) -> Channel:
    return ChannelFactory(chat=True, code="web", name="网页在线客服", team=team)


@pytest.fixture
def webchat(team: Any) -> Queue:
    return Queue.objects.create(code="webchat", name="网页咨询", kind="chat", routed=True, team=team)


def form(channel: Channel, **changes: Any) -> dict[str, Any]:
    data = {"name": channel.name, "team": channel.team_id or "", "queue": channel.queue_id or "",
            "is_active": "on" if channel.is_active else "", "first_response_seconds": "",
            "creates_tickets": "", "version": channel.version}
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_only_managers_and_administrators_see_and_change_channels(web: Channel, agent: Any, team_lead: Any,
                                                                  shift_lead: Any, qa: Any,
                                                                  department_user: Any, other_agent: Any,
                                                                  manager: Any, admin_user: Any) -> None:
    for user in (agent, team_lead, shift_lead, qa, department_user, other_agent):
        assert as_user(user).get("/admin/channels/").status_code == 403
        assert as_user(user).post(f"/admin/channels/{web.pk}/", form(web, name="改名")).status_code == 403
    web.refresh_from_db()
    assert web.name == "网页在线客服"
    for user in (manager, admin_user):
        page = as_user(user).get("/admin/channels/")
        assert page.status_code == 200
        assert 'data-testid="channel-row-web"' in page.content.decode()
    assert "/admin/channels/" in as_user(manager).get("/admin/").content.decode()
    assert as_user(manager).get("/admin/channels/999999/").status_code == 404


def test_a_manager_puts_a_channel_in_a_routed_queue_and_takes_it_out(web: Channel, webchat: Queue,
                                                                     manager: Any) -> None:
    client = as_user(manager)
    page = client.get(f"/admin/channels/{web.pk}/").content.decode()
    assert "网页咨询" in page
    response = client.post(f"/admin/channels/{web.pk}/", form(web, queue=webchat.pk))
    assert response.status_code == 302
    web.refresh_from_db()
    assert web.queue == webchat
    row = AuditLog.objects.filter(action="channel.updated").latest("pk")
    assert (row.actor, row.data["changes"]) == (manager, ["queue"])
    assert client.post(f"/admin/channels/{web.pk}/", form(web, queue="")).status_code == 302  # back to the inbox
    web.refresh_from_db()
    assert web.queue is None


@pytest.mark.parametrize("which", ["phone", "unrouted", "inactive", "missing", "text"])
def test_a_queue_that_is_not_an_active_routed_chat_queue_is_refused_naming_the_field(web: Channel, manager: Any,
                                                                                     which: str) -> None:
    queues = {
        "phone": lambda: Queue.objects.create(code="hotline", name="热线", kind="phone", routed=True).pk,
        "unrouted": lambda: Queue.objects.create(code="plain", name="普通", kind="chat").pk,
        "inactive": lambda: Queue.objects.create(code="old", name="旧队列", kind="chat", routed=True,
                                                 is_active=False).pk,
        "missing": lambda: 999999, "text": lambda: "webchat'--"}
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(web, queue=queues[which](), name="改名"))
    assert response.status_code == 422
    assert response.context["form"].errors["queue"]
    assert 'data-testid="error-queue"' in response.content.decode()
    web.refresh_from_db()
    assert (web.queue_id, web.name, web.version) == (None, "网页在线客服", 1)  # nothing written


def test_a_queue_switched_off_after_the_form_was_shown_is_refused_by_the_service(web: Channel, webchat: Queue,
                                                                                manager: Any) -> None:
    Channel.objects.filter(pk=web.pk).update(queue=webchat)
    web.refresh_from_db()
    Queue.objects.filter(pk=webchat.pk).update(routed=False)  # still the channel's: offered so the form shows it
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(web, name="改名"))
    assert response.status_code == 302  # the queue is not changed, so it is not checked again
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(
        Channel.objects.get(pk=web.pk), queue=webchat.pk))
    assert response.status_code == 302
    other = Queue.objects.create(code="night", name="夜间", kind="chat", routed=True)
    Queue.objects.filter(pk=other.pk).update(is_active=False)
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(Channel.objects.get(pk=web.pk),
                                                                        queue=other.pk))
    assert response.status_code == 422
    assert response.context["form"].errors["queue"]


def test_bad_values_are_named_and_a_stale_form_is_a_conflict(web: Channel, manager: Any, admin_user: Any) -> None:
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(web, first_response_seconds="-5"))
    assert response.status_code == 422
    assert response.context["form"].errors["first_response_seconds"]
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", form(web, name=""))
    assert response.context["form"].errors["name"]
    stale = form(web, name="甲的名称")
    assert as_user(admin_user).post(f"/admin/channels/{web.pk}/", form(web, name="乙的名称")).status_code == 302
    response = as_user(manager).post(f"/admin/channels/{web.pk}/", stale)
    assert response.status_code == 409
    assert 'data-testid="form-error"' in response.content.decode()
    web.refresh_from_db()
    assert web.name == "乙的名称"
