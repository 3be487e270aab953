"""How Kefu signs in to a mailbox's IMAP and SMTP servers.

- `password` (the default): the mailbox password or an app password — secret `password`, and `smtp_password`
  when SMTP's differs.
- `oauth2`: an OAuth 2.0 access token presented with SASL XOAUTH2. Kefu obtains it itself with the
  client-credentials grant of an application registered with the mail provider (no person has to sign in and
  nothing expires but the application's secret). This is how Microsoft 365 / Exchange Online lets a service read
  and answer a mailbox now that it refuses passwords for IMAP and SMTP AUTH. Settings: `oauth_tenant` (the
  directory's id or its domain) and `oauth_client_id`; secret `oauth_client_secret`; `oauth_scope` and
  `oauth_token_url` only for a provider other than Microsoft's public cloud.

Tokens are cached for every process (the Django cache) until five minutes before they expire. A token the server
refuses is forgotten and a new one asked for once, so a revoked or rotated token costs one more sign-in, not a
failed poll.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from django.utils.translation import gettext as _

from kefu.conversations.adapters import apiclient

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

AUTH_METHODS = ("password", "oauth2")
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 (an address)
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?$")
# answers of a token endpoint that mean "the settings are wrong" rather than "try again later"
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})


class SignInError(Exception):
    """No token to sign in with: the token endpoint refused (`permanent`: the settings are wrong) or could not be
    reached (try again later)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SignIn:
    """What one IMAP or SMTP session signs in with: a password, or an OAuth access token."""

    username: str
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    @property
    def oauth(self) -> bool:
        return bool(self.token)

    def xoauth2(self) -> str:
        """The SASL XOAUTH2 initial response (before base64): user, then the bearer token, ^A-separated."""
        return f"user={self.username}\x01auth=Bearer {self.token}\x01\x01"


class Credentials(Protocol):
    def sign_in(self) -> SignIn:
        """Credentials for the next attempt (SignInError when there are none)."""
        ...

    def refused(self, sign_in: SignIn) -> bool:
        """The server refused them: True when another attempt, with fresh credentials, is worth making."""
        ...


@dataclass
class PasswordCredentials:
    username: str
    password: str = field(default="", repr=False)

    def sign_in(self) -> SignIn:
        return SignIn(self.username, password=self.password)

    def refused(self, sign_in: SignIn) -> bool:
        return False  # the same password will be refused again


@dataclass(frozen=True)
class OAuthSettings:
    token_url: str
    client_id: str
    scope: str


def oauth_settings(config: dict[str, Any]) -> OAuthSettings:
    tenant = str(config.get("oauth_tenant") or "").strip()
    return OAuthSettings(
        token_url=str(config.get("oauth_token_url") or "").strip() or MICROSOFT_TOKEN_URL.format(tenant=tenant),
        client_id=str(config.get("oauth_client_id") or "").strip(),
        scope=str(config.get("oauth_scope") or "").strip() or MICROSOFT_SCOPE)


def check_auth_config(config: dict[str, Any]) -> dict[str, str]:
    """Problems with a mailbox's sign-in settings, by field name."""
    problems: dict[str, str] = {}
    method = config.get("auth", "password") or "password"
    if method not in AUTH_METHODS:
        return {"auth": _("登录方式只能是 password（密码或授权码）或 oauth2")}
    for name in ("oauth_tenant", "oauth_client_id", "oauth_scope", "oauth_token_url"):
        value = config.get(name, "")
        if not isinstance(value, str) or len(value) > 500:
            problems[name] = _("必须是不超过 500 个字符的文本")
    if method != "oauth2" or problems:
        return problems
    tenant, url = str(config.get("oauth_tenant", "")).strip(), str(config.get("oauth_token_url", "")).strip()
    if url:
        if not _URL.match(url):
            problems["oauth_token_url"] = _("令牌地址必须是 https:// 开头的网址")
    elif not _TENANT.match(tenant):
        problems["oauth_tenant"] = _("请填写租户 ID 或租户域名（例如 contoso.onmicrosoft.com）")
    if not str(config.get("oauth_client_id", "")).strip():
        problems["oauth_client_id"] = _("请填写应用（客户端）ID")
    return problems


def check_auth_secrets(config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
    if config.get("auth") == "oauth2" and not str(secrets.get("oauth_client_secret", "")).strip():
        return {"oauth_client_secret": _("缺少应用的客户端密码（client secret）")}
    return {}


def _first_line(text: object) -> str:
    return str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""


def _fetch_token(channel: Channel) -> tuple[str, int]:
    """The client-credentials grant (RFC 6749 §4.4): (access token, seconds it lives)."""
    settings = oauth_settings(channel.config or {})
    form = {"grant_type": "client_credentials", "client_id": settings.client_id,
            "client_secret": channel.secret("oauth_client_secret"), "scope": settings.scope}
    try:
        with apiclient.client() as http:
            response = http.post(settings.token_url, data=form, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        raise SignInError("token endpoint: timeout", permanent=False) from None
    except httpx.HTTPError as exc:
        raise SignInError(f"token endpoint: {type(exc).__name__}: {exc}"[:500], permanent=False) from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    status = response.status_code
    token = answer.get("access_token")
    if status >= 400 or not isinstance(token, str) or not token:
        error = str(answer.get("error") or "")
        detail = _first_line(answer.get("error_description"))
        permanent = 400 <= status < 500 and status != 429 and error not in _TRANSIENT_ERRORS
        if status < 400:  # a 2xx without a token: a wrong token URL answering something else
            error, permanent = error or "no access_token in the answer", True
        raise SignInError(f"token endpoint refused: HTTP {status} {error}: {detail}".rstrip(": ")[:500],
                          permanent=permanent)
    if str(answer.get("token_type") or "bearer").lower() != "bearer":
        raise SignInError(f"token endpoint: token type {answer.get('token_type')!r} is not Bearer", permanent=True)
    try:
        lifetime = int(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600
    return token, lifetime


def _fingerprint(channel: Channel) -> str:
    settings = oauth_settings(channel.config or {})
    return "|".join((settings.token_url, settings.client_id, settings.scope, channel.secret("oauth_client_secret")))


TOKENS = apiclient.CachedTokens("mail_oauth2", _fetch_token, _fingerprint)


class OAuthCredentials:
    """Access tokens of a channel's OAuth application, for the mailbox `username`; at most two per session."""

    MAX_ATTEMPTS = 2

    def __init__(self, channel: Channel, username: str) -> None:
        self.channel = channel
        self.username = username
        self.attempts = 0

    def sign_in(self) -> SignIn:
        self.attempts += 1
        return SignIn(self.username, token=TOKENS.get(self.channel))

    def refused(self, sign_in: SignIn) -> bool:
        TOKENS.invalidate(self.channel, sign_in.token)
        return self.attempts < self.MAX_ATTEMPTS


def uses_oauth(config: dict[str, Any]) -> bool:
    return (config or {}).get("auth") == "oauth2"


def imap_credentials(channel: Channel, username: str) -> Credentials:
    if uses_oauth(channel.config or {}):
        return OAuthCredentials(channel, username)
    return PasswordCredentials(username, channel.secret("password"))


def smtp_credentials(channel: Channel, username: str) -> Credentials:
    if uses_oauth(channel.config or {}):
        return OAuthCredentials(channel, username)
    return PasswordCredentials(username, channel.secret("smtp_password") or channel.secret("password"))
