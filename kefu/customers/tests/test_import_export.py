"""Import (xlsx / CSV in UTF-8, BOM, GBK) with a full bad-row report and nothing half-written; export."""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.customers import services
from kefu.customers.exporting import customer_export, safe_cell
from kefu.customers.importing import ImportRejected, customer_import, format_report
from kefu.customers.models import ContactPoint, Customer, Site, Tag
from kefu.customers.permissions import CustomerRight
from kefu.customers.selectors import CustomerFilters
from kefu.customers.services import ContactInput, SiteInput
from kefu.customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HEADER_ZH = [
    "客户编号",
    "姓名",
    "手机",
    "邮箱",
    "微信",
    "公司",
    "等级",
    "VIP",
    "生日",
    "证件号码",
    "标签",
    "省",
    "市",
    "地址",
    "备注",
]


def _csv(rows, *, encoding="utf-8", header=HEADER_ZH):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def _xlsx(rows, header=HEADER_ZH):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _import(data, filename="customers.csv", **kwargs):
    kwargs.setdefault("actor", None)
    return customer_import(data=data, filename=filename, **kwargs)


GOOD = [
    "C001",
    "张三",
    "13800138000/139-0000-0000",
    "ZS@Example.com",
    "zs_wx",
    "星光物业",
    "A",
    "是",
    "1990-03-07",
    "110101199003071233",
    "老客户,投诉多",
    "广东省",
    "深圳市",
    "南山区科技园 1 号",
    "备注一",
]


