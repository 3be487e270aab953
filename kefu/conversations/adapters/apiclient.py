"""The one way the WeChat, WeCom and SMS adapters call their providers' APIs: an httpx client with a total
timeout, no redirects followed and no proxy taken from the environment. Tests swap the transport for an
`httpx.MockTransport` (`use_transport`), so no test reaches the network."""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT = 10.0  # seconds for a whole request (connect, send, read)
MAX_MEDIA_BYTES = 20 * 1024 * 1024  # a downloaded image, voice or file larger than this is refused
USER_AGENT = "Kefu/1"

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
