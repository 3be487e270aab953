"""Normalising and validating contact points (phone, e-mail, WeChat) and other customer fields.

Normalised values are what screen pop and duplicate detection match on: digits only for phones, lower case for
e-mail and WeChat ids.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from kefu.core.errors import ValidationFailed
from kefu.customers.choices import ContactKind, Tier

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_PHONE_CHARS = re.compile(r"^[\d\s()+\-.#*/转]+$")
_WECHAT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$|^[^\s]{1,64}$")
# Resident ID (18 characters, the last may be X; or the old 15 digits); passports etc. are alphanumeric.
_ID_NUMBER = re.compile(r"^[A-Za-z0-9\-]{5,32}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def normalize_phone(value: str) -> str:
    """Digits only, without the +86 / 0086 country prefix. Raises ValidationFailed (field "phone").

    Mainland mobiles (11 digits starting with 1) must have a valid second digit (3–9); landlines and
    service numbers (95xxx, 400…) keep their digits as given (+86 20 … becomes 020 …); other countries keep
    the international form (00 1 212 …).
    """
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(_("电话号码不能为空"), details={"field": "phone"})
    if not _PHONE_CHARS.match(text):
        raise ValidationFailed(_("电话号码只能包含数字、空格、横线、括号和 +"),
                               details={"field": "phone", "value": text})
    digits = re.sub(r"\D", "", text)
    international = text.lstrip("(（ ").startswith("+") or digits.startswith("00")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and (international or (len(digits) == 13 and _MOBILE.match(digits[2:]))):
        digits = digits[2:]
    elif international:
        # Another country: kept in the international dialling form, not checked against mainland rules.
        digits = digits if digits.startswith("00") else "00" + digits
        if not 7 <= len(digits) <= 20:
            raise ValidationFailed(_("电话号码长度不正确（5 到 20 位数字）"),
                                   details={"field": "phone", "value": text})
        return digits
    else:
        international = False
    if international and not digits.startswith(("0", "1")):
        digits = "0" + digits  # +86 20 8888 6666 is dialled 020 8888 6666 at home
    if not 5 <= len(digits) <= 20:
        raise ValidationFailed(_("电话号码长度不正确（5 到 20 位数字）"),
                               details={"field": "phone", "value": text})
    if digits.startswith("1") and len(digits) >= 10 and not _MOBILE.match(digits):
        raise ValidationFailed(_("不是有效的手机号码（11 位，以 13–19 开头）"),
                               details={"field": "phone", "value": text})
    return digits


def normalize_email(value: str) -> str:
    """Trimmed and lower-cased; must be a valid address. Raises ValidationFailed (field "email")."""
    text = (value or "").strip().lower()
    if not text:
        raise ValidationFailed(_("邮箱不能为空"), details={"field": "email"})
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValidationFailed(_("邮箱格式不正确"), details={"field": "email", "value": value}) from exc
    return text


def normalize_wechat(value: str) -> str:
    text = (value or "").strip()
    if not text or not _WECHAT.match(text):
        raise ValidationFailed(_("微信号格式不正确"), details={"field": "wechat", "value": value})
    return text.lower()


def clean_contact(kind: str, value: str) -> tuple[str, str]:
    """(value to store and show, normalised value to match on) for a contact of `kind`.

    Phones are stored as their digits; e-mail lower-cased; WeChat ids as typed (matched case-insensitively).
    """
    if kind == ContactKind.PHONE:
        digits = normalize_phone(value)
        return digits, digits
    if kind == ContactKind.EMAIL:
        email = normalize_email(value)
        return email, email
    if kind == ContactKind.WECHAT:
        return value.strip(), normalize_wechat(value)
    raise ValidationFailed(_("未知的联系方式类型"), details={"field": "kind", "value": kind})


def normalize_contact(kind: str, value: str) -> str:
    """The normalised form of a contact value (see clean_contact)."""
    return clean_contact(kind, value)[1]


def guess_contact_kind(value: str) -> str:
    """Phone if it looks like a number, e-mail if it has an @, else WeChat (search boxes, screen pop)."""
    text = value.strip()
    if "@" in text:
        return ContactKind.EMAIL
    if text and _PHONE_CHARS.match(text) and any(ch.isdigit() for ch in text):
        return ContactKind.PHONE
    return ContactKind.WECHAT


def clean_tier(value: str) -> str:
    text = (value or "").strip().upper().removesuffix("类").strip()
    if text not in Tier.values:
        raise ValidationFailed(_("客户等级必须是 A、B、C 或 D"), details={"field": "tier", "value": value})
    return text


def clean_id_number(value: str) -> str:
    """Upper-cased, without spaces. An 18-character resident ID gets its check digit verified."""
    text = re.sub(r"\s", "", value or "").upper()
    if not text:
        return ""
    if not _ID_NUMBER.match(text):
        raise ValidationFailed(_("证件号码格式不正确"), details={"field": "id_number"})
    if len(text) == 18 and text[:17].isdigit() and resident_id_check_char(text[:17]) != text[17]:
        raise ValidationFailed(_("身份证号码校验位不正确"), details={"field": "id_number"})
    return text


def resident_id_check_char(first17: str) -> str:
    """The check character for the first 17 digits of a resident ID (used by demo data and tests)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def check_birthday(value: date | None, *, today: date) -> date | None:
    if value is not None and not date(1900, 1, 1) <= value <= today:
        raise ValidationFailed(_("生日不在合理范围内"),
                               details={"field": "birthday", "value": value.isoformat()})
    return value
