"""Operations' writes: the heartbeat."""

from __future__ import annotations

import os
import socket
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from kefu.operations.models import Heartbeat

WORKER = "worker"


def heartbeat_record(*, name: str = WORKER, now: datetime | None = None) -> Heartbeat:
    """Stamp the process `name` as alive at `now` (one row per name, overwritten)."""
    with transaction.atomic():
        beat: Heartbeat
        beat, _ = Heartbeat.objects.update_or_create(
            name=name, defaults={"beat_at": now or timezone.now(), "host": socket.gethostname()[:255],
                                 "pid": os.getpid()})
    return beat
