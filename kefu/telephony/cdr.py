"""History from the PBX: call detail records (CSV) turned into the CTI events the PBX would have sent, and written
in bulk — one transaction for the whole file, each touched interval rewritten once at the end.

Two formats (docs/telephony.md, "History from the PBX"): Kefu's own columns with a header line, and Asterisk's
`Master.csv` (cdr_csv, no header). Every row is checked first; one bad row and nothing is written, the report
naming the row (as Excel numbers it) and the column. A call already known (same `call_id`) only gets the events
it lacks, so importing a file twice changes nothing. History is not announced: no `call.changed`, no agent
states (as with any event older than ten minutes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.accounts.models import User
from kefu.core.actors import system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import PermissionDenied
from kefu.core.tabular import ImportRejected, ImportReport, RowError, fail, header_key, read_rows
from kefu.routing.services import interval_of, interval_write
from kefu.telephony.choices import EVENT_ORDER, CallState, CtiEvent
from kefu.telephony.models import Call, CallEvent
from kefu.telephony.permissions import TelephonyRight
from kefu.telephony.regions import region_label
from kefu.telephony.stats import call_figures

CDR_IMPORT = system_actor("cdr_import", gettext_lazy("系统：话单导入"))
MAX_BYTES = 200 * 1024 * 1024  # about a million rows: a year of a large centre's calls in one file
MAX_SECONDS = 24 * 3600.0  # a wait, talk or hold longer than a day is a broken record
FUTURE_SLACK = timedelta(minutes=5)
BATCH = 2000
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
_URL = re.compile(r"^https?://\S{1,490}$")

ANSWERED, ABANDONED, VOICEMAIL = "answered", "abandoned", "voicemail"
DISPOSITIONS = (ANSWERED, ABANDONED, VOICEMAIL)
# Kefu's format: the header names the columns (any order; case, spaces, "_" and "-" do not matter).
COLUMNS = ("call_id", "start", "queue", "caller", "called", "agent", "answered_at", "wait_seconds", "talk_seconds",
           "hold_seconds", "disposition", "recording_url")
_COLUMN_KEYS = {header_key(name): name for name in COLUMNS}
# Asterisk's cdr_csv Master.csv, no header: 16 columns, then uniqueid (loguniqueid=yes) and userfield.
ASTERISK_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
                    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid",
                    "userfield")
_ASTERISK_TIME = "%Y-%m-%d %H:%M:%S"
_LOCAL_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")  # Excel's re-saved times


@dataclass(frozen=True)
class CdrCall:
    """One call of the history, checked: `start` aware, seconds ≥ 0, the queue and agent found."""

    call_id: str
    start: datetime
    queue: Any  # routing.Queue
    disposition: str
    caller: str = ""
    called: str = ""
    agent: Any = None  # accounts.User or None
    wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    recording_url: str = ""


@dataclass(frozen=True)
class PbxEvent:
    """A CTI event as the PBX would have sent it for a history call."""

    event: str
    at: datetime
    agent: Any = None
    caller: str = ""
    called: str = ""
    queue_code: str = ""
    recording_url: str = ""


def call_events(call: CdrCall) -> list[PbxEvent]:
    """The events the PBX reports for the call: offered; then answered (held at half the talk, resumed after the
    hold) and ended, or abandoned (ringing its agent, if one is named), or a voicemail of `talk_seconds`."""
    start = call.start
    done = start + timedelta(seconds=call.wait_seconds)
    events = [PbxEvent(CtiEvent.OFFERED, start, caller=call.caller, called=call.called,
                       queue_code=call.queue.code)]
    if call.disposition == ANSWERED:
        events.append(PbxEvent(CtiEvent.ANSWERED, done, agent=call.agent))
        if call.hold_seconds:
            held = done + timedelta(seconds=call.talk_seconds / 2)
            events += [PbxEvent(CtiEvent.HELD, held),
                       PbxEvent(CtiEvent.RESUMED, held + timedelta(seconds=call.hold_seconds))]
        ended = done + timedelta(seconds=call.talk_seconds + call.hold_seconds)
        events.append(PbxEvent(CtiEvent.ENDED, ended, recording_url=call.recording_url))
    elif call.disposition == ABANDONED:
        if call.agent is not None:
            events.append(PbxEvent(CtiEvent.RINGING, done, agent=call.agent))
        events.append(PbxEvent(CtiEvent.ABANDONED, done, recording_url=call.recording_url))
    else:
        events.append(PbxEvent(CtiEvent.VOICEMAIL, done))
        events.append(PbxEvent(CtiEvent.ENDED, done + timedelta(seconds=call.talk_seconds),
                               recording_url=call.recording_url))
    return events


def _summary(call: CdrCall, events: list[PbxEvent], region: str) -> Call:
    """The call its events add up to — the same arithmetic as `services.summarise` (a test compares the two).
    `region`: the caller's region (归属地), looked up once per number by the caller."""
    rows = sorted(events, key=lambda e: (e.at, EVENT_ORDER.get(CtiEvent(e.event), 99)))
    first: dict[str, PbxEvent] = {}
    for row in rows:
        first.setdefault(row.event, row)
    answered = first.get(CtiEvent.ANSWERED)
    abandoned = first.get(CtiEvent.ABANDONED)
    endings = [r for r in rows if r.event in (CtiEvent.ENDED, CtiEvent.ABANDONED, CtiEvent.VOICEMAIL)]
    ended_at = endings[-1].at
    hold, held_since = 0.0, None
    for row in rows:
        if row.event == CtiEvent.HELD and held_since is None:
            held_since = row.at
        elif row.event in (CtiEvent.RESUMED, CtiEvent.ENDED) and held_since is not None:
            hold += max(0.0, (row.at - held_since).total_seconds())
            held_since = None
    agents = [r.agent for r in rows if r.agent is not None]
    agent = answered.agent if answered and answered.agent is not None else (agents[-1] if agents else None)
    if answered:
        wait: float | None = max(0.0, (answered.at - call.start).total_seconds())
        state = CallState.ENDED
    elif abandoned:
        wait, state = max(0.0, (abandoned.at - call.start).total_seconds()), CallState.ABANDONED
    else:
        wait, state = None, CallState.VOICEMAIL
    return Call(
        call_id=call.call_id, caller=call.caller, called=call.called, region=region, queue=call.queue, agent=agent,
        state=state,
        offered_at=rows[0].at, queued_at=None, answered_at=answered.at if answered else None, ended_at=ended_at,
        wait_seconds=wait, hold_seconds=hold,
        talk_seconds=max(0.0, (ended_at - answered.at).total_seconds() - hold) if answered else 0.0,
        transfers=0, voicemail=CtiEvent.VOICEMAIL in first,
        recording_url=next((r.recording_url for r in reversed(rows) if r.recording_url), ""),
        last_event_at=rows[-1].at, version=1 + len(events))


