"""Customer reads: list and search, masking with the audit record, screen pop, duplicate detection."""

from __future__ import annotations

import pytest

from kefu.core.errors import NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.customers import selectors
from kefu.customers.choices import ContactKind, Tier
from kefu.customers.selectors import CustomerFilters
from kefu.customers.tests.factories import ContactPointFactory, CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db

ROLES = ["agent", "team_lead", "shift_lead", "qa", "manager", "admin_user", "department_user", "other_agent"]


def _ids(qs):
    return sorted(c.pk for c in qs)


class TestList:
    def test_search_and_filters(self, agent):
        zhang = CustomerFactory(name="张三", code="C001", phone="13800138000", tier=Tier.A, is_vip=True)
        li = CustomerFactory(name="李四", company="星光物业", email="li@example.com")
        wang = CustomerFactory(name="王五")
        ContactPointFactory(customer=wang, kind=ContactKind.WECHAT, value="WangWu88")
        li.tags.add(TagFactory(name="投诉多"))
        merged = CustomerFactory(name="张三丰", merged_into=zhang)

        def find(**kw):
            return _ids(selectors.customer_list(agent, CustomerFilters(**kw)))

        assert find() == _ids([zhang, li, wang])  # merged excluded
        assert find(q="张三") == [zhang.pk]
        assert merged.pk not in find(q="张三丰")
        assert find(q="c001") == [zhang.pk]
        assert find(q="8000") == [zhang.pk]  # the last digits a caller reads out
        assert find(q="+86 138 0013 8000") == [zhang.pk]
        assert find(q="LI@example.com") == [li.pk]
        assert find(q="星光") == [li.pk]
        assert find(q="wangwu88") == [wang.pk]
        assert find(tier="A") == [zhang.pk]
        assert find(is_vip=False) == _ids([li, wang])
        assert find(tag="投诉多") == [li.pk]
        with pytest.raises(ValidationFailed):
            find(tier="Z")

    @pytest.mark.parametrize("role", ROLES)
    def test_visibility_by_role(self, request, role):
        user = request.getfixturevalue(role)
        customer = CustomerFactory()
        visible = _ids(selectors.customer_list(user))
        assert visible == ([] if role == "department_user" else [customer.pk])

    def test_rows_are_masked_and_query_count_is_constant(self, agent, django_assert_num_queries):
        for i in range(30):
            c = CustomerFactory(phone=f"1380000{i:04d}", email=f"u{i}@example.com", dedicated_agent=agent)
            c.tags.add(TagFactory(name=f"t{i % 3}"))
        with django_assert_num_queries(3):  # customers + agents joined, contacts, tags
            rows = selectors.customer_rows(agent, selectors.customer_list(agent)[:25])
        assert len(rows) == 25
        assert all("****" in r.phone and r.email.startswith(r.email[0] + "***@") for r in rows)
        assert rows[0].dedicated_agent_name == str(agent)


