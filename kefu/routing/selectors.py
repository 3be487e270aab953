"""Reads of queues."""

from __future__ import annotations

from kefu.routing.models import Queue


def queue_by_code(code: str) -> Queue | None:
    return Queue.objects.filter(code=str(code or "").strip().lower()[:40]).select_related("team").first()


def queues_by_code(codes: set[str]) -> dict[str, Queue]:
    return {q.code: q for q in Queue.objects.filter(code__in=codes)}
