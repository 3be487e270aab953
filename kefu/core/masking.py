"""Masking of personal data (phone numbers, ID numbers, e-mail) for roles without the right to see it."""

from __future__ import annotations


def mask_phone(value: str) -> str:
    """138****5678 for a mainland mobile; keeps the first 3 and last 4 characters of longer numbers."""
    digits = value.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str) -> str:
    """Resident ID: first 3 and last 2 characters shown (110***********12)."""
    text = value.strip()
    if len(text) <= 5:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 5) + text[-2:]


def mask_email(value: str) -> str:
    """z***@example.com"""
    name, at, domain = value.partition("@")
    if not at:
        return mask_phone(value)
    return (name[:1] + "***" if name else "***") + "@" + domain


def mask_contact(kind: str, value: str) -> str:
    if kind == "email":
        return mask_email(value)
    if kind == "wechat":
        return value[:2] + "***" if len(value) > 2 else "***"
    return mask_phone(value)
