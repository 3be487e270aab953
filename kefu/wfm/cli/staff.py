"""Placeholder for `kefu wfm staff` while it is being written; replaced by the real module."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("staff", help="(being written)")
    parser.set_defaults(handler=_unavailable)


def _unavailable(args: argparse.Namespace) -> int:
    raise SystemExit("kefu wfm staff: not available yet")