class TestDetailMasking:
    def test_masked_view_writes_no_audit_row(self, agent, customer):
        card = selectors.customer_detail(agent, customer.pk, reveal=False)
        phone = next(c for c in card.contacts if c.kind == "phone")
        assert phone.value == "138****8000"
        assert phone.masked
        assert card.id_number == "110*************33"
        assert card.masked
        assert card.can_reveal
        assert not AuditLog.objects.exists()

    def test_agent_reveal_unmasks_contacts_not_id_and_writes_one_row(self, agent, customer):
        card = selectors.customer_detail(agent, customer.pk, reveal=True, ip="10.0.0.8")
        values = {c.kind: c.value for c in card.contacts}
        assert values == {"phone": "13800138000", "email": "zhangsan@example.com"}
        assert card.id_number == "110*************33"  # agents have no CUSTOMER_VIEW_ID_NUMBER
        row = AuditLog.objects.get()
        assert (row.action, row.actor, row.object_id, row.ip_address) == (
            "customer.viewed_unmasked",
            agent,
            str(customer.pk),
            "10.0.0.8",
        )
        assert row.data == {"fields": ["contacts"]}

    def test_manager_reveal_unmasks_id_number(self, manager, customer):
        card = selectors.customer_detail(manager, customer.pk, reveal=True)
        assert card.id_number == "110101199003071233"
        assert AuditLog.objects.get().data == {"fields": ["contacts", "id_number"]}

    def test_each_unmasked_view_is_recorded(self, agent, customer):
        for _ in range(3):
            selectors.customer_detail(agent, customer.pk, reveal=True)
        assert AuditLog.objects.filter(action="customer.viewed_unmasked").count() == 3

    def test_qa_sees_masked_only_and_cannot_reveal(self, qa, customer):
        card = selectors.customer_detail(qa, customer.pk)
        assert not card.can_reveal
        with pytest.raises(PermissionDenied):
            selectors.customer_detail(qa, customer.pk, reveal=True)
        assert not AuditLog.objects.exists()

    def test_department_user_cannot_see_the_record(self, department_user, customer):
        for reveal in (False, True):
            with pytest.raises(PermissionDenied):
                selectors.customer_detail(department_user, customer.pk, reveal=reveal)
        assert not AuditLog.objects.exists()

    def test_other_team_agent_sees_only_masked_by_default(self, other_agent, customer):
        # Any agent may answer any caller (screen pop), so records are not team-scoped; masking still holds.
        card = selectors.customer_detail(other_agent, customer.pk)
        assert all(c.masked for c in card.contacts)

    def test_unknown_customer(self, agent):
        with pytest.raises(NotFound):
            selectors.customer_detail(agent, 999_999)

    def test_detail_query_count(self, agent, customer, django_assert_num_queries):
        with django_assert_num_queries(5):  # customer, contacts, tags, sites + the audit insert
            selectors.customer_detail(agent, customer.pk, reveal=True)

    def test_access_log(self, agent, manager, customer):
        selectors.customer_detail(agent, customer.pk, reveal=True)
        assert [r.action for r in selectors.customer_access_log(manager, customer)] == [
            "customer.viewed_unmasked"
        ]
        with pytest.raises(PermissionDenied):
            selectors.customer_access_log(agent, customer)


class TestScreenPopAndDuplicates:
    def test_find_by_contact(self, agent, customer, department_user):
        vip = CustomerFactory(phone="13800138000", is_vip=True)
        CustomerFactory(phone="13800138000", merged_into=vip)
        found = list(selectors.customer_find_by_contact(agent, "+86 138-0013-8000"))
        assert [c.pk for c in found] == [vip.pk, customer.pk]  # VIP first, merged excluded
        assert [c.pk for c in selectors.customer_find_by_contact(agent, "ZHANGSAN@example.com")] == [
            customer.pk
        ]
        assert list(selectors.customer_find_by_contact(agent, "anonymous")) == []
        assert list(selectors.customer_find_by_contact(agent, "")) == []
        assert list(selectors.customer_find_by_contact(department_user, "13800138000")) == []

    def test_find_by_contact_query_count(self, agent, customer, django_assert_num_queries):
        with django_assert_num_queries(3):
            rows = selectors.customer_rows(agent, selectors.customer_find_by_contact(agent, "13800138000"))
        assert rows[0].phone == "138****8000"

    def test_duplicates(self, agent, manager, customer):
        same_phone = CustomerFactory(phone="13800138000")
        same_email = CustomerFactory(email="ZhangSan@example.com")
        CustomerFactory(phone="13900000000", email="other@example.com")
        CustomerFactory(phone="13800138000", merged_into=customer)
        # The phone of one customer equal to the e-mail text of another must not match across kinds.
        assert _ids(selectors.customer_duplicates(agent, customer)) == _ids([same_phone, same_email])
        groups = selectors.customer_duplicate_groups(manager)
        assert {(g.kind, g.match, tuple(sorted(c.pk for c in g.customers))) for g in groups} == {
            ("phone", "138****8000", tuple(sorted([customer.pk, same_phone.pk]))),
            ("email", "z***@example.com", tuple(sorted([customer.pk, same_email.pk]))),
        }
        with pytest.raises(PermissionDenied):
            selectors.customer_duplicate_groups(agent)
