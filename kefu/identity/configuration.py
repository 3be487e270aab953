"""Single sign-on settings read from KEFU_* environment variables (docs/security.md, "Single sign-on"): OpenID
Connect when KEFU_OIDC_CLIENT_ID is set, LDAP / Active Directory when KEFU_LDAP_SERVER_URI is set. Pure functions
of the environment, so the settings module and the tests build the same thing. No Django model is imported here
(the settings module imports this)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_mapping(text: str) -> list[tuple[str, str]]:
    """`group=value` pairs separated by ";" or new lines, in order (the first group a person is in wins).
    Group names may hold commas and "=" (LDAP DNs): the value is what follows the last "="."""
    pairs = []
    for part in text.replace("\n", ";").split(";"):
        if "=" not in part:
            continue
        group, value = part.rsplit("=", 1)
        if group.strip() and value.strip():
            pairs.append((group.strip(), value.strip()))
    return pairs


def mapping_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "KEFU_SSO_GROUP_ROLES": parse_mapping(environ.get("KEFU_SSO_GROUP_ROLES", "")),
        "KEFU_SSO_GROUP_TEAMS": parse_mapping(environ.get("KEFU_SSO_GROUP_TEAMS", "")),
        "KEFU_SSO_GROUP_DEPARTMENTS": parse_mapping(environ.get("KEFU_SSO_GROUP_DEPARTMENTS", "")),
        # the role of a person in none of the mapped groups; empty: such a person is refused
        "KEFU_SSO_DEFAULT_ROLE": environ.get("KEFU_SSO_DEFAULT_ROLE", "").strip(),
    }


DEFAULT_MFA_AMR = "mfa,otp,hwk,swk,sms,fpt,face,iris"


def oidc_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """mozilla-django-oidc's settings (always defined: its views read them even when SSO is off)."""
    enabled = bool(environ.get("KEFU_OIDC_CLIENT_ID", "").strip())
    return {
        "KEFU_OIDC_ENABLED": enabled,
        "KEFU_OIDC_ISSUER": environ.get("KEFU_OIDC_ISSUER", "").strip(),
        "KEFU_OIDC_BUTTON_LABEL": environ.get("KEFU_OIDC_BUTTON_LABEL", "").strip(),
        "KEFU_OIDC_USERNAME_CLAIM": environ.get("KEFU_OIDC_USERNAME_CLAIM", "preferred_username").strip(),
        "KEFU_OIDC_NAME_CLAIM": environ.get("KEFU_OIDC_NAME_CLAIM", "name").strip(),
        "KEFU_OIDC_GROUPS_CLAIM": environ.get("KEFU_OIDC_GROUPS_CLAIM", "groups").strip(),
        # a provider's "amr" claim with one of these counts as the second factor (KEFU_OIDC_TRUST_MFA=0: never)
        "KEFU_OIDC_TRUST_MFA": _flag(environ, "KEFU_OIDC_TRUST_MFA", True),
        "KEFU_OIDC_MFA_AMR": [v.strip() for v in environ.get("KEFU_OIDC_MFA_AMR", DEFAULT_MFA_AMR).split(",")
                              if v.strip()],
        "OIDC_RP_CLIENT_ID": environ.get("KEFU_OIDC_CLIENT_ID", "").strip(),
        "OIDC_RP_CLIENT_SECRET": environ.get("KEFU_OIDC_CLIENT_SECRET", ""),
        "OIDC_OP_AUTHORIZATION_ENDPOINT": environ.get("KEFU_OIDC_AUTHORIZATION_ENDPOINT", "").strip(),
        "OIDC_OP_TOKEN_ENDPOINT": environ.get("KEFU_OIDC_TOKEN_ENDPOINT", "").strip(),
        "OIDC_OP_USER_ENDPOINT": environ.get("KEFU_OIDC_USERINFO_ENDPOINT", "").strip(),
        "OIDC_OP_JWKS_ENDPOINT": environ.get("KEFU_OIDC_JWKS_ENDPOINT", "").strip() or None,
        "OIDC_RP_SIGN_ALGO": environ.get("KEFU_OIDC_SIGN_ALGO", "RS256").strip(),
        "OIDC_RP_SCOPES": environ.get("KEFU_OIDC_SCOPES", "openid profile email").strip(),
        "OIDC_USE_PKCE": True,
        "OIDC_USE_NONCE": True,
        "OIDC_TIMEOUT": float(environ.get("KEFU_OIDC_TIMEOUT_SECONDS", "10")),
        "OIDC_VERIFY_SSL": _flag(environ, "KEFU_OIDC_VERIFY_TLS", True),
        "OIDC_AUTHENTICATION_CALLBACK_URL": "identity:oidc_callback",
        "OIDC_CREATE_USER": True,
    }


