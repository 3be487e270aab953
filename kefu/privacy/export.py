"""Everything Kefu holds about one customer (PIPL 个人信息查阅、复制), complete and unmasked, as JSON or as an
.xlsx workbook with one sheet per kind of record.

Each kind is a `Section` naming the models whose rows it holds. `unhandled_references()` walks Django's relations
from the customer (and on through every model found) and lists every model that references a customer, directly
or through another such model, or by a generic object reference, that no section holds and `NOT_EXPORTED` does
not explain: a test keeps that list empty, so a new model that stores customer data cannot be forgotten here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.customers.exporting import safe_cell
from kefu.customers.models import Customer
from kefu.customers.permissions import CustomerRight

FORMATS = ("json", "xlsx")
FORMAT_VERSION = "kefu.personal-data/1"


@dataclass
class ExportContext:
    customer: Customer
    customer_ids: list[int]  # the customer and the records merged into it
    ticket_ids: list[int]


@dataclass(frozen=True)
class Section:
    key: str
    title: Promise
    models: tuple[str, ...]  # labels (app_label.model_name) of the models whose rows it holds
    rows: Callable[[ExportContext], list[dict[str, Any]]]


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    return value


def _person(user: Any) -> str:
    return str(user) if user is not None else ""


# --- the sections ---------------------------------------------------------------------------------------------------

def _customer_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    out = []
    for c in Customer.objects.filter(pk__in=ctx.customer_ids).select_related("dedicated_agent").prefetch_related(
            "tags").order_by("pk"):
        out.append({
            "id": c.pk, "code": c.code, "name": c.name, "kind": c.kind, "company": c.company, "tier": c.tier,
            "is_vip": c.is_vip, "dedicated_agent": _person(c.dedicated_agent), "birthday": _value(c.birthday),
            "id_number": c.id_number, "notes": c.notes, "tags": "、".join(t.name for t in c.tags.all()),
            "merged_into_id": c.merged_into_id, "anonymised_at": _value(c.anonymised_at),
            "created_at": _value(c.created_at), "updated_at": _value(c.updated_at),
        })
    return out


def _contact_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.customers.models import ContactPoint

    return [{"id": p.pk, "customer_id": p.customer_id, "kind": p.kind, "value": p.value, "label": p.label,
             "is_primary": p.is_primary}
            for p in ContactPoint.objects.filter(customer_id__in=ctx.customer_ids).order_by("pk")]


def _consent_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.customers.consent import PURPOSES
    from kefu.customers.models import ContactConsent

    rows = []
    for c in (ContactConsent.objects.filter(contact__customer_id__in=ctx.customer_ids)
              .select_related("contact", "recorded_by").order_by("contact_id", "purpose")):
        purpose = PURPOSES.get(c.purpose)
        rows.append({"contact_id": c.contact_id, "contact": c.contact.value, "purpose": c.purpose,
                     "purpose_label": str(purpose.label) if purpose else c.purpose, "granted": c.granted,
                     "source": c.source, "note": c.note, "recorded_by": _person(c.recorded_by),
                     "recorded_at": _value(c.recorded_at)})
    return rows


def _site_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.customers.models import Site

    return [{"id": s.pk, "customer_id": s.customer_id, "label": s.label, "province": s.province, "city": s.city,
             "address": s.address} for s in Site.objects.filter(customer_id__in=ctx.customer_ids).order_by("pk")]


def _ticket_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.tickets.models import Ticket

    out = []
    for t in (Ticket.objects.filter(pk__in=ctx.ticket_ids)
              .select_related("category", "team", "assignee", "first_contact_owner").order_by("created_at", "pk")):
        out.append({
            "id": t.pk, "number": t.number, "subject": t.subject, "description": t.description,
            "type": t.ticket_type, "category": str(t.category) if t.category else "", "priority": t.priority,
            "channel": t.channel, "status": t.status, "team": _person(t.team), "assignee": _person(t.assignee),
            "first_contact_owner": _person(t.first_contact_owner), "external_ref": t.external_ref,
            "sla_standing": t.sla_standing, "created_at": _value(t.created_at),
            "first_responded_at": _value(t.first_responded_at), "resolved_at": _value(t.resolved_at),
            "closed_at": _value(t.closed_at), "reopen_count": t.reopen_count,
        })
    return out


def _numbers(ctx: ExportContext) -> dict[int, str]:
    from kefu.tickets.models import Ticket

    return {pk: number or str(pk) for pk, number in
            Ticket.objects.filter(pk__in=ctx.ticket_ids).values_list("pk", "number")}


def _message_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.tickets.models import TicketMessage

    numbers = _numbers(ctx)
    return [{"id": m.pk, "ticket": numbers.get(m.ticket_id, ""), "kind": m.kind, "author": _person(m.author),
             "channel": m.channel, "body": m.body, "created_at": _value(m.created_at)}
            for m in TicketMessage.objects.filter(ticket_id__in=ctx.ticket_ids).select_related("author")
            .order_by("created_at", "pk")]


def _history_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.core.actors import system_actor_label
    from kefu.tickets.models import TicketEvent

    numbers = _numbers(ctx)
    return [{"id": e.pk, "ticket": numbers.get(e.ticket_id, ""), "kind": e.kind,
             "actor": _person(e.actor) or (system_actor_label(e.actor_system) if e.actor_system else ""),
             "from_status": e.from_status, "to_status": e.to_status,
             "data": json.dumps(e.data, ensure_ascii=False, sort_keys=True), "created_at": _value(e.created_at)}
            for e in TicketEvent.objects.filter(ticket_id__in=ctx.ticket_ids).select_related("actor")
            .order_by("created_at", "pk")]


def _attachment_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.tickets.models import Attachment

    numbers = _numbers(ctx)
    return [{"id": a.pk, "ticket": numbers.get(a.ticket_id, ""), "message_id": a.message_id, "filename": a.filename,
             "content_type": a.content_type, "size": a.size, "uploaded_by": _person(a.uploaded_by),
             "created_at": _value(a.created_at)}
            for a in Attachment.objects.filter(ticket_id__in=ctx.ticket_ids).select_related("uploaded_by")
            .order_by("created_at", "pk")]


def _dispatch_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.tickets.models import Dispatch

    numbers = _numbers(ctx)
    return [{"id": d.pk, "ticket": numbers.get(d.ticket_id, ""), "department": _person(d.department),
             "status": d.status, "instructions": d.instructions, "dispatched_by": _person(d.dispatched_by),
             "dispatched_at": _value(d.dispatched_at), "due_at": _value(d.due_at),
             "acknowledged_at": _value(d.acknowledged_at), "completed_at": _value(d.completed_at),
             "result": d.result}
            for d in Dispatch.objects.filter(ticket_id__in=ctx.ticket_ids).select_related(
                "department", "dispatched_by").order_by("dispatched_at", "pk")]


def _clock_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.clocks.models import Clock

    numbers = _numbers(ctx)
    return [{"id": c.pk, "ticket": numbers.get(c.subject_id, ""), "metric": c.metric, "state": c.state,
             "target_seconds": c.target_seconds, "started_at": _value(c.started_at), "due_at": _value(c.due_at),
             "stopped_at": _value(c.stopped_at), "breached_at": _value(c.breached_at)}
            for c in Clock.objects.filter(subject_type="tickets.ticket", subject_id__in=ctx.ticket_ids)
            .order_by("subject_id", "pk")]


def _notification_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.notifications.kinds import title_of
    from kefu.notifications.models import Notification

    return [{"id": n.pk, "recipient": _person(n.recipient), "kind": n.kind, "title": title_of(n.kind, n.params),
             "created_at": _value(n.created_at), "read_at": _value(n.read_at)}
            for n in Notification.objects.filter(object_type="tickets.ticket",
                                                 object_id__in=[str(i) for i in ctx.ticket_ids])
            .select_related("recipient").order_by("created_at", "pk")]


def _access_log_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.core.models import AuditLog

    return [{"id": a.pk, "at": _value(a.created_at), "actor": _person(a.actor), "action": a.action,
             "object_id": a.object_id, "summary": a.summary,
             "data": json.dumps(a.data, ensure_ascii=False, sort_keys=True), "ip_address": a.ip_address or ""}
            for a in AuditLog.objects.filter(object_type=Customer._meta.label_lower,
                                             object_id__in=[str(i) for i in ctx.customer_ids])
            .select_related("actor").order_by("created_at", "pk")]


def _erasure_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.privacy.models import ErasureRequest

    return [{"id": r.pk, "asked_by": r.asked_by, "reason": r.reason, "status": r.status,
             "requested_by": _person(r.requested_by), "created_at": _value(r.created_at),
             "decided_by": _person(r.decided_by), "decided_at": _value(r.decided_at),
             "decision_note": r.decision_note, "executed_at": _value(r.executed_at)}
            for r in ErasureRequest.objects.filter(customer_id__in=ctx.customer_ids)
            .select_related("requested_by", "decided_by").order_by("created_at", "pk")]


def _conversation_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.conversations.models import Conversation

    return [{"id": c.pk, "channel": c.channel.name, "identity": f"{c.identity_kind}:{c.identity_value}",
             "subject": c.subject, "status": c.status, "agent": _person(c.assignee),
             "ticket": c.ticket.number if c.ticket_id else "", "started_at": _value(c.created_at),
             "closed_at": _value(c.closed_at), "close_reason": c.close_reason, "csat_score": c.csat_score,
             "csat_comment": c.csat_comment}
            for c in Conversation.objects.filter(customer_id__in=ctx.customer_ids)
            .select_related("channel", "assignee", "ticket").order_by("created_at", "pk")]


def _conversation_message_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.conversations.models import Message

    return [{"id": m.pk, "conversation": m.conversation_id, "seq": m.seq, "direction": m.direction,
             "author": _person(m.author), "body": m.body, "attachments": ", ".join(
                 a.filename for a in m.attachments.all()), "delivery_state": m.delivery_state,
             "created_at": _value(m.created_at)}
            for m in Message.objects.filter(conversation__customer_id__in=ctx.customer_ids)
            .select_related("author").prefetch_related("attachments").order_by("conversation_id", "seq")]


def _conversation_history_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.conversations.models import Activity

    return [{"id": a.pk, "conversation": a.conversation_id, "what": a.kind, "by": _person(a.actor),
             "team": a.team.name if a.team_id else "", "note": str(a.data.get("note") or ""),
             "reason": str(a.data.get("reason") or ""), "order": str(a.data.get("number") or ""),
             "at": _value(a.created_at)}
            for a in Activity.objects.filter(conversation__customer_id__in=ctx.customer_ids)
            .select_related("actor", "team").order_by("conversation_id", "created_at", "pk")]


def _queue_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.routing.models import RoutedContact

    return [{"id": c.pk, "contact": c.ref, "queue": c.queue.name, "state": c.state, "is_vip": c.is_vip,
             "is_complaint": c.is_complaint, "callback_number": c.callback_number, "agent": _person(c.agent),
             "entered_line_at": _value(c.enqueued_at), "answered_at": _value(c.assigned_at),
             "ended_at": _value(c.ended_at)}
            for c in RoutedContact.objects.filter(customer_id__in=ctx.customer_ids)
            .select_related("queue", "agent").order_by("enqueued_at", "pk")]


def _call_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    """The customer's calls (those that became their phone conversations), each with its course of events."""
    from kefu.telephony.models import Call

    calls = (Call.objects.filter(conversation__customer_id__in=ctx.customer_ids)
             .select_related("queue", "agent").prefetch_related("events").order_by("offered_at", "pk"))
    return [{"id": c.pk, "call_id": c.call_id, "conversation": c.conversation_id, "caller": c.caller,
             "called": c.called, "region": c.region, "queue": c.queue.name if c.queue_id else "",
             "agent": _person(c.agent), "state": c.state, "offered_at": _value(c.offered_at),
             "answered_at": _value(c.answered_at), "ended_at": _value(c.ended_at), "wait_seconds": c.wait_seconds,
             "talk_seconds": c.talk_seconds, "hold_seconds": c.hold_seconds, "voicemail": c.voicemail,
             "recording_url": c.recording_url,
             "events": "; ".join(f"{_value(e.at)} {e.event}" for e in sorted(c.events.all(), key=lambda e: e.at))}
            for c in calls]