# --- reading ----------------------------------------------------------------------------------------------------


@dataclass
class _Reader:
    report: ImportReport
    now: datetime
    default_queue: Any
    queues: dict[str, Any]
    users: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def error(self, row: int, column: str, message: str, value: Any = "") -> None:
        self.report.errors.append(RowError(row=row, field=column, column=column, message=message,
                                           value=str(value or "")[:100]))

    def text(self, row: int, column: str, value: str, limit: int) -> str:
        value = value.strip()
        if len(value) > limit or not _PRINTABLE.match(value):
            self.error(row, column, _("必须是不超过 %(n)s 个字符的文本") % {"n": limit}, value)
            return ""
        return value

    def moment(self, row: int, column: str, value: str) -> datetime | None:
        value = value.strip()
        parsed = None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            for fmt in _LOCAL_FORMATS:
                try:
                    parsed = datetime.strptime(value, fmt)  # noqa: DTZ007 - local time, made aware below
                    break
                except ValueError:
                    continue
        if parsed is None:
            self.error(row, column, _("必须是 ISO 格式的时间，如 2026-11-23T09:00:00+08:00"), value)
            return None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        if parsed.year < 2000:
            self.error(row, column, _("早于 2000 年：请检查电话系统的时钟"), value)
            return None
        return parsed

    def seconds(self, row: int, column: str, value: str) -> float | None:
        value = value.strip()
        if not value:
            return 0.0
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not 0 <= number <= MAX_SECONDS:
            self.error(row, column, _("必须是 0 到 %(n)s 之间的秒数") % {"n": int(MAX_SECONDS)}, value)
            return None
        return number

    def queue(self, row: int, column: str, code: str) -> Any:
        code = code.strip().lower()
        if not code:
            if self.default_queue is None:
                self.error(row, column, _("队列不能为空（或用 --queue 指定）"))
            return self.default_queue
        queue = self.queues.get(code)
        if queue is None:
            self.error(row, column, _("没有这个队列：%(code)s") % {"code": code}, code)
        return queue

    def agent(self, row: int, column: str, username: str) -> Any:
        username = username.strip()
        if not username:
            return None
        user = self.users.get(username)
        if user is None:
            self.error(row, column, _("没有这个坐席账号：%(u)s") % {"u": username}, username)
        return user

    def call_id(self, row: int, column: str, value: str) -> str:
        value = self.text(row, column, value, 100)
        if not value:
            if not any(e.row == row and e.field == column for e in self.report.errors):
                self.error(row, column, _("%(field)s 不能为空") % {"field": column})
            return ""
        if value in self.seen:
            self.error(row, column, _("与第 %(n)s 行的呼叫编号重复") % {"n": self.seen[value]}, value)
        else:
            self.seen[value] = row
        return value

    def finish(self, row: int, call: CdrCall) -> CdrCall | None:
        end = call.start + timedelta(seconds=call.wait_seconds + call.talk_seconds + call.hold_seconds)
        if end > self.now + FUTURE_SLACK:
            self.error(row, "start", _("通话结束时间在未来：请检查电话系统的时钟"), call.start.isoformat())
            return None
        return call


