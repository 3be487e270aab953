"""What the WeChat official account and WeCom adapters share: the push signatures, the message encryption
(AES-256-CBC with the EncodingAESKey, PKCS#7 padded to 32 bytes, the receiver's id appended), the XML of pushes
and replies (parsed with DTDs refused: no entity can be expanded), and access tokens cached with an expiry.

The protocol is WeChat's "消息加解密" (WXBizMsgCrypt); it is small enough to keep here rather than depend on an
unmaintained SDK."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.core.cache import cache

from kefu.conversations.adapters.apiclient import CachedTokens

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

log = logging.getLogger("kefu.conversations.weixin")

TIMESTAMP_WINDOW = 300  # seconds a push's timestamp may be off from our clock
BLOCK = 32  # WeChat pads to 32 bytes (PKCS#7 with a 32-byte block), not AES's 16
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / expired access_token: fetch a new one, try once more


# --- signatures and the time window ---------------------------------------------------------------------------


def signature(*parts: str) -> str:
    """SHA-1 (hex) of the parts sorted and joined: `signature` is over token, timestamp, nonce; `msg_signature`
    adds the Encrypt text."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the protocol's own hash


def signature_matches(expected: str, given: str) -> bool:
    return secrets.compare_digest(expected.encode(), (given or "").lower().encode())


def timestamp_fresh(timestamp: str, *, now: float | None = None, window: int = TIMESTAMP_WINDOW) -> bool:
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs((time.time() if now is None else now) - value) <= window


# --- encryption -------------------------------------------------------------------------------------------------


class CryptoError(ValueError):
    """An Encrypt text that does not decrypt to a message for this account."""


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key behind a 43-character EncodingAESKey. ValueError if it is not one."""
    if len(encoding_aes_key or "") != 43:
        raise ValueError("an EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("an EncodingAESKey is made of letters and digits") from None
    if len(key) != 32:
        raise ValueError("an EncodingAESKey decodes to 32 bytes")
    return key


class MsgCrypt:
    """Encrypts and decrypts message bodies for one account: `receive_id` is the official account's AppID or
    the WeCom corp id, checked after every decryption."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id.encode()

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self.token, timestamp, nonce, encrypt)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, encrypt: str) -> bytes:
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("Encrypt has a length that is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding (wrong EncodingAESKey?)")
        content = plain[16:-pad]  # 16 random bytes first
        if len(content) < 4:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("the message length is longer than what was sent")
        message, receive_id = content[4:4 + length], content[4 + length:]
        if not secrets.compare_digest(receive_id, self.receive_id):
            raise CryptoError("the message is for another account (AppID / corp id)")
        return message

    def encrypt(self, message: bytes, *, random16: bytes | None = None) -> str:
        body = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + self.receive_id
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()

    def encrypted_reply(self, xml: str, *, timestamp: str, nonce: str) -> str:
        """A passive reply in safe mode: the reply XML encrypted and signed."""
        encrypt = self.encrypt(xml.encode())
        return to_xml({"Encrypt": encrypt, "MsgSignature": self.signature(timestamp, nonce, encrypt),
                       "TimeStamp": int(timestamp), "Nonce": nonce})


# --- XML ----------------------------------------------------------------------------------------------------------


class BadXml(ValueError):
    """Not the flat <xml>…</xml> document WeChat sends (or one with a DTD / entities)."""


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The fields of a push: <xml><Name>value</Name>…</xml> as {Name: value}. Nested elements are kept as
    their text (usually empty). Any DOCTYPE or entity declaration is refused, so nothing can be expanded."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadXml(str(exc) or type(exc).__name__) from None
    if root.tag != "xml":
        raise BadXml("the root element is not <xml>")
    return {child.tag: child.text or "" for child in root}


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(fields: Mapping[str, str | int]) -> str:
    """<xml> with each field, strings in CDATA and integers bare (as WeChat writes them)."""
    inner = "".join(f"<{name}>{value if isinstance(value, int) else _cdata(str(value))}</{name}>"
                    for name, value in fields.items())
    return f"<xml>{inner}</xml>"


# --- API answers and access tokens ------------------------------------------------------------------------------


class WxError(Exception):
    """A WeChat / WeCom API answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def errcode(data: Mapping[str, Any]) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def checked(data: dict[str, Any]) -> dict[str, Any]:
    code = errcode(data)
    if code:
        raise WxError(code, str(data.get("errmsg", "")))
    return data


class AccessTokens(CachedTokens):
    """Access tokens of a WeChat or WeCom API (see CachedTokens), and calls that fetch a new one when the API
    says the old one is invalid or expired."""

    prefix = "kefu:wxtoken"

    def call(self, channel: Channel, request: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Run `request(access_token)`; on an invalid or expired token, fetch a new one and run it once more."""
        token = self.get(channel)
        data = request(token)
        if errcode(data) in TOKEN_ERRORS:
            log.info("%s: access token refused (%s), fetching a new one", self.name, data.get("errcode"))
            self.invalidate(channel, token)
            data = request(self.get(channel))
        return data


class SentParts:
    """Which parts of an outbound message already went out (text, each attachment), so a retry after a failure
    half-way does not send the first parts twice. Kept in the cache for two days (the deliver task gives up
    long before)."""

    TTL = 2 * 86400

    def __init__(self, kind: str, channel: Channel, message_id: int) -> None:
        self.key = f"kefu:sentparts:{kind}:{channel.pk}:{message_id}"

    def done(self) -> dict[str, str]:
        return dict(cache.get(self.key) or {})

    def mark(self, part: str, external_id: str) -> None:
        parts = self.done()
        parts[part] = external_id
        cache.set(self.key, parts, self.TTL)


def media_filename(headers: dict[str, str], media_id: str, default_type: str) -> tuple[str, str]:
    """The name and type of a downloaded media file, from its headers (or made up from the media id)."""
    content_type = headers.get("content-type", "").split(";")[0].strip() or default_type
    found = re.search(r'filename="?([^";]+)"?', headers.get("content-disposition", ""))
    name = found.group(1).strip() if found else ""
    if not name:
        name = f"{media_id[:24]}{mimetypes.guess_extension(content_type) or ''}"
    return name[-200:], content_type