def _consultation_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    """The questions the customer asked the knowledge base's bot in their conversations."""
    from kefu.knowledge.models import Consultation, Feedback

    asked = list(Consultation.objects.filter(conversation__customer_id__in=ctx.customer_ids)
                 .select_related("article").order_by("asked_at", "pk"))
    comments: dict[int, list[str]] = {}
    for row in Feedback.objects.filter(consultation__in=asked).exclude(comment="").order_by("pk"):
        comments.setdefault(row.consultation_id or 0, []).append(row.comment)
    return [{"id": c.pk, "conversation": c.conversation_id, "asked_at": _value(c.asked_at), "question": c.question,
             "language": c.language, "channel": c.channel, "article": c.article.title if c.article_id else "",
             "answered_by_bot": c.answered, "helpful": c.helpful, "comments": "; ".join(comments.get(c.pk, []))}
            for c in asked]


def _identity_rows(ctx: ExportContext) -> list[dict[str, Any]]:
    from kefu.conversations.models import ChannelIdentity

    return [{"id": i.pk, "channel": i.channel.name, "kind": i.kind, "value": i.value,
             "display_name": i.display_name, "created_at": _value(i.created_at)}
            for i in ChannelIdentity.objects.filter(customer_id__in=ctx.customer_ids).select_related("channel")
            .order_by("pk")]


