"""A queue's interval figures counted from its calls (for kefu.routing's interval statistics): the calls offered
in the interval that have ended, each counted once by its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, Sum

from kefu.telephony.choices import CallState
from kefu.telephony.models import Call


def call_figures(queue: Any, start: datetime, end: datetime) -> dict[str, float]:
    """One query: offered, answered (within the queue's target), abandoned apart from the short ones (within the
    target), voicemail, and the total wait (answered), talk, hold and after-contact work seconds."""
    calls = Call.objects.filter(queue=queue, offered_at__gte=start, offered_at__lt=end, ended_at__isnull=False)
    answered = Q(answered_at__isnull=False)
    abandoned = Q(state=CallState.ABANDONED)
    short = abandoned & Q(wait_seconds__lt=queue.short_abandon_seconds)
    counted = abandoned & ~short
    figures = calls.aggregate(
        offered=Count("pk"),
        answered=Count("pk", filter=answered),
        answered_within_target=Count("pk", filter=answered & Q(wait_seconds__lte=queue.target_seconds)),
        abandoned=Count("pk", filter=counted),
        short_abandoned=Count("pk", filter=short),
        abandoned_within_target=Count("pk", filter=counted & Q(wait_seconds__lte=queue.target_seconds)),
        voicemail=Count("pk", filter=Q(state=CallState.VOICEMAIL)),
        wait_seconds=Sum(F("wait_seconds"), filter=answered),
        talk_seconds=Sum("talk_seconds", filter=answered),
        hold_seconds=Sum("hold_seconds", filter=answered),
        acw_seconds=Sum("acw_seconds", filter=answered),
    )
    # The seconds are sums of floats in the database's row order, which changes with the table's history: rounded
    # to the microsecond, an interval counted again from the same calls is the same row to the last digit.
    return {name: round(float(value or 0), 6) for name, value in figures.items()}