def ldap_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """django-auth-ldap's settings (AUTH_LDAP_*); empty when KEFU_LDAP_SERVER_URI is not set."""
    uri = environ.get("KEFU_LDAP_SERVER_URI", "").strip()
    if not uri:
        return {"KEFU_LDAP_ENABLED": False}
    import ldap
    from django_auth_ldap.config import (
        ActiveDirectoryGroupType,
        GroupOfNamesType,
        GroupOfUniqueNamesType,
        LDAPSearch,
        NestedActiveDirectoryGroupType,
        PosixGroupType,
    )

    group_types = {
        "groupofnames": GroupOfNamesType, "groupofuniquenames": GroupOfUniqueNamesType,
        "posix": PosixGroupType, "activedirectory": ActiveDirectoryGroupType,
        "nestedactivedirectory": NestedActiveDirectoryGroupType,
    }
    group_type = environ.get("KEFU_LDAP_GROUP_TYPE", "groupOfNames").strip().lower()
    if group_type not in group_types:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"KEFU_LDAP_GROUP_TYPE must be one of {', '.join(group_types)}")
    group_filter = environ.get("KEFU_LDAP_GROUP_FILTER", "").strip() or (
        "(objectClass=group)" if "activedirectory" in group_type else
        "(objectClass=posixGroup)" if group_type == "posix" else f"(objectClass={group_type})")
    out: dict[str, Any] = {
        "KEFU_LDAP_ENABLED": True,
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": environ.get("KEFU_LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": environ.get("KEFU_LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_START_TLS": _flag(environ, "KEFU_LDAP_START_TLS", False),
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(
            environ.get("KEFU_LDAP_USER_SEARCH_BASE", ""), ldap.SCOPE_SUBTREE,
            environ.get("KEFU_LDAP_USER_FILTER", "(uid=%(user)s)")),
        "AUTH_LDAP_ALWAYS_UPDATE_USER": False,  # Kefu's own service creates and updates the account, audited
        "AUTH_LDAP_CONNECTION_OPTIONS": {
            ldap.OPT_REFERRALS: 0,  # Active Directory's referrals lead to servers the bind is not valid on
            ldap.OPT_NETWORK_TIMEOUT: float(environ.get("KEFU_LDAP_TIMEOUT_SECONDS", "10")),
        },
        "AUTH_LDAP_CACHE_TIMEOUT": 0,
        "KEFU_LDAP_NAME_ATTR": environ.get("KEFU_LDAP_NAME_ATTR", "cn").strip(),
        "KEFU_LDAP_EMAIL_ATTR": environ.get("KEFU_LDAP_EMAIL_ATTR", "mail").strip(),
    }
    group_base = environ.get("KEFU_LDAP_GROUP_SEARCH_BASE", "").strip()
    if group_base:
        out["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(group_base, ldap.SCOPE_SUBTREE, group_filter)
        out["AUTH_LDAP_GROUP_TYPE"] = group_types[group_type]()
    return out


def authentication_backends(*, oidc: bool, ldap: bool) -> list[str]:
    backends = ["kefu.identity.backends.LocalPasswordGate", "kefu.accounts.backends.AccountBackend"]
    if ldap:
        backends.append("kefu.identity.directory.DirectoryBackend")
    if oidc:
        backends.append("kefu.identity.oidc.ProviderBackend")
    return backends
