"""A customer with something of every kind: contacts with a consent, an address, tags, an order with a reply, a
note, a customer message, an edit, an attachment and a dispatch, a notice about it, a webhook delivery, an
unmasked view in the access log; and a record merged into it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@dataclass
class Rich:
    customer: Any
    duplicate: Any
    ticket: Any
    other_ticket: Any
    attachment_name: str



@pytest.fixture
def rich(agent: Any, manager: Any, customer: Any, repair_department: Any, settings: Any, tmp_path: Any) -> Rich:
    from kefu.customers import selectors as customer_selectors
    from kefu.customers import services as customer_services
    from kefu.customers.models import ContactPoint
    from kefu.customers.tests.factories import CustomerFactory, SiteFactory
    from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
    from kefu.notifications.models import Notification
    from kefu.tickets import services as tickets

    settings.MEDIA_ROOT = str(tmp_path)
    SiteFactory(customer=customer, province="广东省", city="深圳市", address="南山区桃源路88号")
    customer_services.customer_update(actor=agent, customer=customer, expected_version=None,
                                      changes={"notes": "老客户，喜欢上午联系", "tags": ["老客户"],
                                               "company": "深圳某某科技"})
    phone = ContactPoint.objects.get(customer=customer, kind="phone")
    customer_services.customer_set_consents(
        actor=agent, customer=customer, source="phone",
        consents=[customer_services.ConsentInput(contact_id=phone.pk, purpose="marketing_sms", granted=True)])
    duplicate = CustomerFactory(code="C900002", name="张三（重复）", phone="13900139000", id_number="")
    customer_services.customer_merge(actor=manager, target=customer, duplicates=[duplicate])
    ticket = tickets.ticket_create(actor=agent, subject="张三家空调漏水",
                                   description="深圳南山区桃源路88号，电话13800138000", ticket_type="repair",
                                   customer=customer, assignee=agent, external_ref="CRM-778")
    tickets.ticket_reply(actor=agent, ticket=ticket, body="张先生您好，师傅明天上午上门")
    tickets.ticket_add_note(actor=agent, ticket=ticket, body="客户说家里有老人，请提前电话")
    tickets.ticket_customer_message(ticket=ticket, body="好的，我明天在家", channel="wechat")
    ticket.refresh_from_db()
    tickets.ticket_update(actor=agent, ticket=ticket, expected_version=None,
                          changes=tickets.TicketChanges(subject="张三家空调漏水（二次）"))
    attachment = tickets.attachment_add(actor=agent, ticket=ticket,
                                        upload=SimpleUploadedFile("张三家照片.png", b"png-bytes", "image/png"))
    tickets.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department, instructions="上门：桃源路88号")
    other = tickets.ticket_create(actor=agent, subject="张三咨询保修", customer=customer)
    Notification.objects.create(recipient=agent, kind="ticket.assigned", event_id=1, object_type="tickets.ticket",
                                object_id=str(ticket.pk), params={"number": ticket.number, "subject": ticket.subject})
    endpoint = WebhookEndpoint.objects.create(name="CRM", url="http://127.0.0.1:9/hook")
    WebhookDelivery.objects.create(endpoint=endpoint, event="ticket.created",
                                   payload={"event": "ticket.created", "ticket": {"id": ticket.pk,
                                                                                   "subject": ticket.subject}})
    from kefu.conversations.adapters.base import Identity, InboundAttachment, InboundMessage
    from kefu.conversations.models import Channel
    from kefu.conversations.services import message_receive

    chat = Channel.objects.create(code="privacy-app", kind="webhook", name="App", secrets={"secret": "x"},
                                  team=agent.team)
    message_receive(channel=chat, inbound=InboundMessage(
        external_id="p-1", identity=Identity(kind="phone", value="13800138000", name="张三"),
        text="我家在桃源路88号，空调又漏水了",
        attachments=(InboundAttachment("漏水照片.png", "image/png", b"png"),)))
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import conversation_claim, conversation_transfer

    talk = Conversation.objects.get(channel=chat)
    conversation_claim(actor=agent, conversation=talk)
    conversation_transfer(actor=agent, conversation=talk, to_team=agent.team, note="张三要上门维修，桃源路88号")
    from kefu.routing.models import Queue
    from kefu.routing.services import ContactIn, contact_callback, contact_enqueue

    line = Queue.objects.create(code="privacy-line", name="热线", routed=True)
    contact_enqueue(data=ContactIn(ref="call:privacy-1", queue=line, customer=customer))
    contact_callback(ref="call:privacy-1", number="13800138000")
    from datetime import timedelta

    from django.utils import timezone

    from kefu.accounts.tests.factories import UserFactory
    from kefu.telephony.services import CtiEventIn, cti_event_record

    Queue.objects.create(code="privacy-phone", name="服务热线")  # the PBX's own queue, not routed by Kefu
    pbx, called_at = UserFactory(role="admin"), timezone.now() - timedelta(minutes=10)
    for event, seconds, extra in (("queued", 0, {}), ("answered", 20, {"agent": agent.username}),
                                  ("recording", 21, {"recording_url": "https://pbx.example.com/rec/privacy-2.wav"}),
                                  ("ended", 200, {})):
        cti_event_record(actor=pbx, data=CtiEventIn(
            call_id="privacy-2", event=event, at=called_at + timedelta(seconds=seconds), caller="13800138000",
            called="4008001234", queue="privacy-phone", **extra))
    from kefu.knowledge.services.insight import consultation_record

    consultation_record(question="张三问：空调漏水保修吗", language="zh-hans", channel="chat", article_id=None,
                        confidence=0.2, answered=False, conversation=talk)
    customer_selectors.customer_detail(manager, customer.pk, reveal=True, ip="127.0.0.1")
    customer.refresh_from_db()
    ticket.refresh_from_db()
    return Rich(customer=customer, duplicate=duplicate, ticket=ticket, other_ticket=other,
                attachment_name=attachment.file.name)
