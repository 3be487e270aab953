"""Background work of the knowledge base: the bot's threshold calibrated again after the served articles change."""

from __future__ import annotations

from huey.contrib.djhuey import db_task, lock_task


@db_task(retries=2, retry_delay=30)
def recalibrate_task() -> None:
    from kefu.knowledge.services.calibration import bot_calibrate

    with lock_task("knowledge-calibrate"):
        bot_calibrate(actor=None)


def recalibrate_soon() -> None:
    recalibrate_task.schedule(delay=5) if not _immediate() else recalibrate_task()


def _immediate() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "HUEY", {}).get("immediate"))
