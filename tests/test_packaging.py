"""What a fresh install gets: every third-party module Kefu imports at run time must come from a distribution
named in `[project] dependencies` (not only from the dev extras, which a plain `pip install kefu` and the demo
command do not install). Walks the source, so a new import is checked the day it is written."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_sources() -> list[Path]:
    return [
        path
        for path in (ROOT / "kefu").rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts and path.name != "conftest.py"
    ]


def _imported_top_level(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_runtime_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_normal(Requirement(spec).name) for spec in project["dependencies"]}
    providers = packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in _runtime_sources():
        for module in _imported_top_level(path):
            if module in sys.stdlib_module_names or module == "kefu":
                continue
            distributions = {_normal(name) for name in providers.get(module, [module])}
            if not distributions & declared:
                missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported at run time but not in [project] dependencies: {missing}"


def test_the_walk_sees_the_code() -> None:
    # guards the guard: the walk finds the source and the imports we know are there
    seen = set().union(*(_imported_top_level(path) for path in _runtime_sources()))
    assert {"django", "ninja", "numpy", "httpx"} <= seen
