"""Erasure by anonymisation: filed by one person, carried out only on a second person's approval, in one
transaction; statistics kept, old values unsearchable, every step audited, a rejected or expired request does
nothing, approving twice changes nothing more."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from kefu.apiutils.testing import api_as
from kefu.clocks.models import Clock
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog, OutboxEvent
from kefu.customers.models import ContactConsent, ContactPoint, Customer, Site
from kefu.customers.selectors import CustomerFilters, customer_find_by_contact, customer_list, may_contact
from kefu.integrations.models import WebhookDelivery
from kefu.notifications.models import Notification
from kefu.privacy.models import ErasureRequest, TicketScrub
from kefu.privacy.services import (
    erasure_request_approve,
    erasure_request_create,
    erasure_request_reject,
    erasure_requests_expire,
)
from kefu.tickets.models import Attachment, Dispatch, Ticket, TicketEvent, TicketMessage
from kefu.tickets.selectors import TicketFilter, filter_tickets

pytestmark = pytest.mark.django_db

STATS = ("id", "number", "ticket_type", "category_id", "priority", "channel", "status", "customer_id", "assignee_id",
         "first_contact_owner_id", "team_id", "sla_policy_id", "sla_standing", "sla_due_at", "first_responded_at",
         "resolved_at", "closed_at", "reopen_count", "escalation_level", "created_at")


def _statistics(customer_id: int) -> dict[str, Any]:
    tickets = Ticket.objects.filter(customer_id=customer_id)
    return {
        "tickets": list(tickets.order_by("pk").values(*STATS)),
        "messages": list(TicketMessage.objects.filter(ticket__in=tickets).order_by("pk")
                         .values("pk", "kind", "author_id", "channel", "created_at")),
        "history": list(TicketEvent.objects.filter(ticket__in=tickets).order_by("pk")
                        .values("pk", "kind", "actor_id", "from_status", "to_status", "created_at")),
        "dispatches": list(Dispatch.objects.filter(ticket__in=tickets).order_by("pk")
                           .values("pk", "department_id", "status", "dispatched_at", "due_at")),
        "clocks": list(Clock.objects.filter(subject_type="tickets.ticket",
                                            subject_id__in=tickets.values("pk")).order_by("pk")
                       .values("pk", "metric", "state", "due_at", "target_seconds")),
        "customer": Customer.objects.filter(pk=customer_id).values("tier", "is_vip", "kind", "created_at").get(),
    }


def _search_finds(user: Any, text: str) -> bool:
    return customer_list(user, CustomerFilters(q=text)).exists()


def test_second_person_approval_anonymises_and_keeps_statistics(rich: Any, manager: Any, admin_user: Any,
                                                                agent: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
    customer = rich.customer
    stats = _statistics(customer.pk)
    stored = Path(settings.MEDIA_ROOT) / rich.attachment_name
    assert stored.exists()
    for old in ("张三", "13800138000", "zhangsan@example.com", "C900001", "深圳某某科技"):
        assert _search_finds(agent, old), old
    for old in ("空调漏水", "13800138000", "zhangsan@example.com", "CRM-778"):
        assert filter_tickets(agent, TicketFilter(view="all", q=old)).exists(), old

    request = erasure_request_create(actor=manager, customer=customer, asked_by="customer",
                                     reason="客户来电要求删除，已核实身份")
    assert Customer.objects.get(pk=customer.pk).name == "张三"  # nothing happens before approval
    with pytest.raises(Conflict) as refused:
        erasure_request_approve(actor=manager, erasure_id=request.pk)
    assert refused.value.code == "second_person_required"
    assert Customer.objects.get(pk=customer.pk).anonymised_at is None

    with django_capture_on_commit_callbacks(execute=True):
        done = erasure_request_approve(actor=admin_user, erasure_id=request.pk, note="同意")
    assert done.status == "done"
    assert done.decided_by == admin_user
    assert done.result["tickets"] == 2

    tomb = Customer.objects.get(pk=customer.pk)
    assert tomb.name == f"已匿名化客户 #{customer.pk}"
    assert tomb.anonymised_at is not None
    assert (tomb.company, tomb.id_number, tomb.notes, tomb.birthday) == ("", "", "", None)
    assert tomb.code == f"ANON-{customer.pk}"
    dup = Customer.objects.get(pk=rich.duplicate.pk)  # the record merged into it is anonymised too
    assert dup.name == f"已匿名化客户 #{dup.pk}"
    assert dup.anonymised_at is not None
    assert not ContactPoint.objects.filter(customer_id__in=[customer.pk, dup.pk]).exists()
    assert not ContactConsent.objects.filter(contact__customer=customer).exists()
    assert not Site.objects.filter(customer=customer).exists()
    from kefu.routing.models import RoutedContact

    queued = RoutedContact.objects.get(customer=customer)  # the time in line stays, the number to call goes
    assert (queued.callback_number, queued.queue.code) == ("", "privacy-line")

    ticket = Ticket.objects.get(pk=rich.ticket.pk)
    assert ticket.subject == "（已匿名化工单）"
    assert ticket.description == ""
    assert ticket.external_ref == ""
    assert set(TicketMessage.objects.filter(ticket=ticket).values_list("body", flat=True)) == {"（已匿名化）"}
    assert not Attachment.objects.filter(ticket=ticket).exists()
    assert not stored.exists()  # the file left storage after commit
    assert Dispatch.objects.get(ticket=ticket).instructions == ""
    for event in TicketEvent.objects.filter(ticket=ticket):
        assert "张三" not in str(event.data), event.data
        assert "照片" not in str(event.data), event.data
    assert TicketScrub.objects.filter(ticket__customer=customer).count() == 2
    for notice in Notification.objects.filter(object_id=str(ticket.pk)):
        assert notice.params["subject"] == "（已匿名化工单）"
    for event in OutboxEvent.objects.filter(object_type="tickets.ticket", object_id=str(ticket.pk)):
        assert "张三" not in str(event.payload)
    for delivery in WebhookDelivery.objects.all():
        assert "张三" not in str(delivery.payload)
    from kefu.conversations.models import Activity

    kept = Activity.objects.filter(conversation__customer=customer, conversation__channel__code="privacy-app")
    assert {a.data.get("how") for a in kept} == {"claimed", "transferred"}  # who served stays
    from kefu.telephony.models import Call, CallEvent

    call = Call.objects.get(call_id="privacy-2")  # the call keeps its times and agent, not the number or recording
    assert (call.caller, call.recording_url, call.talk_seconds, call.agent) == ("", "", 180, agent)
    assert not CallEvent.objects.filter(call=call).exclude(caller="", recording_url="").exists()
    from kefu.knowledge.models import Consultation

    asked = Consultation.objects.get(conversation__customer=customer)  # counted in the library, without the words
    assert ("张三" not in asked.question, asked.channel, asked.answered) == (True, "chat", False)
    for row in [*kept, *OutboxEvent.objects.filter(object_type="conversations.conversation")]:
        assert "桃源路" not in str(getattr(row, "data", None) or row.payload)

    # statistics: every order, message, history row, dispatch and clock is still there, with its facts
    assert _statistics(customer.pk) == stats

    # the old values find nothing any more, in customer search, screen pop or the order search
    for old in ("张三", "13800138000", "zhangsan@example.com", "C900001", "深圳某某科技", "13900139000"):
        assert not _search_finds(agent, old), old
    assert not customer_find_by_contact(agent, "13800138000").exists()
    for old in ("空调漏水", "13800138000", "zhangsan@example.com", "CRM-778"):
        assert not filter_tickets(agent, TicketFilter(view="all", q=old)).exists(), old
    assert not may_contact(tomb, "survey")

    actions = list(AuditLog.objects.filter(object_id__in=[str(customer.pk), str(request.pk)])
                   .values_list("action", flat=True))
    for action in ("privacy.erasure_requested", "privacy.erasure_approved", "customer.anonymised"):
        assert action in actions, action

    # approving again changes nothing and writes nothing
    rows = AuditLog.objects.count()
    assert erasure_request_approve(actor=admin_user, erasure_id=request.pk).status == "done"
    assert AuditLog.objects.count() == rows
    with pytest.raises(Conflict) as again:
        erasure_request_create(actor=manager, customer=tomb, asked_by="customer", reason="再次")
    assert again.value.code == "already_anonymised"


def test_rejected_request_does_nothing(rich: Any, manager: Any, admin_user: Any) -> None:
    request = erasure_request_create(actor=manager, customer=rich.customer, asked_by="customer", reason="要求删除")
    with pytest.raises(ValidationFailed) as blank:
        erasure_request_reject(actor=admin_user, erasure_id=request.pk, note="")
    assert blank.value.details["field"] == "note"
    erasure_request_reject(actor=admin_user, erasure_id=request.pk, note="尚有未结清的保修纠纷，依法保留")
    with pytest.raises(Conflict) as closed:
        erasure_request_approve(actor=admin_user, erasure_id=request.pk)
    assert closed.value.code == "erasure_closed"
    assert Customer.objects.get(pk=rich.customer.pk).name == "张三"
    assert AuditLog.objects.filter(action="privacy.erasure_rejected", object_id=str(rich.customer.pk)).exists()
    # a new request may be filed after a rejection
    assert erasure_request_create(actor=manager, customer=rich.customer, asked_by="customer", reason="再次要求")


def test_expired_request_does_nothing(rich: Any, manager: Any, admin_user: Any) -> None:
    filed_at = timezone.now() - timedelta(days=30)
    request = erasure_request_create(actor=manager, customer=rich.customer, asked_by="regulator", reason="监管要求",
                                     now=filed_at)
    with pytest.raises(Conflict) as closed:
        erasure_request_approve(actor=admin_user, erasure_id=request.pk)
    assert closed.value.code == "erasure_closed"
    assert ErasureRequest.objects.get(pk=request.pk).status == "expired"
    assert Customer.objects.get(pk=rich.customer.pk).anonymised_at is None
    assert erasure_requests_expire() == 0  # already marked
    assert AuditLog.objects.filter(action="privacy.erasure_expired").count() == 1


def test_one_waiting_request_per_customer_and_valid_input(customer: Any, manager: Any, agent: Any) -> None:
    with pytest.raises(PermissionDenied):
        erasure_request_create(actor=agent, customer=customer, asked_by="customer", reason="x")
    with pytest.raises(ValidationFailed) as who:
        erasure_request_create(actor=manager, customer=customer, asked_by="neighbour", reason="x")
    assert who.value.details["field"] == "asked_by"
    with pytest.raises(ValidationFailed) as why:
        erasure_request_create(actor=manager, customer=customer, asked_by="customer", reason="   ")
    assert why.value.details["field"] == "reason"
    first = erasure_request_create(actor=manager, customer=customer, asked_by="customer", reason="要求删除")
    with pytest.raises(Conflict) as twice:
        erasure_request_create(actor=manager, customer=customer, asked_by="customer", reason="要求删除")
    assert twice.value.details["erasure_id"] == first.pk


def test_api_flow_and_second_person(customer: Any, manager: Any, admin_user: Any, agent: Any) -> None:
    created = api_as(manager).post("/privacy/erasure-requests",
                                   {"customer_id": customer.pk, "asked_by": "customer", "reason": "客户要求删除"})
    assert created.status_code == 201, created.content
    erasure_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    assert api_as(agent).get("/privacy/erasure-requests").status_code == 403
    listing = api_as(admin_user).get("/privacy/erasure-requests", status="pending").json()
    assert [r["id"] for r in listing["items"]] == [erasure_id]
    own = api_as(manager).post(f"/privacy/erasure-requests/{erasure_id}/approve", {})
    assert own.status_code == 409
    assert own.json()["code"] == "second_person_required"
    approved = api_as(admin_user).post(f"/privacy/erasure-requests/{erasure_id}/approve", {"note": "同意"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "done"
    assert approved.json()["result"]["contacts"] == 2
    bad = api_as(manager).post("/privacy/erasure-requests", {"customer_id": customer.pk, "asked_by": "x",
                                                             "reason": "r"})
    assert bad.status_code == 422
    assert api_as(admin_user).get("/privacy/erasure-requests/999999").status_code == 404


def test_pages_show_the_state(rich: Any, manager: Any, admin_user: Any, agent: Any, login: Any) -> None:
    page = login(manager).get(f"/customers/{rich.customer.pk}/erasure/")
    assert page.status_code == 200
    blank = login(manager).post(f"/customers/{rich.customer.pk}/erasure/", {"asked_by": "customer", "reason": ""})
    assert blank.status_code == 422
    posted = login(manager).post(f"/customers/{rich.customer.pk}/erasure/",
                                 {"asked_by": "customer", "reason": "客户来电要求删除"})
    assert posted.status_code == 302
    request = ErasureRequest.objects.get(customer=rich.customer)
    body = login(agent).get(f"/customers/{rich.customer.pk}/").content.decode()
    assert 'data-testid="erasure-pending-banner"' in body
    own = login(manager).post(f"/admin/privacy/erasure/{request.pk}/approve/", {"note": ""})
    assert own.status_code == 422
    assert "另一位" in own.content.decode()
    done = login(admin_user).post(f"/admin/privacy/erasure/{request.pk}/approve/", {"note": "同意"})
    assert done.status_code == 302
    body = login(agent).get(f"/customers/{rich.customer.pk}/").content.decode()
    assert 'data-testid="anonymised-banner"' in body
    assert "张三" not in body
    assert "13800138000" not in body
    listing = login(admin_user).get("/admin/privacy/erasure/").content.decode()
    assert f"#{request.pk}" in listing


def test_a_tombstone_takes_no_personal_data_again(customer: Any, manager: Any, admin_user: Any, agent: Any) -> None:
    from kefu.customers.services import ContactInput, customer_add_contact, customer_merge, customer_update
    from kefu.customers.tests.factories import CustomerFactory

    request = erasure_request_create(actor=manager, customer=customer, asked_by="customer", reason="要求删除")
    erasure_request_approve(actor=admin_user, erasure_id=request.pk)
    tomb = Customer.objects.get(pk=customer.pk)
    with pytest.raises(Conflict):
        customer_update(actor=agent, customer=tomb, expected_version=None, changes={"name": "张三"})
    with pytest.raises(Conflict):
        customer_add_contact(actor=agent, customer=tomb, contact=ContactInput(kind="phone", value="13800138000"))
    with pytest.raises(Conflict) as merged:
        customer_merge(actor=manager, target=tomb, duplicates=[CustomerFactory(phone="13700137000")])
    assert merged.value.code == "customer_anonymised"
