"""Account services: personal API tokens (create shows the key once; revoke is final)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.models import ApiToken, User
from kefu.accounts.permissions import AccountRight
from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right
from kefu.integrations.permissions import IntegrationRight

TOKEN_NAME_MAX = 100
TOKENS_PER_USER_MAX = 20


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its plain key: the only moment the key exists outside the client."""

    token: ApiToken
    key: str


@transaction.atomic
def api_token_create(*, actor: User, name: str) -> IssuedToken:
    """Create a personal API token for `actor`. Only its SHA-256 hash is stored."""
    if not has_right(actor, AccountRight.TOKEN_MANAGE_OWN):
        raise PermissionDenied(_("您没有权限创建 API 令牌"))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("请填写令牌用途"), details={"field": "name"})
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationFailed(
            _("令牌用途不能超过 %(n)s 个字符") % {"n": TOKEN_NAME_MAX}, details={"field": "name"}
        )
    # lock the user row so two concurrent creates cannot both pass the limit
    User.objects.select_for_update().filter(pk=actor.pk).first()
    if ApiToken.objects.filter(user=actor, revoked_at__isnull=True).count() >= TOKENS_PER_USER_MAX:
        raise ValidationFailed(
            _("每人最多 %(n)s 个有效令牌，请先吊销不用的令牌") % {"n": TOKENS_PER_USER_MAX},
            code="too_many_tokens",
        )
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=actor, name=name, key_prefix=key[:12], key_hash=ApiToken.hash_key(key)
    )
    audit_record(actor=actor, action="api_token.created", obj=token, summary=f"{name} ({token.key_prefix}…)")
    return IssuedToken(token=token, key=key)


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's tokens (an administrator may revoke anyone's). Revoking twice is harmless."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    is_admin = has_right(actor, IntegrationRight.WEBHOOK_MANAGE)  # administrators manage integrations
    if token is None or (token.user_id != actor.pk and not is_admin):
        raise NotFound(_("令牌不存在"), details={"token_id": token_id})
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_token.revoked",
            obj=token,
            summary=f"{token.name} ({token.key_prefix}…)",
            data={"owner": token.user_id},
        )
    return token
