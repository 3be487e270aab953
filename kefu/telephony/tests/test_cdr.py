"""Call history from the PBX (`kefu cdr import`): the bulk path writes the same calls and interval figures as the
CTI service given the same events; a file imported twice changes nothing; a bad row names its row and column and
nothing is written; UTF-8 (with or without BOM) and GB18030 are read; Asterisk's Master.csv too."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.accounts.tests.factories import UserFactory
from kefu.core.models import AuditLog
from kefu.core.tabular import ImportRejected
from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.cdr import CDR_IMPORT, CdrCall, call_events, calls_write, cdr_import
from kefu.telephony.models import Call, CallEvent
from kefu.telephony.services import CtiEventIn, cti_event_record

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=SH)
NOW = MONDAY + timedelta(days=7)
HEADER = ["call_id", "start", "queue", "caller", "called", "agent", "answered_at", "wait_seconds", "talk_seconds",
          "hold_seconds", "disposition", "recording_url"]
# every field of a call but its key and write time: a field the CTI service comes to set and the bulk path does
# not is caught here
# the conversation a call makes in the customer's history is the CTI path's alone: history imported in bulk makes none
CALL_FIELDS = tuple(f.attname for f in Call._meta.concrete_fields
                    if f.name not in ("id", "updated_at", "conversation"))
STAT_FIELDS = ("queue_id", "start", "offered", "answered", "abandoned", "short_abandoned", "voicemail",
               "answered_within_target", "abandoned_within_target", "wait_seconds", "talk_seconds", "hold_seconds",
               "acw_seconds")


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team,
                                                         target_seconds=20, short_abandon_seconds=5))


@pytest.fixture
def sales(admin_user: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="sales", name="销售热线", target_seconds=30))


def csv_bytes(rows: list[list[Any]], header: list[str] | None = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def history(agent: Any, n: int = 80, seed: int = 3) -> list[list[Any]]:
    """Calls of two queues over three hours: answered (some held, some with fractional seconds), abandoned short,
    within and after the target, voicemails; with and without an agent and a recording."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        start = MONDAY + timedelta(hours=9, seconds=rng.randint(0, 3 * 3600), microseconds=rng.randint(0, 999999))
        kind = rng.choice(["answered"] * 6 + ["abandoned"] * 3 + ["voicemail"])
        wait = round(rng.uniform(0, 70), rng.choice([0, 1, 3]))
        row = [f"c{i}", start.isoformat(), rng.choice(["hotline", "sales"]), f"1380013{i:04d}", "4008001234",
               "", "", wait, "", "", kind, ""]
        if kind == "answered":
            row[5] = agent.username if rng.random() < 0.8 else ""
            row[8] = round(rng.expovariate(1 / 200), 2)
            row[9] = rng.choice([0, 0, 0, 25, 61.5])
            if rng.random() < 0.3:  # the answer as a time instead of a wait
                row[6], row[7] = (start + timedelta(seconds=wait)).isoformat(), ""
        elif kind == "abandoned" and rng.random() < 0.3:
            row[5] = agent.username
        elif kind == "voicemail":
            row[8] = rng.randint(0, 40)
        if rng.random() < 0.4:
            row[11] = f"https://pbx.example.cn/rec/{i}.wav"
        rows.append(row)
    return rows


def snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    calls = sorted(tuple(getattr(c, f) for f in CALL_FIELDS) for c in Call.objects.all())
    stats = sorted(tuple(getattr(s, f) for f in STAT_FIELDS) for s in IntervalStat.objects.all())
    return calls, stats, CallEvent.objects.count()


