"""E-mail over SMTP (any server: the company's own, Tencent Exmail, Aliyun, Microsoft 365, Gmail with an app
password). Configured by KEFU_SMTP_HOST and friends; off when no host is set."""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from kefu.notifications.adapters.base import Rendered, SendResult


class EmailAdapter:
    code = "email"

    def is_configured(self) -> bool:
        return bool(settings.KEFU_SMTP_HOST)

    def address_for(self, user: Any) -> str:
        return (user.email or "").strip()

    def send(self, *, address: str, user: Any, rendered: Rendered) -> SendResult:
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend", host=settings.KEFU_SMTP_HOST,
            port=settings.KEFU_SMTP_PORT, username=settings.KEFU_SMTP_USER or None,
            password=settings.KEFU_SMTP_PASSWORD or None, use_tls=settings.KEFU_SMTP_TLS,
            use_ssl=settings.KEFU_SMTP_SSL, timeout=settings.KEFU_SMTP_TIMEOUT, fail_silently=False)
        message = EmailMultiAlternatives(subject=rendered.subject, body=rendered.text,
                                         from_email=settings.KEFU_MAIL_FROM, to=[address], connection=connection)
        if rendered.html:
            message.attach_alternative(rendered.html, "text/html")
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            return SendResult(False, f"recipient refused: {exc.recipients}", permanent=True)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return SendResult(False, f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(True)
