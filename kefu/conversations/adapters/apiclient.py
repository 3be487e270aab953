"""The one way the WeChat, WeCom and SMS adapters call their providers' APIs: an httpx client with a total
timeout, no redirects followed and no proxy taken from the environment. Tests swap the transport for an
`httpx.MockTransport` (`use_transport`), so no test reaches the network."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from django.core.cache import cache

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

TIMEOUT = 10.0  # seconds for a whole request (connect, send, read)
MAX_MEDIA_BYTES = 20 * 1024 * 1024  # a downloaded image, voice or file larger than this is refused
USER_AGENT = "Kefu/1"
TOKEN_EARLY = 300  # seconds before its expiry a cached access token is replaced

_transport: httpx.BaseTransport | None = None


class ApiError(Exception):
    """No usable answer from a provider (network, timeout, HTTP 5xx, not JSON, too large): retrying may help."""


def use_transport(transport: httpx.BaseTransport | None) -> httpx.BaseTransport | None:
    """Swap the transport (None: the real network); returns the previous one."""
    global _transport
    previous, _transport = _transport, transport
    return previous


def client(timeout: float = TIMEOUT) -> httpx.Client:
    return httpx.Client(transport=_transport, timeout=timeout, follow_redirects=False, trust_env=False,
                        headers={"User-Agent": USER_AGENT})


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise ApiError(f"HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise ApiError(f"HTTP {response.status_code}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError("the answer is not a JSON object")
    return data


def get_json(url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        with client() as http:
            return _json(http.get(url, params=params))
    except httpx.TimeoutException:
        raise ApiError("timeout") from None
    except httpx.HTTPError as exc:
        raise ApiError(f"{type(exc).__name__}: {exc}"[:300]) from None


def post(url: str, *, params: dict[str, Any] | None = None, content: bytes | None = None,
         data: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST and return the JSON object answered."""
    try:
        with client() as http:
            return _json(http.post(url, params=params, content=content, data=data, files=files, headers=headers))
    except httpx.TimeoutException:
        raise ApiError("timeout") from None
    except httpx.HTTPError as exc:
        raise ApiError(f"{type(exc).__name__}: {exc}"[:300]) from None


def download(url: str, params: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
    """GET a file (at most MAX_MEDIA_BYTES); returns its bytes and the response headers (lower-case names)."""
    try:
        with client(timeout=TIMEOUT * 3) as http, http.stream("GET", url, params=params) as response:
            if response.status_code >= 400:
                raise ApiError(f"HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_MEDIA_BYTES:
                    raise ApiError(f"the file is larger than {MAX_MEDIA_BYTES // (1024 * 1024)} MB")
                chunks.append(chunk)
            headers = {name.lower(): value for name, value in response.headers.items()}
            return b"".join(chunks), headers
    except httpx.TimeoutException:
        raise ApiError("timeout") from None
    except httpx.HTTPError as exc:
        raise ApiError(f"{type(exc).__name__}: {exc}"[:300]) from None


class CachedTokens:
    """A provider's access tokens, cached per channel (the Django cache: shared by every process when Redis is
    configured) until TOKEN_EARLY seconds before they expire. The cache key includes a fingerprint of the
    credentials, so a changed secret never uses an old token. `fetch(channel)` returns (token, expires_in
    seconds) or raises."""

    prefix = "kefu:apitoken"

    def __init__(self, name: str, fetch: Callable[[Channel], tuple[str, int]],
                 credentials: Callable[[Channel], str]) -> None:
        self.name = name
        self.fetch = fetch
        self.credentials = credentials

    def _key(self, channel: Channel) -> str:
        fingerprint = hashlib.sha256(self.credentials(channel).encode()).hexdigest()[:16]
        return f"{self.prefix}:{self.name}:{channel.pk}:{fingerprint}"

    def get(self, channel: Channel) -> str:
        key = self._key(channel)
        token = cache.get(key)
        if token:
            return str(token)
        token, expires_in = self.fetch(channel)
        cache.set(key, token, max(60, int(expires_in) - TOKEN_EARLY))
        return token

    def cached(self, channel: Channel) -> bool:
        return bool(cache.get(self._key(channel)))

    def invalidate(self, channel: Channel, token: str) -> None:
        """Forget a token the provider refused (unless another process has already replaced it)."""
        key = self._key(channel)
        if cache.get(key) == token:
            cache.delete(key)