def _kefu_rows(reader: _Reader, header: list[Any], records: Iterable[tuple[int, list[Any]]]) -> list[CdrCall]:
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        name = _COLUMN_KEYS.get(header_key(title))
        if name and name not in positions:
            positions[name] = index
        elif str(title or "").strip():
            reader.report.ignored_columns.append(str(title).strip())
    for required in ("call_id", "start", "disposition") + (() if reader.default_queue else ("queue",)):
        if required not in positions:
            reader.error(1, required, _("缺少列：%(c)s") % {"c": required})
    if reader.report.errors:
        return []
    calls = []
    for number, cells in records:
        values = {name: str(cells[i]).strip() if i < len(cells) and cells[i] is not None else ""
                  for name, i in positions.items()}
        if not any(values.values()):
            continue
        reader.report.rows += 1
        before = len(reader.report.errors)
        call_id = reader.call_id(number, "call_id", values["call_id"])
        start = reader.moment(number, "start", values["start"])
        queue = reader.queue(number, "queue", values.get("queue", ""))
        disposition = values["disposition"].lower()
        if disposition not in DISPOSITIONS:
            reader.error(number, "disposition", _("只能是 %(names)s") % {"names": ", ".join(DISPOSITIONS)},
                         values["disposition"])
        agent = reader.agent(number, "agent", values.get("agent", ""))
        wait = reader.seconds(number, "wait_seconds", values.get("wait_seconds", ""))
        talk = reader.seconds(number, "talk_seconds", values.get("talk_seconds", ""))
        hold = reader.seconds(number, "hold_seconds", values.get("hold_seconds", ""))
        if values.get("answered_at"):
            answered = reader.moment(number, "answered_at", values["answered_at"])
            if disposition != ANSWERED:
                reader.error(number, "answered_at", _("只有 answered 的通话有接通时间"), values["answered_at"])
            elif answered and start and answered < start:
                reader.error(number, "answered_at", _("接通时间早于开始时间"), values["answered_at"])
            elif answered and start:
                wait = (answered - start).total_seconds()
        if hold and disposition != ANSWERED:
            reader.error(number, "hold_seconds", _("只有 answered 的通话可以保持"), values["hold_seconds"])
        url = reader.text(number, "recording_url", values.get("recording_url", ""), 500)
        if url and not _URL.match(url):
            reader.error(number, "recording_url", _("recording_url 必须是 http:// 或 https:// 地址"), url)
        caller = reader.text(number, "caller", values.get("caller", ""), 40)
        called = reader.text(number, "called", values.get("called", ""), 40)
        if len(reader.report.errors) > before or start is None or None in (wait, talk, hold):
            continue
        call = reader.finish(number, CdrCall(
            call_id=call_id, start=start, queue=queue, disposition=disposition, caller=caller, called=called,
            agent=agent, wait_seconds=wait or 0.0, talk_seconds=talk or 0.0, hold_seconds=hold or 0.0,
            recording_url=url))
        if call is not None:
            calls.append(call)
    return calls


