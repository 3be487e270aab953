"""Customer services: create, update with optimistic concurrency, contacts, sites, tags, merge."""

from __future__ import annotations

import pytest

from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.customers import services
from kefu.customers.choices import ContactKind, Tier
from kefu.customers.models import ContactPoint, Customer, Site
from kefu.customers.services import ContactInput, SiteInput
from kefu.customers.tests.factories import ContactPointFactory, CustomerFactory, SiteFactory, TagFactory
from kefu.customers.timeline import MERGE_HOOKS, register_merge_hook

pytestmark = pytest.mark.django_db


def _create(actor, **kwargs):
    kwargs.setdefault("name", "张三")
    return services.customer_create(actor=actor, **kwargs)


class TestCreate:
    def test_create_normalises_contacts_and_writes_audit(self, agent):
        customer = _create(
            agent,
            code="C1",
            contacts=[
                ContactInput(kind="phone", value="+86 138-0013-8000"),
                ContactInput(kind="email", value="  ZhangSan@Example.COM "),
                ContactInput(kind="wechat", value="ZhangSan_88"),
            ],
            sites=[SiteInput(address="科技园 1 号", province="广东省", city="深圳市")],
            tags=["投诉多", "老客户"],
        )
        contacts = {c.kind: c for c in customer.contacts.all()}
        assert contacts["phone"].value == "13800138000" == contacts["phone"].normalized
        assert contacts["email"].value == "zhangsan@example.com"
        assert contacts["wechat"].normalized == "zhangsan_88"
        assert all(c.is_primary for c in contacts.values())
        assert sorted(t.name for t in customer.tags.all()) == ["投诉多", "老客户"]
        assert customer.sites.get().city == "深圳市"
        row = AuditLog.objects.get(action="customer.created")
        assert row.actor == agent
        assert row.object_id == str(customer.pk)

    def test_blank_code_is_generated(self, agent):
        customer = _create(agent)
        assert customer.code == f"K{customer.pk:08d}"

    def test_duplicate_code_is_a_conflict(self, agent):
        _create(agent, code="C1")
        with pytest.raises(Conflict) as exc:
            _create(agent, code="C1", name="李四")
        assert exc.value.code == "duplicate_code"
        assert exc.value.details["field"] == "code"
        assert Customer.objects.count() == 1

    @pytest.mark.parametrize(
        ("value", "field"),
        [
            ("12345678901", "phone"),  # 11 digits starting 12: not a mainland mobile
            ("1380013800", "phone"),  # 10 digits starting 1
            ("138 0013 800a", "phone"),
            ("not-an-email", "email"),
        ],
    )
    def test_bad_contact_names_the_field_and_writes_nothing(self, agent, value, field):
        with pytest.raises(ValidationFailed) as exc:
            _create(agent, contacts=[ContactInput(kind=field, value=value)])
        assert exc.value.details["field"] == field
        assert Customer.objects.count() == 0

    def test_landlines_and_service_numbers_are_accepted(self, agent):
        customer = _create(
            agent,
            contacts=[
                ContactInput(kind="phone", value="020-8888 6666"),
                ContactInput(kind="phone", value="95588"),
            ],
        )
        assert sorted(customer.contacts.values_list("normalized", flat=True)) == ["02088886666", "95588"]

    def test_same_contact_twice_is_refused(self, agent):
        with pytest.raises(ValidationFailed) as exc:
            _create(
                agent,
                contacts=[
                    ContactInput(kind="phone", value="13800138000"),
                    ContactInput(kind="phone", value="138 0013 8000"),
                ],
            )
        assert exc.value.code == "duplicate_contact"

    @pytest.mark.parametrize(
        ("value", "ok"),
        [("110101199003071233", True), ("110101199003071234", False), ("E12345678", True), ("11 01", False)],
    )
    def test_id_number_checked(self, agent, value, ok):
        if ok:
            assert _create(agent, id_number=value).id_number == value
        else:
            with pytest.raises(ValidationFailed):
                _create(agent, id_number=value)

    def test_dedicated_agent_must_be_an_agent(self, agent, manager, department_user, team_lead):
        assert _create(agent, is_vip=True, dedicated_agent=agent).dedicated_agent == agent
        assert _create(agent, is_vip=True, dedicated_agent=team_lead).dedicated_agent == team_lead
        for user in (manager, department_user):
            with pytest.raises(ValidationFailed) as exc:
                _create(agent, dedicated_agent=user)
            assert exc.value.details["field"] == "dedicated_agent"
        agent.is_active = False
        agent.save()
        with pytest.raises(ValidationFailed):
            _create(team_lead, dedicated_agent=agent)

    def test_roles_without_the_right_are_refused(self, qa, department_user):
        for user in (qa, department_user):
            with pytest.raises(PermissionDenied):
                _create(user)
        assert Customer.objects.count() == 0

    def test_bad_tier_and_birthday(self, agent):
        import datetime

        with pytest.raises(ValidationFailed) as exc:
            _create(agent, tier="E")
        assert exc.value.details["field"] == "tier"
        with pytest.raises(ValidationFailed) as exc:
            _create(agent, birthday=datetime.date(2999, 1, 1))
        assert exc.value.details["field"] == "birthday"


