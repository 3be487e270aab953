"""Factories for customer records: customers, contact points, sites and tags."""

from __future__ import annotations

import factory

from kefu.customers.choices import ContactKind, Tier
from kefu.customers.models import ContactPoint, Customer, Site, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer without contacts; use `with_phone` / `with_email` traits or ContactPointFactory."""

    class Meta:
        model = Customer
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Sequence(lambda n: f"客户{n}")
    tier = Tier.C
    is_vip = False
    id_number = ""

    @factory.post_generation
    def phone(obj, create, extracted, **kwargs):
        if create and extracted:
            ContactPointFactory(customer=obj, kind=ContactKind.PHONE, value=extracted, is_primary=True)

    @factory.post_generation
    def email(obj, create, extracted, **kwargs):
        if create and extracted:
            ContactPointFactory(customer=obj, kind=ContactKind.EMAIL, value=extracted)


def _normalized(o: ContactPoint) -> str:
    from kefu.customers.normalize import normalize_contact

    return normalize_contact(o.kind, o.value)


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    customer = factory.SubFactory(CustomerFactory)
    kind = ContactKind.PHONE
    value = factory.Sequence(lambda n: f"139{n:08d}")
    normalized = factory.LazyAttribute(_normalized)


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    customer = factory.SubFactory(CustomerFactory)
    label = "家"
    province = "广东省"
    city = "深圳市"
    address = factory.Sequence(lambda n: f"南山区科技园{n}号")
