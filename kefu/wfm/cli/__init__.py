"""`kefu wfm …`: the planning maths from the command line (no Django is loaded on this path).

Each subcommand lives in its own module with `register(subparsers)`; handlers return an exit status.
Human-readable output by default, JSON with `--json`. Bad input → one message on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kefu.wfm.errors import PlanningInputError

SUBCOMMANDS = ("staff", "trunks", "forecast", "plan", "schedule", "simulate", "scenarios")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every bad input goes through one path."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise PlanningInputError(message)


def build_parser(prog: str = "kefu wfm") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Workforce planning: Erlang staffing, forecasts, schedules.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"kefu.wfm.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        status: int = args.handler(args)
        return status
    except PlanningInputError as exc:
        print(f"kefu wfm: error: {exc.describe()}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"kefu wfm: error: cannot read or write '{exc.filename}': {exc.strerror}", file=sys.stderr)
        return 2
