"""Who is on the other end of the widget: the visitor token Kefu hands out, the identity token a host site signs for
its signed-in users, and whether a page's origin may use a channel's widget.

The visitor token is `django.core.signing.dumps({"c": channel code, "v": visitor id, "x": external id or ""})`
salted "kefu.widget.visitor" (an "i" key may carry the name, phone and e-mail the host site vouched for). It is the
visitor's only credential: whoever holds it sees that visitor's conversation, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core import signing

from kefu.conversations.adapters.base import Identity
from kefu.conversations.choices import IdentityKind

SALT = "kefu.widget.visitor"
TOKEN_MAX_AGE = 180 * 86400  # seconds; every visit renews the token through the session endpoint
TOKEN_MAX_LENGTH = 2000
IDENTITY_MAX_LENGTH = 4000
IDENTITY_SECRET = "identity_secret"  # noqa: S105 - the name of the channel secret host sites sign identities with


@dataclass(frozen=True)
class Visitor:
    """A widget visitor of one channel: an anonymous visitor id, and the host site's id of the person when it
    vouched for them (then the conversation belongs to that id, whichever browser it comes from)."""

    code: str
    id: str  # uuid4 hex
    external_id: str = ""
    details: dict[str, str] = field(default_factory=dict)  # name, phone, email from the identity token

    @property
    def identity_kind(self) -> str:
        return IdentityKind.EXTERNAL if self.external_id else IdentityKind.VISITOR

    @property
    def identity_value(self) -> str:
        return self.external_id or self.id

    def identity(self, *, name: str = "", phone: str = "", email: str = "") -> Identity:
        """The customer identity of this visitor's messages; what the host site vouched for wins over what the
        visitor typed into the pre-chat form."""
        return Identity(kind=self.identity_kind, value=self.identity_value,
                        name=self.details.get("name") or name, phone=self.details.get("phone") or phone,
                        email=self.details.get("email") or email)


def new_visitor_id() -> str:
    return uuid.uuid4().hex


def token_for(visitor: Visitor) -> str:
    data: dict[str, Any] = {"c": visitor.code, "v": visitor.id, "x": visitor.external_id}
    details = {k[0]: v for k, v in visitor.details.items() if v}
    if details:
        data["i"] = details
    return signing.dumps(data, salt=SALT, compress=True)


_DETAIL_KEYS = {"n": "name", "p": "phone", "e": "email"}


def visitor_from_token(token: Any, code: str) -> Visitor | None:
    """The visitor a token names, if it is genuine, recent enough and for this channel; else None."""
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("c") != code:
        return None
    visitor_id, external_id = data.get("v"), data.get("x") or ""
    if not isinstance(visitor_id, str) or not visitor_id or len(visitor_id) > 64 or not isinstance(external_id, str):
        return None
    raw = data.get("i") if isinstance(data.get("i"), dict) else {}
    details = {_DETAIL_KEYS[k]: str(v)[:200] for k, v in raw.items() if k in _DETAIL_KEYS and v}
    return Visitor(code=code, id=visitor_id, external_id=external_id[:200], details=details)


# --- identity tokens signed by the host site ----------------------------------------------------------------


class IdentityRefused(Exception):
    """An identity token that is not valid; `code` is identity_invalid or identity_expired."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(why)
        self.code = code


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_identity(secret: str, claims: dict[str, Any]) -> str:
    """What a host site computes (docs/conversations.md has the same in Python and JavaScript): base64url of the
    JSON claims, ".", hex HMAC-SHA256 of that base64 text with the channel's identity secret."""
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return body + "." + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def identity_claims(token: Any, secret: str, *, now: float | None = None) -> dict[str, str]:
    """The person a host site vouches for: {"external_id", "name", "phone", "email"} from a genuine, unexpired
    identity token. Raises IdentityRefused otherwise (also when the channel has no identity secret)."""
    if not isinstance(token, str) or not token or len(token) > IDENTITY_MAX_LENGTH:
        raise IdentityRefused("identity_invalid", "malformed")
    if not secret:
        raise IdentityRefused("identity_invalid", "the channel has no identity secret")
    body, dot, mac = token.strip().rpartition(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    if not dot or not hmac.compare_digest(expected, mac.lower()):
        raise IdentityRefused("identity_invalid", "bad signature")
    try:
        claims = json.loads(_b64decode(body))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise IdentityRefused("identity_invalid", "not base64url JSON") from None
    if not isinstance(claims, dict):
        raise IdentityRefused("identity_invalid", "not a JSON object")
    external_id, expires = claims.get("external_id"), claims.get("exp")
    if not isinstance(external_id, str | int) or not str(external_id).strip() or len(str(external_id)) > 200:
        raise IdentityRefused("identity_invalid", "external_id missing")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise IdentityRefused("identity_invalid", "exp missing")
    if expires < (time.time() if now is None else now):
        raise IdentityRefused("identity_expired", "expired")
    result = {"external_id": str(external_id).strip()}
    for key in ("name", "phone", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            result[key] = value.strip()[:200]
    return result


# --- origins ------------------------------------------------------------------------------------------------


def origin_allowed(origin: str | None, *, host: str, allowed: Any) -> bool:
    """Whether a page of `origin` may use the widget of a channel allowing `allowed` (its
    config.allowed_origins). Kefu's own pages (the widget's frame, served from `host`) always may; "*" lets any
    site (and apps that send no Origin) in; otherwise the origin must be listed exactly (scheme, host, port)."""
    origins = [str(o).rstrip("/").lower() for o in allowed] if isinstance(allowed, list) else []
    if "*" in origins:
        return True
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.netloc and host and parts.netloc.lower() == host.lower():
        return True
    return origin.rstrip("/").lower() in origins


def frame_ancestors(allowed: Any) -> list[str]:
    """The CSP frame-ancestors of a channel's frame page: Kefu itself and the channel's allowed origins."""
    origins = [str(o).rstrip("/") for o in allowed] if isinstance(allowed, list) else []
    if "*" in origins:
        return ["*"]
    return ["'self'", *(o for o in origins if o.startswith(("http://", "https://")) and " " not in o
                        and ";" not in o and "," not in o)]