def test_the_bulk_path_gives_the_same_calls_and_intervals_as_the_cti_service(hotline: Any, sales: Any,
                                                                             agent: Any) -> None:
    data = csv_bytes(history(agent))
    report = cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", now=NOW)
    assert (report.rows, report.created, report.updated) == (80, 80, 0)
    bulk = snapshot()
    assert bulk[1]
    assert sum(s[2] for s in bulk[1]) == 80

    # The same calls' events, one by one through the CTI service, on an empty floor.
    from kefu.telephony.cdr import cdr_read

    calls, _report = cdr_read(data=data, filename="cdr.csv", now=NOW)
    Call.objects.all().delete()
    IntervalStat.objects.all().delete()
    for call in calls:
        for e in call_events(call):
            cti_event_record(actor=CDR_IMPORT, now=NOW, data=CtiEventIn(
                call_id=call.call_id, event=e.event, at=e.at, caller=e.caller, called=e.called,
                queue=e.queue_code, agent=e.agent.username if e.agent else "", recording_url=e.recording_url))
    assert snapshot() == bulk


def test_the_same_file_twice_changes_nothing(hotline: Any, sales: Any, agent: Any) -> None:
    data = csv_bytes(history(agent, n=30))
    cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", now=NOW)
    first = snapshot()
    again = cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", now=NOW)
    assert (again.created, again.updated) == (0, 0)
    assert snapshot() == first
    audit = AuditLog.objects.filter(action="telephony.cdr_imported").order_by("id")
    assert [(a.data["created"], a.data["unchanged"]) for a in audit] == [(30, 0), (0, 30)]


def test_a_call_known_from_the_cti_api_gets_only_the_events_it_lacks(hotline: Any, agent: Any) -> None:
    start = MONDAY + timedelta(hours=10, minutes=3)
    cti_event_record(actor=CDR_IMPORT, now=NOW, data=CtiEventIn(call_id="k1", event="offered", at=start,
                                                                caller="13800138000", queue="hotline"))
    assert not IntervalStat.objects.filter(offered__gt=0).exists()  # still in progress
    data = csv_bytes([["k1", start.isoformat(), "hotline", "13800138000", "", agent.username, "", 12, 100, "",
                       "answered", ""]])
    report = cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", now=NOW)
    assert (report.created, report.updated) == (0, 1)
    call = Call.objects.get()
    assert (call.state, call.wait_seconds, call.talk_seconds, call.agent_id) == ("ended", 12, 100, agent.pk)
    assert CallEvent.objects.count() == 3  # offered once, answered and ended added
    stat = IntervalStat.objects.get()
    assert (stat.start, stat.offered, stat.answered) == (MONDAY + timedelta(hours=10), 1, 1)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("start", "23/11/2026 9am", "ISO"),
    ("start", "2027-06-01T09:00:00+08:00", "未来"),
    ("queue", "nosuch", "没有这个队列"),
    ("wait_seconds", "-3", "秒数"),
    ("talk_seconds", "abc", "秒数"),
    ("agent", "ghost", "没有这个坐席账号"),
    ("disposition", "busy", "answered"),
    ("recording_url", "ftp://x/y.wav", "http"),
    ("answered_at", "2026-11-23T08:00:00+08:00", "早于"),
    ("caller", "1" * 41, "40"),
])
def test_a_bad_row_is_named_by_row_and_column_and_nothing_is_written(hotline: Any, sales: Any, agent: Any,
                                                                     column: str, value: str, message: str) -> None:
    rows = history(agent, n=5)
    for row in rows:  # all answered, so every column applies
        row[10], row[6] = "answered", ""
    rows[3][HEADER.index(column)] = value
    with pytest.raises(ImportRejected) as caught:
        cdr_import(actor=CDR_IMPORT, data=csv_bytes(rows), filename="cdr.csv", now=NOW)
    errors = caught.value.report.errors
    assert [(e.row, e.field) for e in errors] == [(5, column)]  # the header is row 1
    assert message in errors[0].message
    assert (Call.objects.count(), CallEvent.objects.count(), IntervalStat.objects.count()) == (0, 0, 0)
    assert not AuditLog.objects.filter(action="telephony.cdr_imported").exists()


