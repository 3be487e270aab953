"""Channel adapters: one module per channel kind, each registering itself with the registry at import."""

from __future__ import annotations

import importlib

MODULES = ("chat", "webhook", "email", "wechat", "wecom", "sms", "phone")


def load() -> None:
    """Import every adapter module that exists (each registers itself)."""
    for name in MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
