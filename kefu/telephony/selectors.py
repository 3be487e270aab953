"""Reads of telephony: the calls waiting now, per queue (the wallboard); whose extension a PBX names."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Min
from django.db.models.functions import Coalesce

from kefu.telephony.choices import CallState
from kefu.telephony.models import Call

STALE_WAIT = timedelta(hours=4)  # a call "waiting" this long lost its ending on the way: not shown as waiting


def waiting_by_queue(now: datetime) -> dict[int, tuple[int, float]]:
    """Per queue id: calls waiting now (offered, queued or ringing, not answered or ended) and the longest wait
    in seconds. One query."""
    rows = (Call.objects.filter(state__in=(CallState.OFFERED, CallState.QUEUED, CallState.RINGING),
                                queue__isnull=False, ended_at__isnull=True, offered_at__gte=now - STALE_WAIT)
            .values("queue_id").annotate(n=Count("pk"), first=Min(Coalesce("queued_at", "offered_at"))))
    return {r["queue_id"]: (int(r["n"]), max(0.0, (now - r["first"]).total_seconds())) for r in rows}


def username_for_extension(extension: str) -> str | None:
    """The user name of the active person whose phone extension this is (a PBX that names agents by extension),
    or None when nobody or more than one person has it."""
    from kefu.accounts.models import User

    names = list(User.objects.filter(extension=extension, is_active=True).values_list("username", flat=True)[:2]) \
        if extension else []
    return names[0] if len(names) == 1 else None


def call_of_conversation(conversation_id: int) -> Call | None:
    """The call a phone conversation was made of, with its events (oldest first) and people: two queries."""
    from django.db.models import Prefetch

    from kefu.telephony.models import CallEvent

    return (Call.objects.select_related("queue", "agent")
            .prefetch_related(Prefetch("events", queryset=CallEvent.objects.select_related("agent")))
            .filter(conversation_id=conversation_id).first())
