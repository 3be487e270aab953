"""REST API of the notification centre: one's own notifications (newest first, keyset on the id), marking read,
and one's preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from kefu.apiutils.auth import requires
from kefu.apiutils.schemas import Id, InSchema, PathId
from kefu.notifications import selectors, services
from kefu.notifications.permissions import NotificationRight

router = Router()


class NotificationOut(Schema):
    id: int
    kind: str = Field(description="The event type it comes from, e.g. ticket.sla_breached")
    title: str = Field(description="In the language of the request")
    link: str
    created_at: datetime
    read: bool


class NotificationPage(Schema):
    items: list[NotificationOut]
    next: int | None = Field(description="Pass as `before` for the next (older) page; null on the last page")
    unread: int


class NotificationFilters(Schema):
    unread: bool = False
    before: Id | None = Field(None, description="The `next` of the previous page")
    limit: int = Field(30, ge=1, le=100)


class PreferenceOut(Schema):
    kind: str
    channel: str
    enabled: bool
    always: bool = Field(description="In-app notices are always on")


class PreferenceIn(InSchema):
    kind: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    enabled: bool


class PreferencesIn(InSchema):
    preferences: list[PreferenceIn] = Field(max_length=200)


@router.get("", response=NotificationPage, summary="My notifications")
@requires(NotificationRight.OWN)
def notification_list(request: HttpRequest, filters: Query[NotificationFilters]) -> Any:
    rows = selectors.notice_rows(user=request.auth, unread_only=filters.unread, before_id=filters.before,  # type: ignore[attr-defined]
                                 limit=filters.limit + 1)
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {"items": [vars(r) for r in rows], "next": rows[-1].id if more and rows else None,
            "unread": selectors.unread_count(user=request.auth)}  # type: ignore[attr-defined]


@router.post("/{notification_id}/read", response=NotificationOut, summary="Mark one of my notifications read")
@requires(NotificationRight.OWN)
def notification_read(request: HttpRequest, notification_id: PathId) -> Any:
    notification = services.notification_mark_read(actor=request.auth, notification_id=notification_id)  # type: ignore[attr-defined]
    row = selectors.notice_rows(user=request.auth, before_id=notification.pk + 1, limit=1)[0]  # type: ignore[attr-defined]
    return vars(row)


@router.post("/read-all", response={200: dict[str, int]}, summary="Mark all my notifications read")
@requires(NotificationRight.OWN)
def notification_read_all(request: HttpRequest) -> Any:
    return {"marked": services.notifications_mark_all_read(actor=request.auth)}  # type: ignore[attr-defined]


@router.get("/preferences", response=list[PreferenceOut], summary="My notification preferences")
@requires(NotificationRight.OWN)
def preferences_get(request: HttpRequest) -> Any:
    _channels, rows = selectors.preference_grid(user=request.auth)  # type: ignore[attr-defined]
    return [{"kind": r.kind, "channel": c.channel, "enabled": c.enabled, "always": c.always}
            for r in rows for c in r.cells]


@router.put("/preferences", response=list[PreferenceOut], summary="Change my notification preferences")
@requires(NotificationRight.OWN)
def preferences_put(request: HttpRequest, payload: PreferencesIn) -> Any:
    services.preferences_set(actor=request.auth, changes=[  # type: ignore[attr-defined]
        services.PreferenceChange(kind=p.kind, channel=p.channel, enabled=p.enabled) for p in payload.preferences])
    return preferences_get(request)
