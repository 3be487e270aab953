"""Attachment files: a rolled-back upload leaves no file behind once the nightly purge has run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from kefu.tickets import services
from kefu.tickets.models import Attachment

pytestmark = pytest.mark.django_db


def _stored(ticket_id: int) -> set[str]:
    storage = Attachment._meta.get_field("file").storage
    try:
        return set(storage.listdir(f"attachments/{ticket_id}")[1])
    except FileNotFoundError:
        return set()


def test_purge_removes_only_files_without_a_row(agent: Any, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # a folder of its own: other tests upload too
    ticket = services.ticket_create(actor=agent, subject="空调漏水")
    kept = services.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("照片.png", b"png"))

    class Abort(Exception):
        pass

    def upload_then_fail() -> None:
        with transaction.atomic():
            services.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("b.png", b"png"))
            raise Abort

    with pytest.raises(Abort):
        upload_then_fail()
    assert len(_stored(ticket.pk)) == 2  # the rolled-back upload's file is still there
    # too young: its upload might still be committing
    assert services.attachment_purge_orphans() == 0
    assert services.attachment_purge_orphans(now=timezone.now() + timedelta(hours=2)) == 1
    assert _stored(ticket.pk) == {kept.storage_name}
    assert Attachment.objects.get().file.read() == b"png"
