"""Consent per contact channel: recorded with who, when and how; respected by the one check every outbound feature
makes (`may_contact`); in the page, the API and the Excel import and export."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from kefu.apiutils.testing import api_as
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.tabular import ImportRejected
from kefu.customers.exporting import customer_export
from kefu.customers.importing import customer_import
from kefu.customers.models import ContactConsent, ContactPoint, Customer
from kefu.customers.selectors import contactable_points, may_contact
from kefu.customers.services import ConsentInput, customer_set_consents
from kefu.customers.tests.factories import ContactPointFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _phone(customer: Any) -> ContactPoint:
    return ContactPoint.objects.get(customer=customer, kind="phone")


def _email(customer: Any) -> ContactPoint:
    return ContactPoint.objects.get(customer=customer, kind="email")


def test_defaults_marketing_needs_consent_callbacks_until_refused(customer: Any) -> None:
    phone, email = _phone(customer), _email(customer)
    for purpose in ("marketing_call", "marketing_sms", "marketing_message", "greeting"):
        assert not may_contact(customer, purpose), purpose
    assert may_contact(customer, "survey")
    assert may_contact(phone, "survey")
    assert may_contact(email, "survey")
    assert not may_contact(email, "marketing_sms")  # an e-mail address takes no SMS
    with pytest.raises(ImproperlyConfigured):
        may_contact(customer, "lottery")
    with pytest.raises(TypeError):
        may_contact("13800138000", "survey")  # type: ignore[arg-type]


def test_recorded_answers_are_respected(customer: Any, agent: Any) -> None:
    phone, email = _phone(customer), _email(customer)
    second = ContactPointFactory(customer=customer, kind="phone", value="13700137000")
    changed = customer_set_consents(actor=agent, customer=customer, source="phone", note="来电中口头同意", consents=[
        ConsentInput(contact_id=phone.pk, purpose="marketing_sms", granted=True),
        ConsentInput(contact_id=email.pk, purpose="survey", granted=False),
        ConsentInput(contact_id=phone.pk, purpose="survey", granted=False),
    ])
    assert changed == 3
    assert may_contact(customer, "marketing_sms")
    assert may_contact(phone, "marketing_sms")
    assert not may_contact(second, "marketing_sms")
    assert [p.pk for p in contactable_points(customer, "marketing_sms")] == [phone.pk]
    assert [p.pk for p in contactable_points(customer, "survey")] == [second.pk]  # refused on the other two
    row = ContactConsent.objects.get(contact=phone, purpose="marketing_sms")
    assert (row.source, row.recorded_by, row.note) == ("phone", agent, "来电中口头同意")
    audit = AuditLog.objects.get(action="customer.consent_changed")
    assert audit.actor == agent
    assert audit.data["source"] == "phone"
    assert "13800138000" not in str(audit.data)  # contact values stay out of the audit log
    # the same answers again change nothing; None forgets an answer (the default holds again)
    assert customer_set_consents(actor=agent, customer=customer, source="phone", consents=[
        ConsentInput(contact_id=phone.pk, purpose="marketing_sms", granted=True)]) == 0
    customer_set_consents(actor=agent, customer=customer, source="written", consents=[
        ConsentInput(contact_id=phone.pk, purpose="survey", granted=None)])
    assert may_contact(phone, "survey")


def test_bad_answers_are_refused_naming_the_field(customer: Any, agent: Any, qa: Any) -> None:
    phone, email = _phone(customer), _email(customer)
    other = ContactPointFactory(customer=CustomerFactory(), kind="phone")
    cases = [
        ([ConsentInput(contact_id=other.pk, purpose="survey", granted=True)], "phone", "contact_id"),
        ([ConsentInput(contact_id=phone.pk, purpose="lottery", granted=True)], "phone", "purpose"),
        ([ConsentInput(contact_id=email.pk, purpose="marketing_call", granted=True)], "phone", "purpose"),
        ([ConsentInput(contact_id=phone.pk, purpose="survey", granted=True)] * 2, "phone", "purpose"),
        ([ConsentInput(contact_id=phone.pk, purpose="survey", granted=True)], "telepathy", "source"),
    ]
    for consents, source, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            customer_set_consents(actor=agent, customer=customer, source=source, consents=consents)
        assert refused.value.details["field"] == field
    with pytest.raises(PermissionDenied):
        customer_set_consents(actor=qa, customer=customer, source="phone", consents=[])
    assert not ContactConsent.objects.exists()
    Customer.objects.filter(pk=customer.pk).update(anonymised_at="2026-01-01T00:00:00Z")
    with pytest.raises(Conflict):
        customer_set_consents(actor=agent, customer=customer, source="phone", consents=[])
    assert not may_contact(phone, "survey")


def test_api(customer: Any, agent: Any, qa: Any) -> None:
    phone = _phone(customer)
    rows = api_as(agent).get(f"/customers/{customer.pk}/consents").json()
    assert rows[0]["value"] != "13800138000"  # masked
    cell = next(c for c in rows[0]["consents"] if c["purpose"] == "marketing_call")
    assert (cell["applies"], cell["granted"], cell["allowed"]) == (True, None, False)
    body = {"source": "web_form", "consents": [{"contact_id": phone.pk, "purpose": "marketing_call", "granted": True}]}
    put = api_as(agent).request("put", f"/customers/{customer.pk}/consents", body)
    assert put.status_code == 200, put.content
    cell = next(c for c in put.json()[0]["consents"] if c["purpose"] == "marketing_call")
    assert (cell["granted"], cell["allowed"], cell["recorded_by"]) == (True, True, "李客服")
    bad = api_as(agent).request("put", f"/customers/{customer.pk}/consents",
                                {"source": "phone", "consents": [{"contact_id": phone.pk, "purpose": "x",
                                                                  "granted": True}]})
    assert bad.status_code == 400
    assert bad.json()["details"]["field"] == "purpose"
    assert api_as(qa).request("put", f"/customers/{customer.pk}/consents", body).status_code == 403
    assert api_as(qa).get(f"/customers/{customer.pk}/consents").status_code == 200


def test_page(customer: Any, agent: Any, client: Any) -> None:
    phone = _phone(customer)
    client.force_login(agent)
    assert client.get(f"/customers/{customer.pk}/consents/").status_code == 200
    missing_source = client.post(f"/customers/{customer.pk}/consents/", {f"c-{phone.pk}-greeting": "yes"})
    assert missing_source.status_code == 422
    assert not ContactConsent.objects.exists()
    saved = client.post(f"/customers/{customer.pk}/consents/",
                        {f"c-{phone.pk}-greeting": "yes", "source": "in_person", "note": "到店登记"})
    assert saved.status_code == 302
    assert may_contact(phone, "greeting")
    body = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-purpose="greeting" data-allowed="1"' in body


def test_import_and_export_carry_consent(manager: Any, customer: Any) -> None:
    csv = ("客户编号,姓名,手机,邮箱,同意营销短信,同意回访调查,同意生日节日问候\n"
           "C900001,张三,13700137000,,是,否,\n"
           "N001,新客户,13600136000,new@example.com,否,,同意\n").encode()
    report = customer_import(actor=manager, data=csv, filename="consent.csv", update_existing=True)
    assert report.ok, report.errors
    for point in ContactPoint.objects.filter(customer=customer, kind="phone"):  # existing phone and the new one
        assert may_contact(point, "marketing_sms")
        assert not may_contact(point, "survey")
    new = Customer.objects.get(code="N001")
    assert not may_contact(new, "marketing_sms")
    assert may_contact(new, "greeting")
    assert len(contactable_points(new, "greeting")) == 2
    assert set(ContactConsent.objects.filter(contact__customer=new).values_list("source", flat=True)) == {"import"}

    out = io.BytesIO()
    customer_export(actor=manager, out=out, fmt="csv")
    lines = out.getvalue().decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    row = next(line.split(",") for line in lines if line.startswith("C900001"))
    assert row[header.index("同意营销短信")] == "是"
    assert row[header.index("同意回访调查")] == "否"
    assert row[header.index("同意营销电话")] == ""

    bad = "姓名,同意营销电话\n李四,也许\n".encode()
    with pytest.raises(ImportRejected) as refused:
        customer_import(actor=manager, data=bad, filename="bad.csv")
    errors = refused.value.report.errors
    assert [(e.row, e.field) for e in errors] == [(2, "consent_marketing_call")]
