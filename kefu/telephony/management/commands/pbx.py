"""`kefu pbx listen`: record the PBX's call events from its event stream (run it beside `kefu worker`).

    kefu pbx listen [URL]     URL: ami://USER:SECRET@HOST[:5038] (default KEFU_PBX_URL)

Exit status 2 naming the argument on a bad URL.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser


def parse_pbx_url(url: str) -> dict[str, Any]:
    """ami://user:secret@host:port → the session's arguments (ValueError naming what is wrong)."""
    parts = urlsplit(url)
    if parts.scheme != "ami":
        raise ValueError("only ami:// is supported (Asterisk's Manager Interface)")
    if not parts.hostname:
        raise ValueError("no host")
    if not parts.username or parts.password is None:
        raise ValueError("write the AMI user and secret: ami://USER:SECRET@HOST:5038")
    try:
        port = parts.port or 5038
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    return {"host": parts.hostname, "port": port, "username": unquote(parts.username),
            "secret": unquote(parts.password)}


class Command(BaseCommand):
    help = "Record the PBX's call events from its event stream (Asterisk AMI)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listen = sub.add_parser("listen", help="connect to the PBX and record its call events")
        listen.add_argument("url", nargs="?", default="", help="ami://USER:SECRET@HOST[:5038] (default "
                                                               "KEFU_PBX_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.telephony.listener import listen_ami

        url = options["url"] or os.environ.get("KEFU_PBX_URL", "")
        if not url:
            raise CommandError("url: give ami://USER:SECRET@HOST:5038 or set KEFU_PBX_URL", returncode=2)
        try:
            target = parse_pbx_url(url)
        except ValueError as exc:
            raise CommandError(f"url: {exc}", returncode=2) from None
        self.stdout.write(f"listening to the AMI at {target['host']}:{target['port']} (Ctrl-C to stop)")
        try:
            listen_ami(**target)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
