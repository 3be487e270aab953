"""The layers hold: import-linter's contracts (pyproject.toml) pass — the planning maths imports no Django, the
core imports no app, the clock engine knows no domain, apps never import the web layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300,  # noqa: S603
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" in result.stdout
    assert ", 0 broken" in result.stdout


def test_api_schema_names_are_unique() -> None:
    """The OpenAPI document names each schema by its class: two `AssignIn` classes in two apps would publish one
    shape for both operations (the other's fields missing from the documentation)."""
    import django

    django.setup()
    from ninja import Schema

    import kefu.api  # noqa: F401  (imports every app's API module)

    seen: dict[str, str] = {}
    clashes = []
    pending = list(Schema.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("kefu.") or ".tests." in cls.__module__:
            continue
        where = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__name__ in seen and seen[cls.__name__] != where:
            clashes.append((seen[cls.__name__], where))
        seen.setdefault(cls.__name__, where)
    assert not clashes, clashes
