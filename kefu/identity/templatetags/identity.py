"""{% sso_buttons next %}: the single sign-on choices under the sign-in form (nothing when none is configured)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("identity/_sso_buttons.html")
def sso_buttons(next_url: str = "") -> dict[str, Any]:
    return {"oidc": settings.KEFU_OIDC_ENABLED, "ldap": settings.KEFU_LDAP_ENABLED,
            "label": settings.KEFU_OIDC_BUTTON_LABEL, "next": next_url}
