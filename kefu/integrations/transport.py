"""How a webhook leaves the building: a small adapter (HTTP POST with a timeout) and the address policy.

Only http/https. Link-local addresses — which include the cloud metadata service 169.254.169.254 — and
multicast/unspecified/reserved addresses are refused; loopback and private networks are allowed, because Kefu
is installed on premises and integrates with intranet systems (docs/api.md explains the choice).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

USER_AGENT = "Kefu-Webhook/1"


class BlockedAddress(ValueError):
    """The URL is not one Kefu will call (scheme or address)."""


@dataclass(frozen=True)
class SendResult:
    status_code: int | None  # None: no HTTP answer (connection refused, timeout, DNS…)
    error: str = ""
    permanent: bool = False  # retrying cannot help (the address is refused)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Transport(Protocol):
    def send(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult: ...


def _blocked_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved


def check_url(url: str, *, resolve: bool = True) -> None:
    """Raise BlockedAddress for a URL Kefu will not call. With `resolve`, every address the host name
    resolves to is checked (so a name pointing at the metadata service is refused too)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs are allowed, not {parts.scheme or 'none'}")
    host = parts.hostname
    if not host:
        raise BlockedAddress("the URL has no host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if _blocked_ip(literal):
            raise BlockedAddress(f"address {host} is link-local, multicast or reserved")
        return
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedAddress(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _blocked_ip(address):
            raise BlockedAddress(f"{host} resolves to {address}, which is link-local, multicast or reserved")


class HttpTransport:
    """POST with httpx: no redirects followed (a 3xx is a failed delivery), a total timeout."""

    def send(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
        try:
            check_url(url)
        except BlockedAddress as exc:
            return SendResult(None, f"blocked: {exc}", permanent=True)
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                response = client.post(url, content=body, headers={**headers, "User-Agent": USER_AGENT})
        except httpx.TimeoutException:
            return SendResult(None, f"timeout after {timeout:g} s")
        except httpx.HTTPError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(response.status_code, "" if response.is_success else f"HTTP {response.status_code}")


_transport: Transport = HttpTransport()


def get_transport() -> Transport:
    return _transport


def set_transport(transport: Transport) -> Transport:
    """Swap the transport (e.g. a queueing proxy); returns the previous one."""
    global _transport
    previous, _transport = _transport, transport
    return previous
