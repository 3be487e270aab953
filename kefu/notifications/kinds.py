"""The kinds of notice, worded when shown in the reader's language (text is never stored translated), and
which channels each kind uses by default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.notifications.choices import Channel


@dataclass(frozen=True)
class Kind:
    code: str  # the event type it comes from
    label: Promise  # on the preferences page
    title: Callable[[dict[str, Any]], str]  # called inside the reader's language
    defaults: frozenset[str]  # channels on unless the person turns them off


def _metric(code: str) -> str:
    from kefu.tickets.choices import SlaMetric

    return str(SlaMetric(code).label) if code in SlaMetric.values else code


def _order(p: dict[str, Any]) -> str:
    return f"{p.get('number') or ''} {p.get('subject') or ''}".strip()


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("ticket.sla_warning", gettext_lazy("SLA 即将超时"),
         lambda p: _("SLA 即将超时：%(order)s（%(metric)s）") % {"order": _order(p), "metric": _metric(p["metric"])},
         frozenset({Channel.IN_APP})),
    Kind("ticket.sla_breached", gettext_lazy("SLA 已超时"),
         lambda p: _("SLA 已超时：%(order)s（%(metric)s）") % {"order": _order(p), "metric": _metric(p["metric"])},
         frozenset({Channel.IN_APP, Channel.EMAIL, Channel.WECOM})),
    Kind("ticket.escalated", gettext_lazy("工单升级给我"),
         lambda p: _("工单已升级给您：%(order)s") % {"order": _order(p)},
         frozenset({Channel.IN_APP, Channel.EMAIL})),
    Kind("ticket.assigned", gettext_lazy("分配和交接给我"),
         lambda p: (_("工单交接给您：%(order)s") if p.get("handover") else _("工单分配给您：%(order)s"))
         % {"order": _order(p)},
         frozenset({Channel.IN_APP})),
    Kind("ticket.dispatched", gettext_lazy("本部门收到派单"),
         lambda p: _("新派单：%(order)s") % {"order": _order(p)},
         frozenset({Channel.IN_APP, Channel.EMAIL, Channel.WECOM})),
    Kind("ticket.dispatch_overdue", gettext_lazy("派单超时"),
         lambda p: _("派单已超时：%(order)s（%(department)s）") % {"order": _order(p),
                                                                   "department": p.get("department", "")},
         frozenset({Channel.IN_APP, Channel.EMAIL, Channel.WECOM})),
    Kind("ticket.noted", gettext_lazy("备注中提到我"),
         lambda p: _("%(actor)s 在内部备注中提到了您：%(order)s") % {"actor": p.get("actor", ""), "order": _order(p)},
         frozenset({Channel.IN_APP, Channel.EMAIL})),
    Kind("ticket.customer_message", gettext_lazy("客户回复了我的工单"),
         lambda p: _("客户回复了工单：%(order)s") % {"order": _order(p)},
         frozenset({Channel.IN_APP})),
    Kind("conversation.message_failed", gettext_lazy("我的回复未能送达"),
         lambda p: _("给%(customer)s的回复未能送达（%(channel)s）：%(error)s") % {
             "customer": p.get("customer", ""), "channel": p.get("channel", ""), "error": p.get("error", "")},
         frozenset({Channel.IN_APP})),
    Kind("call.put_through_failed", gettext_lazy("接起的来电未能转到我的分机"),
         lambda p: _("来电 %(caller)s 未能转到您的分机：%(error)s") % {
             "caller": p.get("caller", ""), "error": p.get("error", "")},
         frozenset({Channel.IN_APP})),
)}


def title_of(kind: str, params: dict[str, Any], language: str | None = None) -> str:
    """The notice's one-line text in `language` (the active one when None)."""
    found = KINDS.get(kind)
    if found is None:
        return kind
    if language is None:
        return found.title(params)
    with translation.override(language):
        return found.title(params)
