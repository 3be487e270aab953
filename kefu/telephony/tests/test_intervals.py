"""Interval statistics written as calls end: each call counted once, by its outcome, in the 15-minute interval
it was offered in (the PBX's time), also when its events come twice, late or out of order; and the history file
`kefu stats intervals` writes is read by `kefu wfm forecast`."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kefu.routing.models import IntervalStat
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.services import CtiEventIn, cti_event_record

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=SH)


@pytest.fixture
def hotline(admin_user: Any, team: Any) -> Any:
    return queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team,
                                                         target_seconds=20, short_abandon_seconds=5))


def report(actor: Any, call_id: str, event: str, at: datetime, **extra: Any) -> Any:
    return cti_event_record(actor=actor, data=CtiEventIn(call_id=call_id, event=event, at=at, caller="13800138000",
                                                          called="4008001234", **extra))


def answered_call(actor: Any, call_id: str, offered: datetime, wait: float, talk: float, hold: float = 0,
                  agent: str = "") -> None:
    report(actor, call_id, "queued", offered, queue="hotline")
    report(actor, call_id, "answered", offered + timedelta(seconds=wait), agent=agent)
    if hold:
        report(actor, call_id, "held", offered + timedelta(seconds=wait + 10))
        report(actor, call_id, "resumed", offered + timedelta(seconds=wait + 10 + hold))
    report(actor, call_id, "ended", offered + timedelta(seconds=wait + talk + hold))


def abandoned_call(actor: Any, call_id: str, offered: datetime, wait: float) -> None:
    report(actor, call_id, "queued", offered, queue="hotline")
    report(actor, call_id, "abandoned", offered + timedelta(seconds=wait))


def test_each_call_counts_once_by_its_outcome_in_its_interval(admin_user: Any, hotline: Any, agent: Any) -> None:
    nine = MONDAY + timedelta(hours=9)
    answered_call(admin_user, "c1", nine + timedelta(minutes=1), wait=12, talk=180, hold=30, agent=agent.username)
    answered_call(admin_user, "c2", nine + timedelta(minutes=14, seconds=50), wait=45, talk=120)  # late answer
    abandoned_call(admin_user, "c3", nine + timedelta(minutes=5), wait=3)  # short: kept apart
    abandoned_call(admin_user, "c4", nine + timedelta(minutes=6), wait=15)  # within the target
    abandoned_call(admin_user, "c5", nine + timedelta(minutes=7), wait=90)
    report(admin_user, "c6", "queued", nine + timedelta(minutes=8), queue="hotline")
    report(admin_user, "c6", "voicemail", nine + timedelta(minutes=9))
    report(admin_user, "c6", "ended", nine + timedelta(minutes=10))
    report(admin_user, "c7", "queued", nine + timedelta(minutes=11), queue="hotline")  # still waiting: not yet
    answered_call(admin_user, "c8", nine + timedelta(minutes=15), wait=5, talk=60)  # the next interval

    first, second = IntervalStat.objects.order_by("start")
    assert first.start == nine
    assert (first.offered, first.answered, first.answered_within_target) == (6, 2, 1)
    assert (first.abandoned, first.short_abandoned, first.abandoned_within_target, first.voicemail) == (2, 1, 1, 1)
    assert (first.wait_seconds, first.talk_seconds, first.hold_seconds) == (57, 300, 30)
    assert (second.start, second.offered, second.answered) == (nine + timedelta(minutes=15), 1, 1)


def test_a_duplicate_and_a_late_event_are_counted_once_and_in_the_right_interval(admin_user: Any,
                                                                              hotline: Any) -> None:
    nine = MONDAY + timedelta(hours=9)
    answered_call(admin_user, "d1", nine + timedelta(minutes=16), wait=10, talk=100)
    assert report(admin_user, "d1", "ended", nine + timedelta(minutes=16, seconds=110)).duplicate
    assert [(s.start, s.offered) for s in IntervalStat.objects.order_by("start")] == [(nine + timedelta(minutes=15),
                                                                                      1)]
    # days later the PBX's backlog: the call was offered (in the IVR) before it queued, in the interval before
    report(admin_user, "d1", "offered", nine + timedelta(minutes=14, seconds=30), queue="hotline")
    counts = {s.start: (s.offered, s.answered) for s in IntervalStat.objects.order_by("start")}
    assert counts == {nine: (1, 1), nine + timedelta(minutes=15): (0, 0)}


def test_the_history_file_goes_into_the_forecast(admin_user: Any, hotline: Any, tmp_path: Path) -> None:
    from kefu.wfm.cli import main

    for day in range(7):
        for slot in range(6):  # 09:00–12:00, one call each half hour and one more at 10:00
            offered = MONDAY + timedelta(days=day, hours=9, minutes=30 * slot, seconds=40)
            answered_call(admin_user, f"h{day}-{slot}", offered, wait=8 + slot, talk=200 + 10 * day)
        abandoned_call(admin_user, f"a{day}", MONDAY + timedelta(days=day, hours=10, minutes=3), wait=40)
    out = tmp_path / "history.csv"
    text = StringIO()
    call_command("stats", "intervals", "--queue", "hotline", "--from", "2026-11-23", "--to", "2026-11-29",
                 "--minutes", "30", "--out", str(out), stdout=text)
    assert "42 intervals of 30 minutes" in text.getvalue()
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["interval_start", "queue", "offered", "answered", "abandoned",
                             "answered_within_target", "aht_seconds"]
    ten = next(r for r in rows if r["interval_start"] == "2026-11-23T10:00+08:00")
    assert (ten["offered"], ten["answered"], ten["abandoned"], ten["aht_seconds"]) == ("2", "1", "1", "200.0")

    forecast = tmp_path / "forecast.csv"
    assert main(["forecast", "--history", str(out), "--horizon-days", "7", "--out", str(forecast)]) == 0
    with forecast.open(encoding="utf-8") as handle:
        predicted = list(csv.DictReader(handle))
    assert predicted[0]["queue"] == "hotline"
    assert "aht_seconds" in predicted[0]  # the handle times came through
    assert any(float(r["offered"]) > 0 for r in predicted)


@pytest.mark.parametrize(("args", "named"), [
    (["--queue", "nope"], "--queue"), (["--from", "23/11/2026"], "--from"), (["--to", "2026-11-01"], "--to"),
    (["--minutes", "20"], "--minutes"), (["--out", "/no/such/folder/h.csv"], "--out"),
])
def test_bad_arguments_are_named(hotline: Any, tmp_path: Path, args: list[str], named: str) -> None:
    base = {"--queue": "hotline", "--from": "2026-11-23", "--to": "2026-11-29", "--minutes": "30",
            "--out": str(tmp_path / "h.csv")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError, match=named):
        call_command("stats", "intervals", *[x for pair in base.items() for x in pair], stdout=StringIO())
    assert not (tmp_path / "h.csv").exists()


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs a database with real concurrent connections: runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_calls_ending_at_once_in_one_interval_are_all_counted(admin_user: Any, team: Any) -> None:
    """Each ending rewrites the interval from the calls it sees: without the row lock, two endings at once would
    each miss the other's call."""
    import threading

    from django.db import connections

    queue_create(actor=admin_user, data=QueueData(code="hotline", name="服务热线", team=team))
    nine = MONDAY + timedelta(hours=9)
    for n in range(6):
        report(admin_user, f"p{n}", "queued", nine + timedelta(minutes=n), queue="hotline")
        report(admin_user, f"p{n}", "answered", nine + timedelta(minutes=n, seconds=10))
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def end(n: int) -> None:
        try:
            start.wait(timeout=60)
            report(admin_user, f"p{n}", "ended", nine + timedelta(minutes=n, seconds=100))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=end, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    (stat,) = IntervalStat.objects.all()
    assert (stat.offered, stat.answered, stat.talk_seconds) == (6, 6, 6 * 90)