@dataclass(frozen=True)
class _Leg:
    row: int
    start: datetime
    queue_code: str
    agent: Any
    duration: float
    billsec: float
    answered_at: datetime | None
    caller: str
    called: str


def _asterisk_rows(reader: _Reader, records: Iterable[tuple[int, list[Any]]]) -> list[CdrCall]:
    """Master.csv: the lines of one `uniqueid` (Asterisk writes one per bridge: queue attempts, transfers) are one
    call, answered if a line is ANSWERED (wait = its answer − the first start, talk = the sum of the answered lines'
    billsec), else abandoned at the last line's end. The queue is Queue()'s first argument (lastdata) or --queue;
    the agent is dstchannel's peer name when it is a Kefu user name, else none."""
    legs: dict[str, list[_Leg]] = {}
    for number, cells in records:
        cells = [str(c or "").strip() for c in cells]
        if not any(cells):
            continue
        reader.report.rows += 1
        if not 16 <= len(cells) <= len(ASTERISK_COLUMNS):
            reader.error(number, "", _("Asterisk Master.csv 每行应有 16–18 列，这一行有 %(n)s 列") % {"n": len(cells)})
            continue
        row = dict(zip(ASTERISK_COLUMNS, cells, strict=False))
        before = len(reader.report.errors)
        column = "uniqueid" if row.get("uniqueid") else "channel"
        call_id = reader.text(number, column, row.get("uniqueid") or f"{row['channel']}@{row['start']}", 100)
        start = reader.moment(number, "start", row["start"])
        peer = re.sub(r"^[A-Za-z0-9]+/", "", row["dstchannel"]).rsplit("-", 1)[0]
        duration = reader.seconds(number, "duration", row["duration"])
        billsec = reader.seconds(number, "billsec", row["billsec"])
        answered_at = reader.moment(number, "answer", row["answer"]) if row["answer"] else None
        caller = reader.text(number, "src", row["src"], 40)
        called = reader.text(number, "dst", row["dst"], 40)
        if len(reader.report.errors) > before or start is None or duration is None or billsec is None:
            continue
        answered = row["disposition"].upper() == "ANSWERED" and answered_at is not None
        legs.setdefault(call_id, []).append(_Leg(
            row=number, start=start, agent=reader.users.get(peer), duration=duration, billsec=billsec,
            queue_code=row["lastdata"].split(",", 1)[0] if row["lastapp"].lower() == "queue" else "",
            answered_at=answered_at if answered else None, caller=caller, called=called))
    calls = []
    for call_id, lines in legs.items():
        lines.sort(key=lambda leg: (leg.start, leg.row))
        first = lines[0]
        coded = next((leg for leg in lines if leg.queue_code), first)
        queue = reader.queue(coded.row, "lastdata", coded.queue_code)
        if queue is None:
            continue
        answered = sorted((leg for leg in lines if leg.answered_at), key=lambda leg: leg.answered_at)
        common = {"call_id": call_id, "start": first.start, "queue": queue, "caller": first.caller,
                  "called": first.called}
        if answered:
            call = CdrCall(**common, disposition=ANSWERED, agent=answered[0].agent,
                           wait_seconds=max(0.0, (answered[0].answered_at - first.start).total_seconds()),
                           talk_seconds=sum(leg.billsec for leg in answered))
        else:
            end = max(leg.start + timedelta(seconds=leg.duration) for leg in lines)
            call = CdrCall(**common, disposition=ABANDONED, wait_seconds=(end - first.start).total_seconds())
        checked = reader.finish(first.row, call)
        if checked is not None:
            calls.append(checked)
    return calls


