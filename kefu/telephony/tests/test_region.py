"""Callers' regions (归属地): area codes, mobile carriers, imported number segments, foreign calling codes; kept on the
call when it is first recorded; `kefu region import` all or nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from kefu.core.tabular import ImportRejected
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.models import NumberSegment
from kefu.telephony.regions import area_codes, country_codes, mobile_carriers, region_label, region_segments_import
from kefu.telephony.services import cti_event_record

SEGMENTS = "号段,省份,城市,运营商\n1380013,广东,深圳,中国移动\n1861234,四川,成都,\n"


@pytest.mark.parametrize(("number", "label"), [
    ("010-8888 6666", "北京"),
    ("(021) 6888 8888", "上海"),
    ("+86 20 8888 6666", "广东 广州"),
    ("0086 755 8888 6666", "广东 深圳"),
    ("057188886666", "浙江 杭州"),
    ("0898-6666 8888", "海南 海口/三亚（全省）"),
    ("13800138000", "中国移动"),
    ("+86 186 0000 0000", "中国联通"),
    ("8619912345678", "中国电信"),
    ("19212345678", "中国广电"),
    ("013800138000", "中国移动"),  # a PBX's leading 0 before another city's mobile
    ("+1 212 555 0100", "美国/加拿大"),
    ("+852 2345 6789", "中国香港"),
    ("0044 20 7946 0000", "英国"),
    ("4008001234", ""),
    ("95555", ""),
    ("88886666", ""),  # a local number without its area code tells nothing
    ("", ""),
    ("not a number", ""),
    ("0999", ""),  # an area code without a number
])
@pytest.mark.django_db
def test_regions_of_numbers(number: str, label: str) -> None:
    assert region_label(number) == label


def test_the_tables_are_whole_and_well_formed() -> None:
    codes = area_codes()
    assert len(codes) >= 330
    assert all(re.fullmatch(r"0[1-9]\d{1,2}", code) for code in codes)
    assert all(len(code) == 3 for code in codes if code[1] in "12")  # 010, 02x: three digits; others four
    assert {codes["010"][1], codes["0755"][1], codes["0991"][1]} == {"北京", "深圳", "乌鲁木齐"}
    assert set(mobile_carriers().values()) >= {"中国移动", "中国联通", "中国电信", "中国广电"}
    assert all(re.fullmatch(r"1[3-9]\d", prefix) for prefix in mobile_carriers())
    assert country_codes()["886"] == "中国台湾"


@pytest.mark.django_db
def test_imported_segments_give_province_and_city(admin_user: Any) -> None:
    report = region_segments_import(actor=admin_user, data=SEGMENTS.encode("gb18030"), filename="号段.csv")
    assert (report.rows, report.created) == (2, 2)
    assert region_label("13800138000") == "广东 深圳 中国移动"
    assert region_label("18612345678") == "四川 成都 中国联通"
    region_segments_import(actor=admin_user, data="prefix,province,city\n1390000,北京,北京\n".encode(),
                           filename="b.csv")
    assert NumberSegment.objects.count() == 1  # a file replaces the table
    assert region_label("13900001111") == "北京 中国移动"


@pytest.mark.django_db
def test_a_bad_file_names_its_rows_and_writes_nothing(admin_user: Any) -> None:
    region_segments_import(actor=admin_user, data=SEGMENTS.encode(), filename="a.csv")
    bad = "号段,省份,城市\n1380013,广东,深圳\n12345,广东,深圳\n1380013,广东,广州\n1390000,,北京\n"
    with pytest.raises(ImportRejected) as refused:
        region_segments_import(actor=admin_user, data=bad.encode(), filename="bad.csv")
    errors = {(e.row, e.field) for e in refused.value.report.errors}
    assert errors == {(3, "prefix"), (4, "prefix"), (5, "province")}
    assert NumberSegment.objects.count() == 2
    with pytest.raises(ImportRejected):
        region_segments_import(actor=admin_user, data="城市\n深圳\n".encode(), filename="c.csv")
    with pytest.raises(ImportRejected):
        region_segments_import(actor=admin_user, data=b"", filename="d.csv")


@pytest.mark.django_db
def test_the_command(tmp_path: Path, capsys: Any) -> None:
    good = tmp_path / "segments.csv"
    good.write_text(SEGMENTS, encoding="utf-8")
    call_command("region", "import", str(good))
    assert "imported 2" in capsys.readouterr().out
    call_command("region", "lookup", "13800138000")
    assert "广东 深圳 中国移动" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("号段,省份\n12,广东\n", encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("region", "import", str(bad))
    assert refused.value.returncode == 2
    assert "row 2: prefix" in capsys.readouterr().err
    with pytest.raises(CommandError):
        call_command("region", "import", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_a_call_keeps_the_region_from_its_first_event(admin_user: Any) -> None:
    call = cti_event_record(actor=admin_user, data=CtiEventIn(
        call_id="r1", event="offered", at=timezone.now(), caller="010-8888 6666", called="4008001234")).call
    assert call.region == "北京"
    later = cti_event_record(actor=admin_user, data=CtiEventIn(
        call_id="r2", event="offered", at=timezone.now(), caller="", called="4008001234")).call
    assert later.region == ""
    later = cti_event_record(actor=admin_user, data=CtiEventIn(
        call_id="r2", event="ended", at=timezone.now(), caller="13800138000", called="4008001234")).call
    assert later.region == "中国移动"


@pytest.mark.django_db
def test_the_screen_pop_shows_the_region(client: Any, admin_user: Any, agent: Any) -> None:
    call = cti_event_record(actor=admin_user, data=CtiEventIn(
        call_id="r3", event="ringing", at=timezone.now(), caller="0755-8888 6666", called="4008001234",
        agent=agent.username)).call
    client.force_login(agent)
    page = client.get(f"/calls/{call.pk}/pop/").content.decode()
    assert 'data-testid="screen-pop-region">广东 深圳<' in page
