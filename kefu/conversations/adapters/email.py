"""The e-mail channel: a raw RFC 5322 message turned into an InboundMessage (with machine mail — bounces,
auto-replies, loops — recognised), and an agent's reply turned into a MIME message sent over SMTP.

Fetching mail is the IMAP transport's business (`adapters/imap.py`); what a message means is the services'.

Machine mail rules (first match wins; headers decide before the subject is looked at):
1. loop — From is the mailbox's own address; or an `X-Kefu-Loop` header names the mailbox's own address;
   or the Message-ID is one this installation made (`kefu.<id>.<hmac>@…`, checked with the secret key).
2. bounce — `multipart/report; report-type=delivery-status`, or a `message/delivery-status` part; a sender whose
   local part is MAILER-DAEMON or postmaster; an `X-Failed-Recipients` header.
   A `multipart/report` of another type (a read receipt) is an auto-reply.
3. auto-reply — `Auto-Submitted` other than "no"; `X-Autoreply`, `X-Autorespond`, `X-Autoreply-From`,
   `X-Mail-Autoreply`, `X-Loop`, `X-Cron-Env`; `Precedence` bulk, junk, list or auto_reply;
   `X-Auto-Response-Suppress` (Outlook/Exchange sets it on its automatic mail); Exchange's
   `X-MS-Exchange-Generated-Message-Source` and `X-MS-Exchange-Inbox-Rules-Loop`.
4. bounce — an empty `Return-Path: <>` (a null sender that none of the headers above explained).
5. subject — "自动回复", "自动答复", "Automatic reply", "Out of office", "Auto:" … → auto-reply;
   "退信", "系统退信", "Undeliverable", "Delivery Status Notification", "Mail delivery failed" … → bounce.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import logging
import mimetypes
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.header import Header, decode_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from kefu.conversations.adapters.base import (
    Identity,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    SendResult,
)
from kefu.conversations.adapters.mailauth import (
    Credentials,
    PasswordCredentials,
    SignIn,
    SignInError,
    check_auth_config,
    check_auth_secrets,
    smtp_credentials,
)
from kefu.conversations.adapters.registry import register

if TYPE_CHECKING:
    from kefu.conversations.models import Channel

log = logging.getLogger(__name__)

SECURITY = ("ssl", "starttls", "none")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
LOOP_HEADER = "X-Kefu-Loop"
EXTERNAL_ID_MAX = 300  # Message.external_id's length
_MESSAGE_ID_SALT = "kefu.conversations.email.message-id"


class EmailParseError(ValueError):
    """A message that cannot be read as mail from somebody (no usable sender, not a message at all)."""


# --- mailbox settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxSettings:
    """A mailbox's settings with the defaults filled in (ports by security, user = address, folder INBOX)."""

    address: str
    display_name: str
    username: str
    imap_host: str
    imap_port: int
    imap_security: str
    folder: str
    sent_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    message_id_domain: str
    batch_size: int
    max_message_bytes: int
    timeout: float