def test_a_repeated_call_id_and_missing_columns_are_refused(hotline: Any, sales: Any, agent: Any) -> None:
    rows = history(agent, n=3)
    rows[2][0] = rows[0][0]
    with pytest.raises(ImportRejected) as caught:
        cdr_import(actor=CDR_IMPORT, data=csv_bytes(rows), filename="cdr.csv", now=NOW)
    assert [(e.row, e.field) for e in caught.value.report.errors] == [(4, "call_id")]
    assert "第 2 行" in caught.value.report.errors[0].message
    with pytest.raises(ImportRejected) as caught:
        cdr_import(actor=CDR_IMPORT, data=b"call_id,start\nx,2026-11-23T09:00:00\n", filename="cdr.csv", now=NOW)
    assert [(e.row, e.field) for e in caught.value.report.errors] == [(1, "disposition"), (1, "queue")]
    with pytest.raises(ImportRejected):
        cdr_import(actor=CDR_IMPORT, data=b"", filename="cdr.csv", now=NOW)
    assert Call.objects.count() == 0


def test_a_time_without_an_offset_is_the_centres_and_the_default_queue_fills_in(hotline: Any) -> None:
    data = csv_bytes([["n1", "2026-11-23 09:14:59", "", "", "", "", "", "3", "60", "", "ANSWERED", ""]],
                     header=list(HEADER))
    report = cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", queue_code="hotline", now=NOW)
    assert report.created == 1
    call = Call.objects.get()
    assert (call.offered_at, call.queue_id) == (MONDAY + timedelta(hours=9, minutes=14, seconds=59), hotline.pk)
    assert IntervalStat.objects.get().start == MONDAY + timedelta(hours=9)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_utf8_with_or_without_bom_and_gb18030_are_read(hotline: Any, team: Any, encoding: str) -> None:
    chinese = UserFactory(username="李娜", team=team)
    data = csv_bytes([["e1", "2026-11-23T09:00:00+08:00", "hotline", "", "", "李娜", "", "5", "60", "", "answered",
                       "", "老客户，投诉噪音"]], header=[*HEADER, "备注"], encoding=encoding)
    report = cdr_import(actor=CDR_IMPORT, data=data, filename="cdr.csv", now=NOW)
    assert report.ignored_columns == ["备注"]
    assert Call.objects.get().agent_id == chinese.pk


def test_asterisk_master_csv(hotline: Any, agent: Any) -> None:
    lines = [
        # accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end,
        # duration, billsec, disposition, amaflags, uniqueid
        ["", "13800138000", "4008001234", "from-pstn", '"" <13800138000>', "PJSIP/trunk-00000001",
         f"PJSIP/{agent.username}-00000002", "Queue", "hotline,t,,,300", "2026-11-23 09:00:00",
         "2026-11-23 09:00:18", "2026-11-23 09:03:18", "198", "180", "ANSWERED", "DOCUMENTATION", "1763859600.1"],
        ["", "13900139000", "4008001234", "from-pstn", "", "PJSIP/trunk-00000003", "", "Queue", "hotline",
         "2026-11-23 09:05:00", "", "2026-11-23 09:05:40", "40", "0", "NO ANSWER", "DOCUMENTATION",
         "1763859900.3"],
    ]
    report = cdr_import(actor=CDR_IMPORT, data=csv_bytes(lines, header=None), filename="Master.csv", now=NOW)
    assert report.created == 2
    answered, abandoned = Call.objects.order_by("offered_at")
    assert (answered.call_id, answered.state, answered.wait_seconds, answered.talk_seconds, answered.agent_id) == (
        "1763859600.1", "ended", 18, 180, agent.pk)
    assert (abandoned.state, abandoned.wait_seconds, abandoned.agent_id) == ("abandoned", 40, None)
    stat = IntervalStat.objects.get()
    assert (stat.offered, stat.answered, stat.abandoned, stat.answered_within_target) == (2, 1, 1, 1)


