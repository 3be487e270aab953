"""Consent per contact channel (联系许可): the purposes an outbound feature may contact a customer for, the
contact kinds each purpose reaches them on, and what holds while nothing is recorded.

Every outbound feature (callbacks, greetings, marketing calls and SMS, surveys, later channels) asks
`kefu.customers.selectors.may_contact(customer_or_contact, purpose)` before it contacts anyone. A feature with
a purpose of its own registers it here (`register_purpose`) when its app is ready.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kefu.customers.choices import ContactKind


@dataclass(frozen=True)
class Purpose:
    """`kinds`: the contact kinds this purpose uses; `allowed_by_default`: whether a contact with nothing
    recorded may be contacted (opt-out) or not (opt-in, the rule for marketing)."""

    key: str
    label: Promise | str
    kinds: frozenset[str]
    allowed_by_default: bool
    help: Promise | str = ""


PURPOSES: dict[str, Purpose] = {}


def register_purpose(purpose: Purpose) -> Purpose:
    """Declare a purpose (idempotent for the same declaration)."""
    known = PURPOSES.get(purpose.key)
    if known is not None and known != purpose:
        raise ImproperlyConfigured(f"consent purpose {purpose.key!r} registered twice differently")
    if len(purpose.key) > 32:
        raise ImproperlyConfigured(f"consent purpose {purpose.key!r} is longer than 32 characters")
    PURPOSES[purpose.key] = purpose
    return purpose


def purpose_of(key: str) -> Purpose:
    """The registered purpose; an unknown key is a programming error, never "allowed"."""
    try:
        return PURPOSES[str(key)]
    except KeyError:
        raise ImproperlyConfigured(f"unknown consent purpose {key!r}: register it in kefu.customers.consent") from None


ALL_KINDS = frozenset({ContactKind.PHONE, ContactKind.EMAIL, ContactKind.WECHAT})

MARKETING_CALL = register_purpose(Purpose(
    "marketing_call", _("营销电话"), frozenset({ContactKind.PHONE}), allowed_by_default=False,
    help=_("推销、活动邀约等主动外呼")))
MARKETING_SMS = register_purpose(Purpose(
    "marketing_sms", _("营销短信"), frozenset({ContactKind.PHONE}), allowed_by_default=False,
    help=_("促销、活动等商业短信")))
MARKETING_MESSAGE = register_purpose(Purpose(
    "marketing_message", _("营销邮件/微信"), frozenset({ContactKind.EMAIL, ContactKind.WECHAT}),
    allowed_by_default=False, help=_("促销、活动等邮件和微信消息")))
GREETING = register_purpose(Purpose(
    "greeting", _("生日与节日问候"), ALL_KINDS, allowed_by_default=False,
    help=_("生日、节日问候和关怀提醒")))
SURVEY = register_purpose(Purpose(
    "survey", _("回访与满意度调查"), ALL_KINDS, allowed_by_default=True,
    help=_("服务后的回访和满意度调查；客户拒绝后不再联系")))