def mailbox_settings(config: dict[str, Any]) -> MailboxSettings:
    """Read a channel's config (already checked by `check_config`) with defaults."""
    address = str(config.get("address", "")).strip().lower()
    imap_security = str(config.get("imap_security") or "ssl")
    smtp_security = str(config.get("smtp_security") or "ssl")
    username = str(config.get("username") or address)
    return MailboxSettings(
        address=address,
        display_name=str(config.get("display_name") or ""),
        username=username,
        imap_host=str(config.get("imap_host", "")).strip(),
        imap_port=int(config.get("imap_port") or IMAP_PORTS.get(imap_security, 993)),
        imap_security=imap_security,
        folder=str(config.get("folder") or "INBOX"),
        sent_folder=str(config.get("sent_folder") or "").strip(),
        smtp_host=str(config.get("smtp_host", "")).strip(),
        smtp_port=int(config.get("smtp_port") or SMTP_PORTS.get(smtp_security, 465)),
        smtp_security=smtp_security,
        smtp_username=str(config.get("smtp_username") or username),
        message_id_domain=str(config.get("message_id_domain") or address.rpartition("@")[2] or "localhost"),
        batch_size=int(config.get("batch_size") or 50),
        max_message_bytes=int(config.get("max_message_bytes") or 30 * 1024 * 1024),
        timeout=float(config.get("timeout") or 30),
    )


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def check_mailbox_config(config: dict[str, Any]) -> dict[str, str]:
    """Problems with a mailbox's settings, by field name ({} when fine)."""
    problems: dict[str, str] = {}
    if not isinstance(config, dict):
        return {"config": _("配置必须是一个对象")}
    address = config.get("address")
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        problems["address"] = _("请填写有效的邮箱地址")
    for field in ("imap_host", "smtp_host"):
        value = config.get(field)
        if not isinstance(value, str) or not _HOST.match(value.strip()):
            problems[field] = _("请填写服务器主机名（不含 imap:// 等前缀）")
    for field in ("imap_security", "smtp_security"):
        value = config.get(field, "ssl")
        if value not in SECURITY:
            problems[field] = _("加密方式只能是 ssl、starttls 或 none")
    for field in ("imap_port", "smtp_port"):
        value = config.get(field)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
                or not 1 <= int(value) <= 65535:
            problems[field] = _("端口必须是 1 到 65535 之间的整数")
    for field in ("username", "smtp_username", "display_name"):
        value = config.get(field, "")
        if not isinstance(value, str) or len(value) > 200:
            problems[field] = _("必须是不超过 200 个字符的文本")
    aliases = config.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _ADDRESS.match(a.strip()) for a in aliases):
        problems["aliases"] = _("别名必须是邮箱地址的列表")
    minutes = config.get("poll_minutes")
    if minutes not in (None, "") and (isinstance(minutes, bool) or not isinstance(minutes, int | float)
                                      or not 1 <= minutes <= 1440):
        problems["poll_minutes"] = _("必须是 %(low)s 到 %(high)s 之间的数") % {"low": 1, "high": 1440}
    folder = config.get("folder", "INBOX")
    if not isinstance(folder, str) or not folder.strip() or any(c in folder for c in '\r\n"'):
        problems["folder"] = _("请填写邮件文件夹名称，例如 INBOX")
    sent = config.get("sent_folder", "")
    if sent and (not isinstance(sent, str) or len(sent) > 200 or any(c in sent for c in '\r\n"')):
        problems["sent_folder"] = _("请填写“已发送”文件夹的名称，例如 Sent Messages")
    domain = config.get("message_id_domain", "")
    if domain and (not isinstance(domain, str) or not _HOST.match(domain)):
        problems["message_id_domain"] = _("请填写域名")
    for field, low, high in (("batch_size", 1, 500), ("max_message_bytes", 1024, 200 * 1024 * 1024),
                             ("timeout", 1, 300)):
        value = config.get(field)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            problems[field] = _("必须是 %(low)s 到 %(high)s 之间的数") % {"low": low, "high": high}
    problems.update(check_auth_config(config))
    return problems


# --- decoding --------------------------------------------------------------------------------------------------

# GB2312 labels are read as GB18030 (its superset): Chinese mail labelled gb2312 often holds GBK characters.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "gb_2312-80": "gb18030",
    "csgb2312": "gb18030", "euc-cn": "gb18030", "x-euc-cn": "gb18030", "gb18030": "gb18030",
    "ks_c_5601-1987": "cp949", "unknown-8bit": "", "x-unknown": "", "us-ascii": "utf-8", "ascii": "utf-8",
}


def _charset(name: str | None) -> str:
    name = (name or "").strip().strip('"').lower()
    return _CHARSET_ALIASES.get(name, name)


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes in a declared charset (or none): the declared one first, then UTF-8, then GB18030."""
    declared = _charset(charset)
    if declared:
        try:
            return data.decode(declared)
        except LookupError:
            pass
        except UnicodeDecodeError:
            if declared not in ("utf-8", "gb18030"):
                return data.decode(declared, errors="replace")
    for candidate in ("utf-8", "gb18030"):
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    return data.decode(declared or "utf-8", errors="replace") if declared else data.decode("utf-8", "replace")


def decode_header_value(value: Any) -> str:
    """A header's text: RFC 2047 encoded words decoded (GBK/GB2312/GB18030 included), raw 8-bit headers read
    as UTF-8 or GB18030, folding removed."""
    if value is None:
        return ""
    # the parser hands 8-bit headers over as Header objects of charset unknown-8bit: their bytes are read here
    text = value if isinstance(value, Header) else str(value)
    try:
        chunks = decode_header(text)
    except Exception:  # a malformed encoded word: keep the raw text
        chunks = [(str(text), None)]
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        elif any("\udc80" <= c <= "\udcff" for c in chunk):  # raw 8-bit kept as surrogates by the parser
            out.append(decode_bytes(chunk.encode("ascii", "surrogateescape"), charset))
        else:
            out.append(chunk)
    return re.sub(r"\s*\r?\n\s*", " ", "".join(out)).strip()


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header; names decoded after splitting."""
    # raw values (8-bit bytes kept as surrogates), split into addresses before any name is decoded
    values = [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]
    pairs = []
    for raw_name, addr in getaddresses(values):
        addr = decode_header_value(addr).strip().lower()
        if "@" in addr:
            pairs.append((decode_header_value(raw_name).strip().strip('"').strip(), addr))
    return pairs