def test_asterisk_lines_of_one_uniqueid_are_one_call(hotline: Any, agent: Any) -> None:
    """Asterisk writes a line per bridge: a member that did not answer, then the one who did, then a transfer."""
    def line(dst: str, start: str, answer: str, duration: int, billsec: int, disposition: str) -> list[str]:
        return ["", "13800138000", "4008001234", "from-pstn", "", "PJSIP/trunk-00000001", dst, "Queue",
                "hotline,t", start, answer, "", str(duration), str(billsec), disposition, "DOCUMENTATION", "u1"]

    lines = [line("PJSIP/other-00000002", "2026-11-23 09:00:00", "", 10, 0, "NO ANSWER"),
             line(f"PJSIP/{agent.username}-00000003", "2026-11-23 09:00:10", "2026-11-23 09:00:25", 95, 80,
                  "ANSWERED"),
             line("PJSIP/2001-00000004", "2026-11-23 09:01:45", "2026-11-23 09:01:50", 65, 60, "ANSWERED")]
    report = cdr_import(actor=CDR_IMPORT, data=csv_bytes(lines, header=None), filename="Master.csv", now=NOW)
    assert (report.rows, report.created) == (3, 1)
    call = Call.objects.get()
    assert (call.call_id, call.wait_seconds, call.talk_seconds, call.agent_id) == ("u1", 25, 140, agent.pk)


def test_asterisk_master_csv_without_a_queue_needs_one(hotline: Any) -> None:
    line = ["", "13800138000", "8001", "internal", "", "PJSIP/1001-00000001", "", "Dial", "PJSIP/8001",
            "2026-11-23 09:00:00", "", "2026-11-23 09:00:10", "10", "0", "BUSY", "DOCUMENTATION"]
    with pytest.raises(ImportRejected) as caught:
        cdr_import(actor=CDR_IMPORT, data=csv_bytes([line], header=None), filename="Master.csv", now=NOW)
    assert [(e.row, e.field) for e in caught.value.report.errors] == [(1, "lastdata")]
    cdr_import(actor=CDR_IMPORT, data=csv_bytes([line], header=None), filename="Master.csv", queue_code="hotline",
               now=NOW)
    assert Call.objects.get().call_id == "PJSIP/1001-00000001@2026-11-23 09:00:00"


def test_only_who_may_report_calls_may_import(hotline: Any, sales: Any, agent: Any, admin_user: Any) -> None:
    from kefu.core.errors import PermissionDenied

    data = csv_bytes(history(agent, n=2))
    with pytest.raises(PermissionDenied):
        cdr_import(actor=agent, data=data, filename="cdr.csv", now=NOW)
    cdr_import(actor=admin_user, data=data, filename="cdr.csv", now=NOW)
    assert AuditLog.objects.get(action="telephony.cdr_imported").actor_id == admin_user.pk


def test_calls_write_takes_checked_calls(hotline: Any) -> None:
    """The demo writes its history through the same bulk path, without a file."""
    calls = [CdrCall(call_id=f"d{i}", start=MONDAY + timedelta(hours=9, minutes=i), queue=hotline,
                     disposition="answered", wait_seconds=10, talk_seconds=120) for i in range(20)]
    written = calls_write(calls=calls)
    assert (written.created, written.events, written.intervals) == (20, 60, 2)
    assert sum(IntervalStat.objects.values_list("answered", flat=True)) == 20


def test_the_command(hotline: Any, sales: Any, agent: Any, tmp_path: Path) -> None:
    good = tmp_path / "cdr.csv"
    good.write_bytes(csv_bytes(history(agent, n=10)))
    out = io.StringIO()
    call_command("cdr", "import", str(good), "--dry-run", stdout=out)
    assert "检查通过" in out.getvalue()
    assert Call.objects.count() == 0
    call_command("cdr", "import", str(good), stdout=out)
    assert Call.objects.count() == 10
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["z", "not a time", "hotline", "", "", "", "", "", "", "", "answered", ""]]))
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("cdr", "import", str(bad), stderr=err)
    assert caught.value.returncode == 2
    assert "第 2 行 [start]" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("cdr", "import", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError) as caught:
        call_command("cdr", "import", str(good), "--queue", "nosuch")
    assert caught.value.returncode == 2
