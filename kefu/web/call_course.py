"""What a phone conversation's pane shows of its call: a card (the hotline, the agent, wait, talk and hold, the
recording and the voicemail to play) and the call's course as lines among the conversation's history (queued,
answered by, held, resumed, transferred, ended, with durations). Read from the call's events each time, so the
course is the PBX's, in its time order, however late its events came. Recordings are played by the browser from
the PBX's address; Kefu never fetches them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kefu.telephony.choices import EVENT_ORDER, CtiEvent

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".flac", ".webm", ".gsm")


def duration_text(seconds: float | None) -> str:
    """45秒, 3分30秒, 3分钟, 1小时5分."""
    seconds = max(0, round(seconds or 0))
    if seconds < 60:
        return _("%(s)s秒") % {"s": seconds}
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        if rest:
            return _("%(m)s分%(s)s秒") % {"m": minutes, "s": rest}
        return ngettext("%(m)s分钟", "%(m)s分钟", minutes) % {"m": minutes}
    hours, rest = divmod(seconds, 3600)
    return _("%(h)s小时%(m)s分") % {"h": hours, "m": rest // 60}


def is_audio(url: str) -> bool:
    """Whether the browser can be given the address as audio: judged by its path, never by fetching it."""
    return urlsplit(url).path.lower().endswith(AUDIO_SUFFIXES)


@dataclass
class CallLine:
    """A line of the call's course among the conversation's messages (the pane's `activity` lines)."""

    created_at: datetime
    text: str
    note: str = ""
    when: str = ""
    activity: bool = True
    call_line: bool = True


@dataclass
class Recording:
    label: str
    url: str
    audio: bool
    at: datetime


@dataclass
class CallCard:
    call: Any
    line: str
    agent: str
    wait: str
    talk: str
    hold: str
    acw: str
    state_label: str
    recordings: list[Recording] = field(default_factory=list)


def _when(at: datetime) -> str:
    local = timezone.localtime(at)
    return local.strftime("%H:%M:%S" if local.date() == timezone.localtime().date() else "%m-%d %H:%M:%S")


def call_lines(call: Any) -> list[CallLine]:
    """The call's course in words, in the PBX's order (ringing and the recording's arrival are left out)."""
    rows = sorted(call.events.all(), key=lambda e: (e.at, EVENT_ORDER.get(CtiEvent(e.event), 99), e.pk))
    start = call.queued_at or call.offered_at
    lines, held_since, answered = [], None, False
    for row in rows:
        who = str(row.agent) if row.agent_id else ""
        text = ""
        if row.event == CtiEvent.OFFERED:
            text = _("来电（%(region)s）") % {"region": call.region} if call.region else _("来电")
        elif row.event == CtiEvent.QUEUED:
            queue = call.queue.name if call.queue_id and call.queue else ""
            text = _("进入队列「%(queue)s」") % {"queue": queue} if queue else _("进入队列")
        elif row.event == CtiEvent.ANSWERED and not answered:
            answered = True
            wait = duration_text((row.at - start).total_seconds())
            text = (_("%(who)s 接听（等待 %(wait)s）") % {"who": who, "wait": wait} if who
                    else _("接通（等待 %(wait)s）") % {"wait": wait})
        elif row.event == CtiEvent.ANSWERED:
            text = _("%(who)s 接听") % {"who": who} if who else _("接通")
        elif row.event == CtiEvent.HELD and held_since is None:
            held_since, text = row.at, _("通话保持")
        elif row.event == CtiEvent.RESUMED and held_since is not None:
            text = _("恢复通话（保持 %(d)s）") % {"d": duration_text((row.at - held_since).total_seconds())}
            held_since = None
        elif row.event == CtiEvent.TRANSFERRED:
            text = _("通话转接给 %(who)s") % {"who": who} if who else _("通话转接")
        elif row.event == CtiEvent.ABANDONED:
            text = _("客户在排队时挂断（等待 %(wait)s）") % {"wait": duration_text(call.wait_seconds)}
        elif row.event == CtiEvent.VOICEMAIL:
            text = _("客户留言")
        elif row.event == CtiEvent.ENDED:
            if call.answered_at is None:
                text = _("通话结束")
            elif call.hold_seconds:
                text = _("通话结束（通话 %(talk)s，保持 %(hold)s）") % {
                    "talk": duration_text(call.talk_seconds), "hold": duration_text(call.hold_seconds)}
            else:
                text = _("通话结束（通话 %(talk)s）") % {"talk": duration_text(call.talk_seconds)}
        if text:
            lines.append(CallLine(created_at=row.at, text=text, when=_when(row.at)))
    return lines


def call_card(call: Any) -> CallCard:
    """The call in brief, with what can be listened to: the voicemail, and the call's recording."""
    recordings, seen = [], set()
    for row in sorted(call.events.all(), key=lambda e: (e.at, e.pk)):
        if row.recording_url and row.recording_url not in seen:
            seen.add(row.recording_url)
            label = _("语音留言") if row.event == CtiEvent.VOICEMAIL else _("通话录音")
            recordings.append(Recording(label=label, url=row.recording_url, audio=is_audio(row.recording_url),
                                        at=row.at))
    answered = call.answered_at is not None
    return CallCard(
        call=call, line=call.queue.name if call.queue_id and call.queue else "",
        agent=str(call.agent) if call.agent_id and answered else "",
        wait=duration_text(call.wait_seconds) if call.wait_seconds is not None else "",
        talk=duration_text(call.talk_seconds) if answered and call.ended_at else "",
        hold=duration_text(call.hold_seconds) if call.hold_seconds else "",
        acw=duration_text(call.acw_seconds) if call.acw_seconds else "",
        state_label=str(call.get_state_display()), recordings=recordings)
