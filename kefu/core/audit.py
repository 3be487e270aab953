"""Writing audit rows. Called inside the service (same transaction) that makes the change or reveals data.

Audit rows are only ever added: no service changes or deletes one, django-admin shows them read-only, and the
audit viewer (kefu.administration) only reads them.
"""

from __future__ import annotations

from typing import Any

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from kefu.core.masking import mask_contact
from kefu.core.models import AuditLog

# A search by someone who may not see a kind of personal data, with a term of that kind (see audit_lookup).
LOOKUP = "personal_data.looked_up"
_LOOKUP_SALT = "kefu.core.audit.lookup"


def audit_record(*, actor: Any, action: str, obj: Any = None, object_type: str = "", object_id: Any = "",
                 summary: str = "", data: dict[str, Any] | None = None, ip_address: str | None = None) -> AuditLog:
    """Append one audit row. `obj` (a model instance) supplies type and id when given."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary[:300],
        data=data or {},
        ip_address=ip_address,
    )


def lookup_digest(kind: str, normalized: str) -> str:
    """A keyed digest (HMAC-SHA256 under the installation's SECRET_KEY) of a normalised contact value: equal
    values give equal digests, so an investigator can find every lookup of one number without the audit log
    holding it; without the key, the digest cannot be turned back into the number by trying every number."""
    return salted_hmac(_LOOKUP_SALT, f"{kind}:{normalized}", algorithm="sha256").hexdigest()


def audit_lookup(*, actor: Any, kind: str, value: str, whole: bool, source: str, matched: bool | None = None,
                 ip_address: str | None = None) -> AuditLog:
    """Record a search by personal data (a phone number, an e-mail address, a WeChat id) made by someone whose
    role may not see that kind of value. `value` is the normalised term when `whole` (a whole value, the only
    kind such a search matches), else the term as typed (a part, which matches nothing). The row keeps the
    kind, the masked value and `lookup_digest` — never the value in clear. `source` names the search
    ("customers", "tickets"); `matched` says whether a contact matched, when known."""
    masked = mask_contact(kind, value)
    data: dict[str, Any] = {"kind": kind, "masked": masked, "whole_value": whole, "source": source}
    if whole:
        data["digest"] = lookup_digest(kind, value)
    if matched is not None:
        data["matched"] = matched
    return audit_record(actor=actor, action=LOOKUP, object_type=f"{source}.search",
                        summary=lookup_summary(kind=kind, masked=masked, whole=whole), data=data,
                        ip_address=ip_address)


def lookup_summary(*, kind: str, masked: str, whole: bool) -> str:
    """The sentence of a lookup row, in the current language (the viewer writes it again in the reader's)."""
    text = _("按完整%(kind)s查找：%(masked)s") if whole else _("按部分%(kind)s查找（不匹配）：%(masked)s")
    return text % {"kind": contact_kind_label(kind), "masked": masked}


def contact_kind_label(kind: str) -> str:
    labels = {"phone": pgettext("按…查找", "电话"), "email": pgettext("按…查找", "邮箱"),
              "wechat": pgettext("按…查找", "微信号")}
    return labels.get(kind, kind)