class TestUpdate:
    def test_update_changes_fields_bumps_version_and_audits(self, agent):
        customer = CustomerFactory(tier=Tier.C)
        updated = services.customer_update(
            actor=agent,
            customer=customer,
            expected_version=1,
            changes={
                "tier": "A",
                "is_vip": True,
                "dedicated_agent": agent,
                "id_number": "110101199003071233",
                "tags": ["重要"],
            },
        )
        assert (updated.tier, updated.is_vip, updated.dedicated_agent, updated.version) == (
            "A",
            True,
            agent,
            2,
        )
        row = AuditLog.objects.get(action="customer.updated")
        assert row.data["changes"]["tier"] == {"from": "C", "to": "A"}
        assert row.data["changes"]["id_number"] == {"from": "", "to": "***"}  # never the number itself
        assert row.data["changes"]["tags"]["to"] == ["重要"]

    def test_stale_version_is_409_with_current_state(self, agent, other_agent):
        customer = CustomerFactory(name="旧名")
        services.customer_update(
            actor=other_agent, customer=customer, expected_version=1, changes={"name": "新名"}
        )
        with pytest.raises(Conflict) as exc:
            services.customer_update(
                actor=agent, customer=customer, expected_version=1, changes={"name": "我的"}
            )
        assert exc.value.status == 409
        assert exc.value.code == "stale_version"
        assert exc.value.details["current"]["name"] == "新名"
        assert exc.value.details["current"]["version"] == 2
        assert "id_number" not in exc.value.details["current"]
        assert Customer.objects.get(pk=customer.pk).name == "新名"

    def test_no_change_keeps_version(self, agent):
        customer = CustomerFactory(name="张三")
        assert (
            services.customer_update(
                actor=agent, customer=customer, expected_version=1, changes={"name": " 张三 "}
            ).version
            == 1
        )
        assert not AuditLog.objects.filter(action="customer.updated").exists()

    def test_unknown_field_and_merged_customer_refused(self, agent):
        customer = CustomerFactory()
        with pytest.raises(ValidationFailed):
            services.customer_update(
                actor=agent, customer=customer, expected_version=None, changes={"code": "X"}
            )  # type: ignore[typeddict-unknown-key]
        customer.merged_into = CustomerFactory()
        customer.save()
        with pytest.raises(Conflict) as exc:
            services.customer_update(
                actor=agent, customer=customer, expected_version=None, changes={"name": "x"}
            )
        assert exc.value.code == "customer_merged"

    def test_empty_name_refused(self, agent):
        with pytest.raises(ValidationFailed) as exc:
            services.customer_update(
                actor=agent, customer=CustomerFactory(), expected_version=1, changes={"name": "  "}
            )
        assert exc.value.details["field"] == "name"


class TestContactsAndSites:
    def test_add_and_remove_contact(self, agent):
        customer = CustomerFactory(phone="13800138000")
        second = services.customer_add_contact(
            actor=agent, customer=customer, contact=ContactInput(kind="phone", value="139-0000-0000")
        )
        assert not second.is_primary
        with pytest.raises(ValidationFailed) as exc:
            services.customer_add_contact(
                actor=agent, customer=customer, contact=ContactInput(kind="phone", value="+8613800138000")
            )
        assert exc.value.code == "duplicate_contact"
        first = customer.contacts.get(normalized="13800138000")
        services.customer_remove_contact(actor=agent, contact=first)
        assert ContactPoint.objects.get(pk=second.pk).is_primary  # the remaining one takes over
        customer.refresh_from_db()
        assert customer.version == 3
        assert (
            AuditLog.objects.filter(action__in=["customer.contact_added", "customer.contact_removed"]).count()
            == 2
        )

    def test_same_contact_on_two_customers_is_allowed(self, agent):
        CustomerFactory(phone="13800138000")
        other = CustomerFactory()
        services.customer_add_contact(
            actor=agent, customer=other, contact=ContactInput(kind="phone", value="13800138000")
        )

    def test_stale_version_on_contact_add(self, agent):
        customer = CustomerFactory()
        with pytest.raises(Conflict):
            services.customer_add_contact(
                actor=agent,
                customer=customer,
                expected_version=7,
                contact=ContactInput(kind="email", value="a@b.cn"),
            )

    def test_sites(self, agent):
        customer = CustomerFactory()
        site = services.customer_add_site(actor=agent, customer=customer, site=SiteInput(address="一号楼"))
        services.customer_update_site(actor=agent, site=site, data=SiteInput(address="二号楼", city="广州市"))
        assert Site.objects.get(pk=site.pk).address == "二号楼"
        with pytest.raises(ValidationFailed):
            services.customer_add_site(actor=agent, customer=customer, site=SiteInput(address=" "))
        services.customer_remove_site(actor=agent, site=site)
        with pytest.raises(NotFound):
            services.customer_remove_site(actor=agent, site=site)

    def test_set_tags(self, agent):
        customer = CustomerFactory()
        services.customer_set_tags(actor=agent, customer=customer, tags=["a", "b", "a", " "])
        assert sorted(customer.tags.values_list("name", flat=True)) == ["a", "b"]


