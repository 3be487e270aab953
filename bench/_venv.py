"""Peer environments for benchmarks: each peer is installed from PyPI into its own virtual environment
under bench/.venvs/, so its pinned dependencies never touch Kefu's."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def peer_python(name: str, requirements: list[str]) -> Path:
    """Return the interpreter of peer environment `name`, creating it and installing `requirements` once."""
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".installed"
    wanted = "\n".join(requirements)
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(root)
    if not marker.exists() or marker.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        marker.write_text(wanted)
    return python


if __name__ == "__main__":
    print(peer_python(sys.argv[1], sys.argv[2:]))
