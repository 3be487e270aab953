"""`insert_rows`: many rows in one statement, each given its primary key; with `ignore_conflicts`, the rows a
unique constraint refuses are skipped and told apart by their key. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from kefu.core.events import OUTBOX_FIELDS
from kefu.core.inserts import insert_rows
from kefu.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def _event(number: int, uid: uuid.UUID | None = None) -> OutboxEvent:
    return OutboxEvent(uid=uid or uuid.uuid4(), type="test.inserted", object_type="test", object_id=str(number),
                       payload={"number": number, "名称": "中文"}, audience=[f"user.{number}"],
                       created_at=timezone.now())


def test_every_row_is_written_with_its_own_id_and_values() -> None:
    events = [_event(n) for n in range(3)]
    with transaction.atomic():
        written = insert_rows(events, OUTBOX_FIELDS)
    assert written == events
    for event in events:
        stored = OutboxEvent.objects.get(pk=event.pk)
        assert (stored.uid, stored.object_id, stored.payload, stored.audience) == (
            event.uid, event.object_id, event.payload, event.audience)
        assert not event._state.adding
    assert insert_rows([], OUTBOX_FIELDS) == []


def test_rows_a_unique_constraint_refuses_are_skipped_and_named_by_their_key() -> None:
    taken = _event(1)
    with transaction.atomic():
        insert_rows([taken], OUTBOX_FIELDS)
    again = [_event(2), _event(3, uid=taken.uid), _event(4)]
    with transaction.atomic():
        written = insert_rows(again, OUTBOX_FIELDS, ignore_conflicts=True, key="uid")
    assert [event.object_id for event in written] == ["2", "4"]
    assert again[1].pk is None
    assert again[1]._state.adding
    assert OutboxEvent.objects.filter(uid=taken.uid).get().object_id == "1"
    assert {OutboxEvent.objects.get(pk=event.pk).object_id for event in written} == {"2", "4"}


def test_skipping_conflicts_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        insert_rows([_event(1)], OUTBOX_FIELDS, ignore_conflicts=True)