class TestBadRows:
    def test_every_bad_row_is_reported_with_excel_row_numbers_and_nothing_is_written(self, agent):
        CustomerFactory(code="EXIST")
        rows = [
            GOOD,  # row 2: fine
            ["C002", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 3: no name
            ["", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 4: blank, skipped
            [
                "C003",
                "李四",
                "12345678901",
                "bad-mail",
                "",
                "",
                "E",
                "也许",
                "1990-13-40",
                "110101199003071234",
                "",
                "广东省",
                "",
                "",
                "",
            ],  # row 5: many errors
            ["C001", "王五", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 6: duplicate code
            [
                "EXIST",
                "赵六",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ],  # row 7: exists, no --update
            ["C 8", "钱七", "", "", "", "", "", "", "2999-01-01", "", "", "", "", "", ""],  # row 8
        ]
        before = (
            Customer.objects.count(),
            ContactPoint.objects.count(),
            Tag.objects.count(),
            AuditLog.objects.count(),
        )
        with pytest.raises(ImportRejected) as exc:
            _import(_csv(rows))
        report = exc.value.report
        got = {(e.row, e.field) for e in report.errors}
        assert got == {
            (3, "name"),
            (5, "phone"),
            (5, "email"),
            (5, "tier"),
            (5, "vip"),
            (5, "birthday"),
            (5, "id_number"),
            (5, "address"),
            (6, "code"),
            (7, "code"),
            (8, "code"),
            (8, "birthday"),
        }
        assert report.bad_rows == [3, 5, 6, 7, 8]
        dup = next(e for e in report.errors if e.row == 6)
        assert "第 2 行" in dup.message
        assert all(e.value != "110101199003071234" for e in report.errors)  # personal data stays out
        assert exc.value.status == 400
        assert exc.value.details["errors"][0]["row"] == 3
        assert (
            Customer.objects.count(),
            ContactPoint.objects.count(),
            Tag.objects.count(),
            AuditLog.objects.count(),
        ) == before
        text = format_report(report)
        assert "第 5 行 [phone]" in text
        assert "没有导入任何数据" in text

    def test_unknown_dedicated_agent_is_an_error(self, agent, manager):
        header = ["姓名", "专属客服"]
        with pytest.raises(ImportRejected) as exc:
            _import(
                _csv(
                    [["张三", agent.employee_no], ["李四", "nobody"], ["王五", manager.username]],
                    header=header,
                )
            )
        assert [(e.row, e.field) for e in exc.value.report.errors] == [
            (3, "dedicated_agent"),
            (4, "dedicated_agent"),
        ]

    def test_file_level_problems(self):
        with pytest.raises(ImportRejected, match="姓名"):
            _import(_csv([["x"]], header=["手机"]))
        with pytest.raises(ImportRejected, match="只有表头"):
            _import(_csv([]))
        with pytest.raises(ImportRejected, match="空"):
            _import(b"  \n")
        with pytest.raises(ImportRejected, match="xls"):
            _import(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, filename="old.xls")
        with pytest.raises(ImportRejected, match="Excel"):
            _import(b"PK\x03\x04garbage", filename="x.xlsx")
        with pytest.raises(ImportRejected, match="同一列"):
            _import(_csv([["a", "b"]], header=["姓名", "name"]))
        assert Customer.objects.count() == 0

    def test_size_limits(self):
        with pytest.raises(ImportRejected, match="超过 2 行"):
            _import(_csv([["张三"], ["李四"], ["王五"]], header=["姓名"]), max_rows=2)
        with pytest.raises(ImportRejected, match="文件太大"):
            _import(_csv([["张三"]] * 50, header=["姓名"]), max_bytes=100)
        assert Customer.objects.count() == 0

    def test_permission(self, agent, manager):
        data = _csv([["张三"]], header=["姓名"])
        with pytest.raises(PermissionDenied):
            _import(data, actor=agent)
        assert _import(data, actor=manager).created == 1
        assert AuditLog.objects.get(action="customer.imported").actor == manager


class TestGoodFiles:
    def test_utf8_csv_creates_everything(self):
        report = _import(_csv([GOOD, ["", "李四", "", "", "", "", "", "否", "", "", "", "", "", "", ""]]))
        assert (report.created, report.updated, report.rows) == (2, 0, 2)
        c = Customer.objects.get(code="C001")
        assert (c.name, c.tier, c.is_vip, c.birthday, c.company) == (
            "张三",
            "A",
            True,
            datetime.date(1990, 3, 7),
            "星光物业",
        )
        assert sorted(c.contacts.values_list("kind", "normalized")) == [
            ("email", "zs@example.com"),
            ("phone", "13800138000"),
            ("phone", "13900000000"),
            ("wechat", "zs_wx"),
        ]
        assert c.contacts.get(normalized="13800138000").is_primary
        assert sorted(c.tags.values_list("name", flat=True)) == ["投诉多", "老客户"]
        assert c.sites.get().address == "南山区科技园 1 号"
        generated = Customer.objects.get(name="李四")
        assert generated.code == f"K{generated.pk:08d}"
        assert AuditLog.objects.filter(action="customer.created").count() == 2

    @pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-16"])
    def test_chinese_encodings(self, encoding):
        report = _import(_csv([GOOD], encoding=encoding))
        assert report.created == 1
        assert Customer.objects.get().name == "张三"
        assert Site.objects.get().city == "深圳市"

    def test_english_headers_with_hints_and_ignored_columns(self):
        header = ["Code", "Name *", "Phone (mobile)", "e-mail", "Tier", "Favourite colour"]
        report = _import(_csv([["E1", "Zhang San", "13800138000", "a@b.cn", "b", "blue"]], header=header))
        assert report.ignored_columns == ["Favourite colour"]
        assert Customer.objects.get().tier == "B"

    def test_xlsx_with_numeric_cells(self):
        data = _xlsx(
            [
                [
                    "C9",
                    "张三",
                    13800138000,
                    None,
                    None,
                    None,
                    "C类",
                    "VIP",
                    datetime.datetime(1990, 3, 7),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ]
            ]
        )
        _import(data, filename="list.xlsx")
        c = Customer.objects.get()
        assert c.contacts.get().normalized == "13800138000"
        assert c.is_vip
        assert c.birthday == datetime.date(1990, 3, 7)

    def test_xlsx_id_number_stored_as_number_is_refused(self):
        data = _xlsx([["C9", "张三", None, None, None, None, None, None, None, 1.10101199003071e17]])
        with pytest.raises(ImportRejected) as exc:
            _import(data, filename="list.xlsx")
        assert [(e.row, e.field) for e in exc.value.report.errors] == [(2, "id_number")]

    def test_upsert_by_code(self, agent):
        existing = services.customer_create(
            actor=agent,
            code="C001",
            name="张三",
            company="旧公司",
            tier="C",
            contacts=[ContactInput(kind="phone", value="13800138000")],
            sites=[SiteInput(address="南山区科技园 1 号", province="广东省", city="深圳市")],
        )
        header = ["客户编号", "姓名", "手机", "公司", "等级", "地址", "省", "市"]
        report = _import(
            _csv(
                [
                    [
                        "C001",
                        "张三丰",
                        "13800138000/13900000000",
                        "",
                        "A",
                        "南山区科技园 1 号",
                        "广东省",
                        "深圳市",
                    ]
                ],
                header=header,
            ),
            update_existing=True,
        )
        assert (report.created, report.updated) == (0, 1)
        existing.refresh_from_db()
        assert (existing.name, existing.company, existing.tier, existing.version) == (
            "张三丰",
            "旧公司",
            "A",
            2,
        )
        assert existing.contacts.count() == 2
        assert existing.sites.count() == 1
        assert existing.contacts.filter(kind="phone", is_primary=True).count() == 1

    def test_duplicate_phone_in_file_is_a_warning(self):
        report = _import(
            _csv(
                [["", "张三", "13800138000"], ["", "张三", "138 0013 8000"]], header=["编号", "姓名", "手机"]
            )
        )
        assert report.created == 2
        assert "第 3 行与第 2 行" in report.warnings[0]

    def test_dry_run_writes_nothing(self):
        report = _import(_csv([GOOD]), dry_run=True)
        assert report.ok
        assert report.created == 1
        assert Customer.objects.count() == 0


def _seed(agent):
    customer = services.customer_create(
        actor=agent,
        code="C001",
        name="张三",
        company='=HYPERLINK("http://evil")',
        tier="A",
        is_vip=True,
        dedicated_agent=agent,
        birthday=datetime.date(1990, 3, 7),
        id_number="110101199003071233",
        notes="+1 表示加急\n第二行",
        tags=["老客户", "@重要"],
        contacts=[
            ContactInput(kind="phone", value="13800138000"),
            ContactInput(kind="phone", value="02088886666"),
            ContactInput(kind="email", value="zs@example.com"),
            ContactInput(kind="wechat", value="zs_wx"),
        ],
        sites=[SiteInput(address="-1 层车库", province="广东省", city="深圳市")],
    )
    services.customer_create(actor=agent, code="C002", name="李四")
    return customer


def _snapshot():
    return sorted(
        (
            c.code,
            c.name,
            c.company,
            c.tier,
            c.is_vip,
            c.dedicated_agent_id,
            c.birthday,
            c.id_number,
            c.notes,
            tuple(sorted(c.contacts.values_list("kind", "value", "is_primary"))),
            tuple(sorted(c.tags.values_list("name", flat=True))),
            tuple(c.sites.values_list("province", "city", "address")),
        )
        for c in Customer.objects.all()
    )


class TestExport:
    @pytest.mark.parametrize(
        ("fmt", "encoding"), [("xlsx", "utf-8-sig"), ("csv", "utf-8-sig"), ("csv", "gb18030")]
    )
    def test_round_trip(self, agent, manager, fmt, encoding):
        _seed(agent)
        before = _snapshot()
        out = io.BytesIO()
        result = customer_export(actor=manager, out=out, fmt=fmt, encoding=encoding)
        assert result.rows == 2
        Customer.objects.all().delete()
        report = _import(out.getvalue(), filename=f"export.{fmt}")
        assert report.created == 2
        assert _snapshot() == before

    def test_formula_injection_is_neutralised(self, agent, manager):
        _seed(agent)
        out = io.BytesIO()
        customer_export(actor=manager, out=out, fmt="xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        assert all(c.data_type != "f" for c in cells)
        values = {c.value for c in cells}
        assert '\'=HYPERLINK("http://evil")' in values
        assert "'-1 层车库" in values
        assert "'+1 表示加急\n第二行" in values
        out = io.BytesIO()
        customer_export(actor=manager, out=out, fmt="csv")
        text = out.getvalue().decode("utf-8-sig")
        assert "'=HYPERLINK" in text
        assert ",=" not in text
        assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
        assert safe_cell("13800138000") == "13800138000"

    def test_masked_for_roles_without_rights_and_audited(self, agent, manager, monkeypatch):
        from kefu.core import policy


        _seed(agent)
        # A role that may export but not see phones or IDs gets masked values.
        monkeypatch.setitem(policy._RIGHTS, str(CustomerRight.VIEW_PHONE), frozenset())
        monkeypatch.setitem(policy._RIGHTS, str(CustomerRight.VIEW_ID_NUMBER), frozenset())
        out = io.BytesIO()
        customer_export(actor=manager, out=out, fmt="csv", ip="10.1.1.1", filters=CustomerFilters(tier="A"))
        text = out.getvalue().decode("utf-8-sig")
        assert "138****8000" in text
        assert "13800138000" not in text
        assert "110101199003071233" not in text
        row = AuditLog.objects.get(action="customer.exported")
        assert row.data["rows"] == 1
        assert row.data["unmasked"] == []
        assert row.data["filters"] == {"tier": "A"}

    def test_permission_and_bad_format(self, agent, manager):
        with pytest.raises(PermissionDenied):
            customer_export(actor=agent, out=io.BytesIO(), fmt="csv")
        with pytest.raises(ValidationFailed):
            customer_export(actor=manager, out=io.BytesIO(), fmt="pdf")

    def test_export_query_count_is_flat(self, agent, manager, django_assert_max_num_queries):
        for i in range(40):
            CustomerFactory(phone=f"1380000{i:04d}", dedicated_agent=agent)
        with django_assert_max_num_queries(8):
            customer_export(actor=manager, out=io.BytesIO(), fmt="csv")


class TestCommands:
    def test_import_command_bad_file_exits_2_with_the_report(self, tmp_path, capsys):
        bad = tmp_path / "bad.csv"
        bad.write_bytes(_csv([["C1", "", "123"]], header=["编号", "姓名", "手机"], encoding="gbk"))
        with pytest.raises(CommandError) as exc:
            call_command("import_customers", str(bad))
        assert exc.value.returncode == 2
        err = capsys.readouterr().err
        assert "第 2 行 [name]" in err
        assert "第 2 行 [phone]" in err
        assert Customer.objects.count() == 0

    def test_missing_file_exits_2(self, tmp_path):
        with pytest.raises(CommandError) as exc:
            call_command("import_customers", str(tmp_path / "nope.csv"))
        assert exc.value.returncode == 2

    def test_export_then_import_with_update(self, agent, tmp_path, capsys):
        _seed(agent)
        out = tmp_path / "all.xlsx"
        call_command("export_customers", "--format", "xlsx", "--out", str(out))
        assert "2" in capsys.readouterr().out
        with pytest.raises(CommandError) as exc:
            call_command("import_customers", str(out))
        assert exc.value.returncode == 2  # codes exist and --update not given
        call_command("import_customers", str(out), "--update")
        assert "更新 2" in capsys.readouterr().out

    def test_export_bad_format_exits_2(self, tmp_path):
        with pytest.raises(CommandError) as exc:
            call_command("export_customers", "--out", str(tmp_path / "x.pdf"))
        assert exc.value.returncode == 2
