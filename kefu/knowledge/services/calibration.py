"""The bot's confidence threshold, calibrated on the knowledge base itself: cross-validation over the public
articles' example questions picks the lowest threshold at which the bot's own answers meet the precision target."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy

from kefu.core.actors import person, system_actor
from kefu.core.audit import audit_record
from kefu.knowledge.models import BotSettings

CALIBRATOR = system_actor("kb_calibration", gettext_lazy("系统：机器人校准"))


def bot_calibrate(*, actor: Any = None) -> BotSettings:
    """Measure and store the threshold for the current public articles. Runs outside the request (a task after
    publishing or importing) because it builds one index per fold."""
    from kefu.knowledge.engine import calibrate
    from kefu.knowledge.index import build

    served = build("public")
    settings_row = BotSettings.current()
    result = calibrate(served.entries, served.vectors, precision_target=settings_row.precision_target)
    with transaction.atomic():
        locked = BotSettings.objects.select_for_update().get(pk=settings_row.pk)
        locked.threshold = float(result.threshold)
        locked.calibrated_at = timezone.now()
        locked.calibration = {
            "threshold": round(float(result.threshold), 4), "precision_target": result.precision_target,
            "precision": round(float(result.precision), 4), "answered_share": round(float(result.answered_share), 4),
            "top1": round(float(result.top1), 4), "questions": result.questions, "articles": result.articles,
            "folds": result.folds, "noise_rate": round(float(getattr(result, "noise_rate", 0.0)), 4),
            "suspects": len(getattr(result, "suspects", ()) or ())}
        locked.version = F("version") + 1
        locked.save()
        locked.refresh_from_db()
        audit_record(actor=person(actor) or None, action="bot.calibrated", obj=locked,
                     summary=f"{locked.threshold:.3f}", data=locked.calibration)
    return locked