SECTIONS: tuple[Section, ...] = (
    Section("customer", gettext_lazy("客户资料"), ("customers.customer", "customers.customer_tags"), _customer_rows),
    Section("contacts", gettext_lazy("联系方式"), ("customers.contactpoint",), _contact_rows),
    Section("consents", gettext_lazy("联系许可"), ("customers.contactconsent",), _consent_rows),
    Section("addresses", gettext_lazy("地址"), ("customers.site",), _site_rows),
    Section("work_orders", gettext_lazy("工单"), ("tickets.ticket",), _ticket_rows),
    Section("messages", gettext_lazy("工单消息"), ("tickets.ticketmessage",), _message_rows),
    Section("history", gettext_lazy("工单历史"), ("tickets.ticketevent",), _history_rows),
    Section("attachments", gettext_lazy("附件清单"), ("tickets.attachment",), _attachment_rows),
    Section("dispatches", gettext_lazy("派单"), ("tickets.dispatch",), _dispatch_rows),
    Section("sla_clocks", gettext_lazy("SLA 计时"), ("clocks.clock",), _clock_rows),
    Section("notifications", gettext_lazy("相关通知"), ("notifications.notification",), _notification_rows),
    Section("access_log", gettext_lazy("访问记录"), ("core.auditlog",), _access_log_rows),
    Section("erasure_requests", gettext_lazy("删除申请"), ("privacy.erasurerequest",), _erasure_rows),
    Section("conversations", gettext_lazy("会话"), ("conversations.conversation",), _conversation_rows),
    Section("conversation_messages", gettext_lazy("会话消息"),
            ("conversations.message", "conversations.messageattachment"), _conversation_message_rows),
    Section("conversation_history", gettext_lazy("会话处理记录"), ("conversations.activity",),
            _conversation_history_rows),
    Section("channel_identities", gettext_lazy("渠道身份"), ("conversations.channelidentity",), _identity_rows),
    Section("queue_contacts", gettext_lazy("排队记录"), ("routing.routedcontact",), _queue_rows),
    Section("calls", gettext_lazy("通话记录"), ("telephony.call", "telephony.callevent"), _call_rows),
    Section("bot_questions", gettext_lazy("向机器人提的问题"), ("knowledge.consultation", "knowledge.feedback"),
            _consultation_rows),
)

