"""OpenID Connect sign-in (authorization-code flow with PKCE and a nonce) on mozilla-django-oidc: Keycloak,
Authing, Azure AD / Entra ID, and 企业微信 or 钉钉 through an OIDC bridge. The provider's ID token is verified
against its published keys (JWKS); Kefu then checks the issuer and the audience, and hands the person to
kefu.identity.sso, which creates or updates the account.

Second factor: when the provider says in the ID token's `amr` claim that the person used one (KEFU_OIDC_MFA_AMR,
e.g. "mfa", "otp", "hwk"), it counts as Kefu's second step; otherwise Kefu asks for its own (if the person has one
or their role requires it). KEFU_OIDC_TRUST_MFA=0 always asks for Kefu's own."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from kefu.accounts.backends import AccountBackend
from kefu.core.errors import ApplicationError
from kefu.identity.choices import AccountSource
from kefu.identity.sso import ExternalIdentity, SignInRefused, sso_refused, sso_sign_in

logger = logging.getLogger("kefu.identity.oidc")


def provider_asserted_mfa(claims: dict[str, Any]) -> bool:
    if not settings.KEFU_OIDC_TRUST_MFA:
        return False
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    trusted = {v.lower() for v in settings.KEFU_OIDC_MFA_AMR}
    return any(str(v).lower() in trusted for v in amr if isinstance(v, str | int))


def _groups(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        # Keycloak sends group paths ("/kefu/agents"): both the path and its last part can be mapped
        out = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
                if "/" in item.strip("/"):
                    out.append(item.rstrip("/").rsplit("/", 1)[-1])
                elif item.startswith("/"):
                    out.append(item.strip("/"))
        return out
    return []


def identity_from_claims(claims: dict[str, Any]) -> ExternalIdentity:
    username = claims.get(settings.KEFU_OIDC_USERNAME_CLAIM) or ""
    return ExternalIdentity(
        source=AccountSource.OIDC,
        subject=str(claims.get("sub") or "")[:255],
        username=str(username).strip()[:150],
        display_name=str(claims.get(settings.KEFU_OIDC_NAME_CLAIM) or "").strip()[:100],
        email=str(claims.get("email") or "").strip()[:254] if claims.get("email_verified", True) else "",
        groups=_groups(claims.get(settings.KEFU_OIDC_GROUPS_CLAIM)),
    )


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with Kefu's checks and its account service."""

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, jwt.PyJWTError, SuspiciousOperation, ValueError, KeyError) as exc:
            logger.warning("OIDC sign-in failed: %s", exc)
            if request is not None:
                request.kefu_sso_refusal = _("无法完成单点登录（身份提供方未响应或返回的凭证无效），请稍后重试")
            sso_refused(identity=None, source=AccountSource.OIDC, reason=f"{type(exc).__name__}")
            return None

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        issuer = settings.KEFU_OIDC_ISSUER
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("ID token from another issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo is about someone else")
        identity = identity_from_claims({**payload, **userinfo})
        try:
            user = sso_sign_in(identity=identity)
        except ApplicationError as refused:
            with transaction.atomic():
                sso_refused(identity=identity, source=AccountSource.OIDC, reason=refused.message)
            self.request.kefu_sso_refusal = refused.message
            return None
        self.request.kefu_provider_mfa = provider_asserted_mfa(payload)
        return user

    def get_user(self, user_id: Any) -> Any:
        return AccountBackend().get_user(user_id)  # an account deactivated in Kefu is signed out


__all__ = ["ProviderBackend", "SignInRefused", "identity_from_claims", "provider_asserted_mfa"]