_ID = re.compile(r"<([^<>\s]+)>")


def _ids(value: Any) -> list[str]:
    """Message ids in a header (In-Reply-To, References), without <>; bare ids accepted when alone."""
    text = decode_header_value(value)
    found = _ID.findall(text)
    if not found and text and " " not in text and "@" in text:
        found = [text]
    return [i[:EXTERNAL_ID_MAX] for i in found]


def _message_id(msg: Message, raw: bytes) -> str:
    ids = _ids(msg.get("Message-ID"))
    if ids:
        mid = ids[0]
        if len(mid) <= EXTERNAL_ID_MAX:
            return mid
    # no (usable) Message-ID: a stable one from the bytes, so the same mail fetched twice is still one message
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.kefu"


def _sent_at(msg: Message) -> datetime | None:
    value = msg.get("Date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(decode_header_value(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


_TICKET_BRACKETED = re.compile(r"\[\s*(GD\d{15,20})\s*\]", re.IGNORECASE)
_TICKET_BARE = re.compile(r"(?<![A-Za-z0-9])(GD\d{15,20})(?!\d)", re.IGNORECASE)


def ticket_number_in(subject: str) -> str:
    """An order number in a subject: `[GD202612050001042]` first, else a bare GD + 8 + 7 digits."""
    found = _TICKET_BRACKETED.search(subject) or _TICKET_BARE.search(subject)
    return found.group(1).upper() if found else ""


# --- HTML ------------------------------------------------------------------------------------------------------

_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre", "hr"}
_LINE = {"div", "tr", "section", "article", "header", "footer", "address", "dl", "dt", "dd"}
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    """Text of an HTML mail: paragraphs separated by a blank line, divs and rows on their own lines, list items
    with a dash, scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def _tail_newlines(self) -> int:
        tail = "".join(self.out[-4:])
        stripped = tail.rstrip(" ")
        return len(stripped) - len(stripped.rstrip("\n")) if self.out else 2

    def _break(self, count: int) -> None:
        missing = count - self._tail_newlines()
        if missing > 0:
            self.out.append("\n" * missing)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif self.skipping:
            return
        elif tag == "br":
            self.out.append("\n")
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        elif tag == "li":
            self._break(1)
            self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif self.skipping:
            return
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE or tag == "li":
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = re.sub(r"[ \t\r\n\f\u00a0]+", " ", data)
        if text == " " and self._tail_newlines():
            return  # whitespace between blocks
        self.out.append(text)


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML mail (for the message body and search when a mail has no text part)."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is belt and braces for odd input
        return re.sub(r"<[^>]*>", " ", markup).strip()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_CID = re.compile(r"""(?i)\bcid:([^"'\s)>]+)""")


def rewrite_cid(html: str, mapping: dict[str, str]) -> str:
    """Point an HTML mail's inline images (`src="cid:…"`) at the stored attachments: `mapping` is content id
    (without <>) → URL. Unknown ids are left alone (the sanitiser drops `cid:` URLs it does not allow)."""
    if not mapping or "cid:" not in html.lower():
        return html
    lowered = {k.strip("<>").lower(): v for k, v in mapping.items()}

    def replace(found: re.Match[str]) -> str:
        cid = unquote(found.group(1)).strip("<>")
        url = mapping.get(cid) or lowered.get(cid.lower())
        return html_lib.escape(url, quote=True) if url else found.group(0)

    return _CID.sub(replace, html)


# --- machine mail ----------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自动答复|自动应答|休假|外出|auto(matic)?[ -]?(reply|response|answer)|autoreply|auto:|"
    r"out of (the )?office|abwesenheit|réponse automatique|vacation)", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(退信|系统退信|投递失败|邮件无法送达|undeliverable|undelivered mail|delivery status notification|"
    r"mail delivery (failed|failure|subsystem)|returned mail|delivery failure|failure notice)", re.IGNORECASE)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoreply-From", "X-Mail-Autoreply", "X-Loop", "X-Cron-Env",
                 "X-Auto-Response-Suppress", "X-MS-Exchange-Generated-Message-Source",
                 "X-MS-Exchange-Inbox-Rules-Loop")


def message_id_for(message_id: int, domain: str) -> str:
    """Our Message-ID for an outbound message (without <>): stable across retries, recognisable as ours."""
    tag = salted_hmac(_MESSAGE_ID_SALT, str(message_id), algorithm="sha256").hexdigest()[:16]
    return f"kefu.{message_id}.{tag}@{domain}"


_OWN_ID = re.compile(r"^kefu\.(\d+)\.([0-9a-f]{16})@")


def is_own_message_id(mid: str) -> bool:
    found = _OWN_ID.match(mid)
    if not found:
        return False
    expected = salted_hmac(_MESSAGE_ID_SALT, found.group(1), algorithm="sha256").hexdigest()[:16]
    return bool(constant_time_compare(expected, found.group(2)))


def detect_automated(msg: Message, *, sender: str, own_addresses: frozenset[str]) -> tuple[str, str]:
    """(Automated code, the rule that matched) — ("", "") for a person's mail. Rules in the module docstring."""
    # 1. loops
    if sender in own_addresses:
        return "loop", "from own address"
    for value in msg.get_all(LOOP_HEADER) or []:
        if decode_header_value(value).strip().lower() in own_addresses:
            return "loop", LOOP_HEADER
    if any(is_own_message_id(i) for i in _ids(msg.get("Message-ID"))):
        return "loop", "own Message-ID"
    # 2. bounces by structure and sender
    if msg.get_content_type() == "multipart/report":
        report = str(msg.get_param("report-type") or "").lower()
        if report == "delivery-status":
            return "bounce", "multipart/report delivery-status"
        return "auto_reply", f"multipart/report {report}".strip()
    if any(part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
           for part in msg.walk()):
        return "bounce", "delivery-status part"
    if sender.partition("@")[0] in _BOUNCE_SENDERS:
        return "bounce", "sender " + sender.partition("@")[0]
    if msg.get("X-Failed-Recipients"):
        return "bounce", "X-Failed-Recipients"
    # 3. auto-replies by header
    submitted = decode_header_value(msg.get("Auto-Submitted")).lower()
    if submitted and submitted != "no":
        return "auto_reply", "Auto-Submitted: " + submitted
    for header in _AUTO_HEADERS:
        if msg.get(header) is not None:
            return "auto_reply", header
    precedence = decode_header_value(msg.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return "auto_reply", "Precedence: " + precedence
    # 4. a null sender
    return_paths = [decode_header_value(v).strip() for v in msg.get_all("Return-Path") or []]
    if any(v in ("<>", "") for v in return_paths):
        return "bounce", "Return-Path <>"
    # 5. the subject, last
    subject = decode_header_value(msg.get("Subject"))
    if _BOUNCE_SUBJECT.search(subject):
        return "bounce", "subject"
    if _AUTO_SUBJECT.search(subject):
        return "auto_reply", "subject"
    return "", ""


# --- parsing ---------------------------------------------------------------------------------------------------


def _returned_ids(msg: Message) -> list[str]:
    """Message-ID and In-Reply-To of the message a bounce returns (its message/rfc822 or text/rfc822-headers
    part)."""
    for part in msg.walk():
        ctype = part.get_content_type()
        returned: Message | None = None
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            inner = part.get_payload(0)
            returned = inner if isinstance(inner, Message) else None
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            returned = message_from_bytes(_payload_bytes(part), policy=email_policy.compat32)
        if returned is not None:
            return _ids(returned.get("Message-ID")) + _ids(returned.get("In-Reply-To"))
    return []


def _payload_bytes(part: Message) -> bytes:
    if part.is_multipart():  # message/rfc822, message/delivery-status: the enclosed message(s) as bytes
        payload = part.get_payload()
        items = payload if isinstance(payload, list) else [payload]
        return b"\n".join(p.as_bytes() if isinstance(p, Message) else str(p).encode() for p in items)
    data = part.get_payload(decode=True)
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return bytes(data)


def _filename(part: Message, index: int) -> str:
    name = ""
    try:
        raw = part.get_filename()
    except Exception:
        raw = None
    if raw:
        name = decode_header_value(raw)
    name = re.split(r"[/\\]", name)[-1]  # no folders: a bare file name
    name = re.sub(r"[\x00-\x1f]+", "_", name).strip(" .")[:200]
    if not name:
        ctype = part.get_content_type()
        extension = {"message/rfc822": ".eml", "message/delivery-status": ".txt"}.get(ctype) \
            or mimetypes.guess_extension(ctype) or ".bin"
        name = f"attachment-{index}{extension}"
    return name


@dataclass
class _Body:
    plain: list[str]
    html: list[str]
    attachments: list[InboundAttachment]


def _collect(part: Message, body: _Body) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            if isinstance(child, Message):
                _collect(child, body)
        return
    disposition = (part.get_content_disposition() or "").lower()
    has_name = bool(part.get_param("name") or part.get_param("filename", header="content-disposition"))
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not has_name:
        text = decode_bytes(_payload_bytes(part), part.get_content_charset())
        (body.plain if ctype == "text/plain" else body.html).append(text)
        return
    content_id = "".join(_ids(part.get("Content-ID"))) or decode_header_value(part.get("Content-ID")).strip("<> ")
    body.attachments.append(InboundAttachment(
        filename=_filename(part, len(body.attachments) + 1),
        content_type=ctype,
        content=_payload_bytes(part),
        content_id=content_id[:200],
    ))


def parse_message(raw: bytes, *, own_addresses: frozenset[str] = frozenset(), uid: int | None = None,
                  folder: str = "") -> InboundMessage:
    """Turn one raw RFC 5322 message into an InboundMessage. Raises EmailParseError when it has no sender."""
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise EmailParseError("empty message")
    msg = message_from_bytes(bytes(raw), policy=email_policy.compat32)
    senders = _addresses(msg, "From") or _addresses(msg, "Sender") or _addresses(msg, "Return-Path")
    if not senders:
        raise EmailParseError("no sender address (From)")
    name, sender = senders[0]
    automated, reason = detect_automated(msg, sender=sender, own_addresses=own_addresses)
    body = _Body([], [], [])
    _collect(msg, body)
    html = "\n".join(body.html)
    text = "\n\n".join(t.strip("\r\n") for t in body.plain if t.strip()) or html_to_text(html)
    subject = decode_header_value(msg.get("Subject"))
    if not text.strip() and not body.attachments:
        text = subject  # "please call me" in the subject, nothing below: still the customer's message
    in_reply_to = _ids(msg.get("In-Reply-To"))
    references = _ids(" ".join(str(v) for v in msg.get_all("References") or []))
    refs: list[str] = []
    # a bounce continues the conversation of the message that bounced (its ids are in the returned headers)
    returned = _returned_ids(msg) if automated == "bounce" else []
    for ref in [*in_reply_to, *reversed(references), *returned]:  # the nearest first
        if ref not in refs:
            refs.append(ref)
    external_id = _message_id(msg, bytes(raw))
    meta: dict[str, Any] = {
        "message_id": external_id,
        "in_reply_to": in_reply_to[0] if in_reply_to else "",
        "references": references,
        "to": [addr for _n, addr in _addresses(msg, "To")],
        "cc": [addr for _n, addr in _addresses(msg, "Cc")],
    }
    reply_to = [addr for _n, addr in _addresses(msg, "Reply-To")]
    if reply_to:
        meta["reply_to"] = reply_to
    if uid is not None:
        meta["uid"] = uid
    if folder:
        meta["folder"] = folder
    if reason:
        meta["automated_reason"] = reason
    kind = "text"
    if not text and body.attachments:  # nothing written, only files
        kind = "image" if all(a.content_type.startswith("image/") for a in body.attachments) else "file"
    return InboundMessage(
        external_id=external_id,
        identity=Identity(kind="email", value=sender, name=name[:200], email=sender),
        text=text,
        html=html,
        subject=subject[:200],
        sent_at=_sent_at(msg),
        thread_refs=tuple(refs),
        ticket_number=ticket_number_in(subject),
        attachments=tuple(body.attachments),
        kind=kind,
        automated=automated,
        meta=meta,
    )


# --- sending ---------------------------------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|答复|回复|转发)\s*[:：]\s*)+", re.IGNORECASE)


def reply_subject(subject: str, ticket_number: str = "") -> str:
    """`Re: <subject> [<order number>]`: one "Re:", the order number once."""
    base = _REPLY_PREFIX.sub("", subject or "").strip() or _("您的来信")
    if ticket_number and ticket_number.upper() not in base.upper():
        base = f"{base} [{ticket_number}]"
    return f"Re: {base}"


def _text_to_html(text: str) -> str:
    paragraphs = html_lib.escape(text).replace("\r\n", "\n").split("\n\n")
    inner = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{inner}</body></html>'


def build_message(settings: MailboxSettings, message: OutboundMessage, *, recipient: str) -> EmailMessage:
    """The MIME message of an agent's reply (text with an HTML alternative, attachments from the storage)."""
    from django.core.files.storage import default_storage

    msg = EmailMessage(policy=email_policy.SMTP)
    local, _at, domain = settings.address.partition("@")
    msg["From"] = Address(display_name=settings.display_name, username=local, domain=domain)
    to_local, _at, to_domain = recipient.partition("@")
    to_name = message.to.name if message.to.value == recipient else ""
    msg["To"] = Address(display_name=to_name, username=to_local, domain=to_domain)
    msg["Subject"] = reply_subject(message.subject, str(message.context.get("ticket_number") or ""))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{message_id_for(message.message_id, settings.message_id_domain)}>"
    refs = [r for r in message.references if r]
    if message.in_reply_to:
        msg["In-Reply-To"] = f"<{message.in_reply_to}>"
        if message.in_reply_to not in refs:
            refs.append(message.in_reply_to)
    if refs:
        if len(refs) > 10:  # keep the thread's first message and the nine nearest (RFC 5322 §3.6.4)
            refs = [refs[0], *refs[-9:]]
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    msg[LOOP_HEADER] = settings.address
    # asks Exchange/Outlook not to answer an agent's reply with an out-of-office (no Auto-Submitted: a person wrote)
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(message.text or "", charset="utf-8")
    msg.add_alternative(message.html or _text_to_html(message.text or ""), subtype="html", charset="utf-8")
    for attachment in message.attachments:
        with default_storage.open(attachment.path, "rb") as handle:
            data = handle.read()
        maintype, _slash, subtype = (attachment.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=attachment.filename)
    return msg


def _smtp_connect(settings: MailboxSettings) -> smtplib.SMTP:
    if settings.smtp_security == "ssl":
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.timeout,
                                context=ssl.create_default_context())
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
    if settings.smtp_security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def _text_of(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


def _failure(code: int, text: str) -> SendResult:
    return SendResult(ok=False, error=f"SMTP {code}: {text}"[:500], permanent=500 <= code < 600)


def _smtp_sign_in(client: smtplib.SMTP, sign_in: SignIn) -> None:
    if not sign_in.oauth:
        if sign_in.password:
            client.login(sign_in.username, sign_in.password)
        return
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth") or "XOAUTH2" not in client.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError("the server does not offer XOAUTH2 sign-in (AUTH XOAUTH2)")
    # the token goes with the command; a refusal comes as a 334 error report, answered with an empty line
    client.auth("XOAUTH2", lambda challenge=None: "" if challenge is not None else sign_in.xoauth2())


def smtp_send(settings: MailboxSettings, credentials: Credentials | str, msg: EmailMessage,
              recipient: str) -> SendResult:
    """Hand a message to the mailbox's SMTP server: 5xx answers are permanent, 4xx and network errors retried.
    A refused access token is replaced once (a new connection); `credentials` as a string is a password."""
    if isinstance(credentials, str):
        credentials = PasswordCredentials(settings.smtp_username, credentials)
    try:
        while True:
            try:
                sign_in = credentials.sign_in()
            except SignInError as exc:
                return SendResult(ok=False, error=f"sign-in: {exc}"[:500], permanent=exc.permanent)
            client = _smtp_connect(settings)
            try:
                try:
                    _smtp_sign_in(client, sign_in)
                except smtplib.SMTPAuthenticationError:
                    if credentials.refused(sign_in):
                        continue
                    raise
                refused = client.send_message(msg, from_addr=settings.address, to_addrs=[recipient])
                break
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        code, answer = next(iter(exc.recipients.values()), (550, b"refused"))
        return _failure(int(code), _text_of(answer))
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, authentication failed …
        return _failure(int(exc.smtp_code), _text_of(exc.smtp_error))
    except smtplib.SMTPNotSupportedError as exc:  # STARTTLS or AUTH not offered: a settings problem
        return SendResult(ok=False, error=f"SMTP: {exc}"[:500], permanent=True)
    except (smtplib.SMTPException, OSError) as exc:  # connection refused, reset, TLS, timeout
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    if refused:
        code, answer = next(iter(refused.values()))
        return _failure(int(code), _text_of(answer))
    return SendResult(ok=True, external_id=str(msg["Message-ID"]).strip().strip("<>"))


def keep_sent_copy(channel: Channel, settings: MailboxSettings, msg: EmailMessage) -> bool:
    """Put a reply that went out into the mailbox's "sent" folder over IMAP, flagged read, so people looking at
    the mailbox itself see the whole thread (Exmail, Aliyun, QQ and NetEase keep no copy of mail sent over SMTP).
    The reply has gone: a copy that cannot be kept is logged, never a failed reply. False when it was not kept."""
    from kefu.conversations.adapters.imap import ImapError, ImapMailbox
    from kefu.conversations.adapters.mailauth import imap_credentials

    try:
        with ImapMailbox(settings, imap_credentials(channel, settings.username), select=False) as box:
            box.append(settings.sent_folder, msg.as_bytes(policy=email_policy.SMTP))
    except ImapError as exc:
        log.warning("channel %s: reply %s sent, but no copy kept in %r: %s", channel.code,
                    msg["Message-ID"], settings.sent_folder, exc)
        return False
    return True


@register
class EmailAdapter:
    """A mailbox: read over IMAP (see adapters/imap.py and the poller), answered over SMTP."""

    kind: ClassVar[str] = "email"
    live: ClassVar[bool] = False

    def own_addresses(self, channel: Channel) -> frozenset[str]:
        config = channel.config or {}
        addresses = {str(config.get("address", "")).strip().lower()}
        addresses.update(str(a).strip().lower() for a in config.get("aliases", []) or [])
        return frozenset(a for a in addresses if a)

    def parse(self, raw: bytes, *, channel: Channel | None = None, uid: int | None = None) -> InboundMessage:
        """One raw message of the channel's mailbox as an InboundMessage (EmailParseError when unreadable)."""
        own = self.own_addresses(channel) if channel is not None else frozenset()
        folder = str((channel.config or {}).get("folder") or "INBOX") if channel is not None else ""
        return parse_message(raw, own_addresses=own, uid=uid, folder=folder)

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        settings = mailbox_settings(channel.config or {})
        reply_to = message.context.get("reply_to") or []
        recipient = str(reply_to[0] if isinstance(reply_to, list) and reply_to else message.to.value).lower()
        if not _ADDRESS.match(recipient):
            return SendResult(ok=False, error=f"not an e-mail address: {recipient!r}"[:500], permanent=True)
        if recipient in self.own_addresses(channel):
            return SendResult(ok=False, error="refusing to send to the mailbox's own address (loop)", permanent=True)
        try:
            msg = build_message(settings, message, recipient=recipient)
        except FileNotFoundError as exc:
            return SendResult(ok=False, error=f"attachment missing: {exc}"[:500], permanent=True)
        except (ValueError, TypeError) as exc:  # an address or header the e-mail library refuses
            return SendResult(ok=False, error=f"cannot build the message: {exc}"[:500], permanent=True)
        result = smtp_send(settings, smtp_credentials(channel, settings.smtp_username), msg, recipient)
        if result.ok and settings.sent_folder:
            keep_sent_copy(channel, settings, msg)
        return result

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        return check_mailbox_config(config)

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
        return check_auth_secrets(config, secrets)
