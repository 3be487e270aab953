"""Customer records (客户档案): contacts, sites, tags, tier, VIP and dedicated agent, merges."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.core.models import TimeStampedModel
from kefu.customers.choices import ConsentSource, ContactKind, CustomerKind, Tier


class Tag(models.Model):
    name = models.CharField(_("标签"), max_length=40, unique=True)
    color = models.CharField(_("颜色"), max_length=16, default="#64748b")

    class Meta:
        verbose_name = _("客户标签")
        verbose_name_plural = _("客户标签")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    code = models.CharField(_("客户编号"), max_length=32, unique=True)
    name = models.CharField(_("姓名/名称"), max_length=200, db_index=True)
    kind = models.CharField(_("客户类型"), max_length=16, choices=CustomerKind.choices, default=CustomerKind.PERSON)
    company = models.CharField(_("公司"), max_length=200, blank=True)
    tier = models.CharField(_("客户等级"), max_length=1, choices=Tier.choices, default=Tier.C, db_index=True)
    is_vip = models.BooleanField(_("VIP"), default=False, db_index=True)
    dedicated_agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="dedicated_customers", verbose_name=_("专属客服"))
    birthday = models.DateField(_("生日"), null=True, blank=True)
    id_number = models.CharField(_("证件号码"), max_length=32, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("标签"))
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="merged_from", verbose_name=_("已合并到"))
    version = models.PositiveIntegerField(_("版本"), default=1)
    # Set when the record was anonymised on an approved erasure request (kefu.privacy): a tombstone kept so that
    # reports still count the customer's orders.
    anonymised_at = models.DateTimeField(_("匿名化时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tier", "is_vip"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None


class ContactPoint(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts",
                                 verbose_name=_("客户"))
    kind = models.CharField(_("类型"), max_length=16, choices=ContactKind.choices)
    value = models.CharField(_("号码/地址"), max_length=200)
    # Digits only for phones, lower case for e-mail: what screen pop and duplicate detection match on.
    normalized = models.CharField(max_length=200, db_index=True)
    label = models.CharField(_("说明"), max_length=40, blank=True)
    is_primary = models.BooleanField(_("首选"), default=False)

    class Meta:
        verbose_name = _("联系方式")
        verbose_name_plural = _("联系方式")
        ordering = ["-is_primary", "id"]
        constraints = [models.UniqueConstraint(fields=["customer", "kind", "normalized"],
                                               name="contact_point_unique_per_customer")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class Site(models.Model):
    """An address or site of the customer (home, shop, project site)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sites", verbose_name=_("客户"))
    label = models.CharField(_("名称"), max_length=60, blank=True)
    province = models.CharField(_("省份"), max_length=40, blank=True)
    city = models.CharField(_("城市"), max_length=40, blank=True)
    address = models.CharField(_("详细地址"), max_length=300)

    class Meta:
        verbose_name = _("地址")
        verbose_name_plural = _("地址")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.address}"


class ContactConsent(models.Model):
    """A customer's answer for one purpose on one contact (联系许可): granted or refused, how it was given, who
    recorded it and when. No row: the purpose's default holds (kefu.customers.consent). Earlier answers are in
    the audit log ("customer.consent_changed")."""

    contact = models.ForeignKey(ContactPoint, on_delete=models.CASCADE, related_name="consents",
                                verbose_name=_("联系方式"))
    purpose = models.CharField(_("用途"), max_length=32)  # a key of kefu.customers.consent.PURPOSES
    granted = models.BooleanField(_("同意"))
    source = models.CharField(_("来源"), max_length=16, choices=ConsentSource.choices)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("记录人"))
    recorded_at = models.DateTimeField(_("记录时间"))

    class Meta:
        verbose_name = _("联系许可")
        verbose_name_plural = _("联系许可")
        ordering = ["contact_id", "purpose"]
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"], name="contact_consent_unique")]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.purpose} {'+' if self.granted else '-'}"