def _ticket(customer, **kwargs):
    from kefu.tickets.models import Ticket

    return Ticket.objects.create(subject=kwargs.pop("subject", "报修"), customer=customer, **kwargs)


class TestMerge:
    def test_merge_moves_everything_and_marks_duplicates(self, team_lead):
        target = CustomerFactory(phone="13800138000", tier=Tier.C, company="")
        dup = CustomerFactory(
            phone="13800138000",
            email="dup@example.com",
            tier=Tier.A,
            company="星光公司",
            is_vip=True,
            notes="老客户",
        )
        ContactPointFactory(customer=dup, kind=ContactKind.PHONE, value="13900000000")
        SiteFactory(customer=dup, address="一号")
        dup.tags.add(TagFactory(name="VIP候选"))
        ticket = _ticket(dup)
        merged = services.customer_merge(actor=team_lead, target=target, duplicates=[dup])

        assert sorted(merged.contacts.values_list("normalized", flat=True)) == [
            "13800138000",
            "13900000000",
            "dup@example.com",
        ]
        assert merged.contacts.filter(kind="phone", is_primary=True).count() == 1
        assert merged.sites.count() == 1
        assert list(merged.tags.values_list("name", flat=True)) == ["VIP候选"]
        assert (merged.tier, merged.is_vip, merged.company) == ("A", True, "星光公司")
        assert "老客户" in merged.notes
        dup.refresh_from_db()
        assert dup.merged_into == target
        assert dup.version == 2
        ticket.refresh_from_db()
        assert ticket.customer == target
        assert ticket.version == 2
        assert ticket.events.get().data["reason"] == "customer_merge"
        assert AuditLog.objects.get(action="customer.merged").object_id == str(dup.pk)
        target_row = AuditLog.objects.get(action="customer.merge_target")
        assert target_row.data["moved"]["tickets"] == 1
        assert target_row.data["duplicate_ids"] == [dup.pk]

    def test_merge_refusals(self, team_lead, agent):
        a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
        with pytest.raises(Conflict) as exc:
            services.customer_merge(actor=team_lead, target=a, duplicates=[a])
        assert exc.value.code == "merge_into_self"
        services.customer_merge(actor=team_lead, target=a, duplicates=[b])
        with pytest.raises(Conflict) as exc:
            services.customer_merge(actor=team_lead, target=b, duplicates=[c])
        assert exc.value.code == "merge_into_merged"
        with pytest.raises(Conflict) as exc:
            services.customer_merge(actor=team_lead, target=c, duplicates=[b])
        assert exc.value.code == "already_merged"
        with pytest.raises(ValidationFailed):
            services.customer_merge(actor=team_lead, target=c, duplicates=[])
        with pytest.raises(PermissionDenied):
            services.customer_merge(actor=agent, target=c, duplicates=[a])
        c.refresh_from_db()
        assert c.merged_into is None

    def test_earlier_merges_are_flattened(self, manager):
        a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
        services.customer_merge(actor=manager, target=b, duplicates=[c])
        services.customer_merge(actor=manager, target=a, duplicates=[b])
        assert Customer.objects.get(pk=c.pk).merged_into_id == a.pk

    def test_registered_merge_hooks_run_in_the_transaction(self, manager):
        calls = []

        def hook(context):
            calls.append((context.target.pk, list(context.duplicate_ids)))
            return {"callbacks": 5}

        register_merge_hook(hook)
        try:
            a, b = CustomerFactory(), CustomerFactory()
            services.customer_merge(actor=manager, target=a, duplicates=[b])
        finally:
            MERGE_HOOKS.remove(hook)
        assert calls == [(a.pk, [b.pk])]
        assert AuditLog.objects.get(action="customer.merge_target").data["moved"]["callbacks"] == 5

    def test_failing_hook_rolls_everything_back(self, manager):
        def hook(context):
            raise RuntimeError("boom")

        register_merge_hook(hook)
        a, b = CustomerFactory(), CustomerFactory(phone="13800138000")
        try:
            with pytest.raises(RuntimeError):
                services.customer_merge(actor=manager, target=a, duplicates=[b])
        finally:
            MERGE_HOOKS.remove(hook)
        assert Customer.objects.get(pk=b.pk).merged_into is None
        assert b.contacts.count() == 1
        assert not AuditLog.objects.filter(action__startswith="customer.merge").exists()
