"""Test doubles for the providers' HTTP APIs (WeChat, WeCom, Aliyun, Tencent Cloud), at the transport level: an
httpx.MockTransport answering by path, recording every request. Also the WeChat message encryption written
out again from the protocol's description (not with Kefu's code), so the hooks are checked against it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from kefu.conversations.adapters import apiclient

Answer = httpx.Response | dict[str, Any] | Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Routes by URL path: each route answers its queued answers in turn and repeats the last one."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.calls: list[httpx.Request] = []

    def on(self, path: str, *answers: Answer) -> FakeApi:
        self.routes[path] = list(answers)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answers = self.routes.get(request.url.path)
        if not answers:
            return httpx.Response(404, json={"errcode": 404, "errmsg": f"no fake for {request.url.path}"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer):
            return answer(request)
        if isinstance(answer, dict):
            return httpx.Response(200, json=answer)
        return answer

    def to(self, path: str) -> list[httpx.Request]:
        return [c for c in self.calls if c.url.path == path]

    @staticmethod
    def json(request: httpx.Request) -> Any:
        return json.loads(request.content)

    @staticmethod
    def form(request: httpx.Request) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


@pytest.fixture
def api() -> Any:
    fake = FakeApi()
    previous = apiclient.use_transport(httpx.MockTransport(fake.handler))
    yield fake
    apiclient.use_transport(previous)


# --- the WeChat message encryption, from the protocol's description ------------------------------------------


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


def wx_encrypt(encoding_aes_key: str, receive_id: str, message: bytes) -> str:
    """AES-256-CBC (key = base64(EncodingAESKey + "="), IV = its first 16 bytes) of 16 random bytes, the message
    length (4 bytes, network order), the message and the receiver's id, PKCS#7-padded to a multiple of 32."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(encoding_aes_key + "=")
    plain = os.urandom(16) + struct.pack("!I", len(message)) + message + receive_id.encode()
    n = 32 - len(plain) % 32
    plain += bytes([n] * n)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def wx_decrypt(encoding_aes_key: str, encrypt: str) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(encoding_aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    plain = plain[:-plain[-1]]
    (length,) = struct.unpack("!I", plain[16:20])
    return plain[20:20 + length], plain[20 + length:]
