"""`kefu pbx listen`: record the PBX's call events from its event stream (run it beside `kefu worker`).

    kefu pbx listen [URL]     URL: ami://USER:SECRET@HOST[:5038]  (Asterisk)
                                   esl://:PASSWORD@HOST[:8021]    (FreeSWITCH)
                              default: KEFU_PBX_URL

Exit status 2 naming the argument on a bad URL.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.telephony.adapters.registry import parse_pbx_url


class Command(BaseCommand):
    help = "Record the PBX's call events from its event stream (Asterisk AMI or FreeSWITCH event socket)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listen = sub.add_parser("listen", help="connect to the PBX and record its call events")
        listen.add_argument("url", nargs="?", default="", help="ami://USER:SECRET@HOST[:5038] or "
                                                               "esl://:PASSWORD@HOST[:8021] (default KEFU_PBX_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.telephony.listener import listen_ami, listen_esl

        url = options["url"] or getattr(settings, "KEFU_PBX_URL", "")
        if not url:
            raise CommandError("url: give ami://USER:SECRET@HOST:5038 or esl://:PASSWORD@HOST:8021, or set "
                               "KEFU_PBX_URL", returncode=2)
        try:
            target = parse_pbx_url(url)
        except ValueError as exc:
            raise CommandError(f"url: {exc}", returncode=2) from None
        self.stdout.write(f"listening to {target} (Ctrl-C to stop)")
        try:
            if target.kind == "ami":
                listen_ami(host=target.host, port=target.port, username=target.username, secret=target.secret)
            else:
                listen_esl(host=target.host, port=target.port, password=target.secret)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