# Models that reference a customer (or one of their records) but hold nothing of theirs to hand over, and why.
NOT_EXPORTED: dict[str, str] = {
    "privacy.ticketscrub": "a marker that an order's text was anonymised: no personal data",
    "privacy.conversationscrub": "a marker that a conversation's words were removed: no personal data",
    "core.outboxevent": "the queue of announcements to live pages and webhooks, purged after 30 days; copies of "
                        "what the sections hold (subjects are anonymised with the order)",
    "notifications.delivery": "the sending of a notice to a staff member (their address, not the customer's)",
    "routing.offer": "which agents a contact waiting in a queue was offered to and their answers: staff data (the "
                     "contact's time in line is exported)",
    "conversations.participant": "which staff members took part in a conversation and how far they read: staff "
                                 "data (the conversation itself is exported)",
}
# Generic references: (model label, type field, id field). Found by `generic_reference_models`.
_GENERIC_FIELDS = (("object_type", "object_id"), ("subject_type", "subject_id"))


def handled_models() -> set[str]:
    return {label for s in SECTIONS for label in s.models} | set(NOT_EXPORTED)


def customer_reference_models() -> set[str]:
    """Labels of every model that references a customer: through a relation to Customer, or to a model found
    this way (a work order's messages, a contact's consents…), walked to the end."""
    found: set[str] = set()
    queue: list[type[models.Model]] = [Customer]
    while queue:
        model = queue.pop()
        for rel in model._meta.get_fields(include_hidden=True):
            if not (rel.is_relation and rel.auto_created and not rel.concrete):
                continue
            related = rel.related_model
            if related is None or isinstance(related, str):
                continue
            label = related._meta.label_lower
            if rel.many_to_many and getattr(rel, "through", None) is not None:
                label = rel.through._meta.label_lower if rel.through._meta.auto_created else label
            if label not in found:
                found.add(label)
                queue.append(related)
    return found