def cdr_read(*, data: bytes, filename: str, queue_code: str = "", now: datetime | None = None,
             report: ImportReport | None = None) -> tuple[list[CdrCall], ImportReport]:
    """Every row of the file checked. Raises ImportRejected (nothing to write) naming each bad row and column."""
    from kefu.routing.models import Queue

    report = report or ImportReport()
    queues = {q.code: q for q in Queue.objects.all()}
    default = None
    if queue_code:
        default = queues.get(queue_code.strip().lower())
        if default is None:
            raise fail(report, _("没有这个队列：%(code)s") % {"code": queue_code})
    reader = _Reader(report=report, now=now or timezone.now(), default_queue=default, queues=queues)
    records = list(read_rows(data, filename, report))
    if not records:
        raise fail(report, _("文件是空的"))
    reader.users = {u.username: u for u in User.objects.all().only("pk", "username", "team_id")}
    header_keys = {header_key(c) for c in records[0][1]}
    if header_key("call_id") in header_keys:
        calls = _kefu_rows(reader, records[0][1], records[1:])
        report.warnings.append(_("格式：Kefu 话单列"))
    elif 16 <= len(records[0][1]) <= len(ASTERISK_COLUMNS):
        calls = _asterisk_rows(reader, records)
        report.warnings.append(_("格式：Asterisk Master.csv"))
    else:
        raise fail(report, _("第 1 行应是列名（含 call_id），或是 Asterisk Master.csv 的一行（16–18 列）"))
    if report.errors:
        raise ImportRejected(_("共 %(n)s 行有错误，没有导入任何数据") % {"n": len(report.bad_rows)}, report)
    return calls, report


# --- writing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    created: int
    completed: int  # known calls that got events they lacked
    unchanged: int
    events: int
    intervals: int


@transaction.atomic
def calls_write(*, calls: list[CdrCall]) -> Written:
    """Write the calls in one transaction: new calls and their events in bulk; a known call only gets
    the events it lacks (and is recomputed the usual way); then each touched interval is rewritten once."""
    from kefu.telephony.services import summarise

    known: dict[str, Call] = {}
    ids = [c.call_id for c in calls]
    for i in range(0, len(ids), 500):  # SQLite's limit on parameters
        for call in Call.objects.select_for_update().filter(call_id__in=ids[i:i + 500]):
            known[call.call_id] = call
    fresh = [c for c in calls if c.call_id not in known]
    touched = {(c.queue.pk, interval_of(c.start)) for c in fresh}
    events_written = completed = 0
    regions: dict[str, str] = {}  # a number's region, looked up once (callers call again)
    for start in range(0, len(fresh), BATCH):
        chunk = fresh[start:start + BATCH]
        plans = [(c, call_events(c)) for c in chunk]
        for c in chunk:
            if c.caller not in regions:
                regions[c.caller] = region_label(c.caller)
        rows = Call.objects.bulk_create([_summary(c, events, regions[c.caller]) for c, events in plans])
        if any(row.pk is None for row in rows):  # a database that does not return keys from a bulk insert
            pks = dict(Call.objects.filter(call_id__in=[c.call_id for c in chunk]).values_list("call_id", "pk"))
            for row in rows:
                row.pk = pks[row.call_id]
        batch = [CallEvent(call_id=row.pk, event=e.event, at=e.at, queue_code=e.queue_code, agent=e.agent,
                           caller=e.caller, called=e.called, recording_url=e.recording_url)
                 for row, (_c, events) in zip(rows, plans, strict=True) for e in events]
        CallEvent.objects.bulk_create(batch)
        events_written += len(batch)
    for cdr in (c for c in calls if c.call_id in known):
        call = known[cdr.call_id]
        have = set(call.events.values_list("event", "at"))
        missing = [e for e in call_events(cdr) if (e.event, e.at) not in have]
        if not missing:
            continue
        CallEvent.objects.bulk_create([
            CallEvent(call=call, event=e.event, at=e.at, queue_code=e.queue_code, agent=e.agent, caller=e.caller,
                      called=e.called, recording_url=e.recording_url) for e in missing])
        summarise(call)  # rewrites its own intervals
        events_written += len(missing)
        completed += 1
    # one interval at a time, in a fixed order (as summarise does): no deadlock with live calls ending
    for queue_id, interval in sorted(touched):
        interval_write(queue_id=queue_id, start=interval, count=call_figures)
    return Written(created=len(fresh), completed=completed, unchanged=len(calls) - len(fresh) - completed,
                   events=events_written, intervals=len(touched))


