"""Background work of the knowledge base: the bot's threshold calibrated again after the served articles change.

Requests coalesce: each carries the time it was made, and a calibration that started after it already covers it
(publishing thirty articles, or importing a file, asks thirty times and calibrates once or twice). A request that
finds a calibration running waits for its retry: the running one read the knowledge base before the change."""

from __future__ import annotations

from huey.contrib.djhuey import db_task, lock_task


@db_task(retries=2, retry_delay=30)
def recalibrate_task(requested_at: str = "") -> None:
    from kefu.knowledge.models import BotSettings
    from kefu.knowledge.services.calibration import bot_calibrate

    with lock_task("knowledge-calibrate"):
        started = str((BotSettings.current().calibration or {}).get("started_at") or "")
        if requested_at and started > requested_at:
            return  # a calibration that started after this request has covered it
        bot_calibrate(actor=None)


def recalibrate_soon() -> None:
    from django.utils import timezone

    requested_at = timezone.now().isoformat(timespec="microseconds")
    recalibrate_task.schedule(args=(requested_at,), delay=5) if not _immediate() else recalibrate_task(requested_at)


def _immediate() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "HUEY", {}).get("immediate"))
