"""The serving processes' garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from kefu.core import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_loaded_application_is_frozen_and_young_collections_are_rarer(monkeypatch: pytest.MonkeyPatch,
                                                                          restored_gc: None) -> None:
    monkeypatch.delenv("KEFU_GC_THRESHOLD", raising=False)
    middle_old = gc.get_threshold()[1:]
    assert gc_tuning.tune_for_serving()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (gc_tuning.DEFAULT_THRESHOLD, *middle_old)


def test_zero_keeps_cpython_s_defaults(monkeypatch: pytest.MonkeyPatch, restored_gc: None) -> None:
    monkeypatch.setenv("KEFU_GC_THRESHOLD", "0")
    before = gc.get_threshold()
    assert not gc_tuning.tune_for_serving()
    assert gc.get_threshold() == before


@pytest.mark.parametrize("value", ["lots", "-5", "1.5"])
def test_a_bad_threshold_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEFU_GC_THRESHOLD", value)
    with pytest.raises(ValueError, match="KEFU_GC_THRESHOLD"):
        gc_tuning.threshold()
    with pytest.raises(CommandError, match="KEFU_GC_THRESHOLD"):
        call_command("serve", "--no-static")
