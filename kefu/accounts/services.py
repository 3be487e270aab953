"""Account services: personal API tokens (create shows the key once, with its scopes and expiry; revoke is final;
one's own tokens only, an administrator revokes others' through `api_token_revoke_any`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.choices import TokenScope
from kefu.accounts.models import ApiToken, User
from kefu.accounts.permissions import AccountRight
from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import has_right

TOKEN_NAME_MAX = 100
TOKENS_PER_USER_MAX = 20


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its plain key: the only moment the key exists outside the client."""

    token: ApiToken
    key: str


def _clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    wanted = list(dict.fromkeys(str(s) for s in (scopes or [])))
    unknown = [s for s in wanted if s not in TokenScope.values]
    if unknown:
        raise ValidationFailed(_("未知的权限范围：%(s)s") % {"s": "、".join(unknown)},
                               details={"field": "scopes", "allowed": list(TokenScope.values)})
    if not wanted:
        raise ValidationFailed(_("请至少选择一个权限范围"), details={"field": "scopes"})
    return [s for s in TokenScope.values if s in wanted]  # in a fixed order


def _clean_days(days: Any) -> int:
    longest = settings.KEFU_API_TOKEN_MAX_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= longest:
        raise ValidationFailed(_("有效期必须是 1 到 %(n)s 天") % {"n": longest},
                               details={"field": "expires_in_days", "max": longest})
    return days


@transaction.atomic
def api_token_create(*, actor: User, name: str, scopes: Iterable[str] | None = None,
                     expires_in_days: int | None = None) -> IssuedToken:
    """Create a personal API token for `actor`, limited to `scopes` (TokenScope values; default read-only) and
    expiring after `expires_in_days` (default KEFU_API_TOKEN_DEFAULT_DAYS, at most KEFU_API_TOKEN_MAX_DAYS: no
    token lives for ever). Only its SHA-256 hash is stored."""
    if not has_right(actor, AccountRight.TOKEN_MANAGE_OWN):
        raise PermissionDenied(_("您没有权限创建 API 令牌"))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("请填写令牌用途"), details={"field": "name"})
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationFailed(
            _("令牌用途不能超过 %(n)s 个字符") % {"n": TOKEN_NAME_MAX}, details={"field": "name"}
        )
    chosen = _clean_scopes([TokenScope.READ] if scopes is None else scopes)
    days = _clean_days(settings.KEFU_API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days)
    # lock the user row so two concurrent creates cannot both pass the limit
    User.objects.select_for_update().filter(pk=actor.pk).first()
    if ApiToken.objects.filter(user=actor, revoked_at__isnull=True).count() >= TOKENS_PER_USER_MAX:
        raise ValidationFailed(
            _("每人最多 %(n)s 个有效令牌，请先吊销不用的令牌") % {"n": TOKENS_PER_USER_MAX},
            code="too_many_tokens",
        )
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=actor, name=name, key_prefix=key[:12], key_hash=ApiToken.hash_key(key), scopes=chosen,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(actor=actor, action="api_token.created", obj=token, summary=f"{name} ({token.key_prefix}…)",
                 data={"scopes": chosen, "expires_at": token.expires_at.isoformat()})
    return IssuedToken(token=token, key=key)


def _revoke(actor: User, token: ApiToken) -> ApiToken:
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


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens (anyone else's is "not found", administrators included: they use
    `api_token_revoke_any`). Revoking twice is harmless."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user_id=actor.pk).first()
    if token is None:
        raise NotFound(_("令牌不存在"), details={"token_id": token_id})
    return _revoke(actor, token)


@transaction.atomic
def api_token_revoke_any(*, actor: User, token_id: int) -> ApiToken:
    """An administrator revokes anyone's token (audited with its owner)."""
    if not has_right(actor, AccountRight.TOKEN_MANAGE_ALL):
        raise PermissionDenied(_("您没有权限吊销他人的 API 令牌"),
                               details={"action": str(AccountRight.TOKEN_MANAGE_ALL)})
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None:
        raise NotFound(_("令牌不存在"), details={"token_id": token_id})
    return _revoke(actor, token)


def tokens_of(user: User) -> Any:
    """One's own tokens, newest first (revoked ones too: the list says so)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def tokens_all(*, active_only: bool = True) -> Any:
    """Everyone's tokens for the administration, newest first."""
    qs = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    if active_only:
        qs = qs.filter(revoked_at__isnull=True)
    return qs
