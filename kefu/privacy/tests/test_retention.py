"""Retention rules: stored per kind, edited by administrators, previewed, applied by the worker in batches,
idempotent and audited with counts; kinds are registered in code, so later channels bring theirs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kefu.apiutils.testing import api_as
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.privacy import retention
from kefu.privacy.models import RetentionRule, TicketScrub
from kefu.privacy.selectors import retention_rules
from kefu.privacy.services import retention_apply, retention_preview, retention_rule_update
from kefu.tickets import services as tickets
from kefu.tickets.models import Attachment, Ticket, TicketMessage

pytestmark = pytest.mark.django_db


def _closed(agent: Any, subject: str, days_ago: int) -> Ticket:
    ticket = tickets.ticket_create(actor=agent, subject=subject, description="住址：深圳", assignee=agent)
    tickets.ticket_reply(actor=agent, ticket=ticket, body="您好，已处理")
    closed_at = timezone.now() - timedelta(days=days_ago)
    Ticket.objects.filter(pk=ticket.pk).update(status="closed", closed_at=closed_at, resolved_at=closed_at)
    return Ticket.objects.get(pk=ticket.pk)


def test_rules_are_off_by_default_and_nothing_runs(agent: Any, admin_user: Any) -> None:
    _closed(agent, "王五家漏水", days_ago=4000)
    rows = {r.key: r for r in retention_rules(admin_user)}
    assert set(rows) >= {"closed_tickets", "attachments", "call_recordings", "chat_transcripts"}
    assert not any(r.enabled for r in rows.values())
    assert rows["closed_tickets"].would_remove == 1
    assert rows["call_recordings"].available is False
    assert rows["call_recordings"].would_remove is None
    assert rows["chat_transcripts"].available is True
    assert retention_apply() == []
    assert Ticket.objects.get(subject="王五家漏水")


def test_closed_orders_are_anonymised_in_batches_once(agent: Any, admin_user: Any) -> None:
    old = [_closed(agent, f"李四家漏水{i}", days_ago=40) for i in range(5)]
    recent = _closed(agent, "近期工单", days_ago=10)
    open_order = tickets.ticket_create(actor=agent, subject="进行中的工单")
    Ticket.objects.filter(pk=open_order.pk).update(created_at=timezone.now() - timedelta(days=400))
    retention_rule_update(actor=admin_user, kind="closed_tickets", enabled=True, keep_days=30, expected_version=0)
    assert retention_preview(kind="closed_tickets", keep_days=30) == 5

    [outcome] = retention_apply(batch_size=2)
    assert (outcome.removed, outcome.batches) == (5, 3)
    for ticket in old:
        row = Ticket.objects.get(pk=ticket.pk)
        assert row.subject == "（已匿名化工单）"
        assert row.description == ""
        assert row.status == "closed"
        assert row.closed_at == ticket.closed_at
        assert TicketMessage.objects.filter(ticket=row).count() == 1
    assert Ticket.objects.get(pk=recent.pk).subject == "近期工单"
    assert Ticket.objects.get(pk=open_order.pk).subject == "进行中的工单"
    assert TicketScrub.objects.filter(cause="retention").count() == 5
    audit = AuditLog.objects.filter(action="privacy.retention_applied").latest("id")
    assert audit.data["removed"] == 5
    assert audit.data["batches"] == 3
    assert audit.data["kind"] == "closed_tickets"
    rule = RetentionRule.objects.get(kind="closed_tickets")
    assert rule.last_run_count == 5
    assert rule.last_run_at is not None

    # idempotent: the next run finds nothing, and says so
    [again] = retention_apply(batch_size=2)
    assert (again.removed, again.batches) == (0, 0)
    assert retention_preview(kind="closed_tickets", keep_days=30) == 0
    assert AuditLog.objects.filter(action="privacy.retention_applied").latest("id").data["removed"] == 0


def test_old_attachments_of_closed_orders_are_deleted(agent: Any, admin_user: Any, tmp_path: Any, settings: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    ticket = tickets.ticket_create(actor=agent, subject="报修", assignee=agent)
    old = tickets.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("旧.png", b"png", "image/png"))
    new = tickets.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("新.png", b"png", "image/png"))
    Attachment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=800))
    retention_rule_update(actor=admin_user, kind="attachments", enabled=True, keep_days=730)
    assert retention_preview(kind="attachments", keep_days=730) == 0  # the order is still open
    Ticket.objects.filter(pk=ticket.pk).update(status="closed", closed_at=timezone.now())
    assert retention_preview(kind="attachments", keep_days=730) == 1
    path = Path(settings.MEDIA_ROOT) / old.file.name
    with django_capture_on_commit_callbacks(execute=True):
        [outcome] = retention_apply()
    assert outcome.removed == 1
    assert not Attachment.objects.filter(pk=old.pk).exists()
    assert not path.exists()
    assert Attachment.objects.filter(pk=new.pk).exists()


def test_the_worker_task_runs_the_rules(agent: Any, admin_user: Any) -> None:
    from kefu.privacy.tasks import retention_apply_task

    _closed(agent, "赵六家漏水", days_ago=100)
    retention_rule_update(actor=admin_user, kind="closed_tickets", enabled=True, keep_days=90)
    retention_apply_task.call_local()
    assert not Ticket.objects.filter(subject="赵六家漏水").exists()


def test_a_later_channel_registers_its_kind(admin_user: Any) -> None:
    removed: list[int] = []
    kind = retention.RetentionKind(
        "test_voicemails", "测试留言", help="", default_days=30, action="删除",
        due=lambda cutoff: Ticket.objects.filter(created_at__lt=cutoff).exclude(pk__in=removed),
        apply=lambda ids, now: removed.extend(ids) or len(ids))
    retention.register_retention_kind(kind)
    try:
        assert "test_voicemails" in {r.key for r in retention_rules(admin_user, preview=False)}
        retention_rule_update(actor=admin_user, kind="test_voicemails", enabled=True, keep_days=30)
        assert retention_apply(kinds=["test_voicemails"])[0].removed == 0
    finally:
        retention.KINDS.pop("test_voicemails")


def test_rule_changes_are_checked(admin_user: Any, manager: Any) -> None:
    with pytest.raises(PermissionDenied):
        retention_rule_update(actor=manager, kind="closed_tickets", enabled=True, keep_days=365)
    with pytest.raises(ValidationFailed) as short:
        retention_rule_update(actor=admin_user, kind="closed_tickets", enabled=True, keep_days=3)
    assert short.value.details["field"] == "keep_days"
    with pytest.raises(NotFound):
        retention_rule_update(actor=admin_user, kind="nope", enabled=True, keep_days=365)
    rule = retention_rule_update(actor=admin_user, kind="closed_tickets", enabled=True, keep_days=365,
                                 expected_version=0)
    assert rule.version == 1
    with pytest.raises(Conflict):
        retention_rule_update(actor=admin_user, kind="closed_tickets", enabled=False, keep_days=365,
                              expected_version=0)
    audit = AuditLog.objects.get(action="privacy.retention_changed")
    assert audit.data["after"] == {"enabled": True, "keep_days": 365}
    # a placeholder kind can be set now; nothing runs until its channel holds data
    retention_rule_update(actor=admin_user, kind="call_recordings", enabled=True, keep_days=180)
    assert [o.kind for o in retention_apply()] == ["closed_tickets"]


def test_api_and_page(agent: Any, admin_user: Any, manager: Any, login: Any) -> None:
    _closed(agent, "孙七家漏水", days_ago=60)
    listing = api_as(admin_user).get("/privacy/retention-rules")
    assert listing.status_code == 200
    assert {r["kind"] for r in listing.json()} >= {"closed_tickets", "attachments"}
    preview = api_as(admin_user).get("/privacy/retention-rules/closed_tickets/preview", keep_days=30)
    assert preview.json() == {"kind": "closed_tickets", "keep_days": 30, "would_remove": 1}
    assert api_as(admin_user).get("/privacy/retention-rules/nope/preview").status_code == 404
    put = api_as(admin_user).request("put", "/privacy/retention-rules/closed_tickets",
                                     {"enabled": True, "keep_days": 30, "version": 0})
    assert put.status_code == 200
    assert put.json()["enabled"] is True
    assert put.json()["would_remove"] == 1
    stale = api_as(admin_user).request("put", "/privacy/retention-rules/closed_tickets",
                                       {"enabled": True, "keep_days": 40, "version": 0})
    assert stale.status_code == 409
    bad = api_as(admin_user).request("put", "/privacy/retention-rules/closed_tickets",
                                     {"enabled": True, "keep_days": 1, "version": 1})
    assert bad.status_code == 422
    assert api_as(manager).get("/privacy/retention-rules").status_code == 403

    page = login(admin_user).get("/admin/privacy/retention/?kind=closed_tickets&keep_days=30")
    assert page.status_code == 200
    assert 'data-testid="preview-result"' in page.content.decode()
    saved = login(admin_user).post("/admin/privacy/retention/attachments/",
                                   {"enabled": "on", "keep_days": "365", "version": "0"})
    assert saved.status_code == 302
    assert RetentionRule.objects.get(kind="attachments").keep_days == 365
    junk = login(admin_user).post("/admin/privacy/retention/attachments/", {"keep_days": "abc"})
    assert junk.status_code == 302
    assert RetentionRule.objects.get(kind="attachments").keep_days == 365
    assert login(admin_user).post("/admin/privacy/retention/nope/", {}).status_code == 404


# --- conversations -------------------------------------------------------------------------------------------------


def _old_conversation(agent: Any, channel: Any, who: str, days_ago: int) -> Any:
    from kefu.conversations import services as conversations
    from kefu.conversations.models import Conversation
    from kefu.conversations.tests.factories import inbound

    got = conversations.message_receive(channel=channel, inbound=inbound(f"{who}-1", external_id=who,
                                                                         text=f"我家住在{who}路 8 号"))
    conversations.message_send(actor=agent, conversation=got.conversation, text="收到，马上安排",
                               attachments=[conversations.AttachmentIn("地址.txt", "text/plain", b"8 hao")])
    conversations.conversation_close(actor=agent, conversation=got.conversation, reason="resolved",
                                     note=f"{who}路的客户")
    conversations.conversation_rate(conversation=got.conversation, score=5, comment="师傅很好")
    closed_at = timezone.now() - timedelta(days=days_ago)
    Conversation.objects.filter(pk=got.conversation.pk).update(closed_at=closed_at)
    return Conversation.objects.get(pk=got.conversation.pk)


def test_closed_conversations_lose_their_words_and_files_keep_their_shape(agent: Any, admin_user: Any,
                                                                         team: Any) -> None:
    from kefu.conversations import services as conversations
    from kefu.conversations.models import Message, MessageAttachment
    from kefu.conversations.tests.factories import ChannelFactory, inbound
    from kefu.core.models import OutboxEvent
    from kefu.privacy.models import ConversationScrub

    channel = ChannelFactory(code="app", team=team, config={})
    old = _old_conversation(agent, channel, "桃源", days_ago=400)
    recent = _old_conversation(agent, channel, "梅林", days_ago=10)
    ongoing = conversations.message_receive(channel=channel, inbound=inbound("o-1", external_id="莲花",
                                                                             text="还在处理吗")).conversation
    stored_file = MessageAttachment.objects.get(conversation=old).file.name
    assert retention_preview(kind="chat_transcripts", keep_days=365) == 1
    retention_rule_update(actor=admin_user, kind="chat_transcripts", enabled=True, keep_days=365,
                          expected_version=0)

    [outcome] = retention_apply()
    assert outcome.removed == 1
    old.refresh_from_db()
    assert (old.subject, old.close_note, old.csat_comment, old.context) == ("", "", "", {})
    assert (old.csat_score, old.close_reason, old.assignee_id) == (5, "resolved", agent.pk)  # statistics stay
    assert old.identity_value == "桃源"  # the customer is still a customer: their address stays
    assert set(Message.objects.filter(conversation=old).values_list("body", flat=True)) == {"（已匿名化）"}
    assert Message.objects.filter(conversation=old).count() == 2
    assert not MessageAttachment.objects.filter(conversation=old).exists()
    assert not Path(stored_file).exists()
    copies = OutboxEvent.objects.filter(object_type="conversations.conversation", object_id=str(old.pk))
    assert not any("桃源路" in str(e.payload) for e in copies)
    assert "梅林路" in Message.objects.filter(conversation=recent).first().body
    assert ongoing.messages.get().body == "还在处理吗"
    assert ConversationScrub.objects.get(conversation=old).cause == "retention"
    assert retention_apply()[0].removed == 0  # once

    # continued after that (a customer answering an old mail thread reopens it), and closed again: due again
    newer = conversations.message_receive(channel=channel, inbound=inbound("桃源-2", external_id="桃源",
                                                                           text="又漏水了")).message
    Message.objects.filter(pk=newer.pk).update(conversation=old, seq=3)
    ConversationScrub.objects.filter(conversation=old).update(at=timezone.now() - timedelta(days=380))
    type(old).objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=370))
    assert retention_preview(kind="chat_transcripts", keep_days=365) == 1
    assert retention_apply()[0].removed == 1
    assert not Message.objects.filter(body="又漏水了").exists()
    assert ConversationScrub.objects.get(conversation=old).at > timezone.now() - timedelta(minutes=5)


def test_an_erased_customer_marks_their_conversations(agent: Any, admin_user: Any, team: Any) -> None:
    """Erasure and retention share the work: an erased customer's conversation is not done again by a rule."""
    from kefu.conversations.tests.factories import ChannelFactory
    from kefu.privacy.anonymise import anonymise_customers
    from kefu.privacy.models import ConversationScrub

    channel = ChannelFactory(code="app", team=team, config={})
    old = _old_conversation(agent, channel, "桃源", days_ago=400)
    anonymise_customers([old.customer_id], now=timezone.now())
    assert ConversationScrub.objects.get(conversation=old).cause == "erasure"
    old.refresh_from_db()
    assert old.identity_value == f"anon-{old.pk}"
    assert retention_preview(kind="chat_transcripts", keep_days=365) == 0
