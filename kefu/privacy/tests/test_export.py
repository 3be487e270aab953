"""The personal-data export (PIPL): complete — every model that references a customer, found through Django's
relations, is handled — unmasked, audited, for the roles with the right only; JSON and .xlsx."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from kefu.apiutils.testing import api_as
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.privacy import export
from kefu.privacy.services import erasure_request_create

pytestmark = pytest.mark.django_db


def test_every_model_referencing_a_customer_is_handled() -> None:
    assert export.unhandled_references() == []
    found = export.customer_reference_models()
    # the walk goes on through the models it finds: an order's messages, a contact's consents
    for label in ("customers.contactpoint", "customers.contactconsent", "customers.site", "tickets.ticket",
                  "tickets.ticketmessage", "tickets.attachment", "tickets.ticketevent", "tickets.dispatch",
                  "privacy.erasurerequest", "customers.customer_tags"):
        assert label in found, label
    # and generic references (object_type/object_id) are found too
    assert {"core.auditlog", "notifications.notification", "clocks.clock", "core.outboxevent"} <= \
        export.generic_reference_models()


def test_a_new_relation_without_a_section_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = tuple(s for s in export.SECTIONS if s.key != "dispatches")
    monkeypatch.setattr(export, "SECTIONS", sections)
    assert export.unhandled_references() == ["tickets.dispatch"]
    monkeypatch.setattr(export, "NOT_EXPORTED", {k: v for k, v in export.NOT_EXPORTED.items()
                                                 if k != "privacy.ticketscrub"})
    assert "privacy.ticketscrub" in export.unhandled_references()


def test_export_holds_a_row_of_every_handled_model(rich: Any, manager: Any) -> None:
    erasure_request_create(actor=manager, customer=rich.customer, asked_by="customer", reason="客户要求")
    sections = export.collect(rich.customer)
    empty = [s.key for s in export.SECTIONS if not sections[s.key]]
    assert not empty, f"sections without rows for a customer who has everything: {empty}"
    # every model found by the walk has its rows in the export, unless it is explained
    covered = {label for s in export.SECTIONS if sections[s.key] for label in s.models}
    missing = export.customer_reference_models() - covered - set(export.NOT_EXPORTED)
    assert not missing
    # the merged record is exported with the record it was merged into
    assert {c["code"] for c in sections["customer"]} == {"C900001", "C900002"}


def test_json_is_complete_and_unmasked_and_audited(rich: Any, manager: Any) -> None:
    before = AuditLog.objects.filter(action="customer.personal_data_exported").count()
    done = export.personal_data_export(actor=manager, customer_id=rich.customer.pk, fmt="json", ip="10.0.0.8")
    document = json.loads(done.content)
    assert document["format"] == "kefu.personal-data/1"
    text = done.content.decode()
    for value in ("13800138000", "zhangsan@example.com", "110101199003071233", "南山区桃源路88号", "13900139000",
                  "张先生您好，师傅明天上午上门", "客户说家里有老人", "张三家照片.png", "上门：桃源路88号"):
        assert value in text, value
    assert {c["purpose"] for c in document["consents"]} == {"marketing_sms"}
    assert document["consents"][0]["granted"] is True
    assert any(a["action"] == "customer.viewed_unmasked" for a in document["access_log"])
    assert {t["subject"] for t in document["work_orders"]} == {"张三家空调漏水（二次）", "张三咨询保修"}
    row = AuditLog.objects.filter(action="customer.personal_data_exported").latest("id")
    assert AuditLog.objects.filter(action="customer.personal_data_exported").count() == before + 1
    assert row.actor == manager
    assert row.object_id == str(rich.customer.pk)
    assert row.ip_address == "10.0.0.8"
    assert row.data["format"] == "json"
    assert row.data["counts"]["work_orders"] == 2


def test_xlsx_has_one_sheet_per_kind(rich: Any, admin_user: Any) -> None:
    import openpyxl

    done = export.personal_data_export(actor=admin_user, customer_id=rich.customer.pk, fmt="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(done.content), read_only=True)
    assert book.sheetnames == [str(s.title) for s in export.SECTIONS]
    contacts = list(book["联系方式"].iter_rows(values_only=True))
    assert "13800138000" in {cell for row in contacts for cell in row}
    assert done.filename.startswith("personal-data-C900001-")
    assert done.filename.endswith(".xlsx")


def test_only_roles_with_the_right_export(rich: Any, agent: Any, team_lead: Any, qa: Any) -> None:
    for person in (agent, team_lead, qa):
        with pytest.raises(PermissionDenied):
            export.personal_data_export(actor=person, customer_id=rich.customer.pk, fmt="json")
    with pytest.raises(ValidationFailed):
        export.personal_data_export(actor=None, customer_id=rich.customer.pk, fmt="csv")


def test_api_and_page(rich: Any, manager: Any, agent: Any, login: Any) -> None:
    response = api_as(manager).get(f"/customers/{rich.customer.pk}/personal-data", format="json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment;" in response["Content-Disposition"]
    assert json.loads(response.content)["customer_id"] == rich.customer.pk
    xlsx = api_as(manager).get(f"/customers/{rich.customer.pk}/personal-data", format="xlsx")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert api_as(manager).get(f"/customers/{rich.customer.pk}/personal-data", format="pdf").status_code == 422
    assert api_as(agent).get(f"/customers/{rich.customer.pk}/personal-data").status_code == 403
    assert api_as(manager).get("/customers/999999/personal-data").status_code == 404
    page = login(manager).get(f"/customers/{rich.customer.pk}/")
    assert f"/customers/{rich.customer.pk}/personal-data/?format=xlsx" in page.content.decode()
    download = login(manager).get(f"/customers/{rich.customer.pk}/personal-data/?format=xlsx")
    assert download.status_code == 200
    assert download.content[:2] == b"PK"
    assert login(agent).get(f"/customers/{rich.customer.pk}/personal-data/").status_code == 403
    assert "personal-data" not in login(agent).get(f"/customers/{rich.customer.pk}/").content.decode()
