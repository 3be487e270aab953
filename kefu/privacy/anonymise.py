"""What anonymisation replaces, in the caller's transaction: a customer's record (kept as a tombstone) and the
personal free text of work orders. Statistics stay: orders keep their type, category, channel, priority, status,
team, people, timestamps, SLA clocks, escalations, dispatch facts and the number and kinds of their messages.

Replaced or removed: the customer's name, code, company, birthday, ID number, notes, dedicated agent, every
contact (with its consents) and address; an order's subject, description and external reference, the text of its
messages, dispatch instructions and results, free text and file names in its history, its attachments (files
deleted from storage after commit), and the subject where copies of it were kept (notifications, the outbox,
webhook deliveries, idempotency replays). A conversation loses every word and file (`scrub_conversation_texts`);
an erased customer's conversations also lose the addresses that would find them again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet

from kefu.conversations.models import Activity, ChannelIdentity, Conversation, Message, MessageAttachment
from kefu.core.models import IdempotencyRecord, OutboxEvent
from kefu.customers.models import ContactPoint, Customer, Site
from kefu.integrations.models import WebhookDelivery
from kefu.notifications.models import Notification
from kefu.privacy.models import ConversationScrub, TicketScrub
from kefu.tickets.models import Attachment, Dispatch, Ticket, TicketEvent, TicketMessage

# Stored text (the database keeps one language); pages show the anonymised state in the reader's language.
REMOVED = "（已匿名化）"
TICKET_SUBJECT = "（已匿名化工单）"
CHUNK = 500  # ids per statement: well under SQLite's parameter limit

# History data keys holding free text or file names; "changes" of these fields hold old and new values.
_EVENT_TEXT_KEYS = ("reason", "filename", "result", "instructions", "note")
_CHANGED_FIELDS = ("subject", "description", "external_ref", "customer")


def customer_tombstone_name(pk: int) -> str:
    return f"已匿名化客户 #{pk}"


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _scrub_event_data(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in _EVENT_TEXT_KEYS:
        if out.get(key):
            out[key] = REMOVED
    changes = out.get("changes")
    if isinstance(changes, dict):
        out["changes"] = {name: ({"from": REMOVED, "to": REMOVED} if name in _CHANGED_FIELDS else value)
                          for name, value in changes.items()}
    return out


def _scrub_subject(payload: Any) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("ticket"), dict):
        payload = dict(payload)
        payload["ticket"] = {**payload["ticket"], "subject": TICKET_SUBJECT, "external_ref": ""}
    return payload


def remove_attachments(queryset: QuerySet[Any]) -> int:
    """Delete attachment rows (of orders or of conversations) now and their files once the transaction commits
    (a rollback keeps both)."""
    rows = list(queryset.values_list("pk", "file"))
    if not rows:
        return 0
    model = queryset.model
    storage = model._meta.get_field("file").storage
    names = [name for _pk, name in rows if name]
    for part in _chunks([pk for pk, _name in rows]):
        model.objects.filter(pk__in=part).delete()

    def delete_files() -> None:
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete_files)
    return len(rows)


def scrub_tickets(ticket_ids: Iterable[int], *, cause: str, now: datetime) -> dict[str, int]:
    """Anonymise the personal free text of these orders (those not done before). Returns counts."""
    wanted = sorted(set(ticket_ids))
    done = set()
    for part in _chunks(wanted):
        done.update(TicketScrub.objects.filter(ticket_id__in=part).values_list("ticket_id", flat=True))
    ids = [pk for pk in wanted if pk not in done]
    counts = {"tickets": 0, "messages": 0, "attachments": 0, "dispatches": 0, "history": 0}
    for part in _chunks(ids):
        counts["tickets"] += Ticket.objects.filter(pk__in=part).update(
            subject=TICKET_SUBJECT, description="", external_ref="", version=F("version") + 1)
        counts["messages"] += TicketMessage.objects.filter(ticket_id__in=part).update(body=REMOVED)
        counts["dispatches"] += Dispatch.objects.filter(ticket_id__in=part).update(instructions="", result="")
        counts["attachments"] += remove_attachments(Attachment.objects.filter(ticket_id__in=part))
        events = list(TicketEvent.objects.filter(ticket_id__in=part).only("pk", "data"))
        for event in events:
            event.data = _scrub_event_data(event.data)
        TicketEvent.objects.bulk_update(events, ["data"], batch_size=CHUNK)
        counts["history"] += len(events)
        _scrub_copies([str(pk) for pk in part], part)
        TicketScrub.objects.bulk_create([TicketScrub(ticket_id=pk, cause=cause, at=now) for pk in part],
                                        ignore_conflicts=True)
    return counts


def _scrub_copies(str_ids: list[str], ids: list[int]) -> None:
    """The subject where copies of it were kept: notices, the outbox, webhook deliveries, idempotency replays."""
    notices = list(Notification.objects.filter(object_type="tickets.ticket", object_id__in=str_ids)
                   .only("pk", "params"))
    for notice in notices:
        notice.params = {**(notice.params or {}), "subject": TICKET_SUBJECT}
    Notification.objects.bulk_update(notices, ["params"], batch_size=CHUNK)
    notice_ids = [str(n.pk) for n in notices]
    outbox = list(OutboxEvent.objects.filter(object_type="tickets.ticket", object_id__in=str_ids).only("pk", "payload"))
    for event in outbox:
        event.payload = _scrub_subject(event.payload)
    announced = list(OutboxEvent.objects.filter(object_type="notifications.notification", object_id__in=notice_ids)
                     .only("pk", "payload")) if notice_ids else []
    for event in announced:
        event.payload = {**(event.payload or {}), "title": TICKET_SUBJECT}
    OutboxEvent.objects.bulk_update(outbox + announced, ["payload"], batch_size=CHUNK)
    deliveries = list(WebhookDelivery.objects.filter(payload__ticket__id__in=ids).only("pk", "payload"))
    for delivery in deliveries:
        delivery.payload = _scrub_subject(delivery.payload)
    WebhookDelivery.objects.bulk_update(deliveries, ["payload"], batch_size=CHUNK)
    IdempotencyRecord.objects.filter(path__startswith="/api/v1/tickets", response__id__in=ids).delete()


def anonymise_customers(customer_ids: list[int], *, now: datetime) -> dict[str, int]:
    """Turn these customers into tombstones and anonymise their orders (the caller holds their row locks)."""
    counts = {"customers": len(customer_ids)}
    counts["contacts"] = ContactPoint.objects.filter(customer_id__in=customer_ids).delete()[1].get(
        "customers.ContactPoint", 0)
    counts["sites"] = Site.objects.filter(customer_id__in=customer_ids).delete()[0]
    for pk in customer_ids:
        code = f"ANON-{pk}"
        if Customer.objects.filter(code=code).exclude(pk=pk).exists():  # an imported code took it
            code = f"ANON-{pk}-X"
        Customer.objects.filter(pk=pk).update(
            name=customer_tombstone_name(pk), code=code, company="", birthday=None, id_number="", notes="",
            dedicated_agent=None, anonymised_at=now, version=F("version") + 1, updated_at=now)
    ticket_ids = list(Ticket.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True))
    counts.update(scrub_tickets(ticket_ids, cause="erasure", now=now))
    counts["orders_of_customer"] = len(ticket_ids)
    counts.update(scrub_conversations(customer_ids, now=now))
    IdempotencyRecord.objects.filter(path__startswith="/api/v1/customers", response__id__in=customer_ids).delete()
    return counts


def scrub_conversations(customer_ids: list[int], *, now: datetime) -> dict[str, int]:
    """The customers' conversations keep their shape (channel, times, who served, ratings: statistics) but lose
    every word and file (`scrub_conversation_texts`), and every address: the identities that would let a new
    message find the record again."""
    conversation_ids = list(Conversation.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True))
    counts = {"channel_identities": ChannelIdentity.objects.filter(customer_id__in=customer_ids).delete()[0]}
    for part in _chunks(conversation_ids):
        for pk in part:
            Conversation.objects.filter(pk=pk).update(identity_value=f"anon-{pk}")
    counts.update(scrub_conversation_texts(conversation_ids, cause="erasure", now=now))
    from kefu.routing.models import RoutedContact

    # their times in queues stay for the statistics; the number to call back goes
    counts["callback_numbers"] = RoutedContact.objects.filter(customer_id__in=customer_ids).exclude(
        callback_number="").update(callback_number="")
    from kefu.telephony.models import Call, CallEvent

    # their calls keep their times and who answered (statistics); the caller's number and the recording go
    counts["calls"] = Call.objects.filter(conversation_id__in=conversation_ids).update(caller="", recording_url="")
    CallEvent.objects.filter(call__conversation_id__in=conversation_ids).update(caller="", recording_url="")
    return counts


def scrub_conversation_texts(conversation_ids: Iterable[int], *, cause: str, now: datetime) -> dict[str, int]:
    """Remove the words and files of these conversations: message texts (and their HTML and transport details),
    attachments (files deleted after commit), the subject, the transport context, the rating comment, the
    closing note and the notes of transfers in its history, and the copies kept in the outbox, webhook
    deliveries and notices. Channel, times, who served, delivery states, ratings and counts stay. Recorded in
    ConversationScrub (its time renewed when done again)."""
    ids = sorted(set(conversation_ids))
    counts = {"conversations": len(ids), "conversation_messages": 0, "conversation_attachments": 0}
    for part in _chunks(ids):
        counts["conversation_messages"] += Message.objects.filter(conversation_id__in=part).update(
            body=REMOVED, body_html="", meta={})
        counts["conversation_attachments"] += remove_attachments(
            MessageAttachment.objects.filter(conversation_id__in=part))
        Conversation.objects.filter(pk__in=part).update(subject="", context={}, csat_comment="", close_note="")
        from kefu.knowledge.models import Consultation, Feedback

        # the questions put to the bot are the customer's words too (the statistics keep article and answer)
        Consultation.objects.filter(conversation_id__in=part).update(question=REMOVED)
        Feedback.objects.filter(consultation__conversation_id__in=part).exclude(comment="").update(comment="")
        noted = list(Activity.objects.filter(conversation_id__in=part, data__has_key="note").only("pk", "data"))
        for row in noted:
            row.data = {**row.data, "note": ""}
        Activity.objects.bulk_update(noted, ["data"], batch_size=CHUNK)
        str_ids = [str(pk) for pk in part]
        outbox = list(OutboxEvent.objects.filter(object_type="conversations.conversation",
                                                 object_id__in=str_ids).only("pk", "payload"))
        for event in outbox:
            event.payload = _scrub_conversation_payload(event.payload)
        OutboxEvent.objects.bulk_update(outbox, ["payload"], batch_size=CHUNK)
        deliveries = list(WebhookDelivery.objects.filter(payload__conversation__id__in=part)
                          .only("pk", "payload"))
        for delivery in deliveries:
            delivery.payload = _scrub_conversation_payload(delivery.payload)
        WebhookDelivery.objects.bulk_update(deliveries, ["payload"], batch_size=CHUNK)
        notices = list(Notification.objects.filter(object_type="conversations.conversation",
                                                   object_id__in=str_ids).only("pk", "params"))
        for notice in notices:
            notice.params = {**(notice.params or {}), "customer": "", "error": ""}
        Notification.objects.bulk_update(notices, ["params"], batch_size=CHUNK)
        ConversationScrub.objects.bulk_create(
            [ConversationScrub(conversation_id=pk, cause=cause, at=now) for pk in part],
            update_conflicts=True, unique_fields=["conversation"], update_fields=["cause", "at"])
    return counts


def _scrub_conversation_payload(payload: Any) -> Any:
    """An event's or a delivery's copy of a conversation's words: the message text, the subject, a transfer's
    note, the reason a reply failed (it may quote the address)."""
    payload = dict(payload or {})
    if isinstance(payload.get("message"), dict):
        payload["message"] = {**payload["message"], "body": REMOVED}
    if isinstance(payload.get("conversation"), dict):
        payload["conversation"] = {**payload["conversation"], "subject": ""}
    if "error" in payload:
        payload["error"] = ""
    if isinstance(payload.get("data"), dict) and payload["data"].get("note"):
        payload["data"] = {**payload["data"], "note": ""}
    return payload
