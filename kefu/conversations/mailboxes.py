"""Polling the mailboxes of e-mail channels: new mail read over IMAP (adapters/imap.py), parsed by the e-mail
adapter, stored by `message_receive` — one mail per transaction, together with the mailbox position.

Position: `channel.state` keeps the folder's UIDVALIDITY and the last UID handled. The first poll of a mailbox
(or after its UIDVALIDITY changed) takes the mail that is still unread, then everything that arrives; each mail
handled is flagged \\Seen. A mail that cannot be parsed, or that the services refuse, is logged with its UID and
skipped (never retried forever); a database outage stops the round without moving on. A crash after storing a
mail but before recording its UID stores nothing twice: the Message-ID is unique per channel.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from kefu.conversations.adapters.email import EmailAdapter, EmailParseError, MailboxSettings, mailbox_settings
from kefu.conversations.adapters.imap import ImapError, ImapMailbox
from kefu.conversations.adapters.mailauth import imap_credentials
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.choices import ChannelKind
from kefu.conversations.models import Channel
from kefu.core.errors import ApplicationError

log = logging.getLogger(__name__)

LOCK_SECONDS = 15 * 60  # a poll that died holding the lock frees it after this


@dataclass
class PollResult:
    """What one poll of a mailbox did. `more`: mail is left for the next round (the batch was full)."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    more: bool = False
    error: str = ""


def _mailbox_key(settings: MailboxSettings) -> str:
    return f"{settings.username}@{settings.imap_host}:{settings.imap_port}/{settings.folder}"


def _save_state(channel: Channel, state: dict[str, Any]) -> None:
    channel.state = state
    Channel.objects.filter(pk=channel.pk).update(state=state)


def _candidates(box: ImapMailbox, state: dict[str, Any], batch: int) -> tuple[list[int], bool]:
    """The UIDs to handle this round, oldest first (one more than the batch: is there more?): the unread
    backlog of a first poll, then new mail. Also: whether the whole backlog is in this round."""
    last_uid = int(state["last_uid"])
    backlog = [u for u in box.search("UNSEEN") if u <= last_uid] if state.get("backlog") else []
    return sorted(set(backlog + box.uids_after(last_uid)))[:batch + 1], len(backlog) <= batch


def mailbox_poll(*, channel: Channel, now: datetime | None = None) -> PollResult:
    """Fetch and store the new mail of one e-mail channel (a bounded batch). Never raises for a mailbox or a
    mail problem: the result (and `channel.state["last_error"]`) says what went wrong."""
    result = PollResult()
    if channel.kind != ChannelKind.EMAIL or not channel.is_active:
        result.error = "not an active e-mail channel"
        return result
    lock, token = f"kefu:mailbox-poll:{channel.pk}", secrets.token_hex(8)
    if not cache.add(lock, token, LOCK_SECONDS):
        result.error = "a poll of this mailbox is already running"
        return result
    try:
        return _poll(channel, result, now or timezone.now())
    finally:
        if cache.get(lock) == token:
            cache.delete(lock)