def generic_reference_models() -> set[str]:
    """Labels of models that point at any object by type and id (object_type/object_id, subject_type/subject_id):
    they may hold rows about a customer or their orders without a relation Django knows."""
    out = set()
    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields()}
        if any(t in names and i in names for t, i in _GENERIC_FIELDS):
            out.add(model._meta.label_lower)
    return out


def unhandled_references() -> list[str]:
    """Models referencing customers that neither a section nor NOT_EXPORTED covers (kept empty by a test)."""
    return sorted((customer_reference_models() | generic_reference_models()) - handled_models())


# --- the export -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonalDataFile:
    content: bytes
    content_type: str
    filename: str
    counts: dict[str, int]


def collect(customer: Customer) -> dict[str, list[dict[str, Any]]]:
    """Every section's rows for `customer` (and the records merged into it)."""
    from kefu.tickets.models import Ticket

    ids = [customer.pk, *Customer.objects.filter(merged_into_id=customer.pk).values_list("pk", flat=True)]
    ticket_ids = list(Ticket.objects.filter(customer_id__in=ids).values_list("pk", flat=True))
    ctx = ExportContext(customer=customer, customer_ids=ids, ticket_ids=ticket_ids)
    return {s.key: s.rows(ctx) for s in SECTIONS}


def personal_data_export(*, actor: Any, customer_id: int, fmt: str, ip: str | None = None) -> PersonalDataFile:
    """Everything held about the customer (a merged record: the record it was merged into), unmasked, as `fmt`
    ("json" or "xlsx"). Needs CUSTOMER_EXPORT_PERSONAL_DATA. One audit row "customer.personal_data_exported"
    with the format and the count of each section."""
    if fmt not in FORMATS:
        raise ValidationFailed(_("导出格式必须是 json 或 xlsx"), details={"field": "format", "value": str(fmt)[:20]})
    if actor is not None and not has_right(actor, CustomerRight.EXPORT_PERSONAL_DATA):
        raise PermissionDenied(_("你没有导出个人信息的权限"))
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("客户不存在"), details={"customer_id": customer_id})
    if customer.merged_into_id is not None:
        customer = Customer.objects.filter(pk=customer.merged_into_id).first() or customer
    sections = collect(customer)
    counts = {key: len(rows) for key, rows in sections.items()}
    now = timezone.now()
    audit_record(actor=actor, action="customer.personal_data_exported", obj=customer, ip_address=ip,
                 summary=_("导出个人信息（%(fmt)s）") % {"fmt": fmt}, data={"format": fmt, "counts": counts})
    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
    filename = f"personal-data-{customer.code}-{stamp}.{fmt}"
    if fmt == "json":
        document = {"format": FORMAT_VERSION, "generated_at": _value(now),
                    "generated_by": _person(actor) if getattr(actor, "is_authenticated", False) else "",
                    "customer_id": customer.pk, **sections}
        content = json.dumps(document, ensure_ascii=False, indent=2).encode()
        return PersonalDataFile(content, "application/json; charset=utf-8", filename, counts)
    return PersonalDataFile(_xlsx(sections), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            filename, counts)


def _xlsx(sections: dict[str, list[dict[str, Any]]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    for section in SECTIONS:
        rows = sections[section.key]
        sheet = workbook.create_sheet(str(section.title)[:31])
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        if not columns:
            sheet.append([_("无记录")])
            continue
        sheet.append(columns)
        for row in rows:
            sheet.append([safe_cell("" if row.get(c) is None else row.get(c)) for c in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