def cdr_import(*, actor: Any, data: bytes, filename: str, queue_code: str = "", dry_run: bool = False,
               now: datetime | None = None) -> ImportReport:
    """Import a PBX's call detail records (all or nothing), with one audit row. `report.created`: new calls,
    `report.updated`: known calls completed with events they lacked."""
    if not _may_import(actor):
        raise PermissionDenied(_("您没有权限导入话单"))
    report = ImportReport(dry_run=dry_run)
    if len(data) > MAX_BYTES:
        raise fail(report, _("文件超过 %(n)s MB，请分成几个文件") % {"n": MAX_BYTES // 1024 // 1024})
    calls, report = cdr_read(data=data, filename=filename, queue_code=queue_code, now=now, report=report)
    if dry_run:
        known = set()
        ids = [c.call_id for c in calls]
        for i in range(0, len(ids), 500):
            known |= set(Call.objects.filter(call_id__in=ids[i:i + 500]).values_list("call_id", flat=True))
        report.created = len(calls) - len(known)
        if known:
            report.warnings.append(_("%(n)s 个通话已存在，只补上缺少的事件") % {"n": len(known)})
        return report
    with transaction.atomic():
        written = calls_write(calls=calls)
        audit_record(actor=actor, action="telephony.cdr_imported", object_type="telephony.call",
                     summary=f"{filename}: {len(calls)}",
                     data={"file": filename, "rows": report.rows, "created": written.created,
                           "completed": written.completed, "unchanged": written.unchanged,
                           "events": written.events, "intervals": written.intervals,
                           "queues": sorted({c.queue.code for c in calls})})
    report.created, report.updated = written.created, written.completed
    if written.unchanged:
        report.warnings.append(_("%(n)s 个通话已存在且没有变化") % {"n": written.unchanged})
    return report


def _may_import(actor: Any) -> bool:
    from kefu.core.policy import has_right

    return has_right(actor, TelephonyRight.REPORT)


def format_report(report: ImportReport) -> str:
    """The report as text, one line per problem (for the CLI)."""
    lines = []
    for e in report.errors[:200]:
        where = _("第 %(n)s 行") % {"n": e.row} if e.row else _("文件")
        column = f" [{e.field}]" if e.field else ""
        value = f"（{e.value}）" if e.value else ""
        lines.append(f"{where}{column} {e.message}{value}")
    if len(report.errors) > 200:
        lines.append(f"… {len(report.errors) - 200}")
    lines.extend(_("提示：%(w)s") % {"w": w} for w in report.warnings)
    if report.ignored_columns:
        lines.append(_("已忽略无法识别的列：%(c)s") % {"c": "、".join(report.ignored_columns)})
    if report.ok:
        verb = _("检查通过（未写入）") if report.dry_run else _("导入完成")
        lines.append(_("%(verb)s：共 %(rows)s 行，新建 %(c)s，更新 %(u)s")
                     % {"verb": verb, "rows": report.rows, "c": report.created, "u": report.updated})
    else:
        lines.append(_("共 %(n)s 行有错误，没有导入任何数据") % {"n": len(report.bad_rows)})
    return "\n".join(lines)
