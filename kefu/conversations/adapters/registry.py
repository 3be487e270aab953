"""The adapters by channel kind. Each adapter module registers its class at import (`register`); services find
the adapter of a channel with `adapter_for(channel.kind)`."""

from __future__ import annotations

from typing import Any

from kefu.conversations.adapters.base import Adapter

_ADAPTERS: dict[str, Adapter] = {}


def register(adapter_class: type[Any]) -> type[Any]:
    """Register an adapter class (usable as a decorator); one instance serves every channel of its kind."""
    _ADAPTERS[adapter_class.kind] = adapter_class()
    return adapter_class


def adapter_for(kind: str) -> Adapter:
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for channel kind {kind!r}") from None


def adapters() -> dict[str, Adapter]:
    return dict(_ADAPTERS)


def replace(kind: str, adapter: Adapter) -> Adapter | None:
    """Swap the adapter of a kind (tests put a double at the transport level this way); returns the old one."""
    old = _ADAPTERS.get(kind)
    _ADAPTERS[kind] = adapter
    return old
