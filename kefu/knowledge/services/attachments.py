"""Files attached to an article (a manual, a price list, a picture of a form): added and removed by editors,
within the workspace's size and type limits, each change in the audit log."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, ValidationFailed
from kefu.knowledge.models import Article, Attachment
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import require

ATTACHMENTS_MAX = 20  # per article


def _checked(upload: UploadedFile | None) -> tuple[str, str]:
    """The file's clean name and its content type (from the allowed suffixes, never from the browser)."""
    if upload is None:
        raise ValidationFailed(_("请选择要上传的文件"), details={"field": "file"})
    name = Path(upload.name or "").name.strip()[:200]
    suffix = Path(name).suffix.lower()
    allowed = settings.KEFU_ATTACHMENT_TYPES
    if not name or suffix not in allowed:
        raise ValidationFailed(_("不支持的文件类型“%(s)s”，允许：%(a)s")
                               % {"s": suffix or name, "a": " ".join(allowed)}, details={"field": "file"})
    if upload.size is None or upload.size > settings.KEFU_ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(_("文件超过 %(mb)s MB 的上限")
                               % {"mb": settings.KEFU_ATTACHMENT_MAX_BYTES // (1024 * 1024)}, details={"field": "file"})
    if upload.size == 0:
        raise ValidationFailed(_("文件是空的"), details={"field": "file"})
    return name, allowed[suffix]


@transaction.atomic
def attachment_add(*, actor: Any, article: Article, upload: UploadedFile | None) -> Attachment:
    """Attach a file to `article` (stored under a random name; the original name is kept for the download)."""
    require(actor, KnowledgeRight.EDIT)
    name, content_type = _checked(upload)
    locked = Article.objects.select_for_update().filter(pk=article.pk).first()
    if locked is None:
        raise NotFound(_("文章不存在"))
    if Attachment.objects.filter(article=locked).count() >= ATTACHMENTS_MAX:
        raise ValidationFailed(_("每篇文章最多 %(n)s 个附件") % {"n": ATTACHMENTS_MAX}, details={"field": "file"})
    assert upload is not None
    attachment = Attachment(article=locked, name=name, size=upload.size or 0, content_type=content_type,
                            uploaded_by=person(actor))
    attachment.file.save(secrets.token_hex(16) + Path(name).suffix.lower(), upload, save=False)
    attachment.save()
    audit_record(actor=person(actor), action="article.attachment_added", obj=locked, summary=name,
                 data={"attachment": attachment.pk, "size": attachment.size})
    return attachment


@transaction.atomic
def attachment_delete(*, actor: Any, attachment: Attachment) -> None:
    """Remove a file from its article; the stored file goes after commit."""
    require(actor, KnowledgeRight.EDIT)
    locked = (Attachment.objects.select_for_update(of=("self",)).select_related("article")
              .filter(pk=attachment.pk).first())
    if locked is None:
        raise NotFound(_("附件不存在"))
    audit_record(actor=person(actor), action="article.attachment_deleted", obj=locked.article, summary=locked.name,
                 data={"attachment": locked.pk})
    storage, stored = locked.file.storage, locked.file.name
    locked.delete()
    if stored:
        transaction.on_commit(lambda: storage.delete(stored), robust=True)
