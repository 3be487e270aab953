"""Which adapter speaks to the PBX named by a URL (KEFU_PBX_URL, or the argument of `kefu pbx listen`):

    ami://USER:SECRET@HOST[:5038][?context=from-internal&agent=PJSIP/{extension}&caller_id=4008001234]
    esl://:PASSWORD@HOST[:8021][?context=default&agent=user/{extension}&caller_id=4008001234]

`context` is where click-to-dial numbers and transfer targets are dialled, `agent` the agent's phone with
`{extension}` standing for their extension, `caller_id` the number a click-to-dial call shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from kefu.telephony.adapters import ami, esl

DEFAULT_PORTS = {"ami": 5038, "esl": 8021}
OPTIONS = ("context", "agent", "caller_id")
_CALLER_ID = re.compile(r"^\+?[0-9*#]{1,40}$")


@dataclass(frozen=True)
class PbxTarget:
    kind: str  # "ami" or "esl"
    host: str
    port: int
    username: str  # AMI only
    secret: str
    options: dict[str, str] = field(default_factory=dict)

    def session(self, *, timeout: float | None = None) -> Any:
        """A (not yet opened) session: `with target.session() as pbx: …`."""
        extra: dict[str, Any] = {k: v for k, v in self.options.items() if k in ("context", "agent")}
        if timeout is not None:
            extra["timeout"] = timeout
        if self.kind == "ami":
            return ami.AmiSession(self.host, self.port, self.username, self.secret, **extra)
        return esl.EslSession(self.host, self.port, self.secret, **extra)

    @property
    def caller_id(self) -> str:
        return self.options.get("caller_id", "")

    def __str__(self) -> str:
        """Where it is, without the secret (for logs and messages)."""
        return f"{self.kind}://{self.host}:{self.port}"


def parse_pbx_url(url: str) -> PbxTarget:
    """The PBX a URL names (ValueError naming what is wrong)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("only ami:// (Asterisk's Manager Interface) and esl:// (FreeSWITCH's event socket) are "
                         "supported")
    if not parts.hostname:
        raise ValueError("no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if parts.scheme == "ami" and (not parts.username or parts.password is None):
        raise ValueError("write the AMI user and secret: ami://USER:SECRET@HOST:5038")
    if parts.scheme == "esl" and not parts.password:
        raise ValueError("write the event socket's password: esl://:PASSWORD@HOST:8021")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OPTIONS:
            raise ValueError(f"unknown option {key!r} (known: {', '.join(OPTIONS)})")
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError(f"{key} must be one word, without spaces")
        options[key] = value.strip()
    if "agent" in options and "{extension}" not in options["agent"]:
        raise ValueError("agent must contain {extension}, e.g. PJSIP/{extension} or user/{extension}")
    if "caller_id" in options and not _CALLER_ID.match(options["caller_id"]):
        raise ValueError("caller_id must be a phone number")
    return PbxTarget(kind=parts.scheme, host=parts.hostname, port=port, username=unquote(parts.username or ""),
                     secret=unquote(parts.password or ""), options=options)