def _poll(channel: Channel, result: PollResult, now: datetime) -> PollResult:
    from kefu.conversations.services import message_receive

    adapter = adapter_for("email")
    assert isinstance(adapter, EmailAdapter)
    settings = mailbox_settings(channel.config or {})
    state = dict(channel.state or {})
    seen: list[int] = []
    try:
        with ImapMailbox(settings, imap_credentials(channel, settings.username)) as box:
            key = _mailbox_key(settings)
            if state.get("uidvalidity") != box.uidvalidity or state.get("mailbox") != key:
                # a new mailbox (or it was rebuilt): start at its end, and take what is still unread
                last = box.uidnext - 1 if box.uidnext else max(box.search("ALL") or [0])
                state = {"mailbox": key, "uidvalidity": box.uidvalidity, "last_uid": last, "backlog": True}
                _save_state(channel, state)
            uids, whole_backlog = _candidates(box, state, settings.batch_size)
            result.more = len(uids) > settings.batch_size
            uids = uids[:settings.batch_size]
            sizes = box.sizes(uids)
            stopped = False
            for uid in uids:
                outcome = _handle(box, channel, adapter, settings, uid, sizes.get(uid, 0), state, message_receive)
                if outcome == "stop":
                    result.more = stopped = True
                    break
                result.fetched += 1
                setattr(result, outcome, getattr(result, outcome) + 1)
                seen.append(uid)
            box.mark_seen(seen)  # the unread backlog shrinks by what was handled
            if whole_backlog and not stopped:
                state["backlog"] = False
    except ImapError as exc:
        result.error = str(exc)[:500]
        log.warning("mailbox of channel %s cannot be read: %s", channel.code, exc)
    state.update(polled_at=now.isoformat(), last_error=result.error)
    try:
        _save_state(channel, state)
    except (OperationalError, InterfaceError):
        log.exception("channel %s: the mailbox position could not be saved", channel.code)
        result.error = result.error or "database unavailable"
    return result


def _handle(box: ImapMailbox, channel: Channel, adapter: EmailAdapter, settings: MailboxSettings, uid: int,
            size: int, state: dict[str, Any], receive: Any) -> str:
    """Handle one mail: "stored", "duplicates", "skipped", or "stop" (the database is away: try later)."""

    def advance() -> None:
        state["last_uid"] = max(int(state["last_uid"]), uid)

    if size > settings.max_message_bytes:
        log.warning("channel %s: mail UID %s skipped, %s bytes is over the limit", channel.code, uid, size)
        advance()
        _save_state(channel, state)
        return "skipped"
    raw = box.fetch(uid)
    if raw is None:  # deleted in the meantime
        advance()
        _save_state(channel, state)
        return "skipped"
    try:
        inbound = adapter.parse(raw, channel=channel, uid=uid)
    except EmailParseError as exc:
        log.warning("channel %s: mail UID %s skipped, cannot be read: %s", channel.code, uid, exc)
        advance()
        _save_state(channel, state)
        return "skipped"
    except Exception:  # a parser bug must not stop the mailbox
        log.exception("channel %s: mail UID %s skipped, the parser failed", channel.code, uid)
        advance()
        _save_state(channel, state)
        return "skipped"
    before = state["last_uid"]
    try:
        with transaction.atomic():  # the mail and the position move together
            received = receive(channel=channel, inbound=inbound)
            advance()
            _save_state(channel, state)
    except (OperationalError, InterfaceError):
        log.exception("channel %s: database unavailable at mail UID %s; the poll stops here", channel.code, uid)
        state["last_uid"] = before
        return "stop"
    except ApplicationError as exc:
        log.warning("channel %s: mail UID %s (%s) refused: %s", channel.code, uid, inbound.external_id, exc.message)
        advance()
        _save_state(channel, state)
        return "skipped"
    except Exception:
        log.exception("channel %s: mail UID %s (%s) could not be stored", channel.code, uid, inbound.external_id)
        advance()
        _save_state(channel, state)
        return "skipped"
    return "duplicates" if received.duplicate else "stored"


def mailboxes_due(*, now: datetime | None = None) -> list[int]:
    """Active e-mail channels whose poll is due (`poll_minutes` in the config, default every minute)."""
    now = now or timezone.now()
    due = []
    for pk, config, state in Channel.objects.filter(kind=ChannelKind.EMAIL, is_active=True).values_list(
            "pk", "config", "state"):
        minutes = (config or {}).get("poll_minutes") or 1
        polled = (state or {}).get("polled_at")
        try:
            last = datetime.fromisoformat(polled) if polled else None
        except (TypeError, ValueError):
            last = None
        # a few seconds' grace: a poll that ran late in the last minute is still due on the minute
        if last is None or now - last >= timedelta(minutes=float(minutes)) - timedelta(seconds=5):
            due.append(pk)
    return due
